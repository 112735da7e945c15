"""Leave-one-out inter-subject agreement (LOO-ISA) of the continuous ratings, per video (SPEC §10).

For each video, every participant's dense rating series (all truncated to
the video's shortest trial) is correlated (Pearson) with the mean series of
all other participants.  A participant whose own series is constant, or
whose "others" mean is constant, has no defined r and is skipped — never
turned into NaN that poisons the mean.  The kept r are Fisher-z transformed;
10,000 bootstrap means of z (seed 42) come from the shared resampling core
in `restasmr_jax.evidence.stats`; mean r = tanh(mean z), the 95 % CI is tanh of the
2.5/97.5 percentiles of the bootstrap means, and the one-sided p is the
fraction of bootstrap means <= 0.  Every video (ASMR and Nature) is
reported.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from restasmr_jax.config import VIDEO_CODES, StatsConfig, condition_of
from restasmr_jax.evidence import stats
from restasmr_jax.validation.pulse_rate import fisher_z
from restasmr_jax.validation.responders import rating_matrix

BootstrapMeans = Callable[[np.ndarray, int, int], np.ndarray]  # (values, seed, n_resamples) -> [resample]


def loo_correlations(series: np.ndarray) -> np.ndarray:
    """Pearson r of each row of `series [participant, time]` with the mean of the other rows, `[participant]`.

    NaN marks a participant whose own or others' series is constant (and
    every participant when there are fewer than two).
    """
    n = series.shape[0]
    if n < 2:
        return np.full(n, np.nan)
    series = series.astype(np.float64)
    others = (series.sum(axis=0, keepdims=True) - series) / (n - 1)
    own_c = series - series.mean(axis=-1, keepdims=True)
    oth_c = others - others.mean(axis=-1, keepdims=True)
    own_ss, oth_ss = (own_c**2).sum(axis=-1), (oth_c**2).sum(axis=-1)
    # Constant series: exact zero spread up to rounding of the mean subtraction.
    tiny = np.finfo(np.float64).eps * series.shape[-1] * (1.0 + np.abs(series).max()) ** 2
    defined = (own_ss > tiny) & (oth_ss > tiny)
    r = (own_c * oth_c).sum(axis=-1) / np.sqrt(np.where(defined, own_ss * oth_ss, 1.0))
    return np.where(defined, np.clip(r, -1.0, 1.0), np.nan)


def significance_stars(p: float | None) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "ns"


def summarise_bootstrap(z: np.ndarray, boot_means: np.ndarray, ci_level: float) -> dict:
    """Mean r, CI and one-sided p from the kept z values and their bootstrap means `[resample]`."""
    tail = 100 * (1 - ci_level) / 2
    lo, hi = np.percentile(boot_means, [tail, 100 - tail])
    p = float(np.mean(boot_means <= 0))
    return {
        "mean_r": float(np.tanh(z.mean())),
        "mean_z": float(z.mean()),
        "ci": [float(np.tanh(lo)), float(np.tanh(hi))],
        "p": p,
        "p_floor": 1.0 / boot_means.shape[0],  # p == 0 means p < 1 / n_resamples
        "stars": significance_stars(p),
    }


def video_agreement(
    series: np.ndarray, subjects: np.ndarray, bootstrap_means: BootstrapMeans, stats_cfg: StatsConfig = StatsConfig()
) -> dict:
    """LOO-ISA of one video from `series [participant, time]`."""
    r = loo_correlations(series)
    kept = np.isfinite(r)
    out = {
        "n_participants": int(series.shape[0]),
        "n_used": int(kept.sum()),
        "skipped_constant": [int(s) for s in subjects[~kept]],
        "n_frames": int(series.shape[-1]) if series.ndim == 2 else 0,
        "r": {int(s): (float(v) if np.isfinite(v) else None) for s, v in zip(subjects, r)},
    }
    if kept.sum() == 0:
        return {**out, "mean_r": None, "mean_z": None, "ci": None, "p": None, "p_floor": None, "stars": "n/a"}
    z = fisher_z(r[kept])
    boot = np.asarray(bootstrap_means(z, stats_cfg.seed, stats_cfg.n_isa_bootstrap), dtype=np.float64)
    return {**out, **summarise_bootstrap(z, boot, stats_cfg.ci_level)}


def inter_subject_agreement(
    labels: pl.DataFrame, bootstrap_means: BootstrapMeans | None = None, stats_cfg: StatsConfig = StatsConfig()
) -> dict[str, dict]:
    """LOO-ISA for every video present in the labels, in vid1..vid8 order."""
    bootstrap_means = bootstrap_means or default_bootstrap_means
    out = {}
    for video in VIDEO_CODES:
        subjects, series = rating_matrix(labels, video)
        if subjects.size:
            out[video] = {
                "condition": condition_of(video),
                **video_agreement(series, subjects, bootstrap_means, stats_cfg),
            }
    return out


def default_bootstrap_means(values: np.ndarray, seed: int, n_resamples: int) -> np.ndarray:
    """Bootstrap means of `values [item]` from the project's vectorised resampling core."""
    return np.asarray(stats.bootstrap_means(values, seed=seed, n_resamples=n_resamples))
