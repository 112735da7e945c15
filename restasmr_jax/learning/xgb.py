"""Non-temporal XGBoost baseline on the BiLSTM's folds (SPEC §8).

Every valid 100-ms frame is an independent row; a fold trains one booster
on its whole training pool and scores its test trials.

Decisions (SPEC §8 leaves them open; the authors' `xgboost_baseline.py` is
the reference for the rest):
- Training rows: the fold's *training pool*, i.e. the BiLSTM's train and
  inner-validation participants together (non-test participants x non-test
  videos). XGBoost has no epoch to select, so it needs no validation set;
  the authors' code does the same.
- Masked (zero-padded) frames are excluded from both training and scoring
  rows. The authors padded trial 0 to 550 frames and trained on the
  padding as 43 extra "no tingle" rows of zero input; here a padded frame
  gets prediction 0, probability 0 and `mask=False`, so it is scored only
  under `count_padding=True` (where, as in the paper, it counts as a
  correct negative).
- `scale_pos_weight = n_neg / n_pos` over the fold's training rows (1.0
  when a fold has no positive frame, as the authors' code).
- The native `xgboost.train` API with `objective=binary:logistic` is the
  same model as `XGBClassifier(...)`; it needs no scikit-learn and lets the
  caller see exactly how many rows reach the booster. `tree_method=hist`,
  `nthread` = all cores; with no row/column subsampling the result is
  deterministic for a given `random_state`.
- A frame is predicted "tingle" when P(tingle) > 0.5 (XGBClassifier.predict).
- `xgboost` is imported inside the functions that train or score: it takes
  over a second to import and most runs never build a booster.

Shapes: `[trial, time]` for frame arrays, `[row, feat]` for booster input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from restasmr_jax.config import XGBConfig
from restasmr_jax.learning.outputs import TestOutputs
from restasmr_jax.learning.splits import FoldSplit, trial_indices
from restasmr_jax.tensor.trial_tensor import TrialTensor

DECISION_THRESHOLD = 0.5  # XGBClassifier.predict's cut on P(tingle)


@dataclass(frozen=True)
class XGBFoldReport:
    fold: int
    train_trials: np.ndarray  # [trial] rows of the tensor used for training
    test_trials: np.ndarray  # [trial] rows of the tensor scored
    n_train_rows: int  # frames handed to the booster for training
    n_test_rows: int  # frames handed to the booster for prediction
    scale_pos_weight: float


@dataclass(frozen=True)
class XGBResult:
    outputs: TestOutputs  # test trials of all folds, fold-major, tensor order inside a fold
    folds: list[XGBFoldReport]
    boosters: list  # xgboost.Booster per fold (the caller may `save_model` them)


def frame_rows(
    tensor: TrialTensor, trials: np.ndarray, features: str = "fusion"
) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Valid frames of `trials` as booster rows.

    Returns X `[row, feat]` float32, y `[row]` int32 and the (trial, time)
    index arrays of each row, gathered straight from the factorised tensor
    (never materialising the dense `[trial, time, 544]` array).
    """
    trials = np.asarray(trials, dtype=np.int64)
    local_trial, time = np.nonzero(tensor.mask[trials])
    trial = trials[local_trial]
    shared, own = tensor.feature_columns(features)
    x = np.concatenate([shared[tensor.stim_index[trial], time], own[trial, time]], axis=1)
    return x.astype(np.float32, copy=False), tensor.y[trial, time].astype(np.int32), (trial, time)


def fold_trials(split, tensor: TrialTensor) -> tuple[np.ndarray, np.ndarray]:
    """(training-pool trials, test trials) of one fold, as ascending tensor row indices.

    The training pool is the BiLSTM's train + inner-validation trials of the
    same `FoldSplit` (SPEC §6): XGBoost selects no epoch, so it needs no
    validation set.
    """
    train, val, test = trial_indices(tensor, split)
    return np.sort(np.concatenate([train, val])).astype(np.int64), np.asarray(test, dtype=np.int64)


def n_threads() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def booster_params(cfg: XGBConfig, scale_pos_weight: float, nthread: int) -> dict:
    return {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "max_depth": cfg.max_depth,
        "eta": cfg.learning_rate,
        "scale_pos_weight": scale_pos_weight,
        "seed": cfg.random_state,
        "tree_method": "hist",
        "nthread": nthread,
    }


