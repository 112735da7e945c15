"""Resampling engine (restasmr_jax.evidence.stats) against slow numpy/sklearn loops fed the same resamples."""

import jax
import numpy as np
import pytest
import scipy.stats

from restasmr_jax.evidence import metrics, stats
from tests.evidence.test_metrics import assert_metrics_equal, masked_rows, sklearn_metrics


def make_small_set():
    """6 participants x (ASMR, Nature) trials of 9 frames; unequal valid lengths; tied scores."""
    rng = np.random.default_rng(11)
    n_subjects, n_time = 6, 9
    subject = np.repeat(np.arange(n_subjects) * 3 + 1, 2)
    is_nature = np.tile([0, 1], n_subjects)
    truths = rng.integers(0, 2, (2 * n_subjects, n_time)) * (is_nature[:, None] == 0)
    preds = rng.integers(0, 2, truths.shape)
    lengths = rng.choice([n_time, n_time - 3], 2 * n_subjects)
    mask = (np.arange(n_time)[None, :] < lengths[:, None]).astype(int)
    probs = rng.choice(np.linspace(0, 1, 6).astype(np.float32), truths.shape)
    problem = metrics.scoring_problem(truths, preds, mask, is_nature, probs)
    return dict(
        truths=truths, preds=preds, mask=mask, probs=probs, is_nature=is_nature, subject=subject, problem=problem
    )


@pytest.fixture(scope="module")
def small_set():
    return make_small_set()


def test_bootstrap_and_permutation_equal_reference_loop(small_set):
    s = small_set
    key, n = jax.random.key(5), 25
    boot, null = stats.resample_distributions(s["problem"], s["subject"], key, n, n, chunk_size=16)
    ids = np.unique(s["subject"])
    units, pooled, within = (np.asarray(a) for a in stats.resample_draws(key, n, ids.size, s["is_nature"]))
    for i in range(n):
        # Bootstrap: the trials of the drawn participants, pooled with duplicates.
        rows = np.concatenate([np.flatnonzero(s["subject"] == ids[u]) for u in units[i]])
        y, p, sc = masked_rows(s["truths"][rows], s["preds"][rows], s["mask"][rows], s["probs"][rows])
        assert_metrics_equal({k: v[i] for k, v in boot.items()}, sklearn_metrics(y, p, s["is_nature"][rows] == 1, sc))
        # Permutation: slot j scored against truth row src[j]; within-ASMR metrics from the
        # within-condition draw.
        reference = {}
        for sources, names in ((pooled[i], metrics.METRICS), (within[i], stats.WITHIN_ASMR)):
            y, p, sc = masked_rows(s["truths"], s["preds"], s["mask"], s["probs"], sources)
            full = sklearn_metrics(y, p, s["is_nature"] == 1, sc)
            reference.update({k: full[k] for k in names})
        assert_metrics_equal({k: v[i] for k, v in null.items()}, reference)
        assert sorted(pooled[i]) == list(range(len(pooled[i])))
        assert (s["is_nature"][within[i]] == s["is_nature"]).all()


def test_resamples_are_deterministic_and_chunk_invariant(small_set):
    s = small_set
    # 25 resamples in chunks of 16 (the program of the test above) vs 64 in one chunk.
    a = stats.resample_distributions(s["problem"], s["subject"], jax.random.key(1), 25, 25, chunk_size=16)
    b = stats.resample_distributions(s["problem"], s["subject"], jax.random.key(1), 64, 25, chunk_size=64)
    for first, second in zip(a, b):
        for name in metrics.METRICS:
            n = len(first[name])
            np.testing.assert_array_equal(first[name], second[name][:n])
    c = stats.resample_distributions(s["problem"], s["subject"], jax.random.key(2), 25, 25, chunk_size=16)
    assert not np.array_equal(a[0]["macro_f1"], c[0]["macro_f1"])


def test_permutation_p_matches_scipy_exact_test():
    """7 trials: scipy enumerates all 5,040 pairings exactly; our 4,000 random permutations must give
    a p within 4 binomial standard errors of that exact p (for a fixed seed, not flaky)."""
    rng = np.random.default_rng(4)
    truths = rng.integers(0, 2, (7, 5))
    preds = np.where(rng.random((7, 5)) < 0.7, truths, 1 - truths)
    mask, is_nature = np.ones_like(truths), np.zeros(7, int)
    problem = metrics.scoring_problem(truths, preds, mask, is_nature)
    observed = metrics.observed_scores(problem)["macro_f1"]
    _, null = stats.resample_distributions(problem, np.arange(7), jax.random.key(0), 1, 4000)
    ours = stats.permutation_p(null["macro_f1"], observed)

    def statistic(order):  # macro F1 written out independently: confusion counts in numpy
        y, p = truths[order.astype(int)].ravel(), preds.ravel()
        tp, fp = np.sum((y == 1) & (p == 1)), np.sum((y == 0) & (p == 1))
        fn, tn = np.sum((y == 1) & (p == 0)), np.sum((y == 0) & (p == 0))
        return (2 * tp / (2 * tp + fp + fn) + 2 * tn / (2 * tn + fn + fp)) / 2

    exact = scipy.stats.permutation_test(
        (np.arange(7),),
        statistic,
        permutation_type="pairings",
        vectorized=False,
        n_resamples=np.inf,
        alternative="greater",
    )
    assert exact.statistic == pytest.approx(observed)
    tolerance = 4 * np.sqrt(exact.pvalue * (1 - exact.pvalue) / 4000)
    assert abs(ours["p_value"] - exact.pvalue) <= tolerance
    assert 0.0 < exact.pvalue < 0.5  # a problem where the p-value is informative


