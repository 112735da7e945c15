"""A run's reference rows: the floor and crowd everywhere, the two oracles on a synthetic archive (SPEC §9.1, §12)."""

import numpy as np
import polars as pl
import pytest

from restasmr_jax.config import VIDEO_CODES, ProtocolConfig, condition_of
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.evidence.tables import render_table1, table1
from restasmr_jax.io.archive import Archive
from restasmr_jax.runs.references import run_references
from restasmr_jax.synth.truth import TRUTH_FILE

PROTOCOL = ProtocolConfig()


@pytest.fixture(scope="module")
def test_trials(tiny_ingested) -> Predictions:
    """Every trial of the tiny archive as one test fold, scored by a constant model."""
    labels = tiny_ingested.labels
    pairs = labels.select("subject", "video").unique().sort("subject", "video").rows()
    n, t = len(pairs), PROTOCOL.padded_frames
    truths, raw, mask = np.zeros((n, t), np.int32), np.zeros((n, t), np.int32), np.zeros((n, t), bool)
    for row, (subject, video) in enumerate(pairs):
        trial = labels.filter((pl.col("subject") == subject) & (pl.col("video") == video)).sort("t")
        k = trial.height
        raw[row, :k], mask[row, :k] = trial["intensity"].to_numpy(), True
        truths[row, :k] = (raw[row, :k] > 0) & (condition_of(video) == "ASMR")
    return Predictions(
        truths=truths,
        preds=np.zeros((n, t), np.int32),
        probs=np.full((n, t), 0.5, np.float32),
        raw_truths=raw,
        mask=mask,
        is_nature=np.array([condition_of(v) == "Nature" for _, v in pairs]),
        subject=np.array([s for s, _ in pairs], np.int32),
        video=np.array([v for _, v in pairs]),
        fold=np.zeros(n, np.int32),
    )


def test_oracle_rows_are_the_generators_probabilities(tiny_archive, test_trials):
    rows = {row.name: row for row in run_references(test_trials, tiny_archive)}
    assert list(rows) == ["condition_prior", "crowd", "elapsed_time", "stimulus_oracle", "participant_oracle"]
    truth = pl.read_parquet(tiny_archive.root / TRUTH_FILE)
    for i in (0, 5, 13):
        subject, video = int(test_trials.subject[i]), str(test_trials.video[i])
        trial = truth.filter((pl.col("subject") == subject) & (pl.col("video") == video)).sort("t")
        k = trial.height
        assert k == test_trials.mask[i].sum()
        np.testing.assert_allclose(rows["participant_oracle"].pred.probs[i, :k], trial["p_tingle"], rtol=1e-6)
        np.testing.assert_allclose(rows["stimulus_oracle"].pred.probs[i, :k], trial["p_population"], rtol=1e-6)
        expected = (trial["p_tingle"].to_numpy() >= 0.5).astype(np.int32)
        np.testing.assert_array_equal(rows["participant_oracle"].pred.preds[i, :k], expected)
    # same-video participants share the stimulus oracle, not the participant one
    vid2 = np.flatnonzero(test_trials.video == VIDEO_CODES[1])
    same = rows["stimulus_oracle"].pred.probs[vid2][:, :500]
    assert np.allclose(same, same[0]) and not np.allclose(rows["participant_oracle"].pred.probs[vid2][:, :500], same)


def test_table1_shows_floor_model_and_ceiling(tiny_archive, test_trials):
    from restasmr_jax.config import StatsConfig

    table = table1(
        test_trials, StatsConfig(n_bootstrap=20, n_permutation=20), references=run_references(test_trials, tiny_archive)
    )
    markdown = render_table1(table)
    assert "stimulus-only oracle" in markdown and "participant oracle" in markdown and "crowd" in markdown
    oracle = table["references"]["participant_oracle"]["frame_level"]["metrics"]["asmr_auroc"]["observed"]
    assert oracle > 0.6  # the report was drawn from this probability: it must rank tingle frames well


def test_no_oracle_without_truth(tmp_path, test_trials, capsys):
    real = Archive(root=tmp_path, source="real")
    assert [r.name for r in run_references(test_trials, real)] == ["condition_prior", "crowd", "elapsed_time"]
    synthetic = Archive(root=tmp_path, source="synthetic")
    assert len(run_references(test_trials, synthetic)) == 3
    assert "no oracle rows" in capsys.readouterr().err
