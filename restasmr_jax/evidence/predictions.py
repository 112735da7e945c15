"""Per-trial test predictions: the one format every scorer reads (SPEC §9, §11).

Every trained model (through `Predictions.for_trials`), the condition-prior
baseline and the authors' published artifact all become a `Predictions`; `metrics.py` and `stats.py`
score it without knowing where it came from.  Shapes: `[trial, time]` for
frame arrays, `[trial]` for per-trial fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Predictions:
    truths: np.ndarray  # [trial, time] int32 binary truth (0 on padding)
    preds: np.ndarray  # [trial, time] int32 predicted class
    probs: np.ndarray  # [trial, time] float32 predicted P(tingle)
    raw_truths: np.ndarray  # [trial, time] int32 rating 0..3
    mask: np.ndarray  # [trial, time] bool: frames to score
    is_nature: np.ndarray  # [trial] bool
    subject: np.ndarray  # [trial] int32
    video: np.ndarray  # [trial] str vid1..vid8
    fold: np.ndarray  # [trial] int32 fold whose test set holds the trial

    @classmethod
    def for_trials(cls, tensor, rows, fold, probs, preds) -> Predictions:
        """The test trials `rows [trial]` of a tensor (anything with `TrialTensor`'s arrays), scored by a model.

        `fold [trial]`, `probs [trial, time]` P(tingle), `preds [trial, time]` classes; truths, ratings,
        masks and trial identities come from the tensor's rows.
        """
        rows = np.asarray(rows)
        return cls(
            truths=np.asarray(tensor.y)[rows].astype(np.int32),
            preds=np.asarray(preds).astype(np.int32),
            probs=np.asarray(probs).astype(np.float32),
            raw_truths=np.asarray(tensor.intensity)[rows].astype(np.int32),
            mask=np.asarray(tensor.mask, bool)[rows],
            is_nature=np.asarray(tensor.is_nature)[rows],
            subject=np.asarray(tensor.subject)[rows].astype(np.int32),
            video=np.asarray(tensor.video)[rows],
            fold=np.asarray(fold).astype(np.int32),
        )

    @property
    def n_trials(self) -> int:
        return int(self.truths.shape[0])

    def scoring_mask(self, count_padding: bool = False) -> np.ndarray:
        """Frames to score: valid frames, or all 550 to reproduce the paper (SPEC §9)."""
        return np.ones_like(self.mask) if count_padding else self.mask

    def condition_prior(self) -> Predictions:
        """Baseline: 'tingle' on every ASMR frame, 'no tingle' on every Nature frame (SPEC §9)."""
        preds = np.broadcast_to(~self.is_nature[:, None], self.truths.shape).astype(np.int32)
        return Predictions(
            self.truths,
            preds,
            preds.astype(np.float32),
            self.raw_truths,
            self.mask,
            self.is_nature,
            self.subject,
            self.video,
            self.fold,
        )

    def select(self, rows: np.ndarray) -> Predictions:
        return Predictions(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))
