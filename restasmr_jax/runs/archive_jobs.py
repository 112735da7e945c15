"""The command-line jobs that read an archive: ingest, features, validation, calibration, BIDS (SPEC §1-§5, §10, §12).

Each resolves its inputs, checks them before any work, writes a run folder
that is complete or says it is not, and prints; `jobs.cli` turns bad input
into one line.
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
from restasmr_jax.bids.sidecars import BIDS_VERSION
from restasmr_jax.bids.validator import run_validator
from restasmr_jax.config import (
    FeatureConfig,
    IngestConfig,
    ProtocolConfig,
    StatsConfig,
    SynthConfig,
    ValidationConfig,
    to_dict,
)
from restasmr_jax.evidence import artifact
from restasmr_jax.features.weights import resolve_weights_spec, weights_provenance
from restasmr_jax.ingest.tables import summary_table, write_tables
from restasmr_jax.io.archive import DEFAULT_CACHE_DIR, SYNTH_MARKER, ArchiveError, input_hashes
from restasmr_jax.runs import layout
from restasmr_jax.runs.data import INGEST_FOLDERS, check_distinct_stimuli, ingest_for_run, resolve_archive
from restasmr_jax.synth.archive import ensure_synthetic
from restasmr_jax.tensor.cache import load_or_build_tensor
from restasmr_jax.tensor.export import export_long_parquet
from restasmr_jax.validation import ValidationInputError, validate, write_report
from restasmr_jax.validation.calibration import check, render
from restasmr_jax.validation.calibration_measure import measure, spread


def _recorded(run_dir: Path, work, *, configs: dict, archive, hashes: dict, extra: dict | None = None):
    """Run `work() -> (result, extra)` with the folder's manifest saying running, then failed or complete."""
    common = {"configs": configs, "archive": archive, "input_hashes": hashes}
    manifest.write_manifest(run_dir, **common, extra=extra, status="running")
    try:
        result, more = work()
    except BaseException as exc:
        error = {"error": f"{type(exc).__name__}: {exc}"}
        manifest.write_manifest(run_dir, **common, extra={**(extra or {}), **error}, status="failed")
        raise
    manifest.write_manifest(run_dir, **common, extra={**(extra or {}), **more}, status="complete")
    return result


def ingest_summary(ingested) -> dict:
    """What a manifest records of an ingestion: warnings, exclusions, the PPG channel, Presentation versions."""
    report = ingested.report
    return {
        "exclusions": report["excluded"],
        "warnings": report["warnings"],
        "ppg_channels": report["ppg_channels"],
        "presentation_versions": report["presentation_versions"],
    }


