"""Behavioural efficacy: responder rates and response durations from the dense labels (SPEC §10).

Input is the tidy 10-Hz labels frame of ingestion (`subject, trial_index,
video, condition, t, intensity`).  A trial "responds" when any of its labels
is > 0.  Decisions:
- participant rates count a participant as responding to a condition when at
  least one of their trials of that condition responds; the denominator is
  every participant with labels for that condition;
- per-video rates divide by the participants who saw that video;
- durations are (frames with rating > 0) / 10 Hz per responding trial, pooled
  per condition, mean and population SD (ddof = 0, as the paper's other SDs).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from restasmr_jax.config import VIDEO_CODES, ProtocolConfig

CONDITIONS = ("ASMR", "Nature")


def trial_responses(labels: pl.DataFrame, protocol: ProtocolConfig = ProtocolConfig()) -> pl.DataFrame:
    """One row per trial: `subject, video, condition, n_frames, active_frames, responded, active_seconds`."""
    return (
        labels.lazy()
        .group_by("subject", "video", "condition")
        .agg(pl.len().alias("n_frames"), (pl.col("intensity") > 0).sum().alias("active_frames"))
        .with_columns(
            (pl.col("active_frames") > 0).alias("responded"),
            (pl.col("active_frames") / protocol.label_rate_hz).alias("active_seconds"),
        )
        .sort("subject", "video")
        .collect()
    )


def behavioural_efficacy(labels: pl.DataFrame, protocol: ProtocolConfig = ProtocolConfig()) -> dict:
    """Participant and per-video responder rates and response durations per condition."""
    trials = trial_responses(labels, protocol)
    per_participant = (
        trials.group_by("subject", "condition").agg(pl.col("responded").any()).sort("subject", "condition")
    )
    participants = {}
    for cond in CONDITIONS:
        rows = per_participant.filter(pl.col("condition") == cond)
        participants[cond] = {
            "n_participants": rows.height,
            "n_responders": int(rows["responded"].sum()),
            "percent": _percent(int(rows["responded"].sum()), rows.height),
            "non_responders": rows.filter(~pl.col("responded"))["subject"].sort().to_list(),
        }
    per_video = {}
    for video in VIDEO_CODES:
        rows = trials.filter(pl.col("video") == video)
        if rows.height:
            per_video[video] = {
                "condition": rows["condition"][0],
                "n_participants": rows.height,
                "n_responders": int(rows["responded"].sum()),
                "percent": _percent(int(rows["responded"].sum()), rows.height),
            }
    durations = {}
    for cond in CONDITIONS:
        secs = trials.filter((pl.col("condition") == cond) & pl.col("responded"))["active_seconds"].to_numpy()
        durations[cond] = {
            "n_trials": int(secs.size),
            "mean_seconds": float(secs.mean()) if secs.size else None,
            "sd_seconds": float(secs.std()) if secs.size else None,
        }
    return {"participants": participants, "per_video": per_video, "durations": durations}


def rating_matrix(labels: pl.DataFrame, video: str) -> tuple[np.ndarray, np.ndarray]:
    """(subjects [participant], ratings [participant, time]) of one video, truncated to the shortest trial."""
    rows = labels.filter(pl.col("video") == video).sort("subject", "t")
    if rows.height == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float64)
    parts = rows.partition_by("subject", maintain_order=True)
    length = min(p.height for p in parts)
    subjects = np.array([p["subject"][0] for p in parts], dtype=np.int64)
    series = np.stack([p["intensity"].to_numpy()[:length].astype(np.float64) for p in parts])
    return subjects, series


def group_timecourse(series: np.ndarray, label_rate_hz: int = ProtocolConfig().label_rate_hz) -> dict:
    """Mean +- SEM over responders (any rating > 0) of `series [participant, time]`.

    SEM = sample SD (ddof = 1) / sqrt(n); with a single responder it is 0.
    """
    responders = series[(series > 0).any(axis=-1)] if series.size else series
    n, length = responders.shape if responders.ndim == 2 and responders.shape[0] else (0, series.shape[-1])
    time = np.arange(length) / label_rate_hz
    if n == 0:
        return {"time": time, "mean": np.full(length, np.nan), "sem": np.full(length, np.nan), "n": 0}
    sem = responders.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(length)
    return {"time": time, "mean": responders.mean(axis=0), "sem": sem, "n": int(n)}


def _percent(count: int, total: int) -> float | None:
    return 100.0 * count / total if total else None
