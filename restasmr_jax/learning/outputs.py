"""What a cross-validated model says about its test trials: rows, fold, P(tingle), class (SPEC §7-§9).

Both the vmapped program (`fit.predict`) and XGBoost (`xgb`) return this;
`evidence.predictions.Predictions.for_trials` turns it into the one format
every scorer reads.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class TestOutputs(NamedTuple):
    rows: np.ndarray  # [trial] tensor rows, fold-major: fold 1's test trials in tensor order, then fold 2's, ...
    fold: np.ndarray  # [trial] int32 0-based fold whose test set holds the trial
    probs: np.ndarray  # [trial, time] float32 P(tingle)
    preds: np.ndarray  # [trial, time] int32 predicted class
