"""The main job and the modality ablations as resumable stages (SPEC §6-§9).

`run_fusion` walks archive -> ingestion -> feature tensor -> splits ->
4-fold training -> prediction -> statistics -> figure; `run_ablations`
trains the BiLSTM per feature set (fusion, video, audio, ppg) in
`models/<name>/` sub-folders plus XGBoost (SPEC §8) and writes Table 2,
through the same keyed model stage as the benchmark (`runs.training`,
`runs.benchmark`).  Each file is written atomically when its stage
finishes (the folder's files are listed in `layout.py`).

A failed stage leaves every earlier file in place and the manifest says
"failed" with the error; `--resume RUN_DIR` reloads the finished stages
and continues (training from the latest checkpoint).  Every output names
the data source, and a synthetic run says so in its printed summary and
its Markdown tables.  The stages take a `TrialTensor` once it exists, so
tests start from a small fabricated tensor (`run_fusion(options, tensor=...)`).

Run by several JAX processes (`runs.distributed`), every process trains
and predicts (its shard of the replica axis), but only process 0 creates
and writes the run folder: options, data.json, manifest, splits,
checkpoint config, history, predictions, statistics, tables and figures.
The manifest records the processes, their devices and each model's
replica mesh, inert padding included.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from restasmr_jax import manifest, storage
from restasmr_jax.config import TrainConfig, ValidationConfig
from restasmr_jax.evidence import figures
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.learning import splits as splits_mod
from restasmr_jax.learning.checkpoint import PAPER_MODEL
from restasmr_jax.learning.models import XGBOOST, ModelSpec
from restasmr_jax.runs import distributed, layout
from restasmr_jax.runs.data import Data, check_same_data, prepare_data
from restasmr_jax.runs.layout import RunFolderError
from restasmr_jax.runs.options import OptionsError, RunOptions, load_options, save_options
from restasmr_jax.runs.references import run_references
from restasmr_jax.runs.report import ablation_report, fusion_report, print_summary
from restasmr_jax.runs.timings import Timings
from restasmr_jax.runs.training import Trained, read_predictions, train_flax, train_model
from restasmr_jax.tensor.trial_tensor import TrialTensor

XGBOOST_MODEL = ModelSpec(XGBOOST, XGBOOST)


def open_run(options: RunOptions, name: str) -> tuple[Path, RunOptions]:
    """A new run folder, or the one named by `options.resume` with the options saved there."""
    if options.resume is None:
        storage.require_folder(options.cache_dir, "--cache-dir")  # before any work: the folder's parents too
        run_dir = None
        if distributed.is_writer():
            run_dir = manifest.new_run_dir(name, options.out)
            save_options(run_dir, options)
        run_dir = Path(distributed.from_writer(str(run_dir)))
        distributed.check_agreement(
            "whether the run folder exists",
            str(run_dir.is_dir()),
            f"{run_dir} must be on a file system every process shares",
        )
        return run_dir, options
    run_dir = Path(options.resume)
    try:
        saved = load_options(run_dir)
    except OptionsError as exc:
        raise RunFolderError(f"--resume {run_dir}: {exc}") from None
    if distributed.is_writer():
        print(
            f"[pipeline] resuming {run_dir} with the options saved there (other flags are ignored)",
            file=sys.stderr,
            flush=True,
        )
    return run_dir, replace(saved, resume=run_dir, progress=options.progress)


def write_run_manifest(
    run_dir: Path, options: RunOptions, data: Data | None, *, status: str, timings: Timings, extra: dict | None = None
) -> Path:
    return manifest.write_manifest(
        run_dir,
        configs=options.to_dict(),
        archive=data.archive if data is not None else None,
        input_hashes=data.input_hashes if data is not None else None,
        status=status,
        extra={
            "stage_seconds": timings.merged(),
            "attempts": timings.attempts(status),
            **({"data": data.describe(), "data_source": data.source} if data is not None else {}),
            **(extra or {}),
        },
    )


def make_or_load_splits(tensor: TrialTensor, cfg: TrainConfig, folder: Path):
    """The run's folds, saved once per run folder; a resumed run reloads and checks them."""
    splits = splits_mod.make_splits(np.unique(tensor.subject), cfg)
    path = Path(folder) / splits_mod.split_file_name(tensor)
    if path.exists():
        if splits_mod.load_splits(path, tensor) != splits:
            raise RunFolderError(f"{path}: saved folds differ from the folds these options give")
    elif distributed.is_writer():
        splits_mod.save_splits(folder, tensor, splits)
    return splits


