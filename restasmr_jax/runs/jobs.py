"""The command-line jobs: each resolves its inputs, does one thing, writes a run folder and prints (SPEC §1-§12).

`experiments/*.py` parse flags and hand the result to `cli(job, ...)`, which
runs the job and turns bad input into one line on stderr (`error: ...`) and
exit status 1 instead of a traceback.  Library modules stay free of such side effects.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from restasmr_jax import manifest, storage
from restasmr_jax.bids.export import BidsExportError, export_bids
from restasmr_jax.bids.physio import PhysioExportError
from restasmr_jax.bids.sidecars import BIDS_VERSION
from restasmr_jax.bids.validator import ValidatorFailed, ValidatorUnavailable, run_validator
from restasmr_jax.config import FeatureConfig, ProtocolConfig, StatsConfig, SynthConfig, ValidationConfig, to_dict
from restasmr_jax.evidence import artifact
from restasmr_jax.evidence.metrics import MetricsInputError
from restasmr_jax.evidence.tables import PAPER_TABLE1, paper_table1, render_table1
from restasmr_jax.features.weights import WeightsError, resolve_weights_spec, weights_provenance
from restasmr_jax.ingest.tables import IngestError, ingest_archive, summary_table, write_tables
from restasmr_jax.io.archive import DEFAULT_CACHE_DIR, SYNTH_MARKER, ArchiveError, input_hashes
from restasmr_jax.io.stimuli import StimulusError
from restasmr_jax.learning.batches import PlanError
from restasmr_jax.learning.checkpoint import CheckpointError
from restasmr_jax.learning.fit import TrainError
from restasmr_jax.learning.replicas import use_cpu_devices
from restasmr_jax.learning.splits import SplitError
from restasmr_jax.runs import layout
from restasmr_jax.runs.data import resolve_archive
from restasmr_jax.runs.layout import RunFolderError
from restasmr_jax.runs.options import OptionsError, RunOptions
from restasmr_jax.runs.pipeline import run_ablations, run_fusion
from restasmr_jax.runs.repredict import run_predict
from restasmr_jax.synth.archive import ensure_synthetic
from restasmr_jax.tensor.assemble import AssembleError
from restasmr_jax.tensor.cache import load_or_build_tensor
from restasmr_jax.tensor.export import export_long_parquet
from restasmr_jax.tensor.trial_tensor import FeatureSetError
from restasmr_jax.validation import ValidationInputError, validate, write_report

# What a user can get wrong (files, folders, flags, saved runs): reported in one line, never a traceback.
BAD_INPUT = (
    ArchiveError,
    IngestError,
    StimulusError,
    WeightsError,
    AssembleError,
    FeatureSetError,
    OptionsError,
    RunFolderError,
    CheckpointError,
    TrainError,
    PlanError,
    SplitError,
    ValidationInputError,
    artifact.ArtifactError,
    MetricsInputError,
    BidsExportError,
    PhysioExportError,
    ValidatorUnavailable,
    ValidatorFailed,
)


def cli(job, *args, **kwargs):
    """`job(*args, **kwargs)`; bad input exits with status 1 and its message, never a traceback."""
    try:
        return job(*args, **kwargs)
    except BAD_INPUT as exc:
        raise SystemExit(f"error: {exc}") from None


def fusion(options: RunOptions) -> Path:
    """`experiments.fusion`: the main job, one JAX CPU device per core so the folds' recurrences run side by side."""
    use_cpu_devices()
    return run_fusion(options)


def ablations(options: RunOptions) -> Path:
    """`experiments.ablations`: Table 2."""
    use_cpu_devices()
    return run_ablations(options)


def predict(run_dir: Path, *, progress: bool = True) -> dict:
    """`experiments.predict`: reload a run's checkpoints and re-predict (the verdict's `identical`: exit status)."""
    use_cpu_devices()
    return run_predict(run_dir, progress=progress)


def ingest(
    data_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    *,
    skip_bad: bool = False,
    progress: bool = True,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
) -> Path:
    """`experiments.ingest`: the archive's tidy tables, report and manifest in a run folder."""
    archive = resolve_archive(data_dir, progress=progress)
    cfg = ProtocolConfig()
    hashes = input_hashes(archive, cache_dir)
    ingested = ingest_archive(archive, cfg, skip_bad=skip_bad, cache_dir=cache_dir, hashes=hashes, progress=progress)
    run_dir = Path(out) if out is not None else manifest.new_run_dir("ingest")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_tables(ingested, run_dir, archive.source)
    storage.write_json(run_dir / "report.json", ingested.report)
    manifest.write_manifest(
        run_dir,
        configs={"protocol": to_dict(cfg), "skip_bad": skip_bad},
        archive=archive,
        input_hashes=hashes,
        extra={"exclusions": ingested.report["excluded"]},
    )
    print(f"REST-ASMR ingestion ({archive.source} data, {archive.root})")
    print(summary_table(ingested))
    print(f"wrote {run_dir}")
    return run_dir


