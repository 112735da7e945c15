"""The model tensor: per-stimulus features + 10-Hz PPG + dense labels -> 272 trials x 550 x 544 with masks (SPEC §5).

Trials come from the ingested timeline, ordered by participant ascending,
then vid1..vid8.  Trial 0 of each participant has 507 valid frames, the
others 550; everything after `n_valid` is zero and masked.  The binary label
is `intensity > 0` on ASMR trials and 0 on Nature trials; the raw 0..3
intensity is kept.

Missing PPG: a trial with labels but no 10-Hz PPG is an error by default
(`missing_ppg="error"`), naming the participant(s) and videos: a zero PPG
column would be read by the model as a real, flat signal.  With
`missing_ppg="exclude"` such trials are dropped from the tensor, printed,
and listed in `provenance["excluded_trials"]` (the splits then see fewer
trials for that participant).

Pure: tables and feature arrays in, a `TrialTensor` out (the cache lives in
`tensor/cache.py`).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from restasmr_jax.config import STIMULUS_FILES, VIDEO_CODES, FeatureConfig, ProtocolConfig, condition_of
from restasmr_jax.features.audio import AUDIO_COLUMNS
from restasmr_jax.tensor.trial_tensor import TrialTensor


class AssembleError(ValueError):
    """Ingested tables and features do not fit together; the message names the trials."""


def _trial_list(rows: pl.DataFrame, limit: int = 8) -> str:
    items = [f"subject {s} {v}" for s, v in rows.select("subject", "video").iter_rows()]
    return ", ".join(items[:limit]) + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def trial_table(timeline: pl.DataFrame, protocol: ProtocolConfig = ProtocolConfig()) -> pl.DataFrame:
    """One row per trial in tensor order (subject, then vid1..vid8).

    Columns: row, subject, video, trial_index, condition, video_pos (index into VIDEO_CODES), n_valid.
    """
    trials = timeline.select(
        pl.col("subject").cast(pl.Int32),
        pl.col("video").cast(pl.Utf8),
        pl.col("trial_index").cast(pl.Int32),
        pl.col("condition").cast(pl.Utf8),
    )
    unknown = sorted(set(trials["video"].to_list()) - set(VIDEO_CODES))
    if unknown:
        raise AssembleError(f"timeline has unknown video code(s) {unknown}; expected vid1..vid8")
    duplicated = trials.filter(pl.struct("subject", "video").is_duplicated())
    if duplicated.height:
        raise AssembleError(f"timeline lists a video twice for: {_trial_list(duplicated)}")
    expected = pl.col("video").replace_strict({v: condition_of(v) for v in VIDEO_CODES})
    wrong = trials.filter(pl.col("condition") != expected)
    if wrong.height:
        raise AssembleError(f"timeline condition disagrees with the video code (SPEC §1) for: {_trial_list(wrong)}")
    bad_index = trials.filter((pl.col("trial_index") < 0) | (pl.col("trial_index") >= protocol.n_trials))
    if bad_index.height:
        raise AssembleError(f"trial_index outside 0..{protocol.n_trials - 1} for: {_trial_list(bad_index)}")
    n_valid = {i: protocol.n_frames_for(i) for i in range(protocol.n_trials)}
    return (
        trials.with_columns(
            pl.col("video")
            .replace_strict({v: i for i, v in enumerate(VIDEO_CODES)}, return_dtype=pl.Int32)
            .alias("video_pos"),
            pl.col("trial_index").replace_strict(n_valid, return_dtype=pl.Int32).alias("n_valid"),
        )
        .sort("subject", "video_pos")
        .with_row_index("row")
    )


def _dense(
    frame: pl.DataFrame, value: str, trials: pl.DataFrame, protocol: ProtocolConfig, what: str, dtype
) -> tuple[np.ndarray, pl.DataFrame]:
    """Scatter a long `subject, video, t, <value>` frame into `[trial, time]`; also the trials it lacks."""
    rate = protocol.label_rate_hz
    long = frame.select(
        pl.col("subject").cast(pl.Int32),
        pl.col("video").cast(pl.Utf8),
        *([pl.col("trial_index").cast(pl.Int32)] if "trial_index" in frame.columns else []),
        pl.col("t").cast(pl.Float64),
        pl.col(value),
    )
    long = long.join(
        trials.select("subject", "video", "row", "n_valid", pl.col("trial_index").alias("timeline_index")),
        on=["subject", "video"],
        how="left",
    )
    orphans = long.filter(pl.col("row").is_null()).unique(["subject", "video"]).sort("subject", "video")
    if orphans.height:
        raise AssembleError(f"{what} rows for trials that are not in the timeline: {_trial_list(orphans)}")
    if "trial_index" in long.columns:
        mismatch = long.filter(pl.col("trial_index") != pl.col("timeline_index")).unique(["subject", "video"])
        if mismatch.height:
            raise AssembleError(f"{what} trial_index disagrees with the timeline for: {_trial_list(mismatch)}")
    scaled = pl.col("t") * rate
    long = long.with_columns(scaled.round().cast(pl.Int64).alias("k"), (scaled - scaled.round()).abs().alias("off"))
    off_grid = long.filter(pl.col("off") > 1e-6).unique(["subject", "video"])
    if off_grid.height:
        raise AssembleError(f"{what} times are not on the k/{rate} s grid for: {_trial_list(off_grid)}")
    counts = long.group_by("row").agg(
        pl.len().alias("n"),
        pl.col("k").min().alias("k_min"),
        pl.col("k").max().alias("k_max"),
        pl.col("k").n_unique().alias("k_unique"),
    )
    checked = trials.join(counts, on="row", how="left")
    missing = checked.filter(pl.col("n").is_null())
    bad = checked.filter(
        pl.col("n").is_not_null()
        & (
            (pl.col("n") != pl.col("n_valid"))
            | (pl.col("k_min") != 0)
            | (pl.col("k_max") != pl.col("n_valid") - 1)
            | (pl.col("k_unique") != pl.col("n"))
        )
    )
    if bad.height:
        detail = bad.select("subject", "video", "n", "n_valid").row(0)
        raise AssembleError(
            f"{what}: expected exactly steps t = 0, 0.1, ... (n_valid per trial) for "
            f"{_trial_list(bad)}; e.g. subject {detail[0]} {detail[1]} has {detail[2]} rows, "
            f"expected {detail[3]}"
        )
    out = np.zeros((trials.height, protocol.padded_frames), dtype=dtype)
    out[long["row"].to_numpy(), long["k"].to_numpy()] = long[value].to_numpy()
    return out, missing


def _stimulus_block(
    stim_features: Mapping[str, Any], videos: list[str], protocol: ProtocolConfig, feature_cfg: FeatureConfig
) -> np.ndarray:
    """[stimulus, time, 543] in VIDEO_CODES order; rows of stimuli no trial uses stay zero (never gathered)."""
    width = feature_cfg.video_dim + feature_cfg.audio_dim
    block = np.zeros((len(VIDEO_CODES), protocol.padded_frames, width), np.float32)
    for video in videos:
        if video not in stim_features:
            raise AssembleError(
                f"timeline references {video} ({STIMULUS_FILES[video]}) but no stimulus features were given for it"
            )
        feats = stim_features[video]
        av = np.asarray(feats.av if hasattr(feats, "av") else feats, np.float32)
        if av.shape != block.shape[1:]:
            raise AssembleError(
                f"{video}: stimulus features have shape {av.shape}, expected {block.shape[1:]} "
                "(the full window of every stimulus; trial 0 uses its first rows)"
            )
        block[VIDEO_CODES.index(video)] = av
    return block


def build_tensor(
    ingested,
    stim_features: Mapping[str, Any],
    protocol: ProtocolConfig = ProtocolConfig(),
    *,
    feature_cfg: FeatureConfig = FeatureConfig(),
    missing_ppg: str = "error",
    provenance: dict | None = None,
) -> TrialTensor:
    """Fuse `ingested` (labels, timeline, ppg10hz) with per-stimulus features into a TrialTensor.

    `stim_features`: video code -> StimulusFeatures or an `[time, 543]` array
    covering the full window.
    """
    if missing_ppg not in ("error", "exclude"):
        raise ValueError(f"missing_ppg must be 'error' or 'exclude', got {missing_ppg!r}")
    trials = trial_table(ingested.timeline, protocol)
    intensity, no_labels = _dense(ingested.labels, "intensity", trials, protocol, "labels", np.int8)
    if no_labels.height:
        raise AssembleError(f"labels missing for timeline trials: {_trial_list(no_labels)}")
    ppg, no_ppg = _dense(ingested.ppg10hz, "ppg", trials, protocol, "ppg10hz", np.float32)
    excluded: list[dict] = []
    if no_ppg.height:
        if missing_ppg == "error":
            raise AssembleError(
                f"no 10-Hz PPG for {no_ppg.height} trial(s): {_trial_list(no_ppg)} (see the ingest report for why). "
                "Pass missing_ppg='exclude' to drop these trials instead."
            )
        excluded = no_ppg.select("subject", "video", "trial_index").to_dicts()
        print(
            f"[assemble] excluding {len(excluded)} trial(s) without PPG: {_trial_list(no_ppg, 20)}",
            file=sys.stderr,
            flush=True,
        )
    if intensity.min(initial=0) < 0 or intensity.max(initial=0) > protocol.max_rating:
        raise AssembleError(f"labels intensity outside 0..{protocol.max_rating}")
    if not np.isfinite(ppg).all():
        raise AssembleError("ppg10hz holds non-finite values")

    keep = ~np.isin(trials["row"].to_numpy(), no_ppg["row"].to_numpy())
    trials = trials.filter(pl.Series(keep))
    intensity, ppg = intensity[keep], ppg[keep]
    videos = trials["video"].to_list()
    av = _stimulus_block(stim_features, sorted(set(videos)), protocol, feature_cfg)
    n_valid = trials["n_valid"].to_numpy().astype(np.int32)
    mask = np.arange(protocol.padded_frames)[None, :] < n_valid[:, None]
    condition = np.array(trials["condition"].to_list(), dtype=str)
    y = ((intensity > 0) & (condition == "ASMR")[:, None]).astype(np.int32)
    stim_prov = {v: getattr(stim_features[v], "provenance", None) for v in sorted(set(videos))}
    return TrialTensor(
        av=av,
        ppg=np.where(mask, ppg, np.float32(0)),
        stim_index=trials["video_pos"].to_numpy().astype(np.int32),
        y=np.where(mask, y, 0).astype(np.int32),
        intensity=np.where(mask, intensity, 0).astype(np.int8),
        mask=mask,
        subject=trials["subject"].to_numpy().astype(np.int32),
        video=np.array(videos, dtype=str),
        trial_index=trials["trial_index"].to_numpy().astype(np.int32),
        condition=condition,
        n_valid=n_valid,
        provenance={
            "feature_cfg": dataclasses.asdict(feature_cfg),
            "protocol": dataclasses.asdict(protocol),
            "stimuli": stim_prov,
            "stimuli_absent": [v for v in VIDEO_CODES if v not in set(videos)],
            "excluded_trials": excluded,
            "audio_columns": list(AUDIO_COLUMNS),
            **(provenance or {}),
        },
    )
