"""Video-level classification: a trial is "ASMR" when >= 15 % of its frames are predicted tingle (SPEC §9).

A trial's prediction is "ASMR" when its predicted-tingle frames reach
`StatsConfig.video_min_frames(n)` = int(0.15 · n), n = the trial's scored
frames (550 → 82, the paper's rule; with masks a 507-frame trial needs 76).
Two truths are scored, both reported:

* `stimulus` — the paper's: the trial shows an ASMR video.  Because the
  prediction only has to say "this is an ASMR video", the condition prior
  also gets 100 %.
* `experience` — the participant's: they reported tingle (binary truth 1)
  on at least the same 15 % of the scored frames.  On the published
  predictions this gives 83.8 % overall and 67.6 % within ASMR trials,
  exactly the base rate, because every ASMR trial is predicted "ASMR".

Each becomes a one-frame-per-trial evaluation set, so the frame engine
(`metrics`, `stats`) gives accuracy, macro F1, the confusion matrix,
within-ASMR accuracy and AUROC (score: the fraction of frames predicted
tingle), per-fold means, bootstrap CIs over participants and permutation
p-values over trials, with the same draws as the frame level.
"""

from __future__ import annotations

import numpy as np

from restasmr_jax.config import StatsConfig
from restasmr_jax.evidence.metrics import ScoringProblem, scoring_problem
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.evidence.stats import evaluate

TRUTHS = {
    "stimulus": "the trial shows an ASMR video (the paper's truth)",
    "experience": "the participant reported tingle on >= 15 % of the scored frames",
}


def min_frames(scored_frames, cfg: StatsConfig = StatsConfig()) -> np.ndarray:
    """[trial] frames needed for "ASMR": int(threshold · scored frames) per trial."""
    return np.array([cfg.video_min_frames(int(n)) for n in np.asarray(scored_frames).reshape(-1)], np.int64)


def video_labels(frames, mask, cfg: StatsConfig = StatsConfig()) -> np.ndarray:
    """[trial] bool: at least `min_frames` of the trial's scored frames are 1 (`frames, mask [trial, time]`)."""
    frames, mask = np.asarray(frames, np.int64), np.asarray(mask, bool)
    return (frames * mask).sum(axis=1) >= min_frames(mask.sum(axis=1), cfg)


def _truth_labels(pred: Predictions, truth: str, mask: np.ndarray, cfg: StatsConfig) -> np.ndarray:
    if truth not in TRUTHS:
        raise ValueError(f"truth must be one of {sorted(TRUTHS)}, got {truth!r}")
    if truth == "stimulus":
        return ~np.asarray(pred.is_nature, bool)
    return video_labels(pred.truths, mask, cfg)


def video_problem(pred: Predictions, truth: str, cfg: StatsConfig = StatsConfig()) -> ScoringProblem:
    """One-frame-per-trial evaluation set of the video-level classification against `truth`."""
    mask = pred.scoring_mask(cfg.count_padding)
    target = _truth_labels(pred, truth, mask, cfg)
    predicted = video_labels(pred.preds, mask, cfg)
    fraction = (np.asarray(pred.preds) * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
    return scoring_problem(
        target[:, None].astype(np.int32),
        predicted[:, None].astype(np.int32),
        np.ones((pred.n_trials, 1), np.int32),
        pred.is_nature,
        fraction[:, None],
    )


def video_level(
    pred: Predictions,
    cfg: StatsConfig = StatsConfig(),
    *,
    resample: bool = True,
    key=None,
) -> dict[str, dict]:
    """Video-level results against both truths (see the module docstring)."""
    mask = pred.scoring_mask(cfg.count_padding)
    asmr = ~np.asarray(pred.is_nature, bool)
    out = {}
    for truth, description in TRUTHS.items():
        problem = video_problem(pred, truth, cfg)
        result = evaluate(problem, pred.subject, pred.fold, cfg, key, resample=resample)
        positives = _truth_labels(pred, truth, mask, cfg)
        result.update(
            truth=description,
            n_predicted_asmr=int(video_labels(pred.preds, mask, cfg).sum()),
            n_truth_positive=int(positives.sum()),
            asmr_truth_rate=float(positives[asmr].mean()) if asmr.any() else float("nan"),
        )
        out[truth] = result
    return out