def train_and_predict(
    tensor: TrialTensor,
    splits,
    cfg: TrainConfig,
    model_dir: Path,
    *,
    resume: bool,
    progress: bool,
    timings: Timings,
    label: str = "",
    meshes: dict | None = None,
) -> list[Predictions]:
    """The main job's BiLSTM: fit all seeds x folds (or continue from checkpoints), predict, save per seed.

    A model folder whose predictions are all present is finished: they are
    read back instead of retraining.  `meshes[label]` gets the replica mesh.
    """
    paths = layout.prediction_paths(model_dir, cfg.n_seeds)
    finished = resume and all(p.exists() for p in paths)
    distributed.check_agreement(f"whether {model_dir} is finished", str(finished), "the run folder must be shared")
    if finished:
        return read_predictions(paths, tensor)
    per_seed, _ = train_flax(
        tensor,
        splits,
        cfg,
        PAPER_MODEL,
        model_dir,
        resume=resume,
        progress=progress,
        timings=timings,
        label=label,
        meshes=meshes,
    )
    return per_seed


def tinglegram_stage(pred: Predictions, options: RunOptions, run_dir: Path, source: str) -> list[Path]:
    """Fig. 6 for one test participant (the paper's participant 27 by default)."""
    cfg = ValidationConfig()
    subject = figures.pick_tinglegram_subject(pred, options.tinglegram_subject or cfg.tinglegram_subject)
    title = f"Tinglegram: participant {subject} ({source} data)"
    fig = figures.tinglegram(pred, subject, cfg, label_rate_hz=options.protocol.label_rate_hz, title=title)
    return figures.save_figure(fig, Path(run_dir) / layout.TINGLEGRAM)


@dataclass
class Stages:
    """What the model stages of an entry point get: the run folder, its data, folds and stage clock."""

    run_dir: Path
    options: RunOptions
    data: Data
    splits: list
    timings: Timings
    meshes: dict  # model -> its replica mesh (`Placement.describe`), for the manifest

    @property
    def resume(self) -> bool:
        return self.options.resume is not None

    def train(self, spec: ModelSpec, cfg: TrainConfig, folder: Path, label: str = "") -> Trained:
        """`spec` on `cfg.features` in `folder`, reused when it already trained with the same key (`runs.training`).

        Flax models train on every process; XGBoost only on the writer.
        """
        return train_model(
            self.data.tensor,
            self.splits,
            spec,
            cfg,
            folder,
            xgb_cfg=self.options.xgb,
            resume=self.resume,
            progress=self.options.progress,
            timings=self.timings,
            cache_dir=self.options.cache_dir,
            label=label,
            meshes=self.meshes,
        )


def run_recorded(name: str, options: RunOptions, tensor: TrialTensor | None, model_stages) -> Path:
    """Open (or resume) a run folder, prepare the data and folds, run `model_stages(stages) -> (report, extra)`.

    The manifest says "running" from the start, "failed" with the error when
    any stage raises (every file already written stays), and "complete" with
    `extra` and the sha256 of every file of the folder at the end.
    Only process 0 writes; the others return once the model stages have
    trained (their report is None).
    """
    run_dir, options = open_run(options, name)
    writer = distributed.is_writer()
    timings = Timings.for_run(run_dir)
    data, meshes = None, {}
    if writer:
        write_run_manifest(run_dir, options, None, status="running", timings=timings)
    try:
        with distributed.writer_first("prepare the data"):
            data = prepare_data(options, run_dir if writer else None, tensor=tensor, timings=timings)
        distributed.check_agreement("the tensor's fingerprint", data.tensor.fingerprint, "give them the same data")
        if writer:
            write_run_manifest(run_dir, options, data, status="running", timings=timings)
        with timings.stage("splits", options.progress):
            splits = make_or_load_splits(data.tensor, options.train, run_dir)
        report, extra = model_stages(Stages(run_dir, options, data, splits, timings, meshes))
    except BaseException as exc:
        if writer:
            error = {"error": f"{type(exc).__name__}: {exc}", "replica_mesh": meshes}
            write_run_manifest(run_dir, options, data, status="failed", timings=timings, extra=error)
        raise
    if not writer:
        return run_dir
    extra = {"summary": report["summary"], "replica_mesh": meshes, **extra}
    write_run_manifest(run_dir, options, data, status="complete", timings=timings, extra=extra)
    print_summary(run_dir, data.source, report, timings.seconds)
    return run_dir


