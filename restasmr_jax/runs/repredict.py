"""Reload a run's best checkpoints and check that re-prediction reproduces its saved predictions (SPEC §7)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from restasmr_jax import storage
from restasmr_jax.config import TrainConfig
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.learning import fit as fitting
from restasmr_jax.learning import splits as splits_mod
from restasmr_jax.learning.checkpoint import load_run
from restasmr_jax.learning.xgb import load_boosters, predict_xgb
from restasmr_jax.runs import layout
from restasmr_jax.runs.data import Data, check_same_data, prepare_data
from restasmr_jax.runs.layout import RunFolderError
from restasmr_jax.runs.options import load_options
from restasmr_jax.runs.training import read_predictions, read_record
from restasmr_jax.tensor.trial_tensor import TrialTensor


def run_predict(run_dir: Path, *, tensor: TrialTensor | None = None, progress: bool = True) -> dict:
    """Reload a run's best checkpoints, re-predict its test sets, compare with the saved predictions.

    Works on a fusion run folder and on each `models/<name>/` of an
    ablation or benchmark run, whatever its model (rebuilt from the source
    its checkpoints record; XGBoost from its saved per-fold boosters).  Returns (and
    writes to `repredict.json`) a per-seed verdict: bit-identical or the
    largest differences.  Nothing saved by the run is overwritten.
    """
    run_dir = Path(run_dir)
    options = replace(load_options(run_dir), progress=progress)
    data = prepare_data(options, None, tensor=tensor)
    check_same_data(run_dir, data)
    splits = splits_mod.load_splits(run_dir, data.tensor)
    folders = sorted(p for p in (run_dir / layout.MODELS_DIR).glob("*") if ".stale-" not in p.name)
    model_dirs = (
        [run_dir]
        if (run_dir / layout.CHECKPOINT_DIR).exists()
        else [p for p in folders if (p / layout.CHECKPOINT_DIR).exists()]
    )
    xgb_dirs = [p for p in folders if layout.booster_path(p, 0).exists()]
    if not model_dirs and not xgb_dirs:
        raise RunFolderError(f"{run_dir}: no {layout.CHECKPOINT_DIR}/ folder to reload (did training finish?)")
    verdicts = {}
    for model_dir in model_dirs:
        record = read_record(model_dir)
        name = options.train.features if model_dir == run_dir else model_dir.name
        if model_dir == run_dir:
            cfg = options.train
        elif record is not None and "train" in record:
            cfg = TrainConfig(**record["train"])
        else:
            cfg = replace(options.train, features=name)
        restored = load_run(model_dir / layout.CHECKPOINT_DIR)
        if restored.cfg != cfg or restored.splits != splits:
            raise RunFolderError(
                f"{model_dir / layout.CHECKPOINT_DIR}: its config or folds differ from the run's "
                f"options.json / training.json / split file"
            )
        session = fitting.make_session(data.tensor, splits, cfg, model=restored.model)
        per_seed = [
            Predictions.for_trials(data.tensor, **out._asdict()) for out in fitting.predict(session, restored.params)
        ]
        saved = read_predictions(layout.prediction_paths(model_dir, cfg.n_seeds), data.tensor)
        verdicts[name] = [compare_predictions(new, old) for new, old in zip(per_seed, saved)]
    for xgb_dir in xgb_dirs:
        verdicts[xgb_dir.name] = [repredict_xgboost(xgb_dir, data, splits)]
    identical = all(v["identical"] for seeds in verdicts.values() for v in seeds)
    result = {"run": str(run_dir), "identical": identical, "models": verdicts}
    storage.write_json(run_dir / layout.REPREDICT_FILE, result)
    word = "bit-identical to" if identical else "DIFFERENT from"
    print(f"[predict] re-predicted test sets are {word} the saved predictions ({run_dir})")
    return result


def repredict_xgboost(xgb_dir: Path, data: Data, splits) -> dict:
    """Reload the saved per-fold boosters, re-score the test frames, compare with the saved predictions."""
    boosters = load_boosters([layout.booster_path(xgb_dir, split.fold) for split in splits])
    features = (read_record(xgb_dir) or {}).get("features", "fusion")
    outputs = predict_xgb(boosters, data.tensor, splits, features=features)
    new = Predictions.for_trials(data.tensor, **outputs._asdict())
    saved = read_predictions(layout.prediction_paths(xgb_dir, 1), data.tensor)[0]
    return compare_predictions(new, saved)


def compare_predictions(new: Predictions, old: Predictions) -> dict:
    """Field-by-field exact comparison; the largest difference of each field that differs."""
    differences = {}
    for name in Predictions.__dataclass_fields__:
        a, b = np.asarray(getattr(new, name)), np.asarray(getattr(old, name))
        if a.shape != b.shape:
            differences[name] = f"shape {a.shape} vs {b.shape}"
        elif not np.array_equal(a, b):
            differences[name] = (
                float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
                if a.dtype.kind in "biuf"
                else "values differ"
            )
    return {"identical": not differences, "differences": differences}
