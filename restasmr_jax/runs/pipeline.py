"""The main job, the modality ablations and re-prediction, as resumable stages (SPEC §6-§9).

`run_fusion` walks archive -> ingestion -> feature tensor -> splits ->
4-fold training -> prediction -> statistics -> figure, leaving in its run
folder (each file written atomically when its stage finishes):

    options.json           the RunOptions; `--resume` and `experiments.predict` read them back
    data.json              data source (real | synthetic), archive, input hashes, tensor fingerprint
    splits-<hash>.json     the folds and their exact trial rows (`splits.save_splits`)
    checkpoints/           Orbax best + latest state per seed x fold (`train.fit`)
    predictions/seed<k>.pkl  per-trial test predictions, the published artifact's schema + `mask`
    history.json           per-epoch train loss / validation macro-F1 per seed x fold
    table1.{md,json}       Table 1 beside the condition-prior baseline, within-ASMR metrics
    video_level.{md,json}  video-level classification
    tinglegram.{png,svg}   Fig. 6 for one test participant
    manifest.json          provenance; rewritten after every stage with its status and timings

A failed stage leaves every earlier file in place; `--resume RUN_DIR`
reloads the finished stages and continues (training from the latest
checkpoint).  Every output names the data source, and a synthetic run says
so in its printed summary and its Markdown tables.

`run_ablations` repeats the protocol per feature set (fusion, video,
audio, ppg) in `models/<name>/` sub-folders plus XGBoost (SPEC §8), and
writes Table 2.  Re-prediction from a run's checkpoints lives in
`repredict.py`.

The stages take a `TrialTensor` once it exists, so tests start from a small
fabricated tensor (`run_fusion(options, tensor=...)`).  The report files
are written by `report.py`; the options and flags live in `run_options.py`.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from restasmr_jax import manifest, storage
from restasmr_jax.config import TrainConfig, ValidationConfig
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.runs.options import OptionsError, RunOptions, load_options, save_options
from restasmr_jax.runs.report import ablation_report, fusion_report, print_summary
from restasmr_jax.tensor.trial_tensor import TrialTensor

DATA_FILE = "data.json"
PREDICTIONS_DIR = "predictions"
CHECKPOINT_DIR = "checkpoints"
HISTORY_FILE = "history.json"


class PipelineError(ValueError):
    """A run folder or its inputs cannot continue the requested run; the message says why."""


@dataclass
class Data:
    """What the data stage hands to the model stages."""

    tensor: TrialTensor
    source: str  # "real" | "synthetic" | whatever a fabricated tensor's provenance says
    archive: object | None = None  # restasmr_jax.io.archive.Archive
    input_hashes: dict = field(default_factory=dict)
    video_weights: str | None = None

    def describe(self) -> dict:
        return {
            "data_source": self.source,
            "archive": self.archive.describe() if self.archive is not None else None,
            "video_weights": self.video_weights,
            "n_trials": self.tensor.n_trials,
            "tensor_fingerprint": tensor_fingerprint(self.tensor),
            "tensor_provenance": self.tensor.provenance,
        }


@dataclass
class Timings:
    """Wall seconds per stage of this attempt, and the attempts before it (a resumed run)."""

    seconds: dict = field(default_factory=dict)
    earlier: list = field(default_factory=list)  # [{"status", "stage_seconds"}] of previous attempts

    @classmethod
    def for_run(cls, run_dir: Path) -> Timings:
        path = Path(run_dir) / "manifest.json"
        earlier = json.loads(path.read_text()).get("attempts", []) if path.exists() else []
        return cls(earlier=earlier)

    def attempts(self, status: str) -> list:
        return [*self.earlier, {"status": status, "stage_seconds": dict(self.seconds)}]

    def merged(self) -> dict:
        """Latest seconds of every stage any attempt ran (skipped stages keep their earlier time)."""
        out = {}
        for attempt in self.attempts(""):
            out.update(attempt["stage_seconds"])
        return out

    @contextmanager
    def stage(self, name: str, progress: bool = True):
        if progress:
            print(f"[pipeline] {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)


def tensor_fingerprint(tensor: TrialTensor) -> str:
    """sha256 over every array of the tensor: a run is only continued or re-predicted on the same data."""
    digest = hashlib.sha256()
    for name in (
        "av",
        "ppg",
        "stim_index",
        "y",
        "intensity",
        "mask",
        "subject",
        "video",
        "trial_index",
        "condition",
        "n_valid",
    ):
        array = np.ascontiguousarray(getattr(tensor, name))
        if array.dtype.kind in "OUS":  # by value: '<U4' and '<U6' copies of the same labels hash alike
            digest.update(f"{name}:str:{array.shape}:".encode() + "\0".join(array.astype(str).tolist()).encode())
        else:
            digest.update(f"{name}:{array.dtype.str}:{array.shape}:".encode() + array.tobytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- run folders


def open_run(options: RunOptions, name: str) -> tuple[Path, RunOptions]:
    """A new run folder, or the one named by `options.resume` with the options saved there."""
    if options.resume is None:
        run_dir = manifest.new_run_dir(name, options.out)
        save_options(run_dir, options)
        return run_dir, options
    run_dir = Path(options.resume)
    try:
        saved = load_options(run_dir)
    except OptionsError as exc:
        raise PipelineError(f"--resume {run_dir}: {exc}") from None
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
        extra={
            "status": status,
            "stage_seconds": timings.merged(),
            "attempts": timings.attempts(status),
            **({"data": data.describe(), "data_source": data.source} if data is not None else {}),
            **(extra or {}),
        },
    )


# ----------------------------------------------------------------------------- stages


def prepare_data(
    options: RunOptions, run_dir: Path | None, *, tensor: TrialTensor | None = None, timings: Timings | None = None
) -> Data:
    """Archive -> ingestion -> feature tensor (all cached by content), or a given tensor."""
    timings = timings or Timings()
    if tensor is not None:
        source = str(tensor.provenance.get("data_source", "unknown"))
        weights = tensor.provenance.get("weights", {}).get("spec", tensor.provenance.get("video_weights"))
        data = Data(tensor=tensor, source=source, video_weights=weights)
    else:
        from restasmr_jax.features.video import resolve_weights_spec
        from restasmr_jax.ingest.tables import ingest_archive
        from restasmr_jax.io import archive as archive_mod
        from restasmr_jax.tensor.assemble import load_or_build_tensor

        with timings.stage("archive", options.progress):
            archive = archive_mod.resolve_archive(options.data_dir, synth=options.synth, progress=options.progress)
            hashes = archive_mod.input_hashes(archive, options.cache_dir)
        print(f"[pipeline] data: {archive.source.upper()} archive at {archive.root}", file=sys.stderr, flush=True)
        weights = resolve_weights_spec(options.feature_cfg.video_weights, archive.source)
        feature_cfg = replace(options.feature_cfg, video_weights=weights)
        with timings.stage("ingest", options.progress):
            ingested = ingest_archive(archive, options.protocol, cache_dir=options.cache_dir, progress=options.progress)
        with timings.stage("features", options.progress):
            tensor = load_or_build_tensor(
                archive,
                ingested,
                feature_cfg=feature_cfg,
                protocol=options.protocol,
                cache_dir=options.cache_dir,
                progress=options.progress,
            )
        data = Data(tensor=tensor, source=archive.source, archive=archive, input_hashes=hashes, video_weights=weights)
    if run_dir is not None:
        check_same_data(run_dir, data)
        storage.write_json(Path(run_dir) / DATA_FILE, data.describe())
    return data


def check_same_data(run_dir: Path, data: Data) -> None:
    """A resumed or re-predicted run must see the tensor it was trained on."""
    path = Path(run_dir) / DATA_FILE
    if not path.exists():
        return
    saved = json.loads(path.read_text())["tensor_fingerprint"]
    now = tensor_fingerprint(data.tensor)
    if saved != now:
        raise PipelineError(
            f"{path}: the run was made on tensor {saved[:16]}, but the data now give "
            f"{now[:16]} (archive, features or weights changed); start a new run instead"
        )


def make_or_load_splits(tensor: TrialTensor, cfg: TrainConfig, folder: Path):
    """E1's folds, saved once per run folder; a resumed run reloads and checks them."""
    from restasmr_jax.learning import splits as splits_mod

    splits = splits_mod.make_splits(np.unique(tensor.subject), cfg)
    path = Path(folder) / splits_mod.split_file_name(tensor)
    if path.exists():
        saved = splits_mod.load_splits(path, tensor)
        if saved != splits:
            raise PipelineError(f"{path}: saved folds differ from the folds these options give")
    else:
        splits_mod.save_splits(folder, tensor, splits)
    return splits


