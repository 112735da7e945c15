"""Every file name of a run folder, written once (SPEC §7-§11).

<run>/options.json             the RunOptions; `--resume` and `experiments.predict` read them back
<run>/data.json                data source, archive, input hashes, tensor fingerprint
<run>/manifest.json            provenance and status (`manifest.write_manifest`), rewritten per stage
<run>/splits-<hash>.json       the folds and their exact trial rows (`learning.splits.save_splits`)
<model>/checkpoints/           Orbax best + latest state per seed x fold (`learning.checkpoint`)
<model>/predictions/seed<k>.pkl  per-trial test predictions, the published artifact's schema + mask, fold
<model>/history.json           per-epoch train loss / validation score per seed x fold
<model>/training.json          the model, its training key and status, parameter count, wall time (`runs.training`)
<run>/table1.{md,json}, video_level.{md,json}, tinglegram.{png,svg}   the main job's report
<run>/table2.{md,json}         the ablations' report
<run>/leaderboard.{md,json,png,svg}   the benchmark's leaderboard and its forest plot of within-ASMR AUROC
<run>/results.{csv,parquet}    the benchmark's long results: name, kind, seed, fold, metric, value
<run>/models/<name>/           one model folder per ablation or benchmark model; the main job's model folder is <run>
<run>/models/xgboost/booster-fold<k>.json, folds.json   XGBoost's trees and fold sizes
<run>/repredict.json           the verdict of `experiments.predict`
"""

from __future__ import annotations

from pathlib import Path

OPTIONS_FILE = "options.json"
DATA_FILE = "data.json"
CHECKPOINT_DIR = "checkpoints"
PREDICTIONS_DIR = "predictions"
HISTORY_FILE = "history.json"
TRAINING_FILE = "training.json"
MODELS_DIR = "models"
XGBOOST = "xgboost"
XGB_FOLDS_FILE = "folds.json"
REPREDICT_FILE = "repredict.json"
TABLE1, VIDEO_LEVEL, TABLE2, TINGLEGRAM = "table1", "video_level", "table2", "tinglegram"  # stems: .md/.json/.png
LEADERBOARD, RESULTS = "leaderboard", "results"  # stems: leaderboard.{md,json,png,svg}, results.{csv,parquet}


class RunFolderError(ValueError):
    """A run folder cannot serve the requested run (missing pieces, other data, other folds); says why."""


def model_dir(run_dir: Path, name: str) -> Path:
    return Path(run_dir) / MODELS_DIR / name


def prediction_paths(folder: Path, n_seeds: int) -> list[Path]:
    return [Path(folder) / PREDICTIONS_DIR / f"seed{k}.pkl" for k in range(n_seeds)]


def xgboost_dir(run_dir: Path) -> Path:
    return model_dir(run_dir, XGBOOST)


def booster_path(folder: Path, fold: int) -> Path:
    """One fold's trees as XGBoost JSON: auditable, and reloaded by `repredict`."""
    return Path(folder) / f"booster-fold{fold}.json"


def find_predictions(path: Path) -> Path | None:
    """`path` itself when it is a file; in a run folder its first `predictions/seed0.pkl`, the fusion model's first."""
    path = Path(path)
    if not path.is_dir():
        return path
    found = sorted(path.rglob(f"{PREDICTIONS_DIR}/seed0.pkl"), key=lambda p: ("fusion" not in str(p), str(p)))
    return found[0] if found else None
