"""XGBoost baseline (SPEC §8): same folds as the BiLSTM, masked frames never reach the booster."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from restasmr_jax.config import VIDEO_CODES, TrainConfig, XGBConfig, condition_of
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.learning.splits import make_splits
from restasmr_jax.learning.xgb import fold_trials, frame_rows, run_xgb
from restasmr_jax.tensor.trial_tensor import TrialTensor

PAD_VALUE = 5.0  # carried by padded frames; a booster that saw them would learn "5.0 -> no tingle"


def tiny_tensor(subjects, n_time=40, n_valid_first=20, seed=0) -> TrialTensor:
    """8 trials per subject; the signal is the PPG column: > 0 on tingle frames, < 0 elsewhere.

    Trial 0 of every subject has only `n_valid_first` valid frames; its
    padding carries PAD_VALUE with label 0 (the contract says zero padding;
    a non-zero value is what lets the test detect a leak).
    """
    rng = np.random.default_rng(seed)
    rows = [(s, v) for s in subjects for v in VIDEO_CODES]
    n = len(rows)
    subject = np.array([s for s, _ in rows], dtype=np.int32)
    video = np.array([v for _, v in rows])
    trial_index = np.array([(VIDEO_CODES.index(v) + s) % 8 for s, v in rows], dtype=np.int32)
    n_valid = np.where(trial_index == 0, n_valid_first, n_time).astype(np.int32)
    mask = np.arange(n_time)[None, :] < n_valid[:, None]
    condition = np.array([condition_of(v) for v in video])
    intensity = rng.integers(0, 4, size=(n, n_time)).astype(np.int8)
    intensity = np.where(mask, intensity, 0).astype(np.int8)
    y = ((intensity > 0) & (condition == "ASMR")[:, None]).astype(np.int32)
    # a few exact levels: histogram bins then never straddle the class boundary
    ppg = np.where(y == 1, rng.choice([1.0, 1.5, 2.0], y.shape), rng.choice([-2.0, -1.5, -1.0], y.shape))
    ppg = np.where(mask, ppg, PAD_VALUE).astype(np.float32)
    av = rng.normal(size=(8, n_time, 543)).astype(np.float32)
    return TrialTensor(
        av=av,
        ppg=ppg,
        stim_index=np.array([VIDEO_CODES.index(v) for v in video], np.int32),
        y=y,
        intensity=intensity,
        mask=mask,
        subject=subject,
        video=video,
        trial_index=trial_index,
        condition=condition,
        n_valid=n_valid,
        provenance={"data_source": "synthetic"},
    )


def fake_splits(subjects):
    """The project's folds on 8 participants: 2 test participants x one video pair per fold."""
    return make_splits(subjects, TrainConfig())


SUBJECTS = [1, 3, 4, 5, 6, 7, 8, 9]
FAST = XGBConfig(n_estimators=20)


def test_frame_rows_take_valid_frames_only_with_the_right_columns():
    tensor = tiny_tensor(SUBJECTS)
    trials = np.array([0, 1, 2, 9])
    x, y, (trial, time) = frame_rows(tensor, trials, "fusion")
    assert x.shape == (int(tensor.mask[trials].sum()), 544)
    dense = tensor.X("fusion")  # the dense tensor, independent of frame_rows
    expected = np.concatenate([dense[t][tensor.mask[t]] for t in trials])
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(y, np.concatenate([tensor.y[t][tensor.mask[t]] for t in trials]))
    for features, width in [("video", 512), ("audio", 31), ("ppg", 1)]:
        xf, _, _ = frame_rows(tensor, trials, features)
        assert xf.shape[1] == width
        np.testing.assert_array_equal(
            xf, x[:, :width] if features == "video" else x[:, 512:543] if features == "audio" else x[:, 543:]
        )
    with pytest.raises(ValueError, match="features"):
        frame_rows(tensor, trials, "eeg")


