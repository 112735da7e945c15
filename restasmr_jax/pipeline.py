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
writes Table 2.  `run_predict` reloads a run's best checkpoints and checks
that re-prediction reproduces the saved predictions bit for bit.

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
from restasmr_jax.dataset import TrialTensor
from restasmr_jax.predictions import Predictions
from restasmr_jax.report import ablation_report, fusion_report, print_summary
from restasmr_jax.run_options import OptionsError, RunOptions, load_options, save_options

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
    archive: object | None = None  # restasmr_jax.archive.Archive
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
    def for_run(cls, run_dir: Path) -> "Timings":
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
    for name in ("av", "ppg", "stim_index", "y", "intensity", "mask", "subject", "video", "trial_index",
                 "condition", "n_valid"):
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
    print(f"[pipeline] resuming {run_dir} with the options saved there (other flags are ignored)",
          file=sys.stderr, flush=True)
    return run_dir, replace(saved, resume=run_dir, progress=options.progress)


def write_run_manifest(run_dir: Path, options: RunOptions, data: Data | None, *, status: str,
                       timings: Timings, extra: dict | None = None) -> Path:
    return manifest.write_manifest(
        run_dir,
        configs=options.to_dict(),
        archive=data.archive if data is not None else None,
        input_hashes=data.input_hashes if data is not None else None,
        extra={"status": status, "stage_seconds": timings.merged(), "attempts": timings.attempts(status),
               **({"data": data.describe(), "data_source": data.source} if data is not None else {}),
               **(extra or {})},
    )


# ----------------------------------------------------------------------------- stages

def prepare_data(options: RunOptions, run_dir: Path | None, *, tensor: TrialTensor | None = None,
                 timings: Timings | None = None) -> Data:
    """Archive -> ingestion -> feature tensor (all cached by content), or a given tensor."""
    timings = timings or Timings()
    if tensor is not None:
        source = str(tensor.provenance.get("data_source", "unknown"))
        weights = tensor.provenance.get("weights", {}).get("spec", tensor.provenance.get("video_weights"))
        data = Data(tensor=tensor, source=source, video_weights=weights)
    else:
        from restasmr_jax import archive as archive_mod
        from restasmr_jax.assemble import load_or_build_tensor
        from restasmr_jax.features.video import resolve_weights_spec
        from restasmr_jax.ingest import ingest_archive

        with timings.stage("archive", options.progress):
            archive = archive_mod.resolve_archive(options.data_dir, synth=options.synth, progress=options.progress)
            hashes = archive_mod.input_hashes(archive, options.cache_dir)
        print(f"[pipeline] data: {archive.source.upper()} archive at {archive.root}", file=sys.stderr, flush=True)
        weights = resolve_weights_spec(options.feature_cfg.video_weights, archive.source)
        feature_cfg = replace(options.feature_cfg, video_weights=weights)
        with timings.stage("ingest", options.progress):
            ingested = ingest_archive(archive, options.protocol, cache_dir=options.cache_dir,
                                      progress=options.progress)
        with timings.stage("features", options.progress):
            tensor = load_or_build_tensor(archive, ingested, feature_cfg=feature_cfg, protocol=options.protocol,
                                          cache_dir=options.cache_dir, progress=options.progress)
        data = Data(tensor=tensor, source=archive.source, archive=archive, input_hashes=hashes,
                    video_weights=weights)
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
        raise PipelineError(f"{path}: the run was made on tensor {saved[:16]}, but the data now give "
                            f"{now[:16]} (archive, features or weights changed); start a new run instead")


def make_or_load_splits(tensor: TrialTensor, cfg: TrainConfig, folder: Path):
    """E1's folds, saved once per run folder; a resumed run reloads and checks them."""
    from restasmr_jax import splits as splits_mod

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


def save_predictions(path: Path, pred: Predictions) -> Path:
    """The published artifact's pickle schema plus `mask` and `fold` (C's writer)."""
    from restasmr_jax.paper_artifact import write_predictions

    return write_predictions(path, pred)


def load_predictions(path: Path, n_frames: int) -> Predictions:
    """Read back through the safe unpickler (numpy arrays and builtin containers only)."""
    from restasmr_jax.paper_artifact import load_predictions as read

    return read(path, n_frames=n_frames)


