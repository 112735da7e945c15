"""One model's training as a keyed, resumable, cached stage: reused when nothing it depends on changed (SPEC §7, §8).

A model folder (`layout.model_dir`) holds its checkpoints (or XGBoost's
boosters), per-seed predictions, history and `training.json`, which names
the model and the key of its training: the sha256 over the tensor
fingerprint, the folds, the model's source files and configuration (module
fields), the training config and the training program's own sources.

- A folder whose `training.json` is finished with the same key and whose
  predictions are all there is reused as it is.
- A folder left by an interrupted run (`--resume`) continues from its
  latest checkpoint when its key still matches; when the model or its
  code changed since, the old folder is moved aside (`<name>.stale-<key>`,
  nothing is deleted) and the model trains afresh.
- Across runs: every finished training is indexed in the verified cache
  (`storage.ContentCache`, kind `trained`) under its key, pointing at its
  folder and the sha256 of its predictions.  A new run that asks for the
  same training links (or copies) that folder into its own instead of
  training again, so adding a model to a finished benchmark trains only
  that model; a moved, deleted or edited source folder is a miss (with a
  warning) and the model trains again.

Several JAX processes (`runs.distributed`): process 0 alone decides what a
model folder needs (reuse, continue, train), moves, links and writes, then
hands the decision to the others; every process takes part in a Flax
training (its shard of the replica axis), and XGBoost runs on process 0
only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from restasmr_jax import storage
from restasmr_jax.config import TrainConfig, XGBConfig
from restasmr_jax.evidence.artifact import load_predictions, write_predictions
from restasmr_jax.evidence.metrics import selection_macro_f1
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.learning import batches, checkpoint, program, replicas, xgb
from restasmr_jax.learning import fit as fitting
from restasmr_jax.learning.models import ModelSpec, registry
from restasmr_jax.learning.xgb import run_xgb
from restasmr_jax.runs import distributed, layout
from restasmr_jax.runs.timings import Timings
from restasmr_jax.tensor.trial_tensor import TrialTensor

CACHE_KIND = "trained"
PROGRAM_FILES = [Path(m.__file__) for m in (program, fitting, batches, replicas)]  # what every Flax fit runs


@dataclass(frozen=True)
class Trained:
    """A model's test predictions (one per seed, or one for XGBoost) and its `training.json` record."""

    per_seed: list[Predictions]
    record: dict


def read_predictions(paths: list[Path], tensor: TrialTensor) -> list[Predictions]:
    """Saved predictions, back through the safe unpickler (numpy arrays and builtin containers only)."""
    return [load_predictions(p, n_frames=tensor.mask.shape[1]) for p in paths]


def _splits_json(splits) -> list:
    return [dataclasses.asdict(s) for s in splits]


def training_key(
    tensor: TrialTensor, splits, spec: ModelSpec, cfg: TrainConfig, xgb_cfg: XGBConfig
) -> tuple[str, dict]:
    """(sha256 key, its parts) of training `spec` on `tensor`'s `cfg.features` columns with these folds."""
    parts = {
        "tensor": tensor.fingerprint,
        "splits": storage.sha256_json(_splits_json(splits)),
        "features": cfg.features,
    }
    if spec.is_xgboost:
        parts |= {
            "model": {"source": spec.source, "code": storage.code_digest([Path(xgb.__file__)])},
            "xgb": dataclasses.asdict(xgb_cfg),
        }
    else:
        tagger = spec.tagger(cfg)
        parts |= {
            "model": {
                "source": spec.source,
                "code": storage.code_digest(spec.source_files()),
                "config": registry.module_config(tagger),
            },
            "train": dataclasses.asdict(cfg),
            "program": storage.code_digest(PROGRAM_FILES),
        }
    return storage.sha256_json(parts), parts


def read_record(model_dir: Path) -> dict | None:
    path = Path(model_dir) / layout.TRAINING_FILE
    try:
        return json.loads(path.read_text()) if path.exists() else None
    except ValueError:
        return None


def _finished(model_dir: Path, key: str, n_predictions: int) -> dict | None:
    record = read_record(model_dir)
    paths = layout.prediction_paths(model_dir, n_predictions)
    if record and record.get("key") == key and record.get("status") == "finished" and all(p.exists() for p in paths):
        return record
    return None


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)  # a finished model folder is never written again, so sharing its bytes is safe
    except OSError:
        shutil.copy2(src, dst)


def _cached_source(cache: storage.ContentCache, stem: str, key: str, n_predictions: int) -> Path | None:
    """The folder of another run that holds a finished training with this key, checked; None if there is none."""
    entry = cache.load(stem, key)
    if entry is None:
        return None
    source = Path(entry.meta.get("folder", ""))
    paths = layout.prediction_paths(source, n_predictions)
    expected = [str(d) for d in entry.arrays.get("predictions_sha256", [])]
    fine = _finished(source, key, n_predictions) is not None and len(expected) == len(paths)
    if fine:
        digests = storage.memoised_sha256(paths, cache.memo_path)
        fine = [digests[p] for p in paths] == expected
    if not fine:
        warnings.warn(
            f"the cached training of {stem} points at {source}, which is gone or changed; training it again",
            storage.CacheWarning,
            stacklevel=3,
        )
        return None
    return source