def run_fusion(options: RunOptions = RunOptions(), *, tensor: TrialTensor | None = None) -> Path:
    """The main job: data -> 4-fold BiLSTM -> Table 1, video level, baselines, tinglegram.

    `tensor` skips the archive, ingestion and features (tests, notebooks).
    Returns the run folder.
    """

    def model_stages(run: Stages):
        per_seed = train_and_predict(
            run.data.tensor,
            run.splits,
            run.options.train,
            run.run_dir,
            resume=run.resume,
            progress=run.options.progress,
            timings=run.timings,
            meshes=run.meshes,
        )
        if not distributed.is_writer():
            return None, {}
        with run.timings.stage("statistics", run.options.progress):
            references = run_references(per_seed[0], run.data.archive)
            report = fusion_report(
                per_seed, run.options.train, run.options.stats, run.run_dir, run.data.source, references=references
            )
        with run.timings.stage("tinglegram", run.options.progress):
            written = tinglegram_stage(per_seed[0], run.options, run.run_dir, run.data.source)
        return report, {"figures": [p.name for p in written]}

    return run_recorded("fusion", options, tensor, model_stages)


def run_ablations(options: RunOptions = RunOptions(), *, tensor: TrialTensor | None = None) -> Path:
    """Table 2: the BiLSTM per feature set (fusion, video, audio, ppg) + XGBoost, same folds (SPEC §7, §8)."""

    def model_stages(run: Stages):
        models: dict[str, list[Predictions]] = {}
        for name in run.options.models:
            cfg = replace(run.options.train, features=name)
            if name == "fusion" and run.options.fusion_run is not None:
                models[name] = reuse_fusion_run(run.options.fusion_run, run.data, cfg)
                continue
            models[name] = run.train(PAPER_MODEL, cfg, layout.model_dir(run.run_dir, name), label=f":{name}").per_seed
        if not distributed.is_writer():
            return None, {}
        if run.options.with_xgb:
            cfg = replace(run.options.train, features="fusion")
            models[XGBOOST] = run.train(XGBOOST_MODEL, cfg, layout.xgboost_dir(run.run_dir)).per_seed
        with run.timings.stage("statistics", run.options.progress):
            references = run_references(models["fusion"][0], run.data.archive)
            report = ablation_report(models, run.options.stats, run.run_dir, run.data.source, references=references)
        return report, {}

    return run_recorded("ablations", options, tensor, model_stages)


def reuse_fusion_run(fusion_run: Path, data: Data, cfg: TrainConfig) -> list[Predictions]:
    """The fusion row of Table 2 from an existing `experiments.fusion` run with the same protocol."""
    saved = load_options(fusion_run)
    check_same_data(fusion_run, data)
    if replace(saved.train, features="fusion") != replace(cfg, features="fusion"):
        raise RunFolderError(
            f"--fusion-run {fusion_run}: its training config {saved.train} differs from "
            f"this run's {cfg}; Table 2 compares models trained under one protocol"
        )
    paths = layout.prediction_paths(fusion_run, saved.train.n_seeds)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise RunFolderError(
            f"--fusion-run {fusion_run}: no saved predictions ({', '.join(missing)}); finish it with --resume first"
        )
    return read_predictions(paths, data.tensor)