def test_uses_the_splits_folds_and_excludes_masked_frames():
    tensor = tiny_tensor(SUBJECTS)
    splits = fake_splits(SUBJECTS)
    result = run_xgb(tensor, splits, FAST, features="ppg", progress=False, nthread=1)
    for split, report in zip(splits, result.folds):
        # independent statement of SPEC §6: pool = neither test subject nor test video
        pool = [
            i
            for i in range(tensor.n_trials)
            if tensor.subject[i] not in split.test_subjects and tensor.video[i] not in split.test_videos
        ]
        test = [
            i
            for i in range(tensor.n_trials)
            if tensor.subject[i] in split.test_subjects and tensor.video[i] in split.test_videos
        ]
        assert report.train_trials.tolist() == pool
        # ... which is the BiLSTM's train + inner-validation participants on the training videos
        assert {int(tensor.subject[i]) for i in pool} == set(split.train_subjects) | set(split.val_subjects)
        assert report.test_trials.tolist() == test
        assert report.n_train_rows == int(tensor.n_valid[pool].sum())
        assert report.n_test_rows == int(tensor.n_valid[test].sum())
        y_pool = np.concatenate([tensor.y[i, : tensor.n_valid[i]] for i in pool])
        assert report.scale_pos_weight == pytest.approx((y_pool == 0).sum() / (y_pool == 1).sum())
    pred = Predictions.for_trials(tensor, **result.outputs._asdict())
    assert pred.fold.tolist() == [f for f in range(4) for _ in range(4)]
    # padded frames: not scored, predicted 0
    assert not pred.mask[~tensor.mask[np.concatenate([r.test_trials for r in result.folds])]].any()
    assert (pred.preds[~pred.mask] == 0).all() and (pred.probs[~pred.mask] == 0).all()
    # the signal is perfectly separable on valid frames
    assert (pred.preds[pred.mask] == pred.truths[pred.mask]).all()


def test_padding_would_flip_a_prediction_if_it_were_used():
    """Valid test frames at PAD_VALUE with label 1: predicted tingle only if padding stayed out of training."""
    tensor = tiny_tensor(SUBJECTS)
    splits = fake_splits(SUBJECTS)
    asmr_test = [
        i
        for i in range(tensor.n_trials)
        if tensor.subject[i] in splits[0].test_subjects and tensor.video[i] == "vid1" and tensor.trial_index[i] != 0
    ]
    assert asmr_test
    ppg, y = tensor.ppg.copy(), tensor.y.copy()
    ppg[asmr_test, :5], y[asmr_test, :5] = PAD_VALUE, 1
    probe = dataclasses.replace(tensor, ppg=ppg, y=y)
    pred = Predictions.for_trials(
        probe, **run_xgb(probe, splits, FAST, features="ppg", progress=False, nthread=1).outputs._asdict()
    )
    rows = [np.flatnonzero((pred.subject == probe.subject[i]) & (pred.video == probe.video[i]))[0] for i in asmr_test]
    assert (pred.preds[rows, :5] == 1).all()
    # control: with the padding declared valid, the same booster setup learns "5.0 -> 0"
    leaky = dataclasses.replace(probe, mask=np.ones_like(probe.mask))
    leaked = run_xgb(leaky, splits, FAST, features="ppg", progress=False, nthread=1).outputs
    assert (leaked.preds[rows, :5] == 0).all()


def test_native_booster_matches_the_authors_xgbclassifier():
    xgboost = pytest.importorskip("xgboost")
    pytest.importorskip("sklearn")
    tensor = tiny_tensor(SUBJECTS)
    split = fake_splits(SUBJECTS)[:1]
    ours = run_xgb(tensor, split, FAST, features="fusion", progress=False, nthread=1)
    train, test = fold_trials(split[0], tensor)
    x_train, y_train, _ = frame_rows(tensor, train, "fusion")
    x_test, _, (trial, time) = frame_rows(tensor, test, "fusion")
    clf = xgboost.XGBClassifier(
        n_estimators=FAST.n_estimators,
        max_depth=6,
        learning_rate=0.1,
        scale_pos_weight=(y_train == 0).sum() / (y_train == 1).sum(),
        random_state=42,
        tree_method="hist",
        eval_metric="logloss",
    )
    clf.fit(x_train, y_train)
    expected = clf.predict_proba(x_test)[:, 1]
    ours = Predictions.for_trials(tensor, **ours.outputs._asdict())
    got = ours.probs[ours.mask]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(ours.preds[ours.mask], clf.predict(x_test))