def _link_folder(source: Path, model_dir: Path) -> None:
    """Hard links (or copies) of `source`'s files at `model_dir`, which appears complete or not at all."""
    staging = model_dir.with_name(f".{model_dir.name}.linking")
    if staging.exists():  # left by an interrupted link: kept, out of the way
        staging.rename(model_dir.with_name(f"{model_dir.name}.stale-{time.time_ns()}"))
    shutil.copytree(source, staging, copy_function=_link_or_copy)
    staging.replace(model_dir)


def _move_aside(model_dir: Path, old_key: str | None) -> None:
    target = model_dir.with_name(f"{model_dir.name}.stale-{(old_key or 'unkeyed')[:12]}")
    n = 1
    while target.exists():
        n += 1
        target = target.with_name(f"{model_dir.name}.stale-{(old_key or 'unkeyed')[:12]}-{n}")
    print(
        f"[pipeline] {model_dir} was trained with other inputs, model code or settings; moved to {target.name} "
        "and training again",
        file=sys.stderr,
        flush=True,
    )
    model_dir.rename(target)


def _prepare(model_dir: Path, key: str, parts: dict, name: str, n_predictions: int, resume: bool, cache) -> str:
    """Process 0: what `model_dir` needs ("reuse", "continue" or "train"), its folder made ready for it."""
    if _finished(model_dir, key, n_predictions) is not None:
        return "reuse"
    if model_dir.exists() and any(model_dir.iterdir()):
        old = read_record(model_dir)
        if resume and old is not None and old.get("key") == key:
            return "continue"
        _move_aside(model_dir, None if old is None else old.get("key"))
    if cache is not None and not model_dir.exists():
        source = _cached_source(cache, f"{name}-{parts['features']}", key, n_predictions)
        if source is not None:
            _link_folder(source, model_dir)
            print(f"[pipeline] {name}: reused the finished training {source}", file=sys.stderr, flush=True)
            return "reuse"
    model_dir.mkdir(parents=True, exist_ok=True)
    storage.write_json(
        model_dir / layout.TRAINING_FILE, {"name": name, "key": key, "parts": parts, "status": "training"}
    )
    return "train"


def keyed_stage(
    model_dir: Path,
    *,
    name: str,
    key: str,
    parts: dict,
    n_predictions: int,
    tensor: TrialTensor,
    resume: bool,
    cache_dir: Path | None,
    train: Callable[[bool], tuple[list[Predictions], dict]],
    every_process: bool = True,
) -> Trained:
    """Reuse `model_dir`'s training `key`, or run `train(continuing) -> (per-seed predictions, record fields)`.

    `continuing` is True only for an interrupted training of the same key found by a resumed run (module
    docstring).  `every_process`: every process runs this stage (a Flax model); else process 0 alone.
    """
    model_dir = Path(model_dir)
    cache = storage.ContentCache(cache_dir, CACHE_KIND) if cache_dir is not None else None
    decision = ""
    if distributed.is_writer():
        decision = _prepare(model_dir, key, parts, name, n_predictions, resume, cache)
    if every_process:
        decision = distributed.from_writer(decision)  # after process 0 has moved or linked the folder
    paths = layout.prediction_paths(model_dir, n_predictions)
    if decision == "reuse":
        return Trained(read_predictions(paths, tensor), read_record(model_dir))
    per_seed, fields = train(decision == "continue")
    record = {"name": name, "key": key, "parts": parts, "status": "finished", "folder": str(model_dir.resolve())}
    record.update(fields)
    if distributed.is_writer():
        storage.write_json(model_dir / layout.TRAINING_FILE, record)
        if cache is not None:
            digests = storage.memoised_sha256(paths, cache.memo_path)
            found = np.array([digests[p] for p in paths])
            cache.store(f"{name}-{parts['features']}", key, {"predictions_sha256": found}, {"folder": record["folder"]})
    return Trained(per_seed, record)