def features(
    data_dir: str | os.PathLike | None = None,
    *,
    video_weights: str = "auto",
    export_parquet: str | os.PathLike | None = None,
    include_video: bool = False,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    runs_dir: str | os.PathLike = "runs",
    missing_ppg: str = "error",
    num_threads: int | None = None,
    progress: bool = True,
) -> dict:
    """`experiments.features`: build (or load) the tensor, optionally export Parquet; print and return the summary.

    Writes `runs/<stamp>-features/{manifest,summary}.json`.
    """
    archive = resolve_archive(data_dir, progress=progress)
    protocol = ProtocolConfig()
    hashes = input_hashes(archive, cache_dir)
    spec = resolve_weights_spec(video_weights, archive.source)
    weights = weights_provenance(spec)
    ingested = ingest_archive(archive, protocol, cache_dir=cache_dir, hashes=hashes, progress=progress)
    tensor = load_or_build_tensor(
        archive,
        ingested,
        feature_cfg=FeatureConfig(video_weights=spec),
        protocol=protocol,
        cache_dir=Path(cache_dir),
        hashes=hashes,
        weights=weights,
        progress=progress,
        missing_ppg=missing_ppg,
        num_threads=num_threads,
    )
    summary = tensor.summary()
    if export_parquet is not None:
        summary["parquet"] = str(export_long_parquet(tensor, export_parquet, include_video=include_video))
    run_dir = manifest.new_run_dir("features", runs_dir)
    manifest.write_manifest(
        run_dir,
        configs={"feature": tensor.provenance["feature_cfg"], "protocol": dataclasses.asdict(protocol)},
        archive=archive,
        input_hashes=hashes,
        extra={"weights": weights, "tensor_key": tensor.provenance.get("tensor_key")},
    )
    storage.write_json(run_dir / "summary.json", summary)
    summary["run_dir"] = str(run_dir)
    print(json.dumps(summary, indent=2, default=str))
    return summary


def reproduce_paper(
    artifact_path: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    stats_cfg: StatsConfig = StatsConfig(),
) -> dict:
    """`experiments.reproduce_paper`: Table 1 from the authors' artifact, Markdown + JSON + manifest in `out_dir`."""
    path = Path(artifact_path) if artifact_path is not None else artifact.default_artifact_path()
    table = paper_table1(artifact.load_artifact(path), stats_cfg)
    markdown = render_table1(table, paper=PAPER_TABLE1)
    out = Path(out_dir) if out_dir is not None else manifest.new_run_dir("reproduce_paper")
    out.mkdir(parents=True, exist_ok=True)
    storage.atomic_write_text(out / f"{layout.TABLE1}.md", markdown)
    storage.write_json(out / f"{layout.TABLE1}.json", table)
    manifest.write_manifest(
        out,
        configs={"stats": table["stats_config"]},
        input_hashes={str(path): storage.sha256_file(path)},
        extra={"data_source": "authors' published predictions (SPEC §11)"},
    )
    print(markdown)
    print(f"Wrote {out}/table1.md, table1.json, manifest.json")
    return {"table": table, "markdown": markdown, "out_dir": out}


