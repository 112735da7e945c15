"""Within-trial AUROC (SPEC §9.1): per fold, pooled, resampled values against a slow sklearn loop on the same draws."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from restasmr_jax.config import StatsConfig
from restasmr_jax.evidence import references, stats, within_trial
from restasmr_jax.evidence.predictions import Predictions


def random_predictions(seed: int, n_subjects: int = 12, n_time: int = 30) -> Predictions:
    """Each participant sees one ASMR and one Nature video; some trials shorter, some without tingle, tied scores."""
    rng = np.random.default_rng(seed)
    n = 2 * n_subjects
    is_nature = np.tile([False, True], n_subjects)
    truths = (rng.uniform(size=(n, n_time)) < rng.uniform(0.1, 0.8, (n, 1))) & ~is_nature[:, None]
    truths[rng.uniform(size=n) < 0.2] = False
    mask = np.ones((n, n_time), bool)
    mask[rng.uniform(size=n) < 0.4, 24:] = False
    truths &= mask
    probs = np.round(rng.uniform(size=(n, n_time)) * 0.5 + 0.5 * truths, 1).astype(np.float32)  # ties
    fold = np.repeat(np.arange(4), n // 4).astype(np.int32)
    return Predictions(
        truths=truths.astype(np.int32),
        preds=(probs > 0.5).astype(np.int32),
        probs=probs,
        raw_truths=truths.astype(np.int32),
        mask=mask,
        is_nature=is_nature,
        subject=np.repeat(np.arange(n_subjects), 2).astype(np.int32),
        video=np.where(is_nature, "vid5", "vid1"),
        fold=fold,
    )


def slow_value(pred: Predictions, weights, sources) -> float:
    """Weighted mean over ASMR slots of sklearn's AUROC of the slot's scores against its source's truth."""
    total = count = 0.0
    for slot in np.flatnonzero(~pred.is_nature):
        source = sources[slot]
        frames = pred.mask[slot] & pred.mask[source]
        truth = pred.truths[source][frames]
        if weights[slot] and 0 < truth.sum() < truth.size:
            total += weights[slot] * roc_auc_score(truth, pred.probs[slot][frames])
            count += weights[slot]
    return total / count if count else float("nan")


@pytest.mark.parametrize("seed", [0, 1])
def test_observed_and_per_fold_values_are_the_references_mean_of_trial_aurocs(seed):
    pred = random_predictions(seed)
    entry = within_trial.evaluate_within_trial(pred, StatsConfig(), resample=False)
    mean, n = references.within_trial_auroc(pred.probs, pred.truths, pred.mask, pred.is_nature)
    assert entry["observed"] == pytest.approx(mean, abs=1e-6) and entry["n_trials"] == n
    for fold in range(4):
        rows = pred.fold == fold
        value, count = references.within_trial_auroc(
            pred.probs[rows], pred.truths[rows], pred.mask[rows], pred.is_nature[rows]
        )
        assert entry["per_fold"][fold] == pytest.approx(value, abs=1e-6, nan_ok=True)
        assert entry["per_fold_n_trials"][fold] == count
    assert entry["mean"] == pytest.approx(np.mean(entry["per_fold"]))


def test_resamples_equal_a_slow_loop_over_the_engines_draws():
    pred = random_predictions(2)
    cfg = StatsConfig(n_bootstrap=15, n_permutation=12, seed=3)
    boot, null = within_trial.within_trial_resamples(pred, cfg)
    units, n_units = stats.unit_index(pred.subject)
    draws, _, within = (
        np.asarray(a) for a in stats.resample_draws(stats.as_key(cfg.seed), 15, n_units, pred.is_nature.astype(int))
    )
    identity = np.arange(pred.n_trials)
    for i in range(cfg.n_bootstrap):
        weights = np.bincount(draws[i], minlength=n_units)[units]
        assert boot[i] == pytest.approx(slow_value(pred, weights, identity), abs=1e-6, nan_ok=True)
    for i in range(cfg.n_permutation):
        assert null[i] == pytest.approx(slow_value(pred, np.ones(pred.n_trials), within[i]), abs=1e-6, nan_ok=True)
    entry = within_trial.evaluate_within_trial(pred, cfg)
    assert entry["ci"] == pytest.approx(list(stats.percentile_ci(boot)))
    assert entry["p_value"] == pytest.approx(stats.permutation_p(null, entry["observed"])["p_value"])


def test_constant_scores_give_one_half_and_no_asmr_trial_gives_nan():
    pred = random_predictions(4)
    prior = within_trial.evaluate_within_trial(pred.condition_prior(), StatsConfig(), resample=False)
    assert prior["observed"] == 0.5 and prior["per_fold"] == [0.5] * 4
    nature = pred.select(np.flatnonzero(pred.is_nature))
    empty = within_trial.evaluate_within_trial(nature, StatsConfig(), resample=False)
    assert np.isnan(empty["observed"]) and empty["n_trials"] == 0