def train_flax(
    tensor: TrialTensor,
    splits,
    cfg: TrainConfig,
    spec: ModelSpec,
    model_dir: Path,
    *,
    resume: bool,
    progress: bool,
    timings: Timings,
    label: str = "",
    meshes: dict | None = None,
) -> tuple[list[Predictions], dict]:
    """Fit every seed x fold of `spec` (or continue from checkpoints), predict; process 0 saves.

    Returns the per-seed predictions and the fields of the model's `training.json`; `meshes[label]` gets
    the replica mesh.
    """
    tagger = spec.tagger(cfg)
    session = fitting.make_session(tensor, splits, cfg, model=tagger)
    mesh = session.place.describe()
    if meshes is not None:
        meshes[label.lstrip(":") or cfg.features] = mesh
    if mesh["inert_padding"] and progress:
        print(
            f"[pipeline] {mesh['replicas']} seed x fold replicas on {mesh['devices']} devices: padded with "
            f"{mesh['inert_padding']} inert replicas (zero weight, outputs dropped)",
            file=sys.stderr,
            flush=True,
        )
    started = time.perf_counter()
    with timings.stage(f"train{label}", progress):
        checkpoints = checkpoint.open_checkpoints(
            Path(model_dir) / layout.CHECKPOINT_DIR, tensor, splits, cfg, session.n_features, resume=resume, model=spec
        )
        latest = checkpoints.latest_epoch()
        try:
            result = fitting.fit(session, score=selection_macro_f1, checkpoints=checkpoints, progress=progress)
        finally:
            checkpoints.close()
    train_seconds = time.perf_counter() - started
    epochs_run = cfg.epochs - (0 if latest is None else latest + 1)
    with timings.stage(f"predict{label}", progress):
        per_seed = [Predictions.for_trials(tensor, **out._asdict()) for out in fitting.predict(session, result.params)]
    fields = {
        "source": spec.source,
        "train": dataclasses.asdict(cfg),
        "n_params": registry.n_parameters(tagger, session.n_features),
        "train_seconds": round(train_seconds, 3),  # this attempt, compilation included
        "epochs_run": epochs_run,  # epochs this attempt trained (fewer after a resume)
    }
    if not distributed.is_writer():
        return per_seed, fields
    storage.write_json(
        Path(model_dir) / layout.HISTORY_FILE,
        {
            **result.history,
            "best_epoch": result.best_epoch,
            "best_val_f1": result.best_score,
            "selection": cfg.selection,
            "axes": "[epoch][seed][fold] for per-epoch lists; [seed][fold] for best_*; epochs 0-based",
        },
    )
    for path, pred in zip(layout.prediction_paths(model_dir, cfg.n_seeds), per_seed):
        write_predictions(path, pred)
    return per_seed, fields


def train_xgboost(
    tensor: TrialTensor, splits, xgb_cfg: XGBConfig, features: str, model_dir: Path, *, progress: bool, timings
) -> tuple[list[Predictions], dict]:
    """SPEC §8 on the same folds; saves predictions, per-fold boosters (reloadable JSON) and fold sizes.

    Returns the predictions (one "seed") and the fields of the model's `training.json`.
    """
    started = time.perf_counter()
    with timings.stage(layout.XGBOOST, progress):
        result = run_xgb(tensor, splits, xgb_cfg, features=features, progress=progress)
    pred = Predictions.for_trials(tensor, **result.outputs._asdict())
    write_predictions(layout.prediction_paths(model_dir, 1)[0], pred)
    for report, booster in zip(result.folds, result.boosters):
        storage.atomic_write_bytes(
            layout.booster_path(model_dir, report.fold), bytes(booster.save_raw(raw_format="json"))
        )
    folds = [
        {
            "fold": r.fold,
            "n_train_rows": r.n_train_rows,
            "n_test_rows": r.n_test_rows,
            "scale_pos_weight": r.scale_pos_weight,
        }
        for r in result.folds
    ]
    storage.write_json(Path(model_dir) / layout.XGB_FOLDS_FILE, folds)
    return [pred], {
        "source": registry.XGBOOST,
        "xgb": dataclasses.asdict(xgb_cfg),
        "features": features,
        "n_params": None,
        "train_seconds": round(time.perf_counter() - started, 3),
    }


def train_model(
    tensor: TrialTensor,
    splits,
    spec: ModelSpec,
    cfg: TrainConfig,
    model_dir: Path,
    *,
    xgb_cfg: XGBConfig = XGBConfig(),
    resume: bool,
    progress: bool,
    timings: Timings,
    cache_dir: Path | None,
    label: str = "",
    meshes: dict | None = None,
) -> Trained:
    """`spec` trained on `cfg.features` in `model_dir`, reused when a finished training with the same key exists
    here or in the cache.  Flax models train in the vmapped program on every process; XGBoost on its own, and
    only process 0 may call this for it."""
    key, parts = training_key(tensor, splits, spec, cfg, xgb_cfg)

    def train(continuing: bool) -> tuple[list[Predictions], dict]:
        if spec.is_xgboost:
            return train_xgboost(tensor, splits, xgb_cfg, cfg.features, model_dir, progress=progress, timings=timings)
        return train_flax(
            tensor,
            splits,
            cfg,
            spec,
            model_dir,
            resume=continuing,
            progress=progress,
            timings=timings,
            label=label,
            meshes=meshes,
        )

    return keyed_stage(
        model_dir,
        name=spec.name,
        key=key,
        parts=parts,
        n_predictions=1 if spec.is_xgboost else cfg.n_seeds,
        tensor=tensor,
        resume=resume,
        cache_dir=cache_dir,
        train=train,
        every_process=not spec.is_xgboost,
    )
