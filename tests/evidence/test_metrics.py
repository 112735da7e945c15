"""Frame metrics (restasmr_jax.evidence.metrics) against scikit-learn on random and edge-case inputs."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score

from restasmr_jax.evidence import metrics

N_TRIALS, N_TIME = 5, 7  # one shape for every property test: one compilation


def sklearn_metrics(y_rows, p_rows, nature, s_rows=None) -> dict[str, float]:
    """Reference: sklearn on the concatenated (already masked) per-trial frame lists."""

    def pooled(rows, pick):
        chosen = [r for r, keep in zip(rows, pick) if keep]
        return np.concatenate(chosen) if chosen else np.zeros(0)

    def macro(y, p):
        if y.size == 0:
            return {k: np.nan for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1")}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            precision, recall, f1, _ = precision_recall_fscore_support(y, p, average="macro", zero_division=0)
        return {"accuracy": accuracy_score(y, p), "macro_precision": precision, "macro_recall": recall, "macro_f1": f1}

    everything = [True] * len(y_rows)
    asmr = [not n for n in nature]
    out = macro(pooled(y_rows, everything), pooled(p_rows, everything))
    out["nature_specificity"] = macro(pooled(y_rows, nature), pooled(p_rows, nature))["accuracy"]
    within = macro(pooled(y_rows, asmr), pooled(p_rows, asmr))
    out["asmr_accuracy"], out["asmr_macro_f1"] = within["accuracy"], within["macro_f1"]
    y_asmr = pooled(y_rows, asmr)
    if s_rows is None or np.unique(y_asmr).size < 2:
        out["asmr_auroc"] = np.nan
    else:
        out["asmr_auroc"] = roc_auc_score(y_asmr, pooled(s_rows, asmr))
    return out


def masked_rows(truths, preds, mask, probs=None, sources=None):
    """Per-slot frame lists; slot j scored against truth row sources[j], masks intersected."""
    sources = np.arange(len(truths)) if sources is None else sources
    rows = []
    for j, i in enumerate(sources):
        keep = (mask[i] * mask[j]).astype(bool)
        rows.append((truths[i][keep], preds[j][keep], None if probs is None else probs[j][keep]))
    y, p, s = zip(*rows)
    return list(y), list(p), (None if probs is None else list(s))


def assert_metrics_equal(ours: dict, reference: dict, atol_auc: float = 1e-6):
    for name in metrics.METRICS:
        a, b = ours[name], reference[name]
        tol = atol_auc if name == "asmr_auroc" else 1e-12
        if np.isnan(b):
            assert np.isnan(a), f"{name}: expected NaN, got {a}"
        else:
            assert a == pytest.approx(b, abs=tol), name


MODES = ("random", "all_zero", "all_one", "constant_pred")


@st.composite
def evaluation_sets(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mode = draw(st.sampled_from(MODES))
    truths = rng.integers(0, 2, (N_TRIALS, N_TIME))
    preds = rng.integers(0, 2, (N_TRIALS, N_TIME))
    if mode == "all_zero":
        truths[:] = 0
        preds[:] = 0
    elif mode == "all_one":
        truths[:] = 1
        preds[:] = rng.integers(0, 2)
    elif mode == "constant_pred":
        preds[:] = rng.integers(0, 2)
    mask_kind = draw(st.sampled_from(("full", "prefix", "random", "empty")))
    if mask_kind == "full":
        mask = np.ones_like(truths)
    elif mask_kind == "prefix":
        lengths = rng.choice([N_TIME, N_TIME - 2, 0], N_TRIALS)
        mask = (np.arange(N_TIME)[None, :] < lengths[:, None]).astype(int)
    elif mask_kind == "random":
        mask = rng.integers(0, 2, truths.shape)
    else:
        mask = np.zeros_like(truths)
    is_nature = rng.integers(0, 2, N_TRIALS)
    # Few distinct scores: plenty of ties for the AUROC.
    probs = rng.choice(np.array([0.0, 0.25, 0.5, 0.75, 1.0], np.float32), truths.shape)
    return truths, preds, mask, is_nature, probs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evaluation_sets())
def test_frame_metrics_equal_sklearn(case):
    truths, preds, mask, is_nature, probs = case
    ours = metrics.frame_metrics(truths, preds, mask, is_nature, probs)
    y, p, s = masked_rows(truths, preds, mask, probs)
    assert_metrics_equal(ours, sklearn_metrics(y, p, is_nature.astype(bool), s))


def test_single_class_sets_follow_sklearn():
    ones = np.ones((2, 4), int)
    zeros = np.zeros((2, 4), int)
    nature = np.array([0, 0])
    # Only "no tingle" anywhere: sklearn averages over that one class and gives 1.0.
    assert metrics.frame_metrics(zeros, zeros, ones, nature)["macro_f1"] == 1.0
    # All truths 1, all predictions 0: two labels present, both F1 0.
    result = metrics.frame_metrics(ones, zeros, ones, nature)
    assert result["macro_f1"] == 0.0 and result["accuracy"] == 0.0
    assert np.isnan(result["asmr_auroc"])  # one class: undefined, as sklearn refuses it


def test_empty_mask_is_nan_not_zero():
    truths = np.array([[1, 0, 1]])
    result = metrics.frame_metrics(truths, truths, np.zeros_like(truths), np.array([0]), truths.astype(float))
    assert all(np.isnan(v) for v in result.values())


def test_fold_metrics_equal_sklearn_per_fold():
    rng = np.random.default_rng(3)
    truths, preds = rng.integers(0, 2, (8, 6)), rng.integers(0, 2, (8, 6))
    mask = (np.arange(6)[None, :] < rng.choice([6, 4], 8)[:, None]).astype(int)
    is_nature, fold = np.tile([0, 1], 4), np.repeat([2, 0, 1, 3], 2)
    probs = rng.random((8, 6)).astype(np.float32)
    per_fold = metrics.fold_metrics(truths, preds, mask, is_nature, fold, probs)
    for k, f in enumerate(sorted(set(fold))):
        rows = np.flatnonzero(fold == f)
        y, p, s = masked_rows(truths[rows], preds[rows], mask[rows], probs[rows])
        assert_metrics_equal({n: v[k] for n, v in per_fold.items()}, sklearn_metrics(y, p, is_nature[rows] == 1, s))
    mean, sd = metrics.mean_sd(per_fold["macro_f1"])
    assert mean == pytest.approx(np.mean(per_fold["macro_f1"])) and sd == pytest.approx(np.std(per_fold["macro_f1"]))


def test_bad_inputs_are_named():
    truths = np.array([[0, 2]])
    with pytest.raises(metrics.MetricsInputError, match="truths"):
        metrics.frame_metrics(truths, truths, np.ones_like(truths), np.array([0]))
    with pytest.raises(metrics.MetricsInputError, match="preds: expected shape"):
        metrics.frame_metrics(np.zeros((1, 2), int), np.zeros((1, 3), int), np.ones((1, 2), int), np.array([0]))
    with pytest.raises(metrics.MetricsInputError, match="probs: non-finite"):
        metrics.frame_metrics(
            np.zeros((1, 2), int), np.zeros((1, 2), int), np.ones((1, 2), int), np.array([0]), np.array([[0.5, np.nan]])
        )