def validation(
    data_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    predictions: str | os.PathLike | None = None,
    progress: bool = True,
    *,
    cfg: ValidationConfig = ValidationConfig(),
    stats_cfg: StatsConfig = StatsConfig(),
    protocol: ProtocolConfig = ProtocolConfig(),
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    skip_bad: bool = False,
    tinglegram_subject: int | None = None,
) -> Path:
    """`experiments.validation`: the SPEC §10 analyses of an archive and their report; returns the run folder.

    `out`: the folder to write into (created); default a new `runs/<UTC stamp>-validation`.
    `predictions`: a run's predictions (.pkl or run folder) or the authors' .pkl, for Fig. 6.
    """
    archive = resolve_archive(data_dir, progress=progress)
    pred, pred_path = None, None
    if predictions is not None:
        pred_path = layout.find_predictions(Path(predictions))
        if pred_path is None:
            raise ValidationInputError(f"{predictions}: no predictions/seed0.pkl inside this run folder")
        if not pred_path.is_file() or pred_path.suffix != ".pkl":
            raise ValidationInputError(
                f"{pred_path}: expected a predictions .pkl (a run's or the authors' artifact) or a run folder"
            )
        pred = artifact.load_predictions(pred_path)
    run_dir = Path(out) if out is not None else manifest.new_run_dir("validation")
    run_dir.mkdir(parents=True, exist_ok=True)
    hashes = input_hashes(archive, cache_dir)
    ingested = ingest_archive(
        archive, protocol, skip_bad=skip_bad, cache_dir=cache_dir, hashes=hashes, progress=progress
    )
    excluded = {row["subject"] for row in ingested.report.get("excluded", []) if row.get("scope") == "all"}

    def load_recording(subject: int):
        path = archive.ppg_file(subject)
        if subject in excluded or not path.exists():
            return None
        return archive.read_recording(path, cache_dir=cache_dir)  # the parse cache ingestion just filled

    result = validate(
        ingested.labels,
        ingested.timeline,
        load_recording,
        cfg=cfg,
        stats_cfg=stats_cfg,
        protocol=protocol,
        progress=progress,
    )
    for row in ingested.report.get("excluded", []):
        result.notes.append(
            f"ingestion excluded participant {row['subject']} ({row['scope']}): " + "; ".join(row["reasons"])
        )
    markdown = write_report(
        result,
        run_dir,
        source=archive.source,
        predictions=pred,
        cfg=cfg,
        protocol=protocol,
        tinglegram_subject=tinglegram_subject,
    )
    extra = {"predictions": None if predictions is None else str(predictions)}
    if pred_path is not None:
        extra["predictions_sha256"] = storage.sha256_file(pred_path)
    manifest.write_manifest(
        run_dir,
        configs={"validation": to_dict(cfg), "stats": to_dict(stats_cfg), "protocol": to_dict(protocol)},
        archive=archive,
        input_hashes=hashes,
        extra=extra,
    )
    print(markdown)
    print(f"written to {run_dir}")
    return run_dir


def synth(out: Path, cfg: SynthConfig, *, progress: bool = True):
    """`experiments.synth`: write (or find complete) a synthetic archive in `out`; refuses a foreign folder."""
    out = Path(out)
    if out.exists() and not (out / SYNTH_MARKER).exists() and any(out.iterdir()):
        raise ArchiveError(f"{out} exists and is not a synthetic archive; choose a new folder")
    started = time.perf_counter()
    archive = ensure_synthetic(out, cfg, progress=progress)
    existing = {k: v for k, v in (archive.synth or {}).items() if k in dataclasses.asdict(cfg)}
    wanted = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}
    if existing != wanted:
        raise ArchiveError(
            f"{out} already holds a synthetic archive with other settings {existing}; choose a new folder"
        )
    files = archive.input_files()
    size = sum(f.stat().st_size for f in files)
    print(
        f"synthetic archive at {out}: {len(files)} files, {size / 1e9:.2f} GB, seed {cfg.seed}, "
        f"{cfg.n_subjects} participants ({time.perf_counter() - started:.1f} s)"
    )
    return archive


def bids(
    out: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    *,
    stimuli: str | None = None,
    overwrite: bool = False,
    skip_bad: bool = False,
    license: str | None = None,
    validate: bool = False,
    progress: bool = True,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
) -> Path:
    """`experiments.bids`: the archive as a BIDS dataset in `out`, optionally checked by the official validator."""
    archive = resolve_archive(data_dir, progress=progress)
    if stimuli == "copy" and archive.source == "real":
        print(
            "note: --stimuli copy puts the archive's clips into the copy; share them only as its licence allows",
            file=sys.stderr,
        )
    if archive.source == "real" and license is None:
        print("note: no --license given; the copy's README refers to the Zenodo record's licence", file=sys.stderr)
    started = time.perf_counter()
    export = export_bids(
        archive,
        out,
        stimuli=stimuli,
        overwrite=overwrite,
        skip_bad=skip_bad,
        cache_dir=cache_dir,
        license=license,
        progress=progress,
    )
    files = export.files()
    print(
        f"BIDS {BIDS_VERSION} copy of the {export.source} archive {archive.root} at {export.root}: "
        f"{len(export.participants)} participants ({len(export.with_physio)} with physio), {len(files)} files, "
        f"{export.size_bytes() / 1e6:.1f} MB, stimuli {export.stimuli}, gzip level {export.gzip_level} "
        f"({time.perf_counter() - started:.1f} s)"
    )
    if validate:
        report = run_validator(export.root)
        print(
            f"bids-validator (schema {report.schema_version}): {len(report.errors)} error(s), "
            f"{len(report.warnings)} warning(s) ({len(report.codes('warning'))} kinds)"
        )
        for code, sub in sorted(report.codes("warning"), key=str):
            print(f"  warning {code}{f' ({sub})' if sub else ''}")
        if report.errors:
            listing = "; ".join(issue.describe() for issue in report.errors[:5])
            raise BidsExportError(
                f"{export.root} was written, but the BIDS validator reports {len(report.errors)} error(s): {listing}"
            )
    return export.root
