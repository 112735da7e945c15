"""Reference score rows beside every model: the crowd, elapsed time, pooled and within-trial AUROC (SPEC §9.1).

Plain numpy on `[trial, time]` arrays (truths 0/1, mask of frames to score)
and `[trial]` fields, so the same functions score a run's test trials, the
authors' artifact and a synthetic archive's truth alike.

- `crowd_scores`: for each trial, the frame-by-frame mean binary report of
  the *other* trials of the same fold and video (leave one out).  A peer
  votes only on frames inside its own mask (a first-presented trial has 507
  valid frames, not 550).  A frame that no peer covers, and every frame of
  a trial without any peer, is NaN: the crowd has nothing to say there, and
  the AUROC functions below refuse NaN on a scored frame instead of
  guessing a value for it.
- `elapsed_time_scores`: the frame index as a score (a model that only
  knows how long the video has been running); NaN outside the mask.
- `pooled_auroc` / `within_trial_auroc`: AUROC over all scored ASMR frames
  together, and the mean of the AUROCs inside each ASMR trial that holds
  both classes.  Ties count one half (the Mann-Whitney definition that
  sklearn's `roc_auc_score` uses).

Every table shows them as rows beside the models (`ReferenceRow`: a name
and predictions in the one `Predictions` format, so the metric engine
scores them like any model): the condition prior, the crowd (its class is
"tingle" where more than half of the other viewers report it; a frame no
peer covers scores 0.5 and counts as no tingle, and the row says how many)
and elapsed time (a score without classes: AUROC columns only).  Any other
reference, such as a synthetic archive's latent truth, is one more
`reference_from_scores` call.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.stats

from restasmr_jax.evidence.predictions import Predictions

CONDITION_PRIOR, CROWD, ELAPSED_TIME = "condition_prior", "crowd", "elapsed_time"
STIMULUS_ORACLE, PARTICIPANT_ORACLE = "stimulus_oracle", "participant_oracle"  # a synthetic archive's truth
UNCOVERED_SCORE = 0.5  # a crowd frame without any peer report: no information either way


class ReferenceInputError(ValueError):
    """Arrays that cannot be scored; the message says which and why."""


def _frames(name: str, array, shape: tuple[int, ...] | None = None) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise ReferenceInputError(f"{name} must be [trial, time], got shape {array.shape}")
    if shape is not None and array.shape != shape:
        raise ReferenceInputError(f"{name} has shape {array.shape}, expected {shape} like the truths")
    return array


def _binary(name: str, array) -> np.ndarray:
    array = _frames(name, array)
    if not np.isin(array, (0, 1)).all():
        raise ReferenceInputError(f"{name} must hold only 0 and 1")
    return array.astype(np.float64)


def _per_trial(name: str, values, n_trials: int) -> np.ndarray:
    values = np.asarray(values)
    if values.shape != (n_trials,):
        raise ReferenceInputError(f"{name} must be [trial] with {n_trials} entries, got shape {values.shape}")
    return values


def crowd_scores(truths, mask, subject, video, fold) -> np.ndarray:
    """Leave-one-out mean report `[trial, time]` of the same fold's other trials of the same video (NaN: no peer)."""
    truths = _binary("truths", truths)
    mask = _frames("mask", mask, truths.shape).astype(bool)
    n = truths.shape[0]
    subject = _per_trial("subject", subject, n)
    video = _per_trial("video", video, n).astype(str)
    fold = _per_trial("fold", fold, n)
    keys = list(zip(fold.tolist(), video.tolist(), subject.tolist()))
    if len(set(keys)) != n:
        raise ReferenceInputError("a participant appears twice with the same video in one fold")
    out = np.full(truths.shape, np.nan)
    groups = {}
    for row, (f, v, _) in enumerate(keys):
        groups.setdefault((f, v), []).append(row)
    for rows in groups.values():  # one group per fold x video: a handful
        rows = np.asarray(rows)
        votes = np.where(mask[rows], truths[rows], 0.0)  # [member, time]
        voters = mask[rows].astype(np.float64)
        others = votes.sum(axis=0) - votes  # leave the trial itself out
        counted = voters.sum(axis=0) - voters
        with np.errstate(invalid="ignore", divide="ignore"):
            out[rows] = np.where(counted > 0, others / counted, np.nan)
    return out


def elapsed_time_scores(mask) -> np.ndarray:
    """The frame index `[trial, time]` as a score (float), NaN on frames outside the mask."""
    mask = _frames("mask", mask).astype(bool)
    index = np.broadcast_to(np.arange(mask.shape[1], dtype=np.float64), mask.shape)
    return np.where(mask, index, np.nan)


def auroc(scores: np.ndarray, truths: np.ndarray) -> float:
    """AUROC of 1-d `scores [frame]` for binary `truths [frame]`; NaN when a class is absent."""
    positive = truths.astype(bool)
    n_pos = int(positive.sum())
    n_neg = positive.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = scipy.stats.rankdata(scores)  # average ranks: a tie counts one half
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _scored(scores, truths, mask, is_nature) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    truths = _binary("truths", truths)
    scores = _frames("scores", scores, truths.shape).astype(np.float64)
    mask = _frames("mask", mask, truths.shape).astype(bool)
    asmr = ~_per_trial("is_nature", is_nature, truths.shape[0]).astype(bool)
    return scores, truths, mask, asmr


