"""One synthetic participant, recomputed deterministically from (seed, subject) (SPEC §12).

`simulate_subject` is the ground truth the tests check against: it
returns exactly what `generate_archive` writes for that participant (the
keypresses of the log, the PPG samples as printed) plus what no file holds
(reported episodes, beat times, inserted artifacts, baseline rate).

File-format variants rotate with the participant's position p in
`config.SUBJECT_IDS` (0-based), so any 4 consecutive participants cover them:
- log with CRLF line endings when p % 3 == 0 (001, 005, 008, ...), else LF;
- Biopac channel labels in Japanese (Shift-JIS file) when p % 2 == 1;
- Biopac per-channel sample-count row when (p // 2) % 2 == 0.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np

from restasmr_jax.config import SUBJECT_IDS, ProtocolConfig, SynthConfig
from restasmr_jax.synth.physiology import Channels, simulate_channels
from restasmr_jax.synth.protocol import Session, plan_session
from restasmr_jax.synth.ratings import Episode, draw_rater, reported_episodes, session_presses
from restasmr_jax.synth.scripts import stimulus_script
from restasmr_jax.synth.seeds import stream
from restasmr_jax.synth.tingles import TingleTraits, TingleTrial


@dataclass(frozen=True, eq=False)
class SubjectSim:
    """Everything about one synthetic participant.  Times: int64 log ticks (0.1 ms) from t = 0.

    Fields
    - subject: participant ID (1, 3..35); sequence: 1 = ASMR block first (odd ID), 2 = Nature first.
    - log_name: file name in log/, `<ID>-<sequence>-<YYYYMMDD>-<hash8>.log`; logfile_written: its
      header timestamp.
    - session: the timeline (`protocol.Session`); video_order, onset_ticks, shown_ticks,
      window_ticks, end_ticks, pulse_ticks are shortcuts into it.
    - press_ticks, press_keys `[press]`: every Response event of the log, sorted (keys 1..4).
    - episodes: reported intensity > 0 inside each trial's analysed window (ZOH of the presses).
    - tingle_traits: the latent tingle traits (`synth.tingles.TingleTraits`); tingle_truth: trial index ->
      `TingleTrial` (drive, p_tingle, sampled state, level on the 10-Hz grid of clip time) of each ASMR trial.
    - tingler / nature_responder: whether the participant ever tingles / finds nature pleasant.
    - interval_ms: PPG sampling interval; ch1, ch2 `[sample]`: the PPG columns exactly as printed.
    - beat_times_s `[beat]`: systolic peak times; artifacts: (start_sample, end_sample, kind) runs in CH1.
    - baseline_bpm, tingle_bpm_per_level, pleasant_bpm_per_level: the heart-rate model.
    - crlf_log, japanese_labels, sample_count_row: which format variants its files use.
    """

    subject: int
    sequence: int
    log_name: str
    logfile_written: str
    session: Session
    press_ticks: np.ndarray
    press_keys: np.ndarray
    episodes: tuple[Episode, ...]
    tingle_traits: TingleTraits
    tingle_truth: dict[int, TingleTrial]
    tingler: bool
    nature_responder: bool
    interval_ms: float
    ch1: np.ndarray
    ch2: np.ndarray
    beat_times_s: np.ndarray
    artifacts: tuple[tuple[int, int, str], ...]
    baseline_bpm: float
    tingle_bpm_per_level: float
    pleasant_bpm_per_level: float
    crlf_log: bool
    japanese_labels: bool
    sample_count_row: bool

    @property
    def video_order(self) -> tuple[str, ...]:
        return self.session.video_order

    @property
    def onset_ticks(self) -> np.ndarray:
        return self.session.onset_ticks

    @property
    def shown_ticks(self) -> np.ndarray:
        return self.session.shown_ticks

    @property
    def window_ticks(self) -> np.ndarray:
        return self.session.window_ticks

    @property
    def end_ticks(self) -> np.ndarray:
        """[trial] onset + analysed duration (55.7 s for trial 0, 60.0 s after), SPEC §2."""
        return self.session.video_end_ticks

    @property
    def pulse_ticks(self) -> np.ndarray:
        return self.session.pulse_ticks

    def intensity_at(self, trial_index: int, ticks: np.ndarray) -> np.ndarray:
        """Reported intensity `[time]` (0..3) at absolute `ticks` inside trial `trial_index`'s window."""
        ticks = np.asarray(ticks, dtype=np.int64)
        out = np.zeros(ticks.shape, np.int64)
        for ep in self.episodes:
            if ep.trial_index == trial_index:
                out[(ticks >= ep.start_ticks) & (ticks < ep.end_ticks)] = ep.intensity
        return out

    def dense_labels(self, trial_index: int, protocol: ProtocolConfig = ProtocolConfig()) -> np.ndarray:
        """The SPEC §2 10-Hz labels `[frame]` of a trial, derived from the episodes, not the log."""
        step = protocol.log_ticks_per_second // protocol.label_rate_hz
        warmup = round(protocol.warmup_seconds * protocol.log_ticks_per_second)
        frames = np.arange(protocol.n_frames_for(trial_index))
        return self.intensity_at(trial_index, self.onset_ticks[trial_index] + warmup + frames * step)