def train_and_predict(tensor: TrialTensor, splits, cfg: TrainConfig, model_dir: Path, *, resume: bool,
                      progress: bool, timings: Timings, label: str = "") -> list[Predictions]:
    """Fit all seeds x folds (or continue from checkpoints), predict the test sets, save per seed.

    A model folder whose predictions are all present is finished: they are
    read back instead of retraining.
    """
    from restasmr_jax import train

    paths = prediction_paths(model_dir, cfg.n_seeds)
    if resume and all(p.exists() for p in paths):
        return [load_predictions(p, tensor.mask.shape[1]) for p in paths]
    with timings.stage(f"train{label}", progress):
        fit = train.fit(tensor, splits, cfg, run_dir=Path(model_dir) / CHECKPOINT_DIR, resume=resume,
                        progress=progress)
    with timings.stage(f"predict{label}", progress):
        per_seed = train.predict(fit, tensor, splits, cfg)
    storage.write_json(Path(model_dir) / HISTORY_FILE, {
        **fit.history, "best_epoch": fit.best_epoch, "best_val_f1": fit.best_score, "selection": cfg.selection,
        "axes": "[epoch][seed][fold] for per-epoch lists; [seed][fold] for best_*; epochs 0-based"})
    for path, pred in zip(paths, per_seed):
        save_predictions(path, pred)
    return per_seed


def tinglegram_stage(pred: Predictions, options: RunOptions, run_dir: Path, source: str) -> list[Path]:
    """Fig. 6 for one test participant (the paper's participant 27 by default)."""
    from restasmr_jax import plots

    cfg = ValidationConfig()
    subject = plots.pick_tinglegram_subject(pred, options.tinglegram_subject or cfg.tinglegram_subject)
    title = f"Tinglegram: participant {subject} ({source} data)"
    fig = plots.tinglegram(pred, subject, cfg, label_rate_hz=options.protocol.label_rate_hz, title=title)
    return plots.save_figure(fig, Path(run_dir) / "tinglegram")


# ----------------------------------------------------------------------------- entry points

def run_fusion(options: RunOptions = RunOptions(), *, tensor: TrialTensor | None = None) -> Path:
    """The main job (issue 6): data -> 4-fold BiLSTM -> Table 1, video level, baselines, tinglegram.

    `tensor` skips the archive, ingestion and features (tests, notebooks).
    Returns the run folder.
    """
    run_dir, options = open_run(options, "fusion")
    timings, resume = Timings.for_run(run_dir), options.resume is not None
    data = None
    try:
        data = prepare_data(options, run_dir, tensor=tensor, timings=timings)
        write_run_manifest(run_dir, options, data, status="running", timings=timings)
        with timings.stage("splits", options.progress):
            splits = make_or_load_splits(data.tensor, options.train, run_dir)
        per_seed = train_and_predict(data.tensor, splits, options.train, run_dir, resume=resume,
                                     progress=options.progress, timings=timings)
        with timings.stage("statistics", options.progress):
            report = fusion_report(per_seed, options.train, options.stats, run_dir, data.source)
        with timings.stage("tinglegram", options.progress):
            figures = tinglegram_stage(per_seed[0], options, run_dir, data.source)
    except BaseException as exc:
        write_run_manifest(run_dir, options, data, status="failed", timings=timings,
                           extra={"error": f"{type(exc).__name__}: {exc}"})
        raise
    write_run_manifest(run_dir, options, data, status="complete", timings=timings,
                       extra={"summary": report["summary"], "figures": [p.name for p in figures]})
    print_summary(run_dir, data.source, report, timings.seconds)
    return run_dir


def run_ablations(options: RunOptions = RunOptions(), *, tensor: TrialTensor | None = None) -> Path:
    """Table 2: the BiLSTM per feature set (fusion, video, audio, ppg) + XGBoost, same folds (SPEC §7, §8)."""
    from restasmr_jax.xgb import run_xgb

    run_dir, options = open_run(options, "ablations")
    timings, resume = Timings.for_run(run_dir), options.resume is not None
    data = None
    try:
        data = prepare_data(options, run_dir, tensor=tensor, timings=timings)
        write_run_manifest(run_dir, options, data, status="running", timings=timings)
        with timings.stage("splits", options.progress):
            splits = make_or_load_splits(data.tensor, options.train, run_dir)
        models: dict[str, list[Predictions]] = {}
        for name in options.models:
            model_dir = run_dir / "models" / name
            cfg = replace(options.train, features=name)
            if name == "fusion" and options.fusion_run is not None:
                models[name] = reuse_fusion_run(options.fusion_run, data, cfg)
                continue
            models[name] = train_and_predict(data.tensor, splits, cfg, model_dir, resume=resume,
                                             progress=options.progress, timings=timings, label=f":{name}")
        if options.with_xgb:
            path = run_dir / "models" / "xgboost" / PREDICTIONS_DIR / "seed0.pkl"
            if resume and path.exists():
                models["xgboost"] = [load_predictions(path, data.tensor.mask.shape[1])]
            else:
                with timings.stage("xgboost", options.progress):
                    result = run_xgb(data.tensor, splits, options.xgb, features="fusion",
                                     feature_cfg=options.feature_cfg, progress=options.progress)
                save_predictions(path, result.predictions)
                for report, booster in zip(result.folds, result.boosters):  # auditable, reloadable trees
                    storage.atomic_write_bytes(path.parent.parent / f"booster-fold{report.fold}.json",
                                               bytes(booster.save_raw(raw_format="json")))
                storage.write_json(path.parent.parent / "folds.json", [
                    {"fold": r.fold, "n_train_rows": r.n_train_rows, "n_test_rows": r.n_test_rows,
                     "scale_pos_weight": r.scale_pos_weight} for r in result.folds])
                models["xgboost"] = [result.predictions]
        with timings.stage("statistics", options.progress):
            report = ablation_report(models, options.stats, run_dir, data.source)
    except BaseException as exc:
        write_run_manifest(run_dir, options, data, status="failed", timings=timings,
                           extra={"error": f"{type(exc).__name__}: {exc}"})
        raise
    write_run_manifest(run_dir, options, data, status="complete", timings=timings,
                       extra={"summary": report["summary"]})
    print_summary(run_dir, data.source, report, timings.seconds)
    return run_dir