def ingest(
    data_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    *,
    skip_bad: bool = False,
    progress: bool = True,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    checks: IngestConfig = IngestConfig(),
    runs_dir: str | os.PathLike = "runs",
) -> Path:
    """`experiments.ingest`: the archive's tidy tables, report and manifest in a new run folder.

    Needs only log/ and ppg/.  `out`: a new or empty folder (one holding
    files is refused before any work); default a new `runs/<stamp>-ingest`.
    """
    storage.require_folder(cache_dir, "--cache-dir")
    manifest.check_out_dir(out)
    archive = resolve_archive(data_dir, progress=progress, need=INGEST_FOLDERS)
    cfg = ProtocolConfig()
    hashes = input_hashes(archive, cache_dir, folders=INGEST_FOLDERS)
    ingested = ingest_for_run(
        archive, cfg, checks=checks, skip_bad=skip_bad, cache_dir=cache_dir, hashes=hashes, progress=progress
    )
    run_dir = manifest.prepare_out_dir(out, "ingest", runs_dir)  # only now: bad input leaves no folder behind

    def work():
        write_tables(ingested, run_dir, archive.source)
        storage.write_json(run_dir / "report.json", ingested.report)
        return None, ingest_summary(ingested)

    configs = {"protocol": to_dict(cfg), "checks": to_dict(checks), "skip_bad": skip_bad}
    _recorded(run_dir, work, configs=configs, archive=archive, hashes=hashes)
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
    checks: IngestConfig = IngestConfig(),
) -> dict:
    """`experiments.features`: build (or load) the tensor, optionally export Parquet; print and return the summary.

    Writes `runs/<stamp>-features/{manifest,summary}.json`.
    """
    storage.require_folder(cache_dir, "--cache-dir")
    storage.require_folder(runs_dir, "run folder root")
    if export_parquet is not None and Path(export_parquet).is_dir():
        raise storage.PathKindError(f"--export-parquet {export_parquet}: a folder, expected a .parquet file path")
    archive = resolve_archive(data_dir, progress=progress)
    protocol = ProtocolConfig()
    hashes = input_hashes(archive, cache_dir)
    check_distinct_stimuli(hashes, archive, allow=checks.allow_duplicates)
    spec = resolve_weights_spec(video_weights, archive.source)
    weights = weights_provenance(spec)
    ingested = ingest_for_run(archive, protocol, checks=checks, cache_dir=cache_dir, hashes=hashes, progress=progress)
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

    def work():
        storage.write_json(run_dir / "summary.json", summary)
        return None, {"tensor_key": tensor.provenance.get("tensor_key"), "ingest": ingest_summary(ingested)}

    configs = {
        "feature": tensor.provenance["feature_cfg"],
        "protocol": dataclasses.asdict(protocol),
        "checks": to_dict(checks),
    }
    _recorded(run_dir, work, configs=configs, archive=archive, hashes=hashes, extra={"weights": weights})
    summary["run_dir"] = str(run_dir)
    print(json.dumps(summary, indent=2, default=str))
    return summary


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
    checks: IngestConfig = IngestConfig(),
    runs_dir: str | os.PathLike = "runs",
) -> Path:
    """`experiments.validation`: the SPEC §10 analyses of an archive and their report; returns the run folder.

    `out`: a new or empty folder to write into; default a new `runs/<UTC stamp>-validation`.
    `predictions`: a run's predictions (.pkl or run folder) or the authors' .pkl, for Fig. 6.
    """
    storage.require_folder(cache_dir, "--cache-dir")
    manifest.check_out_dir(out)
    pred, pred_path = None, None
    if predictions is not None:
        if not Path(predictions).exists():
            raise ValidationInputError(f"--predictions {predictions}: not found")
        pred_path = layout.find_predictions(Path(predictions))
        if pred_path is None:
            raise ValidationInputError(f"{predictions}: no predictions/seed0.pkl inside this run folder")
        if not pred_path.is_file() or pred_path.suffix != ".pkl":
            raise ValidationInputError(
                f"{pred_path}: expected a predictions .pkl (a run's or the authors' artifact) or a run folder"
            )
        pred = artifact.load_predictions(pred_path)
    archive = resolve_archive(data_dir, progress=progress, need=INGEST_FOLDERS)
    hashes = input_hashes(archive, cache_dir, folders=INGEST_FOLDERS)
    ingested = ingest_for_run(
        archive, protocol, checks=checks, skip_bad=skip_bad, cache_dir=cache_dir, hashes=hashes, progress=progress
    )
    excluded = {row["subject"] for row in ingested.report.get("excluded", []) if row.get("scope") == "all"}
    files = {int(sid): row["file"] for sid, row in ingested.report["ppg"].items()}

    def load_recording(subject: int):
        if subject in excluded or subject not in files:
            return None
        # the parse cache ingestion just filled
        return archive.read_recording(archive.ppg_file(subject), cache_dir=cache_dir, layout=checks.ppg_layout)

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
    for message in ingested.report["warnings"]:
        result.notes.append(f"ingestion warning: {message}")
    run_dir = manifest.prepare_out_dir(out, "validation", runs_dir)  # only now: bad input leaves none

    def work():
        markdown = write_report(
            result,
            run_dir,
            source=archive.source,
            predictions=pred,
            cfg=cfg,
            protocol=protocol,
            tinglegram_subject=tinglegram_subject,
        )
        return markdown, {"ingest": ingest_summary(ingested)}

    extra = {"predictions": None if predictions is None else str(predictions)}
    if pred_path is not None:
        extra["predictions_sha256"] = storage.sha256_file(pred_path)
    configs = {
        "validation": to_dict(cfg),
        "stats": to_dict(stats_cfg),
        "protocol": to_dict(protocol),
        "checks": to_dict(checks),
    }
    markdown = _recorded(run_dir, work, configs=configs, archive=archive, hashes=hashes, extra=extra)
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


def calibrate(
    data_dir: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    progress: bool = True,
    spread_seeds: int = 0,
) -> list:
    """`experiments.calibrate`: print target, tolerance and the archive's value of every calibration row.

    Returns the checked rows (the CLI exits 1 when one fails).  `spread_seeds` > 0 also prints each
    statistic's mean and SD over that many generated cohorts (seeds 0..n-1), the evidence behind the
    tolerances (about 15 s per cohort).
    """
    storage.require_folder(cache_dir, "--cache-dir")
    archive = resolve_archive(data_dir, progress=progress, need=INGEST_FOLDERS)
    protocol, checks = ProtocolConfig(), IngestConfig()
    hashes = input_hashes(archive, cache_dir, folders=INGEST_FOLDERS)
    ingested = ingest_for_run(archive, protocol, checks=checks, cache_dir=cache_dir, hashes=hashes, progress=progress)
    files = {int(sid): row["file"] for sid, row in ingested.report["ppg"].items()}

    def load_recording(subject: int):
        if subject not in files:
            return None
        return archive.read_recording(archive.ppg_file(subject), cache_dir=cache_dir, layout=checks.ppg_layout)

    values = measure(ingested.labels, ingested.timeline, load_recording, protocol=protocol, progress=progress)
    rows = check(values)
    print(f"Calibration of the {archive.source} archive at {archive.root} against the published statistics\n")
    print(render(rows))
    extra = [k for k in values if k.endswith("_published")]
    print("On the published test trials alone: " + ", ".join(f"{k} {values[k]:.3f}" for k in extra))
    if spread_seeds > 0:
        print(f"\nSpread over {spread_seeds} generated cohorts (mean ± SD):")
        for key, (mean, sd) in spread(range(spread_seeds), progress=progress).items():
            print(f"- {key}: {mean:.4f} ± {sd:.4f}")
    return rows


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