def prediction_paths(model_dir: Path, n_seeds: int) -> list[Path]:
    return [Path(model_dir) / PREDICTIONS_DIR / f"seed{k}.pkl" for k in range(n_seeds)]


def xgboost_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "models" / "xgboost"


def booster_path(model_dir: Path, fold: int) -> Path:
    """One fold's trees as XGBoost JSON: auditable, and reloaded by `repredict`."""
    return Path(model_dir) / f"booster-fold{fold}.json"


def save_predictions(path: Path, pred: Predictions) -> Path:
    """The published artifact's pickle schema plus `mask` and `fold` (C's writer)."""
    from restasmr_jax.evidence.artifact import write_predictions

    return write_predictions(path, pred)


def load_predictions(path: Path, n_frames: int) -> Predictions:
    """Read back through the safe unpickler (numpy arrays and builtin containers only)."""
    from restasmr_jax.evidence.artifact import load_predictions as read

    return read(path, n_frames=n_frames)


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
) -> list[Predictions]:
    """Fit all seeds x folds (or continue from checkpoints), predict the test sets, save per seed.

    A model folder whose predictions are all present is finished: they are
    read back instead of retraining.
    """
    from restasmr_jax.learning import fit as train

    paths = prediction_paths(model_dir, cfg.n_seeds)
    if resume and all(p.exists() for p in paths):
        return [load_predictions(p, tensor.mask.shape[1]) for p in paths]
    with timings.stage(f"train{label}", progress):
        fit = train.fit(tensor, splits, cfg, run_dir=Path(model_dir) / CHECKPOINT_DIR, resume=resume, progress=progress)
    with timings.stage(f"predict{label}", progress):
        per_seed = train.predict(fit, tensor, splits, cfg)
    storage.write_json(
        Path(model_dir) / HISTORY_FILE,
        {
            **fit.history,
            "best_epoch": fit.best_epoch,
            "best_val_f1": fit.best_score,
            "selection": cfg.selection,
            "axes": "[epoch][seed][fold] for per-epoch lists; [seed][fold] for best_*; epochs 0-based",
        },
    )
    for path, pred in zip(paths, per_seed):
        save_predictions(path, pred)
    return per_seed


