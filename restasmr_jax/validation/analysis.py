"""All technical-validation analyses on ingested data plus raw PPG, without file output (SPEC §10).

`validate` takes the ingestion result (labels + timeline) and a loader that
returns one participant's raw Biopac recording (`samples [sample, channel]`,
`interval_ms`) or None when it has none.  Each recording is read once and
used for both the integrity count and the pulse-rate windows, then dropped,
so memory stays at one recording.  Output is a `ValidationResult` of plain
dicts/arrays that `report.py` renders and `plots.py` draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from restasmr_jax.config import ProtocolConfig, StatsConfig, ValidationConfig
from restasmr_jax.ingest.ppg import sample_window
from restasmr_jax.validation import agreement, integrity, pulse_rate, responders

RecordingLoader = Callable[[int], Any]  # subject -> object with .samples [sample, channel], .interval_ms; or None


class ValidationInputError(ValueError):
    """Input the validation analyses cannot use; the message names the participant/file and what was expected."""


@dataclass
class ValidationResult:
    behaviour: dict
    agreement: dict
    integrity: dict  # {"per_participant": {subject: counts}, "overall": counts}
    windows: pl.DataFrame  # one row per pulse-rate window (pulse_rate.WINDOW_SCHEMA)
    correlations: pl.DataFrame  # per participant x condition Spearman r
    paired_test: dict
    timecourses: dict  # video -> group_timecourse dict (responders only)
    protocol_layout: dict  # sequence name -> {"subject", "onsets_s", "durations_s", "videos", "session_seconds"}
    notes: list[str] = field(default_factory=list)


def validate(
    labels: pl.DataFrame,
    timeline: pl.DataFrame,
    load_recording: RecordingLoader,
    *,
    cfg: ValidationConfig = ValidationConfig(),
    stats_cfg: StatsConfig = StatsConfig(),
    protocol: ProtocolConfig = ProtocolConfig(),
    bootstrap_means: agreement.BootstrapMeans | None = None,
    progress: bool = True,
) -> ValidationResult:
    """Run every SPEC §10 analysis; `labels`/`timeline` are the ingestion frames (see BRIEF contracts)."""
    notes: list[str] = []
    behaviour = responders.behavioural_efficacy(labels, protocol)
    isa = agreement.inter_subject_agreement(labels, bootstrap_means, stats_cfg)
    ppg = _ppg_analyses(labels, timeline, load_recording, cfg, protocol, progress, notes)
    correlations = pulse_rate.participant_correlations(ppg["windows"], cfg)
    paired = pulse_rate.paired_condition_test(correlations)
    for subject in ppg["missing"]:
        paired["excluded"].append(
            {"subject": subject, "missing": {"ASMR": "no PPG recording", "Nature": "no PPG recording"}}
        )
    paired["excluded"].sort(key=lambda row: row["subject"])
    timecourses = {}
    for video in cfg.timecourse_videos:
        _, series = responders.rating_matrix(labels, video)
        if series.size:
            timecourses[video] = responders.group_timecourse(series, protocol.label_rate_hz)
        else:
            notes.append(f"Fig. 3: no ratings for {video}; panel left out")
    return ValidationResult(
        behaviour=behaviour,
        agreement=isa,
        integrity={"per_participant": ppg["integrity"], "overall": integrity.summarise(ppg["integrity"])},
        windows=ppg["windows"],
        correlations=correlations,
        paired_test=paired,
        timecourses=timecourses,
        protocol_layout=_protocol_layout(timeline, ppg["seconds"], protocol),
        notes=notes,
    )


def _trial_intensities(labels: pl.DataFrame) -> dict[tuple[int, str], np.ndarray]:
    parts = labels.sort("subject", "video", "t").partition_by(["subject", "video"], as_dict=True)
    return {(int(s), str(v)): frame["intensity"].to_numpy() for (s, v), frame in parts.items()}


def _ppg_analyses(labels, timeline, load_recording, cfg, protocol, progress, notes) -> dict:
    intensities = _trial_intensities(labels)
    warmup_ticks = round(protocol.warmup_seconds * protocol.log_ticks_per_second)
    rows, per_participant, seconds, missing = [], {}, {}, []
    subjects = timeline["subject"].unique().sort().to_list()
    for subject in tqdm(subjects, desc="PPG integrity + pulse rate", disable=not progress):
        recording = load_recording(int(subject))
        if recording is None:
            missing.append(int(subject))
            notes.append(f"participant {subject}: no PPG recording; left out of integrity and pulse-rate analyses")
            continue
        samples = np.asarray(recording.samples)
        needed = max(cfg.pr_channel, cfg.integrity_channel) + 1
        if samples.ndim != 2 or samples.shape[1] < needed:
            raise ValidationInputError(
                f"participant {subject}: PPG recording {getattr(recording, 'path', '')} has samples of shape "
                f"{samples.shape}; expected [sample, channel] with at least {needed} channels (CH1 raw, CH2 filtered)"
            )
        interval_ms = float(recording.interval_ms)
        fs = 1000.0 / interval_ms
        seconds[int(subject)] = samples.shape[0] / fs
        trials = timeline.filter(pl.col("subject") == subject).sort("trial_index")
        bounds = [
            sample_window(interval_ms, on, end, protocol) for on, end in zip(trials["onset_ticks"], trials["end_ticks"])
        ]
        loss = integrity.find_signal_loss(samples[:, cfg.integrity_channel], fs, cfg)
        per_participant[int(subject)] = integrity.epoch_integrity(loss, bounds, samples.shape[0])
        channel = samples[:, cfg.pr_channel]
        for trial, (first, stop) in zip(trials.iter_rows(named=True), bounds):
            epoch = channel[min(first, channel.shape[0]) : min(stop, channel.shape[0])]
            epoch_seconds = (trial["end_ticks"] - trial["onset_ticks"] - warmup_ticks) / protocol.log_ticks_per_second
            key = (int(subject), str(trial["video"]))
            intensity = intensities.get(key, np.zeros(0, dtype=np.int8))
            if key not in intensities:
                notes.append(f"participant {subject} {trial['video']}: no labels; its windows are unrated")
            windows = pulse_rate.trial_windows(epoch, fs, epoch_seconds, intensity, cfg)
            rows.append(
                {
                    "subject": int(subject),
                    "video": str(trial["video"]),
                    "trial_index": int(trial["trial_index"]),
                    "condition": str(trial["condition"]),
                    **windows,
                }
            )
        del samples, channel, loss
    return {
        "windows": pulse_rate.windows_frame(rows),
        "integrity": per_participant,
        "seconds": seconds,
        "missing": missing,
    }


def _protocol_layout(timeline: pl.DataFrame, seconds: dict[int, float], protocol: ProtocolConfig) -> dict:
    """One representative participant per presentation sequence (by the condition of the first video)."""
    layout = {}
    first = timeline.filter(pl.col("trial_index") == 0).sort("subject")
    names = {"ASMR": "Sequence 1\n(ASMR first)", "Nature": "Sequence 2\n(Nature first)"}
    for condition, name in names.items():
        rows = first.filter(pl.col("condition") == condition)
        if rows.height == 0:
            continue
        subject = int(rows["subject"][0])
        trials = timeline.filter(pl.col("subject") == subject).sort("trial_index")
        onsets = trials["onset_ticks"].to_numpy() / protocol.log_ticks_per_second
        ends = trials["end_ticks"].to_numpy() / protocol.log_ticks_per_second
        layout[name] = {
            "subject": subject,
            "onsets_s": onsets,
            "durations_s": ends - onsets,
            "videos": trials["video"].to_numpy().astype(str),
            "session_seconds": float(seconds.get(subject, ends.max())),
        }
    return layout