def score_trials(
    booster,
    tensor: TrialTensor,
    test: np.ndarray,
    *,
    features: str = "fusion",
    nthread: int | None = None,
) -> tuple[np.ndarray, int]:
    """P(tingle) `[test_trial, time]` of `booster` on the valid frames of `test` (0 on padding), and the row count."""
    import xgboost

    x_test, _, (trial, time) = frame_rows(tensor, test, features)
    probs = np.zeros((len(test), tensor.mask.shape[1]), dtype=np.float32)
    if x_test.shape[0]:
        scored = booster.predict(xgboost.DMatrix(x_test, nthread=nthread or n_threads()))
        position = np.empty(tensor.n_trials, dtype=np.int64)
        position[np.asarray(test)] = np.arange(len(test))
        probs[position[trial], time] = scored
    return probs, int(x_test.shape[0])


def fit_predict_fold(
    tensor: TrialTensor,
    fold: int,
    train: np.ndarray,
    test: np.ndarray,
    cfg: XGBConfig = XGBConfig(),
    *,
    features: str = "fusion",
    nthread: int | None = None,
) -> tuple[np.ndarray, XGBFoldReport, object]:
    """Train on the valid frames of `train`; P(tingle) `[test_trial, time]` (0 on padding), report, booster."""
    import xgboost

    x_train, y_train, _ = frame_rows(tensor, train, features)
    if x_train.shape[0] == 0:
        raise ValueError(f"fold {fold}: the training pool has no valid frame")
    n_pos = int(y_train.sum())
    n_neg = int(y_train.size - n_pos)
    scale_pos_weight = n_neg / n_pos if n_pos > 0 else 1.0
    dtrain = xgboost.DMatrix(x_train, label=y_train, nthread=nthread or n_threads())
    booster = xgboost.train(
        booster_params(cfg, scale_pos_weight, nthread or n_threads()), dtrain, num_boost_round=cfg.n_estimators
    )
    probs, n_test_rows = score_trials(booster, tensor, test, features=features, nthread=nthread)
    report = XGBFoldReport(
        fold, np.asarray(train), np.asarray(test), int(dtrain.num_row()), n_test_rows, float(scale_pos_weight)
    )
    return probs, report, booster


def _pooled(tensor: TrialTensor, blocks: list[tuple[np.ndarray, np.ndarray, int]]) -> TestOutputs:
    """(test trials, probs, fold) per fold -> one fold-major `TestOutputs`; padded frames predicted 0."""
    test = np.concatenate([b[0] for b in blocks])
    probs = np.concatenate([b[1] for b in blocks])
    mask = tensor.mask[test]
    return TestOutputs(
        rows=test,
        fold=np.concatenate([np.full(len(b[0]), b[2], dtype=np.int32) for b in blocks]),
        probs=np.where(mask, probs, np.float32(0)).astype(np.float32),
        preds=((probs > DECISION_THRESHOLD) & mask).astype(np.int32),
    )


def run_xgb(
    tensor: TrialTensor,
    splits: list[FoldSplit],
    cfg: XGBConfig = XGBConfig(),
    *,
    features: str = "fusion",
    nthread: int | None = None,
    progress: bool = True,
) -> XGBResult:
    """XGBoost on every fold of `splits` -> pooled test outputs (fold-major)."""
    blocks, reports, boosters = [], [], []
    for split in tqdm(splits, desc=f"xgboost [{features}]", unit="fold", disable=not progress):
        train, test = fold_trials(split, tensor)
        probs, report, booster = fit_predict_fold(
            tensor, int(split.fold), train, test, cfg, features=features, nthread=nthread
        )
        blocks.append((test, probs, int(split.fold)))
        reports.append(report)
        boosters.append(booster)
    return XGBResult(_pooled(tensor, blocks), reports, boosters)


def predict_xgb(
    boosters: list,
    tensor: TrialTensor,
    splits: list[FoldSplit],
    *,
    features: str = "fusion",
    nthread: int | None = None,
) -> TestOutputs:
    """Re-score every fold's test trials with saved boosters (one per split, same order)."""
    if len(boosters) != len(splits):
        raise ValueError(f"{len(boosters)} boosters for {len(splits)} folds")
    blocks = []
    for booster, split in zip(boosters, splits):
        _, test = fold_trials(split, tensor)
        probs, _ = score_trials(booster, tensor, test, features=features, nthread=nthread)
        blocks.append((test, probs, int(split.fold)))
    return _pooled(tensor, blocks)


def load_boosters(paths: list) -> list:
    """Boosters saved as XGBoost JSON (`booster.save_raw(raw_format="json")`), one per fold, in order."""
    import xgboost

    boosters = []
    for path in paths:
        booster = xgboost.Booster()
        booster.load_model(bytearray(Path(path).read_bytes()))
        boosters.append(booster)
    return boosters