def tinglegram_stage(pred: Predictions, options: RunOptions, run_dir: Path, source: str) -> list[Path]:
    """Fig. 6 for one test participant (the paper's participant 27 by default)."""
    from restasmr_jax.evidence import figures as plots

    cfg = ValidationConfig()
    subject = plots.pick_tinglegram_subject(pred, options.tinglegram_subject or cfg.tinglegram_subject)
    title = f"Tinglegram: participant {subject} ({source} data)"
    fig = plots.tinglegram(pred, subject, cfg, label_rate_hz=options.protocol.label_rate_hz, title=title)
    return plots.save_figure(fig, Path(run_dir) / "tinglegram")


# ----------------------------------------------------------------------------- entry points


@dataclass
class Stages:
    """What the model stages of an entry point get: the run folder, its data, folds and stage clock."""

    run_dir: Path
    options: RunOptions
    data: Data
    splits: list
    timings: Timings

    @property
    def resume(self) -> bool:
        return self.options.resume is not None


def run_recorded(name: str, options: RunOptions, tensor: TrialTensor | None, model_stages) -> Path:
    """Open (or resume) a run folder, prepare the data and folds, run `model_stages(stages) -> (report, extra)`.

    The manifest says "running" once the data are known, "failed" with the
    error when any stage raises (every file already written stays), and
    "complete" with `extra` at the end.
    """
    run_dir, options = open_run(options, name)
    timings = Timings.for_run(run_dir)
    data = None
    try:
        data = prepare_data(options, run_dir, tensor=tensor, timings=timings)
        write_run_manifest(run_dir, options, data, status="running", timings=timings)
        with timings.stage("splits", options.progress):
            splits = make_or_load_splits(data.tensor, options.train, run_dir)
        report, extra = model_stages(Stages(run_dir, options, data, splits, timings))
    except BaseException as exc:
        write_run_manifest(
            run_dir, options, data, status="failed", timings=timings, extra={"error": f"{type(exc).__name__}: {exc}"}
        )
        raise
    write_run_manifest(
        run_dir, options, data, status="complete", timings=timings, extra={"summary": report["summary"], **extra}
    )
    print_summary(run_dir, data.source, report, timings.seconds)
    return run_dir


