"""The leaderboard (SPEC §9, §9.1): per-fold values against sklearn, ranking, comparisons, reference rows, results."""

from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from restasmr_jax.config import StatsConfig
from restasmr_jax.evidence import figures, leaderboard, references, stats
from tests.evidence.test_within_trial import random_predictions

CFG = StatsConfig(n_bootstrap=30, n_permutation=30, n_compare_bootstrap=200)


def noisier(pred, seed, noise):
    rng = np.random.default_rng(seed)
    probs = np.clip(pred.probs + rng.normal(0, noise, pred.probs.shape), 0, 1).astype(np.float32)
    return replace(pred, probs=probs, preds=(probs > 0.5).astype(np.int32))


@pytest.fixture(scope="module")
def board():
    base = random_predictions(5)
    models = [
        leaderboard.ModelResult("bilstm", [noisier(base, 0, 0.3), noisier(base, 1, 0.3)], {"n_params": 10}),
        leaderboard.ModelResult("sharp", [noisier(base, 2, 0.05)], {"train_seconds": 60.0}),
        leaderboard.ModelResult("blind", [noisier(base, 3, 3.0)]),
    ]
    return models, leaderboard.leaderboard(models, CFG, data_source="synthetic")


def row(board, name):
    return next(r for r in board["rows"] if r["name"] == name)


def test_per_fold_values_are_sklearns(board):
    models, table = board
    for result in models:
        entry = row(table, result.name)
        for seed, pred in enumerate(result.per_seed):
            for fold in range(4):
                p = pred.select(np.flatnonzero(pred.fold == fold))
                asmr = ~p.is_nature
                f1 = f1_score(p.truths[p.mask], p.preds[p.mask], average="macro")
                auroc = roc_auc_score(p.truths[asmr][p.mask[asmr]], p.probs[asmr][p.mask[asmr]])
                assert entry["per_seed"][seed]["macro_f1"][fold] == pytest.approx(f1)
                assert entry["per_seed"][seed]["within_asmr_auroc"][fold] == pytest.approx(auroc, abs=1e-6)
        assert entry["metrics"]["within_asmr_auroc"]["per_fold"] == entry["per_seed"][0]["within_asmr_auroc"]


def test_models_are_ranked_by_within_asmr_auroc_and_compared_with_the_bilstm(board):
    models, table = board
    ranked = [r for r in table["rows"] if r["kind"] == "model"]
    assert [r["name"] for r in ranked] == ["sharp", "bilstm", "blind"] and [r["rank"] for r in ranked] == [1, 2, 3]
    means = [r["metrics"]["within_asmr_auroc"]["mean"] for r in ranked]
    assert means == sorted(means, reverse=True)
    bilstm, sharp = row(table, "bilstm"), row(table, "sharp")
    assert bilstm["vs_baseline"] is None and table["baseline"] == "bilstm"
    for metric in ("macro_f1", "within_asmr_auroc"):
        direct = stats.paired_bootstrap(
            sharp["metrics"][metric]["per_fold"], bilstm["metrics"][metric]["per_fold"], n_resamples=200, seed=CFG.seed
        )
        assert sharp["vs_baseline"][metric]["p_value"] == direct["p_value"]
    spread = bilstm["seed_spread"]["macro_f1"]
    assert spread["per_seed"] == pytest.approx([np.mean(s["macro_f1"]) for s in bilstm["per_seed"]])
    assert sharp["seed_spread"] is None and bilstm["info"]["n_params"] == 10
    assert "ci" in sharp["metrics"]["within_asmr_auroc"] and "p_value" in sharp["metrics"]["within_asmr_auroc"]


def test_reference_rows_stand_beside_the_models_and_are_never_ranked(board):
    models, table = board
    refs = {r["name"]: r for r in table["rows"] if r["kind"] == "reference"}
    assert list(refs) == ["condition_prior", "crowd", "elapsed_time"]
    assert all("rank" not in r for r in refs.values())
    assert set(refs["elapsed_time"]["metrics"]) == {"within_asmr_auroc", "within_trial_auroc"}
    base = models[0].per_seed[0]
    crowd = references.crowd_scores(base.truths, base.mask, base.subject, base.video, base.fold)
    expected = references.pooled_auroc(np.nan_to_num(crowd, nan=0.5), base.truths, base.mask, base.is_nature)
    assert refs["crowd"]["metrics"]["within_asmr_auroc"]["observed"] == pytest.approx(expected, abs=1e-6)
    assert refs["condition_prior"]["metrics"]["within_asmr_auroc"]["observed"] == 0.5
    markdown = leaderboard.render_leaderboard(table)
    assert "*crowd (other viewers, test labels)*" in markdown and "| ref. |" in markdown and "| 1 | sharp |" in markdown


def test_results_rows_are_one_per_model_seed_fold_metric(board):
    models, table = board
    rows = leaderboard.results_rows(table)
    assert {tuple(sorted(r)) for r in rows} == {("fold", "kind", "metric", "name", "seed", "value")}
    per_model = len(table["metrics"]) * 4
    assert sum(r["name"] == "bilstm" for r in rows) == 2 * per_model  # two seeds
    assert sum(r["name"] == "sharp" for r in rows) == per_model
    elapsed = [r for r in rows if r["name"] == "elapsed_time"]
    assert {r["metric"] for r in elapsed} == {"within_asmr_auroc", "within_trial_auroc", "within_trial_n_trials"}
    assert all(r["seed"] is None and r["kind"] == "reference" for r in elapsed)
    value = next(
        r["value"] for r in rows if (r["name"], r["seed"], r["fold"], r["metric"]) == ("bilstm", 1, 2, "macro_f1")
    )
    assert value == row(table, "bilstm")["per_seed"][1]["macro_f1"][2]


def test_models_on_other_trials_are_refused_and_the_forest_plot_draws(board):
    models, table = board
    other = replace(models[0].per_seed[0], fold=(models[0].per_seed[0].fold + 1) % 4)
    with pytest.raises(leaderboard.LeaderboardError, match="tested on other trials"):
        leaderboard.leaderboard([models[0], leaderboard.ModelResult("odd", [other])], CFG)
    fig = figures.leaderboard_forest(table)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["blind", "bilstm", "sharp"]
