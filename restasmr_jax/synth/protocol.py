"""The 12-minute session timeline of one synthetic participant (SPEC §1, §2; paper Fig. 1).

Baseline rest (60 s) -> block A (4 videos x 60 s) -> washout (120 s) ->
block B (4 x 60 s) -> final rest (60 s).  Odd IDs see the ASMR block first
(sequence 1), even IDs the Nature block (sequence 2); the order inside each
block is pseudo-random per participant.

Times are integer Presentation log ticks (0.1 ms) from the start of the
experiment, which is also t = 0 of the PPG recording.  Realism choices
(documented because the readers are tested against them):
- the scenario starts 0.8-2.5 s after the log clock starts;
- the first video starts 4.24-4.30 s late (the paper's "~4.3 s" initial
  buffering; never more than trial_seconds - first_trial_seconds, so the
  55.7-s clamp of SPEC §2 ends before the next video starts) and is cut
  short when the next video starts on schedule;
- every other video starts 0-15 ms after its scheduled time (frame sync);
- Presentation logs a `Pulse` heartbeat every 3 s;
- the PPG recording runs 15-40 s past the end of the final rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from restasmr_jax.config import VIDEO_CODES, ProtocolConfig, SynthConfig
from restasmr_jax.synth.seeds import stream

VIDEOS_PER_BLOCK = 4
SCENARIO_START_S = (0.8, 2.5)
FIRST_VIDEO_EARLY_MAX_S = 0.06  # first video starts between 4.3 - this and 4.3 s late
FRAME_SYNC_MAX_S = 0.015
PULSE_PERIOD_S = 3.0
RECORDING_TAIL_S = (15.0, 40.0)


@dataclass(frozen=True, eq=False)
class Session:
    """When everything happens for one participant; every array is int64 log ticks."""

    subject: int
    sequence: int  # 1 = ASMR block first (odd ID), 2 = Nature block first (even ID)
    video_order: tuple[str, ...]  # [trial] vid1..vid8 in presentation order
    onset_ticks: np.ndarray  # [trial] the Video events' Time
    shown_ticks: np.ndarray  # [trial] time on screen (the log's Duration column)
    window_ticks: np.ndarray  # [trial] analysed duration (SPEC §2): 55.7 s for trial 0, 60.0 s after
    segment_start_ticks: np.ndarray  # [segment] Presentation trials: rest, 4 videos, washout, 4 videos, rest
    pulse_ticks: np.ndarray  # [pulse] Presentation heartbeat events
    end_ticks: int  # end of the final rest (the last logged moment)
    n_samples: int  # PPG samples recorded from t = 0

    @property
    def video_end_ticks(self) -> np.ndarray:
        """[trial] end of the analysed window, onset + window (SPEC §2)."""
        return self.onset_ticks + self.window_ticks

    def presentation_trial(self, ticks: np.ndarray) -> np.ndarray:
        """Presentation's 1-based `Trial` number of events at `ticks [event]`."""
        return np.searchsorted(self.segment_start_ticks, ticks, side="right").astype(np.int64)


def ticks(seconds: float, protocol: ProtocolConfig = ProtocolConfig()) -> int:
    return round(seconds * protocol.log_ticks_per_second)


def ticks_per_sample(cfg: SynthConfig, protocol: ProtocolConfig = ProtocolConfig()) -> int:
    per_sample, remainder = divmod(protocol.log_ticks_per_second, cfg.ppg_rate_hz)
    if remainder:
        raise ValueError(
            f"ppg_rate_hz={cfg.ppg_rate_hz} must divide the log clock ({protocol.log_ticks_per_second} ticks/s)"
        )
    return per_sample


def sequence_of(subject: int) -> int:
    """Paper: odd Condition IDs see ASMR first (sequence 1), even IDs Nature first (sequence 2)."""
    return 1 if subject % 2 == 1 else 2


def video_order(cfg: SynthConfig, subject: int) -> tuple[str, ...]:
    rng = stream(cfg.seed, "video-order", subject)
    asmr = [VIDEO_CODES[i] for i in rng.permutation(VIDEOS_PER_BLOCK)]
    nature = [VIDEO_CODES[VIDEOS_PER_BLOCK + i] for i in rng.permutation(VIDEOS_PER_BLOCK)]
    return tuple(asmr + nature if sequence_of(subject) == 1 else nature + asmr)


def plan_session(cfg: SynthConfig, subject: int, protocol: ProtocolConfig = ProtocolConfig()) -> Session:
    """The participant's timeline, drawn from the (seed, subject) stream."""
    rng = stream(cfg.seed, "session", subject)
    trial = ticks(protocol.trial_seconds, protocol)  # the schedule; clips last cfg.video_seconds
    block = VIDEOS_PER_BLOCK * trial
    start = int(rng.integers(ticks(SCENARIO_START_S[0], protocol), ticks(SCENARIO_START_S[1], protocol)))
    block_a = start + ticks(cfg.baseline_rest_seconds, protocol)
    block_b = block_a + block + ticks(cfg.washout_seconds, protocol)
    scheduled = np.concatenate(
        [block_a + trial * np.arange(VIDEOS_PER_BLOCK), block_b + trial * np.arange(VIDEOS_PER_BLOCK)]
    ).astype(np.int64)

    onset = scheduled + rng.integers(0, ticks(FRAME_SYNC_MAX_S, protocol) + 1, size=scheduled.shape[0])
    late = ticks(protocol.trial_seconds - protocol.first_trial_seconds, protocol)
    onset[0] = scheduled[0] + late - int(rng.integers(0, ticks(FIRST_VIDEO_EARLY_MAX_S, protocol) + 1))

    # A video followed by another in its block is cut when that one starts; block-final ones play out.
    played_out = trial + rng.integers(0, ticks(FRAME_SYNC_MAX_S, protocol) + 1, size=onset.shape[0])
    shown = np.concatenate([np.diff(onset), [0]])
    block_final = np.zeros(onset.shape[0], bool)
    block_final[[VIDEOS_PER_BLOCK - 1, 2 * VIDEOS_PER_BLOCK - 1]] = True
    shown = np.where(block_final, played_out, shown).astype(np.int64)
    window = np.array([ticks(protocol.trial_seconds_for(i), protocol) for i in range(onset.shape[0])], np.int64)

    end = block_b + block + ticks(cfg.final_rest_seconds, protocol)
    segments = np.concatenate(
        [[start], onset[:VIDEOS_PER_BLOCK], [onset[3] + shown[3]], onset[VIDEOS_PER_BLOCK:], [onset[7] + shown[7]]]
    ).astype(np.int64)
    period = ticks(PULSE_PERIOD_S, protocol)
    pulses = np.arange(start, end, period, dtype=np.int64) + rng.integers(0, 20, size=(end - start - 1) // period + 1)

    tail = ticks(float(rng.uniform(*RECORDING_TAIL_S)), protocol)
    n_samples = (end + tail) // ticks_per_sample(cfg, protocol)
    return Session(
        subject,
        sequence_of(subject),
        video_order(cfg, subject),
        onset,
        shown,
        window,
        segments,
        pulses,
        int(end),
        int(n_samples),
    )
