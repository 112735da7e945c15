"""Orbax checkpoints of a training run: latest state every epoch, best parameters, reload to re-predict (SPEC §7).

Checkpoint folder layout (opened by `open_checkpoints`, filled by `fit.fit`):

    config.json              the TrainConfig, the tensor fingerprint, the model's input width, and the model:
                             its row name, source (registry name or file.py:Class) and source digest
    splits-<hash>.json       the folds (`splits.save_splits`)
    state/<epoch>/           Orbax `CheckpointManager` step = last finished epoch (0-based):
        state/               params, Adam state, best params, best scores, best epochs;
                             leaves have a leading replica axis r = seed * n_folds + fold
        history/             per-epoch train loss, validation macro-F1 and confusion counts (JSON)

One step holds everything for every seed and fold (the best parameters of
each replica included), so "latest" and "best" can never come from
different epochs.  Orbax writes each step into a temporary folder and
renames it when complete, so an interrupted save never replaces the last
good one; only the newest `KEEP` steps are kept.  Saves are asynchronous:
the arrays handed over are host copies, so later donated training steps
cannot overwrite them while they are being written.

Several JAX processes: every process opens the same folder and calls
`save` / `restore` at the same points, as Orbax's multi-process protocol
asks (its barriers keep them in step).  The state handed to `save` is the
real replicas gathered on every host (`Placement.gather`), so Orbax writes
it once, from process 0, which also alone writes `config.json` and the
split file.  A checkpoint therefore never depends on how many processes or
devices wrote it: a run resumes, and reloads, on any other layout.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import orbax.checkpoint as ocp

from restasmr_jax import storage
from restasmr_jax.config import TrainConfig
from restasmr_jax.learning import models
from restasmr_jax.learning.models import ModelSpec
from restasmr_jax.learning.program import state_template
from restasmr_jax.learning.replicas import unflatten_replicas
from restasmr_jax.learning.splits import FoldSplit, load_splits, save_splits

CONFIG_FILE = "config.json"
STATE_DIR = "state"
KEEP = 1
PAPER_MODEL = ModelSpec("bilstm", "bilstm")  # what a folder that names no model trained


class CheckpointError(ValueError):
    """A run folder is missing, incomplete, or belongs to a different configuration or dataset."""


def host_copy(tree):
    """Numpy copies of every leaf (never views of device buffers that a donated step may reuse)."""
    return jax.tree.map(lambda x: np.array(x, copy=True), jax.device_get(tree))


def model_record(model: ModelSpec) -> dict:
    """How a checkpoint folder names its model: row name, source and the digest of the source files."""
    files = model.source_files()
    return {"name": model.name, "source": model.source, "code": storage.code_digest(files) if files else None}


def write_config(
    run_dir: Path, cfg: TrainConfig, dataset_key: str, n_features: int, model: ModelSpec = PAPER_MODEL
) -> Path:
    """`config.json`: the TrainConfig, the fingerprint of the tensor trained on, the model's input width and model."""
    return storage.write_json(
        Path(run_dir) / CONFIG_FILE,
        {
            "train": dataclasses.asdict(cfg),
            "dataset_key": dataset_key,
            "n_features": n_features,
            "model": model_record(model),
        },
    )


def read_model(run_dir: Path) -> tuple[ModelSpec, str | None]:
    """(the model a checkpoint folder trained, the digest of its sources then); the BiLSTM if it names none."""
    doc = json.loads((Path(run_dir) / CONFIG_FILE).read_text())
    record = doc.get("model")
    if record is None:
        return PAPER_MODEL, None
    return ModelSpec(record["name"], record["source"]), record.get("code")