def run_fusion(options: RunOptions = RunOptions(), *, tensor: TrialTensor | None = None) -> Path:
    """The main job (issue 6): data -> 4-fold BiLSTM -> Table 1, video level, baselines, tinglegram.

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
        )
        with run.timings.stage("statistics", run.options.progress):
            report = fusion_report(per_seed, run.options.train, run.options.stats, run.run_dir, run.data.source)
        with run.timings.stage("tinglegram", run.options.progress):
            figures = tinglegram_stage(per_seed[0], run.options, run.run_dir, run.data.source)
        return report, {"figures": [p.name for p in figures]}

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
            models[name] = train_and_predict(
                run.data.tensor,
                run.splits,
                cfg,
                run.run_dir / "models" / name,
                resume=run.resume,
                progress=run.options.progress,
                timings=run.timings,
                label=f":{name}",
            )
        if run.options.with_xgb:
            models["xgboost"] = [xgboost_stage(run)]
        with run.timings.stage("statistics", run.options.progress):
            report = ablation_report(models, run.options.stats, run.run_dir, run.data.source)
        return report, {}

    return run_recorded("ablations", options, tensor, model_stages)


def xgboost_stage(run: Stages) -> Predictions:
    """SPEC §8 on the same folds; saves predictions, per-fold boosters (reloadable JSON) and fold sizes."""
    from restasmr_jax.learning.xgb import run_xgb

    model_dir = xgboost_dir(run.run_dir)
    path = prediction_paths(model_dir, 1)[0]
    if run.resume and path.exists():
        return load_predictions(path, run.data.tensor.mask.shape[1])
    with run.timings.stage("xgboost", run.options.progress):
        result = run_xgb(
            run.data.tensor,
            run.splits,
            run.options.xgb,
            features="fusion",
            feature_cfg=run.options.feature_cfg,
            progress=run.options.progress,
        )
    save_predictions(path, result.predictions)
    for report, booster in zip(result.folds, result.boosters):
        storage.atomic_write_bytes(booster_path(model_dir, report.fold), bytes(booster.save_raw(raw_format="json")))
    storage.write_json(
        model_dir / "folds.json",
        [
            {
                "fold": r.fold,
                "n_train_rows": r.n_train_rows,
                "n_test_rows": r.n_test_rows,
                "scale_pos_weight": r.scale_pos_weight,
            }
            for r in result.folds
        ],
    )
    return result.predictions


def reuse_fusion_run(fusion_run: Path, data: Data, cfg: TrainConfig) -> list[Predictions]:
    """The fusion row of Table 2 from an existing `experiments.fusion` run with the same protocol."""
    saved = load_options(fusion_run)
    check_same_data(fusion_run, data)
    if replace(saved.train, features="fusion") != replace(cfg, features="fusion"):
        raise PipelineError(
            f"--fusion-run {fusion_run}: its training config {saved.train} differs from "
            f"this run's {cfg}; Table 2 compares models trained under one protocol"
        )
    paths = prediction_paths(fusion_run, saved.train.n_seeds)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise PipelineError(
            f"--fusion-run {fusion_run}: no saved predictions ({', '.join(missing)}); finish it with --resume first"
        )
    return [load_predictions(p, data.tensor.mask.shape[1]) for p in paths]
