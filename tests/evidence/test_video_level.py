"""Video-level classification (restasmr_jax.evidence.video_level) on small cases and the published predictions."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score

from restasmr_jax.config import StatsConfig
from restasmr_jax.evidence import artifact as paper_artifact
from restasmr_jax.evidence import metrics, video_level
from restasmr_jax.evidence.predictions import Predictions

ARTIFACT = paper_artifact.default_artifact_path()
needs_artifact = pytest.mark.skipif(not ARTIFACT.is_file(), reason=f"authors' artifact not at {ARTIFACT}")


def test_threshold_is_int_15_percent_of_scored_frames():
    cfg = StatsConfig()
    frames = np.zeros((4, 550), int)
    frames[0, :82] = 1  # int(0.15 * 550) = 82: enough
    frames[1, :81] = 1
    frames[2, :76] = 1  # int(0.15 * 507) = 76 on a 507-frame trial
    frames[3, :76] = 1
    mask = np.ones_like(frames, bool)
    mask[2, 507:] = False
    assert video_level.video_labels(frames, mask, cfg).tolist() == [True, False, True, False]
    assert video_level.min_frames([550, 507], cfg).tolist() == [82, 76]


def _small_predictions():
    rng = np.random.default_rng(2)
    n, t = 12, 40
    is_nature = np.tile([False, True], n // 2)
    truths = (rng.random((n, t)) < rng.random((n, 1))).astype(np.int32) * ~is_nature[:, None]
    preds = (rng.random((n, t)) < rng.random((n, 1))).astype(np.int32)
    probs = rng.random((n, t)).astype(np.float32)
    return Predictions(
        truths=truths,
        preds=preds,
        probs=probs,
        raw_truths=truths,
        mask=np.ones((n, t), bool),
        is_nature=is_nature,
        subject=np.repeat(np.arange(n // 2), 2).astype(np.int32),
        video=np.where(is_nature, "vid5", "vid1"),
        fold=np.repeat([0, 1, 2], 4).astype(np.int32),
    )


def test_video_level_equals_sklearn_on_trial_labels():
    pred = _small_predictions()
    cfg = StatsConfig(n_bootstrap=20, n_permutation=20)
    result = video_level.video_level(pred, cfg)
    need = int(0.15 * 40)
    predicted = pred.preds.sum(axis=1) >= need
    fraction = pred.preds.mean(axis=1)
    asmr = ~pred.is_nature
    for truth, target in (("stimulus", asmr), ("experience", pred.truths.sum(axis=1) >= need)):
        got = result[truth]
        assert got["confusion_matrix"] == confusion_matrix(target, predicted, labels=[0, 1]).tolist()
        m = got["metrics"]
        assert m["accuracy"]["observed"] == pytest.approx(accuracy_score(target, predicted))
        assert m["macro_f1"]["observed"] == pytest.approx(f1_score(target, predicted, average="macro", zero_division=0))
        assert m["asmr_accuracy"]["observed"] == pytest.approx(accuracy_score(target[asmr], predicted[asmr]))
        if np.unique(target[asmr]).size == 2:
            assert m["asmr_auroc"]["observed"] == pytest.approx(roc_auc_score(target[asmr], fraction[asmr]))
        per_fold = [accuracy_score(target[pred.fold == f], predicted[pred.fold == f]) for f in range(3)]
        assert m["accuracy"]["per_fold"] == pytest.approx(per_fold)
        assert m["accuracy"]["sd"] == pytest.approx(np.std(per_fold))


@needs_artifact
def test_published_predictions_known_answers():
    pred = paper_artifact.load_artifact(ARTIFACT)
    result = video_level.video_level(pred, resample=False)
    stimulus, experience = result["stimulus"], result["experience"]
    assert stimulus["confusion_matrix"] == [[34, 0], [0, 34]]  # the paper's 68/68
    assert round(100 * experience["metrics"]["accuracy"]["observed"], 1) == 83.8
    assert round(100 * experience["metrics"]["asmr_accuracy"]["observed"], 1) == 67.6
    # ... exactly the base rate: every ASMR trial is predicted "ASMR".
    assert experience["metrics"]["asmr_accuracy"]["observed"] == experience["asmr_truth_rate"]
    frame = metrics.frame_metrics(pred.truths, pred.preds, pred.mask, pred.is_nature, pred.probs)
    asmr = ~pred.is_nature
    assert round(frame["asmr_auroc"], 3) == 0.691
    assert frame["asmr_auroc"] == pytest.approx(
        roc_auc_score(pred.truths[asmr].ravel(), pred.probs[asmr].ravel()), abs=1e-6
    )
