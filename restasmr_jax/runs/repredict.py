"""Reload a run's best checkpoints and check that re-prediction reproduces its saved predictions (SPEC §7)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from restasmr_jax import storage
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.runs.options import RunOptions, load_options
from restasmr_jax.runs.pipeline import (
    CHECKPOINT_DIR,
    Data,
    PipelineError,
    booster_path,
    check_same_data,
    load_predictions,
    prediction_paths,
    prepare_data,
    xgboost_dir,
)
from restasmr_jax.tensor.trial_tensor import TrialTensor


def run_predict(run_dir: Path, *, tensor: TrialTensor | None = None, progress: bool = True) -> dict:
    """Reload a run's best checkpoints, re-predict its test sets, compare with the saved predictions.

    Works on a fusion run folder and on each `models/<name>/` of an
    ablation run (XGBoost from its saved per-fold boosters).  Returns (and writes to `repredict.json`) a per-seed
    verdict: bit-identical or the largest differences.  Nothing saved by
    the run is overwritten.
    """
    from restasmr_jax.learning import checkpoint
    from restasmr_jax.learning import fit as train
    from restasmr_jax.learning import splits as splits_mod

    run_dir = Path(run_dir)
    options = replace(load_options(run_dir), progress=progress)
    data = prepare_data(options, None, tensor=tensor)
    check_same_data(run_dir, data)
    splits = splits_mod.load_splits(run_dir, data.tensor)
    model_dirs = (
        [run_dir]
        if (run_dir / CHECKPOINT_DIR).exists()
        else sorted(p for p in (run_dir / "models").glob("*") if (p / CHECKPOINT_DIR).exists())
    )
    if not model_dirs and not xgboost_dir(run_dir).exists():
        raise PipelineError(f"{run_dir}: no {CHECKPOINT_DIR}/ folder to reload (did training finish?)")
    n_frames = data.tensor.mask.shape[1]
    verdicts = {}
    for model_dir in model_dirs:
        name = options.train.features if model_dir == run_dir else model_dir.name
        cfg = options.train if model_dir == run_dir else replace(options.train, features=name)
        restored = checkpoint.load_run(model_dir / CHECKPOINT_DIR)
        if restored.cfg != cfg or restored.splits != splits:
            raise PipelineError(
                f"{model_dir / CHECKPOINT_DIR}: its config or folds differ from the run's options.json / split file"
            )
        per_seed = train.predict(restored, data.tensor, splits, cfg)
        saved = [load_predictions(p, n_frames) for p in prediction_paths(model_dir, cfg.n_seeds)]
        verdicts[name] = [compare_predictions(new, old) for new, old in zip(per_seed, saved)]
    xgb_dir = xgboost_dir(run_dir)
    if booster_path(xgb_dir, 0).exists():
        verdicts["xgboost"] = [repredict_xgboost(xgb_dir, data, splits, options)]
    identical = all(v["identical"] for seeds in verdicts.values() for v in seeds)
    result = {"run": str(run_dir), "identical": identical, "models": verdicts}
    storage.write_json(run_dir / "repredict.json", result)
    word = "bit-identical to" if identical else "DIFFERENT from"
    print(f"[predict] re-predicted test sets are {word} the saved predictions ({run_dir})")
    return result


def repredict_xgboost(xgb_dir: Path, data: Data, splits, options: RunOptions) -> dict:
    """Reload the saved per-fold boosters, re-score the test frames, compare with the saved predictions."""
    import xgboost

    from restasmr_jax.learning.xgb import predict_xgb

    boosters = []
    for split in splits:
        booster = xgboost.Booster()
        booster.load_model(bytearray(booster_path(xgb_dir, split.fold).read_bytes()))
        boosters.append(booster)
    new = predict_xgb(boosters, data.tensor, splits, features="fusion", feature_cfg=options.feature_cfg)
    saved = load_predictions(prediction_paths(xgb_dir, 1)[0], data.tensor.mask.shape[1])
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
