"""Pulse rate vs continuous rating in 5-s sliding windows (SPEC §10, paper "Physiological Signal Integrity").

Per trial, the valid epoch [onset + 5.0 s, end) of the 2000-Hz PPG is cut
into windows of 5.0 s every 1.0 s whose end lies strictly before the epoch
end (50 windows for a 55.0-s epoch, 46 for the 50.7-s trial 0).  All windows
of a trial are stacked into one `[window, sample]` array (a strided view),
band-passed in one `sosfiltfilt` call along the sample axis, and searched for
systolic peaks; the interval bookkeeping is then done on padded
`[window, peak]` arrays.  `scipy.signal.find_peaks` is 1-D, so it is the one
call made per window row; everything around it is whole-array.

Decisions (the paper leaves them open; the authors' notebook settles them):
- Channel: CH2 (the 0.5-35 Hz band-passed PPG the pipeline uses, SPEC §1.2,
  `ValidationConfig.pr_channel`).
- Prominence 0.5 is read in the channel's own units (mV) after the
  0.5-4 Hz band-pass, as the authors did; `pr_normalise_windows=True` z-scores
  each window first, which makes the threshold amplitude-free (0.5 SD).
- Minimum peak distance: int(0.35 * fs) samples (700 at 2000 Hz).
- Peak timing: each peak found on the band-passed window is moved to the
  recorded channel's maximum within +-0.1 s (`pr_peak_refine_seconds`; 0
  gives the authors' unrefined positions).  The band-pass shifts systolic
  maxima by ~25 ms; refinement puts beats within a few ms of the true
  systolic peak and changes a window's PR by well under 1 bpm.
- A window's rating is the mean of the 50 ten-Hz labels it covers,
  [k*10, k*10 + 50) for window k.
- Per participant and condition, the valid windows of all that condition's
  trials are pooled before the Spearman correlation (the authors' choice);
  the paired t-test runs on arctanh(r) of participants who have both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.signal
import scipy.stats

from restasmr_jax.config import ProtocolConfig, ValidationConfig

CONDITIONS = ("ASMR", "Nature")


@dataclass(frozen=True)
class WindowBeats:
    """Beat detection for the stacked windows of one trial; every field is `[window]` or `[window, peak]`."""

    pulse_rate: np.ndarray  # [window] bpm; NaN where fewer than pr_min_intervals intervals were kept
    n_peaks: np.ndarray  # [window] systolic peaks found
    n_kept: np.ndarray  # [window] peak-to-peak intervals inside (300, 1300) ms
    n_rejected: np.ndarray  # [window] intervals outside that range
    peaks: np.ndarray  # [window, peak] sample index inside the window, -1 padding

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.pulse_rate)


def n_windows(epoch_seconds: float, cfg: ValidationConfig = ValidationConfig()) -> int:
    """Windows k = 0, 1, ... with k * step + length < epoch length (integer milliseconds, no float drift)."""
    epoch_ms = round(epoch_seconds * 1000)
    window_ms = round(cfg.pr_window_seconds * 1000)
    step_ms = round(cfg.pr_step_seconds * 1000)
    return max(0, -(-(epoch_ms - window_ms) // step_ms))


def window_geometry(fs: float, cfg: ValidationConfig = ValidationConfig()) -> tuple[int, int]:
    """(window length, step) in samples at sampling rate `fs`."""
    return round(cfg.pr_window_seconds * fs), round(cfg.pr_step_seconds * fs)


def stacked_windows(epoch: np.ndarray, fs: float, count: int, cfg: ValidationConfig = ValidationConfig()) -> np.ndarray:
    """`[window, sample]` strided view of the first `count` windows that fit inside `epoch [sample]`.

    Fewer rows come back when the epoch is shorter than `count` windows need
    (a recording that ended early); the caller counts the missing ones.
    """
    length, step = window_geometry(fs, cfg)
    if epoch.shape[0] < length or count == 0:
        return np.empty((0, length), dtype=epoch.dtype)
    view = np.lib.stride_tricks.sliding_window_view(epoch, length)[::step]
    return view[:count]


def detect_beats(windows: np.ndarray, fs: float, cfg: ValidationConfig = ValidationConfig()) -> WindowBeats:
    """Band-pass every row of `windows [window, sample]`, find systolic peaks, and derive pulse rates."""
    n_win = windows.shape[0]
    if n_win == 0:
        empty = np.zeros(0, dtype=np.int64)
        return WindowBeats(np.zeros(0), empty, empty, empty, np.zeros((0, 0), dtype=np.int64))
    sos = scipy.signal.butter(cfg.pr_filter_order, cfg.pr_band_hz, btype="bandpass", fs=fs, output="sos")
    filtered = scipy.signal.sosfiltfilt(sos, np.asarray(windows, dtype=np.float64), axis=-1)
    if cfg.pr_normalise_windows:
        sd = filtered.std(axis=-1, keepdims=True)
        filtered = (filtered - filtered.mean(axis=-1, keepdims=True)) / np.where(sd > 0, sd, 1.0)
    distance = max(1, int(fs * cfg.pr_min_peak_distance_seconds))
    found = [scipy.signal.find_peaks(row, distance=distance, prominence=cfg.pr_peak_prominence)[0] for row in filtered]
    n_peaks = np.array([p.size for p in found], dtype=np.int64)
    peaks = np.full((n_win, max(1, int(n_peaks.max()))), -1, dtype=np.int64)
    peaks[np.arange(peaks.shape[1]) < n_peaks[:, None]] = np.concatenate(found) if n_peaks.sum() else []
    radius = round(cfg.pr_peak_refine_seconds * fs)
    if radius > 0:
        peaks = refine_peaks(windows, peaks, radius)
    return beats_from_peaks(peaks, n_peaks, fs, cfg)


def refine_peaks(windows: np.ndarray, peaks: np.ndarray, radius: int) -> np.ndarray:
    """Move each peak `[window, peak]` to the recorded channel's maximum within +-radius samples.

    The 0.5-4 Hz band-pass finds beats robustly but smears the steep systolic
    upstroke into the slower diastolic wave, so its maxima trail the true
    systolic peak by ~20-30 ms; the recorded (0.5-35 Hz) channel keeps the
    sharp peak.  Padding (-1) stays -1.
    """
    offsets = np.arange(-radius, radius + 1)
    idx = np.clip(peaks[..., None] + offsets, 0, windows.shape[-1] - 1)  # [window, peak, offset]
    values = np.take_along_axis(np.asarray(windows)[:, None, :], idx, axis=-1)
    refined = np.take_along_axis(idx, values.argmax(axis=-1)[..., None], axis=-1)[..., 0]
    return np.where(peaks >= 0, refined, -1)


def beats_from_peaks(
    peaks: np.ndarray, n_peaks: np.ndarray, fs: float, cfg: ValidationConfig = ValidationConfig()
) -> WindowBeats:
    """Interval filtering and pulse rate from padded peak indices `[window, peak]` (-1 = none)."""
    intervals_ms = np.diff(peaks, axis=-1) * (1000.0 / fs)  # [window, peak - 1]
    present = np.arange(intervals_ms.shape[1]) < (n_peaks[:, None] - 1)
    lo, hi = cfg.pr_interval_ms
    kept = present & (intervals_ms > lo) & (intervals_ms < hi)
    n_kept = kept.sum(axis=-1)
    n_rejected = present.sum(axis=-1) - n_kept
    total = np.where(kept, intervals_ms, 0.0).sum(axis=-1)
    enough = n_kept >= cfg.pr_min_intervals
    mean_interval = np.where(enough, total / np.maximum(n_kept, 1), np.nan)
    return WindowBeats(60_000.0 / mean_interval, n_peaks, n_kept, n_rejected, peaks)


def window_ratings(
    intensity: np.ndarray,
    count: int,
    cfg: ValidationConfig = ValidationConfig(),
    label_rate_hz: int = ProtocolConfig().label_rate_hz,
) -> np.ndarray:
    """Mean 10-Hz rating over each window, `[window]`; NaN for a window the labels do not fully cover."""
    length = round(cfg.pr_window_seconds * label_rate_hz)
    step = round(cfg.pr_step_seconds * label_rate_hz)
    out = np.full(count, np.nan)
    if intensity.shape[0] >= length:
        means = np.lib.stride_tricks.sliding_window_view(intensity.astype(np.float64), length)[::step].mean(axis=-1)
        n = min(count, means.shape[0])
        out[:n] = means[:n]
    return out


def trial_windows(
    epoch: np.ndarray,
    fs: float,
    epoch_seconds: float,
    intensity: np.ndarray,
    cfg: ValidationConfig = ValidationConfig(),
) -> dict[str, np.ndarray]:
    """All windows of one trial as columns `[window]`: start_s, pulse_rate, rating, beat counts, status."""
    count = n_windows(epoch_seconds, cfg)
    stack = stacked_windows(epoch, fs, count, cfg)
    beats = detect_beats(stack, fs, cfg)
    present = stack.shape[0]
    pad = count - present

    def padded(values, fill):
        return np.concatenate([np.asarray(values, dtype=np.float64), np.full(pad, fill, dtype=np.float64)])

    ratings = window_ratings(intensity, count, cfg)
    pulse = padded(beats.pulse_rate, np.nan)
    status = np.where(
        np.arange(count) >= present,
        "missing_ppg",
        np.where(np.isfinite(pulse[:count]), np.where(np.isfinite(ratings), "ok", "missing_labels"), "too_few_beats"),
    )
    return {
        "window": np.arange(count, dtype=np.int64),
        "start_s": np.arange(count) * cfg.pr_step_seconds,
        "pulse_rate": pulse,
        "rating": ratings,
        "n_peaks": padded(beats.n_peaks, 0).astype(np.int64),
        "n_kept": padded(beats.n_kept, 0).astype(np.int64),
        "n_rejected": padded(beats.n_rejected, 0).astype(np.int64),
        "status": status.astype(str),
    }


WINDOW_SCHEMA = {
    "subject": pl.Int32,
    "video": pl.Utf8,
    "trial_index": pl.Int32,
    "condition": pl.Utf8,
    "window": pl.Int64,
    "start_s": pl.Float64,
    "pulse_rate": pl.Float64,
    "rating": pl.Float64,
    "n_peaks": pl.Int64,
    "n_kept": pl.Int64,
    "n_rejected": pl.Int64,
    "status": pl.Utf8,
}


def windows_frame(rows: list[dict]) -> pl.DataFrame:
    """Tidy per-window table from `trial_windows` outputs tagged with subject/video/trial_index/condition."""
    if not rows:
        return pl.DataFrame(schema=WINDOW_SCHEMA)
    frames = []
    for row in rows:
        n = row["window"].shape[0]
        tags = {k: [row[k]] * n for k in ("subject", "video", "trial_index", "condition")}
        frames.append(
            pl.DataFrame({**tags, **{k: row[k] for k in WINDOW_SCHEMA if k not in tags}}, schema=WINDOW_SCHEMA)
        )
    return pl.concat(frames)


def participant_correlations(windows: pl.DataFrame, cfg: ValidationConfig = ValidationConfig()) -> pl.DataFrame:
    """Spearman r(PR, rating) per participant x condition over that condition's pooled valid windows.

    Rows for every participant x condition present in `windows`; `r` is null
    with a `reason` when the pair is not analysable (<= pr_min_windows valid
    windows, constant ratings, constant pulse rate).
    """
    ok = windows.filter(pl.col("status") == "ok")
    out = []
    keys = windows.select("subject", "condition").unique().sort("subject", "condition").iter_rows()
    groups = {k: g for k, g in ok.partition_by(["subject", "condition"], as_dict=True).items()} if ok.height else {}
    for subject, condition in keys:
        group = groups.get((subject, condition))
        n = 0 if group is None else group.height
        r, reason = None, None
        if n <= cfg.pr_min_windows:
            reason = f"{n} valid windows (need > {cfg.pr_min_windows})"
        else:
            pr, rating = group["pulse_rate"].to_numpy(), group["rating"].to_numpy()
            if np.ptp(rating) == 0:
                reason = "constant rating"
            elif np.ptp(pr) == 0:
                reason = "constant pulse rate"
            else:
                r = float(scipy.stats.spearmanr(pr, rating).statistic)
        out.append({"subject": subject, "condition": condition, "n_windows": n, "r": r, "reason": reason})
    schema = {"subject": pl.Int32, "condition": pl.Utf8, "n_windows": pl.Int64, "r": pl.Float64, "reason": pl.Utf8}
    return pl.DataFrame(out, schema=schema)


def paired_condition_test(correlations: pl.DataFrame) -> dict:
    """Paired t-test of arctanh(r) ASMR vs Nature over participants with both; mean r per condition.

    Participants with only one analysable condition are listed under
    `excluded` with the reason; they do not enter the test.
    """
    wide = (
        correlations.filter(pl.col("r").is_not_null())
        .pivot(on="condition", index="subject", values="r")
        .sort("subject")
    )
    for cond in CONDITIONS:
        if cond not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(cond))
    paired = wide.drop_nulls(list(CONDITIONS))
    excluded = []
    all_subjects = correlations["subject"].unique().sort().to_list()
    have = {
        cond: set(correlations.filter((pl.col("condition") == cond) & pl.col("r").is_not_null())["subject"])
        for cond in CONDITIONS
    }
    for subject in all_subjects:
        missing = [c for c in CONDITIONS if subject not in have[c]]
        if missing:
            reasons = correlations.filter((pl.col("subject") == subject) & pl.col("condition").is_in(missing))
            why = {row["condition"]: row["reason"] for row in reasons.iter_rows(named=True)}
            excluded.append(
                {"subject": int(subject), "missing": {c: why.get(c) or "no trials of this condition" for c in missing}}
            )
    r_asmr = paired["ASMR"].to_numpy()
    r_nature = paired["Nature"].to_numpy()
    result = {
        "n_paired": int(paired.height),
        "subjects": paired["subject"].to_list(),
        "r_asmr": r_asmr.tolist(),
        "r_nature": r_nature.tolist(),
        "mean_r": {"ASMR": _mean_or_none(r_asmr), "Nature": _mean_or_none(r_nature)},
        "mean_r_from_z": {"ASMR": _tanh_mean_z(r_asmr), "Nature": _tanh_mean_z(r_nature)},
        "t": None,
        "p": None,
        "df": None,
        "excluded": excluded,
    }
    if paired.height >= 2:
        z_diff = fisher_z(r_asmr) - fisher_z(r_nature)
        if np.ptp(z_diff) > 0:
            test = scipy.stats.ttest_rel(fisher_z(r_asmr), fisher_z(r_nature))
            result.update(t=float(test.statistic), p=float(test.pvalue), df=int(paired.height - 1))
    return result


def fisher_z(r: np.ndarray) -> np.ndarray:
    """arctanh, with |r| = 1 pulled just inside so a perfect rank agreement stays finite."""
    return np.arctanh(np.clip(np.asarray(r, dtype=np.float64), -1 + 1e-12, 1 - 1e-12))


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def _tanh_mean_z(values: np.ndarray) -> float | None:
    return float(math.tanh(fisher_z(values).mean())) if values.size else None