def _position(subject: int) -> int:
    if subject not in SUBJECT_IDS:
        raise ValueError(f"subject {subject} is not a REST-ASMR participant ID (001, 003..035)")
    return SUBJECT_IDS.index(subject)


def session_start(cfg: SynthConfig, subject: int) -> dt.datetime:
    """Wall-clock start of the session: two participants a day from a seed-chosen Monday in 2023."""
    first_day = dt.date(2023, 5, 1) + dt.timedelta(weeks=int(stream(cfg.seed, "calendar").integers(0, 12)))
    day = _position(subject) // 2
    date = first_day + dt.timedelta(days=7 * (day // 5) + day % 5)  # weekdays only
    minutes = int(stream(cfg.seed, "clock", subject).integers(9 * 60, 17 * 60))
    return dt.datetime.combine(date, dt.time(minutes // 60, minutes % 60, (subject * 7) % 60))


def log_file_name(cfg: SynthConfig, subject: int, sequence: int) -> str:
    digest = hashlib.sha256(f"restasmr-synth:{cfg.seed}:{subject}".encode()).hexdigest()[:8]
    return f"{subject:03d}-{sequence}-{session_start(cfg, subject):%Y%m%d}-{digest}.log"


def simulate_subject(cfg: SynthConfig, subject: int, protocol: ProtocolConfig = ProtocolConfig()) -> SubjectSim:
    """Recompute participant `subject` of the archive `generate_archive(cfg)` writes (~2 s, ~100 MB)."""
    position = _position(subject)
    session = plan_session(cfg, subject, protocol)
    scripts = {video: stimulus_script(cfg, video) for video in session.video_order}
    rater = draw_rater(cfg, subject)
    press_ticks, press_keys, tingle_truth = session_presses(cfg, session, scripts, rater, protocol)
    episodes = reported_episodes(session, press_ticks, press_keys, protocol.max_rating)
    channels: Channels = simulate_channels(cfg, session, episodes, protocol)
    written = session_start(cfg, subject) + dt.timedelta(seconds=session.end_ticks / protocol.log_ticks_per_second + 3)
    return SubjectSim(
        subject=subject,
        sequence=session.sequence,
        log_name=log_file_name(cfg, subject, session.sequence),
        logfile_written=f"{written:%m/%d/%Y %H:%M:%S}",
        session=session,
        press_ticks=press_ticks,
        press_keys=press_keys,
        episodes=episodes,
        tingle_traits=rater.tingle,
        tingle_truth=tingle_truth,
        tingler=rater.tingler,
        nature_responder=rater.nature_responder,
        interval_ms=1000.0 / cfg.ppg_rate_hz,
        ch1=channels.ch1,
        ch2=channels.ch2,
        beat_times_s=channels.beat_times_s,
        artifacts=channels.artifacts,
        baseline_bpm=channels.baseline_bpm,
        tingle_bpm_per_level=channels.tingle_bpm_per_level,
        pleasant_bpm_per_level=channels.pleasant_bpm_per_level,
        crlf_log=position % 3 == 0,
        japanese_labels=position % 2 == 1,
        sample_count_row=(position // 2) % 2 == 0,
    )