def _refuse_nan(scores: np.ndarray, where: np.ndarray, what: str) -> None:
    if np.isnan(scores[where]).any():
        raise ReferenceInputError(
            f"scores are NaN on {int(np.isnan(scores[where]).sum())} scored frames of {what} "
            "(a crowd without peers there?); drop those trials or frames explicitly"
        )


def pooled_auroc(scores, truths, mask, is_nature) -> float:
    """AUROC over every scored frame of the ASMR trials pooled (the within-ASMR AUROC of SPEC §9)."""
    scores, truths, mask, asmr = _scored(scores, truths, mask, is_nature)
    where = mask & asmr[:, None]
    _refuse_nan(scores, where, "the ASMR trials")
    return auroc(scores[where], truths[where])


def within_trial_auroc(scores, truths, mask, is_nature) -> tuple[float, int]:
    """(mean AUROC inside each ASMR trial with both classes among its scored frames, number of such trials)."""
    scores, truths, mask, asmr = _scored(scores, truths, mask, is_nature)
    values = []
    for row in np.flatnonzero(asmr):  # at most a few hundred trials
        kept = mask[row]
        positives = truths[row, kept].sum()
        if 0 < positives < kept.sum():
            _refuse_nan(scores[row], kept, f"trial {row}")
            values.append(auroc(scores[row, kept], truths[row, kept]))
    return (float(np.mean(values)) if values else float("nan")), len(values)


@dataclass(frozen=True)
class ReferenceRow:
    """A row that is not a model: its name, what it is, and predictions any scorer reads.

    `auroc_only`: the row is a score without a decision (elapsed time), so
    only its AUROC columns mean anything.
    """

    name: str
    pred: Predictions
    description: str
    auroc_only: bool = False


def reference_from_scores(name: str, like: Predictions, scores, *, description: str, preds=None) -> ReferenceRow:
    """A reference row on `like`'s trials from `scores [trial, time]` (and classes `preds`, else AUROC only).

    Scores must be finite on every valid frame; frames outside the mask are never scored and are set to 0.
    """
    scores = _frames("scores", scores, like.truths.shape).astype(np.float64)
    valid = np.asarray(like.mask, bool)
    if not np.isfinite(scores[valid]).all():
        bad = np.argwhere(valid & ~np.isfinite(scores))[0].tolist()
        raise ReferenceInputError(f"reference {name!r}: scores are not finite on a valid frame ([trial, time] {bad})")
    probs = np.where(valid, scores, 0.0).astype(np.float32)
    classes = np.zeros(like.truths.shape, np.int32) if preds is None else _binary("preds", preds).astype(np.int32)
    return ReferenceRow(name, replace(like, probs=probs, preds=classes), description, auroc_only=preds is None)


def condition_prior_row(pred: Predictions) -> ReferenceRow:
    return ReferenceRow(CONDITION_PRIOR, pred.condition_prior(), "'tingle' on every ASMR frame (SPEC §9)")


def crowd_row(pred: Predictions) -> ReferenceRow:
    """The leave-one-out crowd of `pred`'s test trials (uses test labels: a reference, never a model)."""
    crowd = crowd_scores(pred.truths, pred.mask, pred.subject, pred.video, pred.fold)
    uncovered = np.isnan(crowd) & np.asarray(pred.mask, bool)
    scores = np.where(np.isnan(crowd), UNCOVERED_SCORE, crowd)
    description = (
        "mean report of the other test participants of the fold who watched the same video (leave one out; "
        "it reads test labels); class: more than half of them report tingle"
    )
    if uncovered.any():
        description += f"; {int(uncovered.sum())} valid frames no peer covers score {UNCOVERED_SCORE} (no tingle)"
    return reference_from_scores(CROWD, pred, scores, preds=(scores > 0.5), description=description)


def elapsed_time_row(pred: Predictions) -> ReferenceRow:
    """The frame index as a score: does tingle simply rise with time?  AUROC only."""
    index = np.broadcast_to(np.arange(pred.truths.shape[1], dtype=np.float64), pred.truths.shape)
    return reference_from_scores(ELAPSED_TIME, pred, index, description="the frame index as a score (AUROC only)")


def standard_references(pred: Predictions) -> list[ReferenceRow]:
    """The reference rows beside every model on `pred`'s test trials: condition prior, crowd, elapsed time."""
    return [condition_prior_row(pred), crowd_row(pred), elapsed_time_row(pred)]


def oracle_rows(pred: Predictions, stimulus, participant) -> list[ReferenceRow]:
    """The two ceilings a synthetic archive knows, from its latent truth on `pred`'s trials (`[trial, time]` each).

    `stimulus`: the tingle probability the stimulus alone implies (the population's average response to
    the clip's trigger drive: the best any stimulus-only model can do); `participant`: the probability
    each participant's report was drawn with.  Class: probability >= 0.5.
    """
    described = {
        STIMULUS_ORACLE: (
            stimulus,
            "the population's tingle probability given the clip's trigger drive "
            "(synthetic truth: the best a stimulus-only model can do)",
        ),
        PARTICIPANT_ORACLE: (
            participant,
            "the probability this participant's report was drawn with (synthetic truth: the ceiling for any model)",
        ),
    }
    return [
        reference_from_scores(name, pred, scores, preds=np.asarray(scores) >= 0.5, description=description)
        for name, (scores, description) in described.items()
    ]