def read_config(run_dir: Path) -> tuple[TrainConfig, str, int]:
    """(TrainConfig, dataset key, model input width) of a run folder."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise CheckpointError(f"{run_dir}: no {CONFIG_FILE}; not a training run folder")
    doc = json.loads(path.read_text())
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(doc["train"]) - fields)
    if unknown:
        raise CheckpointError(f"{path}: unknown TrainConfig fields {unknown}")
    return TrainConfig(**doc["train"]), doc["dataset_key"], int(doc["n_features"])


class RunCheckpoints:
    """The Orbax manager of one run folder."""

    def __init__(self, run_dir: str | Path, *, read_only: bool = False):
        self.run_dir = Path(run_dir)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=KEEP, create=not read_only, read_only=read_only, cleanup_tmp_directories=not read_only
        )
        self._manager = ocp.CheckpointManager(
            self.run_dir.absolute() / STATE_DIR, options=options, item_names=("state", "history")
        )

    def latest_epoch(self) -> int | None:
        return self._manager.latest_step()

    def save(self, epoch: int, state: dict, history: dict) -> None:
        """Queue epoch `epoch`'s state (host copies are taken here) and history; returns at once."""
        self._manager.save(
            epoch,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(host_copy(state)),
                history=ocp.args.JsonSave(jax.tree.map(_jsonable, history)),
            ),
        )

    def restore(self, template: dict, epoch: int | None = None) -> tuple[int, dict, dict]:
        """(epoch, state shaped like `template`, history) of `epoch` (default: the latest)."""
        epoch = self.latest_epoch() if epoch is None else epoch
        if epoch is None:
            raise CheckpointError(f"{self.run_dir / STATE_DIR}: no finished checkpoint to restore")
        abstract = jax.tree.map(lambda x: np.zeros(np.shape(x), np.asarray(x).dtype), template)
        restored = self._manager.restore(
            epoch, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), history=ocp.args.JsonRestore())
        )
        state = jax.tree.map(np.asarray, restored["state"])
        return epoch, state, restored["history"]

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()


def _jsonable(x: Any) -> Any:
    return x.tolist() if hasattr(x, "tolist") else x


def open_checkpoints(
    folder: str | Path,
    tensor,
    splits: list[FoldSplit],
    cfg: TrainConfig,
    n_features: int,
    *,
    resume: bool,
    model: ModelSpec = PAPER_MODEL,
) -> RunCheckpoints:
    """The checkpoints of a fit of `model` in `folder`, checked against what is about to be trained.

    A folder that already holds checkpoints is refused unless `resume`, and
    then only for the same model, config and tensor; a fresh folder gets its
    config and split file first, so a crash later still leaves a folder
    that says what it was training.
    """
    folder = Path(folder)
    manager = RunCheckpoints(folder)
    latest = manager.latest_epoch()
    try:
        if latest is not None and not resume:
            raise CheckpointError(
                f"{folder} already holds checkpoints (epoch {latest + 1}); pass resume=True "
                "to continue that run or choose a new folder"
            )
        if latest is not None:
            saved_cfg, saved_key, _ = read_config(folder)
            saved_model, _ = read_model(folder)
            if saved_cfg != cfg or saved_key != tensor.fingerprint or saved_model.source != model.source:
                other = (
                    "another dataset"
                    if saved_key != tensor.fingerprint
                    else f"model {saved_model.source}"
                    if saved_model.source != model.source
                    else f"config {saved_cfg}"
                )
                raise CheckpointError(f"{folder}: cannot resume, the saved run used {other}")
        elif jax.process_index() == 0:
            write_config(folder, cfg, tensor.fingerprint, n_features, model)
            save_splits(folder, tensor, splits)
    except BaseException:
        manager.close()
        raise
    return manager


class LoadedRun(NamedTuple):
    """What `load_run` gives back: enough to rebuild the session and re-predict."""

    cfg: TrainConfig
    splits: list[FoldSplit]
    params: Any  # selected parameters (cfg.selection) of the latest checkpoint, leaves [seed, fold, ...]
    model: models.Tagger  # the model trained, rebuilt from its recorded source


def load_run(folder: str | Path) -> LoadedRun:
    """Config, splits and the selected parameters of a fit's latest checkpoint, to re-predict bit-identically.

    The model is rebuilt from the source the folder records (`read_model`); when its source files changed
    since training, a warning says that re-predicted numbers may differ.
    """
    folder = Path(folder)
    cfg, _, n_features = read_config(folder)
    tagger = saved_tagger(folder, cfg)
    splits = load_splits(folder)
    manager = RunCheckpoints(folder, read_only=True)
    try:
        template = state_template(tagger, cfg.learning_rate, cfg.n_seeds * len(splits), n_features)
        _, state, _ = manager.restore(template)
    finally:
        manager.close()
    params = state["best_params"] if cfg.selection == "best" else state["params"]
    return LoadedRun(cfg, splits, unflatten_replicas(params, cfg.n_seeds), tagger)


def saved_tagger(folder: str | Path, cfg: TrainConfig) -> models.Tagger:
    """The model a checkpoint folder trained, rebuilt from its recorded source."""
    spec, code = read_model(folder)
    if spec.is_plugin:
        spec = models.parse_model(spec.source)  # checks the file and the class are still there
    files = spec.source_files()
    if code is not None and files and storage.code_digest(files) != code:
        warnings.warn(
            f"{folder}: the sources of model {spec.name} changed since it was trained; re-predicted numbers may "
            "differ from the saved ones",
            stacklevel=2,
        )
    return spec.tagger(cfg)