def test_p_value_reporting_and_effect_size():
    null = np.array([0.1, 0.2, 0.3, 0.4])
    result = stats.permutation_p(null, 0.5)
    assert (result["count"], result["p_value"], result["p_corrected"], result["p_report"]) == (0, 0.0, 0.2, "< 0.25")
    result = stats.permutation_p(np.array([0.5, 0.1, np.nan, 0.7]), 0.5)  # ties count; NaN is left out
    assert (result["count"], result["n"], result["p_value"]) == (2, 3, 2 / 3)
    assert stats.cohens_d(0.5, null) == pytest.approx((0.5 - 0.25) / np.std(null))
    assert np.isnan(stats.cohens_d(0.5, np.full(4, 0.3)))
    assert stats.percentile_ci(np.arange(101.0), 0.95) == pytest.approx((2.5, 97.5))


def test_bootstrap_means_equal_reference_and_accept_a_seed():
    values = np.array([0.3, -0.1, 0.8, 0.05, 0.4])
    key = jax.random.key(42)
    draws = np.asarray(stats.bootstrap_draws(key, 300, values.size))
    ours = stats.bootstrap_means(values, key, 300)
    np.testing.assert_allclose(ours, values[draws].mean(axis=1), rtol=1e-6, atol=1e-7)  # float32 means
    np.testing.assert_array_equal(stats.bootstrap_means(values, seed=42, n_resamples=300), ours)
    with pytest.raises(ValueError, match="exactly one"):
        stats.bootstrap_means(values, key, 10, seed=1)


def test_paired_bootstrap_hand_computed():
    # Differences (0.2, 0.0): observed mean 0.1, shifted (+0.1, -0.1).  A resample's mean reaches 0.1
    # only when both draws pick fold 0, so p = fraction of draw pairs (0, 0), about 1/4.
    reference, other = np.array([0.8, 0.6]), np.array([0.6, 0.6])
    key, n = jax.random.key(9), 4000
    result = stats.paired_bootstrap(reference, other, key, n)
    draws = np.asarray(stats.bootstrap_draws(key, n, 2))
    assert result["count"] == int((draws == 0).all(axis=1).sum())
    assert result["p_value"] == pytest.approx(0.25, abs=4 * np.sqrt(0.25 * 0.75 / n))
    assert result["mean_difference"] == pytest.approx(0.1)
    # t = mean / (sd / sqrt(2)) = 0.1 / (0.1414 / 1.414) = 1; one-sided p with 1 df (Cauchy) = 0.25.
    assert result["t_statistic"] == pytest.approx(1.0)
    assert result["t_p_value"] == pytest.approx(0.25)


DEVICES_SCRIPT = """
import json, sys
sys.path.insert(0, {root!r})
import jax
jax.config.update("jax_num_cpu_devices", 2)
import numpy as np
from restasmr_jax.evidence import stats
from tests.evidence.test_stats import make_small_set
assert len(jax.local_devices()) == 2
s = make_small_set()
boot, null = stats.resample_distributions(s["problem"], s["subject"], jax.random.key(3), 10_000, 10_000)
means = stats.bootstrap_means(np.linspace(-1, 1, 7), seed=42, n_resamples=10_000)
out = {{k: np.asarray(v).tolist() for k, v in boot.items()}}
out.update({{"null_" + k: np.asarray(v).tolist() for k, v in null.items()}})
out["means"] = means.tolist()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_resamples_sharded_over_two_cpu_devices_equal_the_one_device_result(small_set):
    """10,000 bootstraps and permutations (and 10,000 bootstrap means) on 2 CPU devices: every
    resample bit-identical to this process's single device."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    assert len(jax.local_devices()) == 1
    root = str(Path(__file__).parents[2])
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    script = DEVICES_SCRIPT.format(root=root)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    sharded = json.loads(out.stdout.strip().splitlines()[-1])
    s = small_set
    boot, null = stats.resample_distributions(s["problem"], s["subject"], jax.random.key(3), 10_000, 10_000)
    for name in metrics.METRICS:
        # JSON turns NaN into NaN and float32 into exact doubles: equal arrays, NaNs in the same places
        np.testing.assert_array_equal(np.asarray(sharded[name], np.float64), np.asarray(boot[name], np.float64))
        np.testing.assert_array_equal(np.asarray(sharded["null_" + name]), np.asarray(null[name], np.float64))
    means = stats.bootstrap_means(np.linspace(-1, 1, 7), seed=42, n_resamples=10_000)
    np.testing.assert_array_equal(np.asarray(sharded["means"], np.float32), means)
    assert np.unique(boot["macro_f1"]).size > 100  # the resamples differ from one another
