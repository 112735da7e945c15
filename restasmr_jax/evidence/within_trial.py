"""Within-trial AUROC with the frame engine's resamples: per fold, pooled, bootstrap CI, permutation p (SPEC §9.1).

The within-trial AUROC of a set of trials is the mean, over its ASMR trials
whose scored frames hold both classes, of the AUROC inside each trial
(`references.within_trial_auroc`): how well a score follows *when* a
participant tingles, with their overall level factored out.  It is a mean
of per-trial values, not a ratio of frame counts, so it is not one of
`metrics.Sums`; but every resample the engine draws is a weight and a
truth source per prediction slot, so one host table does it all:

    auc[s, j]   AUROC of ASMR slot j's scores against ASMR truth row s, on the
                frames both have (masks intersected, as the engine does)
    both[s, j]  whether those frames hold both classes

and a resample (weights w, sources src) is Σ_j w_j·both[src_j, j]·auc[src_j, j]
over Σ_j w_j·both[src_j, j]: a masked sum and a count, divided once on the
host.  The draws are `stats.resample_draws` with the engine's key (bootstrap
participants, within-condition permutation sources), so this metric's CI
and p come from exactly the resamples of every other metric of the same
evaluation.  The null is the within-ASMR permutation: another participant's
report sequence scored against this trial's scores.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from restasmr_jax.config import StatsConfig
from restasmr_jax.evidence.metrics import fold_indicator, mean_sd
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.evidence.stats import (
    cohens_d,
    multiplicities,
    percentile_ci,
    permutation_p,
    resample_draws,
    resampling_key,
    unit_index,
)

NAME = "within_trial_auroc"


def auc_table(scores, truths, mask, is_nature) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ASMR trial rows [aslot], auc [source, aslot] float64, both [source, aslot] bool) over the ASMR trials.

    `scores, truths, mask [trial, time]`, `is_nature [trial]`.  Ties count one half (average ranks).
    """
    scores, truths = np.asarray(scores, np.float64), np.asarray(truths, np.int64)
    mask = np.asarray(mask, bool)
    asmr = np.flatnonzero(~np.asarray(is_nature, bool))
    n = asmr.size
    auc, both = np.full((n, n), np.nan), np.zeros((n, n), bool)
    patterns, pattern = np.unique(mask[asmr], axis=0, return_inverse=True)
    pattern = pattern.reshape(-1)
    for j, row in enumerate(asmr):  # one rank per (slot, source mask pattern): a few dozen small sorts
        for p, source_mask in enumerate(patterns):
            frames = mask[row] & source_mask
            sources = np.flatnonzero(pattern == p)
            if not frames.any() or sources.size == 0:
                continue
            ranks = scipy.stats.rankdata(scores[row, frames])
            positive = truths[asmr[sources]][:, frames]
            n_pos, n_frames = positive.sum(axis=1), int(frames.sum())
            defined = (n_pos > 0) & (n_pos < n_frames)
            numer = positive @ ranks - n_pos * (n_pos + 1) / 2
            with np.errstate(invalid="ignore", divide="ignore"):
                auc[sources, j] = np.where(defined, numer / (n_pos * (n_frames - n_pos)), np.nan)
            both[sources, j] = defined
    return asmr, auc, both


def resample_sum(auc: jax.Array, both: jax.Array, weights: jax.Array, sources: jax.Array):
    """(Σ weight·AUROC, Σ weight) over the ASMR slots for ONE resample: slot j scored against row `sources[j]`."""
    slots = jnp.arange(auc.shape[1])
    defined = both[sources, slots] * weights
    return jnp.sum(jnp.where(defined > 0, auc[sources, slots], 0.0) * defined), jnp.sum(defined)


_resampled = jax.jit(jax.vmap(resample_sum, in_axes=(None, None, 0, 0)))


def _ratio(total, count) -> np.ndarray:
    total, count = np.asarray(total, np.float64), np.asarray(count, np.float64)
    return np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)


def _tables(pred: Predictions, cfg: StatsConfig):
    asmr, auc, both = auc_table(pred.probs, pred.truths, pred.scoring_mask(cfg.count_padding), pred.is_nature)
    return asmr, jnp.asarray(np.nan_to_num(auc), jnp.float32), jnp.asarray(both, jnp.int32)


def within_trial_resamples(pred: Predictions, cfg: StatsConfig = StatsConfig(), key=None) -> tuple[np.ndarray, ...]:
    """Bootstrap `[n_bootstrap]` and within-ASMR permutation `[n_permutation]` values (NaN: no trial counted).

    Resample i uses `stats.resample_draws(key, n, U, is_nature)[·][i]`, the engine's draws.
    """
    asmr, auc, both = _tables(pred, cfg)
    trial_units, n_units = unit_index(pred.subject)
    n = max(cfg.n_bootstrap, cfg.n_permutation, 1)
    units, _, within = resample_draws(resampling_key(cfg, key), n, n_units, np.asarray(pred.is_nature, np.int32))
    weights = jax.vmap(partial(multiplicities, n_units=n_units))(units[: cfg.n_bootstrap])[:, trial_units][:, asmr]
    position = np.full(pred.n_trials, -1, np.int32)
    position[asmr] = np.arange(asmr.size, dtype=np.int32)
    sources = jnp.asarray(position)[within[: cfg.n_permutation][:, asmr]]  # within-ASMR: ASMR rows only
    identity = jnp.broadcast_to(jnp.arange(asmr.size, dtype=jnp.int32), weights.shape)
    boot = _ratio(*_resampled(auc, both, weights, identity))
    null = _ratio(*_resampled(auc, both, jnp.ones(sources.shape, jnp.int32), sources))
    return boot, null


def evaluate_within_trial(
    pred: Predictions, cfg: StatsConfig = StatsConfig(), key=None, *, resample: bool = True
) -> dict:
    """The within-trial AUROC of `pred` as one metric entry of `stats.evaluate` (same keys), plus trial counts.

    `per_fold`, `mean`, `sd`, `observed` (all trials pooled), `n_trials` (trials counted, pooled) and
    `per_fold_n_trials`; with `resample`, the bootstrap CI, permutation p and Cohen's d of `observed`.
    """
    asmr, auc, both = _tables(pred, cfg)
    fold_ids, indicator = fold_indicator(pred.fold)
    fixed = np.concatenate([np.ones((1, pred.n_trials), np.int32), indicator])[:, asmr]
    identity = jnp.broadcast_to(jnp.arange(asmr.size, dtype=jnp.int32), fixed.shape)
    total, count = _resampled(auc, both, jnp.asarray(fixed), identity)
    values, counts = _ratio(total, count), np.asarray(count, np.int64)
    mean, sd = mean_sd(values[1:])
    entry = {
        "per_fold": values[1:].tolist(),
        "mean": mean,
        "sd": sd,
        "observed": float(values[0]),
        "n_trials": int(counts[0]),
        "per_fold_n_trials": counts[1:].tolist(),
        "folds": fold_ids.tolist(),
    }
    if not resample:
        return entry
    boot, null = within_trial_resamples(pred, cfg, key)
    defined = null[~np.isnan(null)]
    entry.update(
        ci=list(percentile_ci(boot, cfg.ci_level)),
        bootstrap_undefined=int(np.isnan(boot).sum()),
        null="within-ASMR permutation",
        **permutation_p(null, entry["observed"]),
        cohens_d=cohens_d(entry["observed"], null),
        null_mean=float(defined.mean()) if defined.size else float("nan"),
        null_sd=float(defined.std()) if defined.size else float("nan"),
    )
    return entry
