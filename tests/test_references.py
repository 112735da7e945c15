"""Reference rows: crowd, elapsed time, pooled and within-trial AUROC against slow loops, sklearn and the artifact
(SPEC §9.1)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from restasmr_jax import references
from restasmr_jax.paper_artifact import default_artifact_path, load_artifact


def _random_trials(seed: int, n_trials: int = 30, n_frames: int = 40):
    rng = np.random.default_rng(seed)
    truths = (rng.uniform(size=(n_trials, n_frames)) < rng.uniform(0.1, 0.9, (n_trials, 1))).astype(np.int32)
    truths[rng.uniform(size=n_trials) < 0.15] = 0  # some trials without any tingle
    mask = np.ones_like(truths, bool)
    short = rng.uniform(size=n_trials) < 0.3
    mask[short, 31:] = False  # first-presented trials are shorter
    truths[~mask] = 0
    video = rng.choice(["vid1", "vid2", "vid5"], n_trials)
    fold = rng.integers(0, 3, n_trials)
    subject = np.arange(n_trials) + 1
    scores = np.round(rng.uniform(size=truths.shape), 1)  # coarse: many ties
    return truths, mask, subject, video, fold, scores


def _crowd_loop(truths, mask, subject, video, fold):
    out = np.full(truths.shape, np.nan)
    for i in range(truths.shape[0]):
        for t in range(truths.shape[1]):
            votes = [
                truths[j, t]
                for j in range(truths.shape[0])
                if j != i and video[j] == video[i] and fold[j] == fold[i] and mask[j, t]
            ]
            if votes:
                out[i, t] = np.mean(votes)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crowd_is_the_leave_one_out_mean_of_same_fold_same_video_peers(seed):
    truths, mask, subject, video, fold, _ = _random_trials(seed)
    crowd = references.crowd_scores(truths, mask, subject, video, fold)
    np.testing.assert_allclose(crowd, _crowd_loop(truths, mask, subject, video, fold), equal_nan=True)
    assert np.isnan(crowd).any()  # these random groups include lone trials and frames only a short peer had


def test_a_trial_without_peers_gets_nan_and_nan_is_never_scored():
    truths = np.array([[0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1]], np.int32)
    mask = np.ones_like(truths, bool)
    crowd = references.crowd_scores(truths, mask, [1, 2, 3], ["vid1", "vid1", "vid2"], [0, 0, 0])
    np.testing.assert_array_equal(crowd[0], [1, 1, 0, 0])  # its only peer's reports
    assert np.isnan(crowd[2]).all()  # nobody else watched vid2 in fold 0
    with pytest.raises(references.ReferenceInputError, match="NaN on 4 scored frames"):
        references.within_trial_auroc(crowd, truths, mask, np.zeros(3, bool))
    with pytest.raises(references.ReferenceInputError, match="NaN"):
        references.pooled_auroc(crowd, truths, mask, np.zeros(3, bool))
    pooled = references.pooled_auroc(crowd[:2], truths[:2], mask[:2], np.zeros(2, bool))
    assert pooled == pytest.approx(roc_auc_score(truths[:2].ravel(), crowd[:2].ravel()))


@pytest.mark.parametrize("seed", [3, 4])
def test_aurocs_match_sklearn(seed):
    truths, mask, _, video, _, scores = _random_trials(seed)
    is_nature = video == "vid5"
    asmr = ~is_nature
    expected = roc_auc_score(truths[asmr][mask[asmr]], scores[asmr][mask[asmr]])
    assert references.pooled_auroc(scores, truths, mask, is_nature) == pytest.approx(expected)
    per_trial = [
        roc_auc_score(truths[i, mask[i]], scores[i, mask[i]])
        for i in np.flatnonzero(asmr)
        if 0 < truths[i, mask[i]].sum() < mask[i].sum()
    ]
    mean, n = references.within_trial_auroc(scores, truths, mask, is_nature)
    assert n == len(per_trial) and n > 5 and mean == pytest.approx(np.mean(per_trial))


def test_elapsed_time_and_input_checks():
    mask = np.array([[True, True, True, False], [True, True, True, True]])
    np.testing.assert_array_equal(references.elapsed_time_scores(mask), [[0, 1, 2, np.nan], [0, 1, 2, 3]])
    truths = np.array([[0, 0, 1, 0], [0, 1, 1, 1]])
    # a later frame scores higher: AUROC 1 for trials whose tingles come last
    mean, n = references.within_trial_auroc(references.elapsed_time_scores(mask), truths, mask, [False, False])
    assert (mean, n) == (1.0, 2)
    assert references.within_trial_auroc(np.zeros((1, 3)), np.zeros((1, 3)), np.ones((1, 3)), [False]) == (
        pytest.approx(np.nan, nan_ok=True),
        0,
    )
    with pytest.raises(references.ReferenceInputError, match="only 0 and 1"):
        references.pooled_auroc(np.zeros((1, 2)), np.array([[0, 2]]), np.ones((1, 2)), [False])
    with pytest.raises(references.ReferenceInputError, match="shape"):
        references.pooled_auroc(np.zeros((1, 3)), np.zeros((1, 2)), np.ones((1, 2)), [False])
    with pytest.raises(references.ReferenceInputError, match="appears twice"):
        references.crowd_scores(np.zeros((2, 3)), np.ones((2, 3)), [1, 1], ["vid1", "vid1"], [0, 0])


@pytest.fixture(scope="module")
def artifact():
    if not default_artifact_path().is_file():
        pytest.skip(f"the authors' artifact is not at {default_artifact_path()}")
    return load_artifact()


def test_known_answers_on_the_published_predictions(artifact):
    p = artifact
    crowd = references.crowd_scores(p.truths, p.mask, p.subject, p.video, p.fold)
    assert references.pooled_auroc(crowd, p.truths, p.mask, p.is_nature) == pytest.approx(0.541, abs=5e-4)
    mean, n = references.within_trial_auroc(crowd, p.truths, p.mask, p.is_nature)
    assert n == 20 and mean == pytest.approx(0.696, abs=5e-4)
    assert references.pooled_auroc(p.probs, p.truths, p.mask, p.is_nature) == pytest.approx(0.691, abs=5e-4)
    mean, n = references.within_trial_auroc(p.probs, p.truths, p.mask, p.is_nature)
    assert n == 20 and mean == pytest.approx(0.754, abs=5e-4)
    elapsed = references.elapsed_time_scores(p.mask)
    assert references.pooled_auroc(elapsed, p.truths, p.mask, p.is_nature) == pytest.approx(0.533, abs=5e-4)
    asmr = ~p.is_nature  # and sklearn agrees on the same frames
    assert references.pooled_auroc(crowd, p.truths, p.mask, p.is_nature) == pytest.approx(
        roc_auc_score(p.truths[asmr].ravel(), crowd[asmr].ravel())
    )
