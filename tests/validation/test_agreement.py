"""Leave-one-out inter-subject agreement (SPEC §10) against direct numpy computations."""

import numpy as np
import polars as pl
import pytest

from restasmr_jax.config import StatsConfig
from restasmr_jax.validation import agreement

SERIES = np.array(
    [
        [0, 0, 1, 2, 2, 1, 0, 0],
        [0, 1, 1, 2, 3, 1, 1, 0],
        [0, 0, 0, 1, 2, 2, 0, 0],
        [1, 1, 1, 1, 1, 1, 1, 1],  # constant: no r of its own
        [0, 0, 0, 0, 0, 0, 0, 0],  # never responded: no r, but still part of the others' mean
        [3, 2, 1, 0, 0, 1, 2, 3],
    ],
    dtype=float,
)


def numpy_bootstrap(values, seed, n_resamples):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(n_resamples, values.size))
    return values[idx].mean(axis=1)


def test_loo_correlations_equal_a_direct_loop_and_skip_constant_series():
    r = agreement.loo_correlations(SERIES)
    for i in range(SERIES.shape[0]):
        others = np.delete(SERIES, i, axis=0).mean(axis=0)
        if SERIES[i].std() == 0 or others.std() == 0:
            assert np.isnan(r[i])
        else:
            assert r[i] == pytest.approx(np.corrcoef(SERIES[i], others)[0, 1], abs=1e-12)
    assert np.isnan(r[[3, 4]]).all() and np.isfinite(r[[0, 1, 2, 5]]).all()


def test_constant_others_mean_is_skipped_and_fewer_than_two_participants_give_nothing():
    two = np.array([[0, 1, 2, 1.0], [1, 1, 1, 1.0]])
    r = agreement.loo_correlations(two)
    assert np.isnan(r[0]) and np.isnan(r[1])  # row 0's others are constant; row 1 is constant
    assert np.isnan(agreement.loo_correlations(SERIES[:1])).all()


def test_video_agreement_summary_matches_hand_computation():
    subjects = np.array([1, 3, 4, 5, 6, 7])
    cfg = StatsConfig(n_isa_bootstrap=2000, seed=42)
    out = agreement.video_agreement(SERIES, subjects, numpy_bootstrap, cfg)
    r = agreement.loo_correlations(SERIES)
    z = np.arctanh(r[np.isfinite(r)])
    boot = numpy_bootstrap(z, 42, 2000)
    assert out["n_used"] == 4 and out["skipped_constant"] == [5, 6]
    assert out["mean_r"] == pytest.approx(np.tanh(z.mean()))
    assert out["p"] == pytest.approx(np.mean(boot <= 0))
    assert out["ci"] == pytest.approx(list(np.tanh(np.percentile(boot, [2.5, 97.5]))))
    assert out["r"][5] is None and out["r"][1] == pytest.approx(r[0])
    assert out["stars"] == agreement.significance_stars(out["p"])


def test_video_with_nobody_responding_reports_no_agreement():
    out = agreement.video_agreement(np.zeros((4, 10)), np.arange(4), numpy_bootstrap, StatsConfig())
    assert out["n_used"] == 0 and out["mean_r"] is None and out["stars"] == "n/a"


def test_significance_stars():
    assert [agreement.significance_stars(p) for p in (0.0, 0.0009, 0.005, 0.03, 0.2, None)] == [
        "***",
        "***",
        "**",
        "*",
        "ns",
        "n/a",
    ]


def test_isa_from_labels_truncates_to_the_shortest_trial():
    rows = []
    for i, subject in enumerate((1, 3, 4)):
        n = 507 if subject == 4 else 550
        intensity = ((np.arange(n) // 50 + i) % 4).astype(np.int8)
        rows.append(
            pl.DataFrame(
                {
                    "subject": [subject] * n,
                    "trial_index": [0] * n,
                    "video": ["vid2"] * n,
                    "stimulus": ["ASMR2.avi"] * n,
                    "condition": ["ASMR"] * n,
                    "t": np.arange(n) / 10,
                    "intensity": intensity,
                }
            )
        )
    labels = pl.concat(rows)
    out = agreement.inter_subject_agreement(labels, numpy_bootstrap, StatsConfig(n_isa_bootstrap=500))
    assert list(out) == ["vid2"] and out["vid2"]["n_frames"] == 507
    series = np.stack([((np.arange(507) // 50 + i) % 4) for i in range(3)]).astype(float)
    expected = agreement.loo_correlations(series)
    assert out["vid2"]["r"][3] == pytest.approx(expected[1])