def reuse_fusion_run(fusion_run: Path, data: Data, cfg: TrainConfig) -> list[Predictions]:
    """The fusion row of Table 2 from an existing `experiments.fusion` run with the same protocol."""
    saved = load_options(fusion_run)
    check_same_data(fusion_run, data)
    if replace(saved.train, features="fusion") != replace(cfg, features="fusion"):
        raise PipelineError(f"--fusion-run {fusion_run}: its training config {saved.train} differs from "
                            f"this run's {cfg}; Table 2 compares models trained under one protocol")
    paths = prediction_paths(fusion_run, saved.train.n_seeds)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise PipelineError(f"--fusion-run {fusion_run}: no saved predictions ({', '.join(missing)}); "
                            "finish it with --resume first")
    return [load_predictions(p, data.tensor.mask.shape[1]) for p in paths]


def run_predict(run_dir: Path, *, tensor: TrialTensor | None = None, progress: bool = True) -> dict:
    """Reload a run's best checkpoints, re-predict its test sets, compare with the saved predictions.

    Works on a fusion run folder and on each `models/<name>/` of an
    ablation run (XGBoost from its saved per-fold boosters).  Returns (and writes to `repredict.json`) a per-seed
    verdict: bit-identical or the largest differences.  Nothing saved by
    the run is overwritten.
    """
    from restasmr_jax import checkpoint, train
    from restasmr_jax import splits as splits_mod

    run_dir = Path(run_dir)
    options = replace(load_options(run_dir), progress=progress)
    data = prepare_data(options, None, tensor=tensor)
    check_same_data(run_dir, data)
    splits = splits_mod.load_splits(run_dir, data.tensor)
    model_dirs = [run_dir] if (run_dir / CHECKPOINT_DIR).exists() else sorted(
        p for p in (run_dir / "models").glob("*") if (p / CHECKPOINT_DIR).exists())
    if not model_dirs and not (run_dir / "models" / "xgboost").exists():
        raise PipelineError(f"{run_dir}: no {CHECKPOINT_DIR}/ folder to reload (did training finish?)")
    verdicts = {}
    for model_dir in model_dirs:
        name = options.train.features if model_dir == run_dir else model_dir.name
        cfg = options.train if model_dir == run_dir else replace(options.train, features=name)
        restored = checkpoint.load_run(model_dir / CHECKPOINT_DIR)
        if restored.cfg != cfg or restored.splits != splits:
            raise PipelineError(f"{model_dir / CHECKPOINT_DIR}: its config or folds differ from the run's "
                                f"options.json / split file")
        per_seed = train.predict(restored, data.tensor, splits, cfg)
        n_frames = data.tensor.mask.shape[1]
        saved = [load_predictions(p, n_frames) for p in prediction_paths(model_dir, cfg.n_seeds)]
        verdicts[name] = [compare_predictions(new, old) for new, old in zip(per_seed, saved)]
    xgb_dir = run_dir / "models" / "xgboost"
    if (xgb_dir / "booster-fold0.json").exists():
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

    from restasmr_jax.xgb import predict_xgb

    boosters = []
    for split in splits:
        booster = xgboost.Booster()
        booster.load_model(bytearray((xgb_dir / f"booster-fold{split.fold}.json").read_bytes()))
        boosters.append(booster)
    new = predict_xgb(boosters, data.tensor, splits, features="fusion", feature_cfg=options.feature_cfg)
    saved = load_predictions(xgb_dir / PREDICTIONS_DIR / "seed0.pkl", data.tensor.mask.shape[1])
    return compare_predictions(new, saved)


def compare_predictions(new: Predictions, old: Predictions) -> dict:
    """Field-by-field exact comparison; the largest difference of each field that differs."""
    differences = {}
    for name in Predictions.__dataclass_fields__:
        a, b = np.asarray(getattr(new, name)), np.asarray(getattr(old, name))
        if a.shape != b.shape:
            differences[name] = f"shape {a.shape} vs {b.shape}"
        elif not np.array_equal(a, b):
            differences[name] = (float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
                                 if a.dtype.kind in "biuf" else "values differ")
    return {"identical": not differences, "differences": differences}
