"""Pulse rate vs rating straight from a synthetic participant's true beat times: the known answer of SPEC §10."""

from __future__ import annotations

import numpy as np
import scipy.stats

from restasmr_jax.config import ProtocolConfig, condition_of

PROTOCOL = ProtocolConfig()


def true_windows(sim, condition: str) -> tuple[np.ndarray, np.ndarray]:
    """(pulse rate, mean rating) `[window]` of the 5-s windows every 1 s of the condition's trials, from the
    generator's beats: a window's rate is 60 / the mean interval of the beats inside it (SPEC §10)."""
    rates, ratings = [], []
    for trial, video in enumerate(sim.video_order):
        if condition_of(video) != condition:
            continue
        rated = sim.dense_labels(trial)
        start = sim.onset_ticks[trial] / PROTOCOL.log_ticks_per_second + PROTOCOL.warmup_seconds
        for w in range(len(range(0, rated.shape[0] - 50, 10))):  # window end before the epoch end
            beats = sim.beat_times_s[(sim.beat_times_s >= start + w) & (sim.beat_times_s < start + w + 5)]
            if beats.shape[0] >= 4:
                rates.append(60 / np.diff(beats).mean())
                ratings.append(rated[10 * w : 10 * w + 50].mean())
    return np.array(rates), np.array(ratings)


def true_r(sim, condition: str) -> float | None:
    """Spearman r(true pulse rate, rating) over the condition's windows; None when the rating never varies."""
    rates, ratings = true_windows(sim, condition)
    return float(scipy.stats.spearmanr(rates, ratings).statistic) if np.ptp(ratings) > 0 else None
