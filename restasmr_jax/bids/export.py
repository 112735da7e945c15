"""The archive as a BIDS 1.11 dataset, written atomically into a new folder (SPEC §1-§3; BIDS 1.11).

`export_bids` ingests the archive first (every log and export validated, as
`experiments.ingest` does), then writes into a hidden sibling folder and renames it
onto the target only when everything is there: a failure leaves no half dataset
and never touches the input archive.  A non-empty target is refused unless
`overwrite` is set and the target is an earlier export of this command (its
`dataset_description.json` says restasmr-jax generated it); a folder of anything
else is never replaced.

Layout (`io.bids` reads the raw part back):

    dataset_description.json  README  CHANGES  participants.tsv/.json  task-asmr_events.json
    sub-XXX/beh/sub-XXX_task-asmr_events.tsv            videos + rating changes (`bids.events`)
    sub-XXX/beh/sub-XXX_task-asmr_physio.tsv.gz/.json   the Biopac export (`bids.physio`)
    stimuli/                                            the 8 clips: copied, symlinked, or left out
    derivatives/restasmr-jax/                           labels, ppg10hz and timeline as Parquet and TSV

Physio files are compressed one participant per core (zlib releases the GIL);
recordings are loaded in the calling thread, which owns the parse cache.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from tqdm.auto import tqdm

from restasmr_jax import manifest, storage
from restasmr_jax.bids import readme, sidecars
from restasmr_jax.bids.events import events_table, participants_table
from restasmr_jax.bids.physio import GZIP_LEVEL, write_physio
from restasmr_jax.config import ProtocolConfig, to_dict
from restasmr_jax.ingest.tables import TABLES, Ingested, ingest_archive, write_tables
from restasmr_jax.io import bids
from restasmr_jax.io.archive import DEFAULT_CACHE_DIR, Archive, input_hashes
from restasmr_jax.io.presentation import LogFormatError
from restasmr_jax.io.stimuli import stimulus_paths

STIMULI_MODES = ("copy", "link", "none")
DERIVATIVE_DIR = Path("derivatives") / "restasmr-jax"
PARTICIPANTS = "participants"
EVENTS_SIDECAR = f"task-{bids.TASK}_events.json"
NULL = "n/a"


class BidsExportError(ValueError):
    """The export cannot go ahead (target folder, stimuli mode, unreadable input); says why."""


@dataclass(frozen=True)
class Export:
    """What `export_bids` wrote."""

    root: Path
    source: str
    stimuli: str
    participants: list[int]
    with_physio: list[int]
    excluded: list[dict] = field(default_factory=list)
    gzip_level: int = GZIP_LEVEL

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file() or p.is_symlink())

    def size_bytes(self) -> int:
        return sum(p.lstat().st_size for p in self.files())


def default_stimuli(source: str) -> str:
    """copy for the synthetic archive; link for a real one, whose clips are redistributed under its licence."""
    return "copy" if source == "synthetic" else "link"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _is_our_export(folder: Path) -> bool:
    try:
        description = bids.read_json_object(folder / bids.DESCRIPTION_FILE, BidsExportError)
    except (OSError, BidsExportError):
        return False
    generated = description.get("GeneratedBy")
    return isinstance(generated, list) and any(
        isinstance(g, dict) and g.get("Name") == "restasmr-jax" for g in generated
    )


def check_target(out: Path, archive: Archive, *, overwrite: bool) -> None:
    """Refuse a target inside the archive (or holding it), a file, or a non-empty folder we may not replace."""
    target, source = Path(out).resolve(), Path(archive.root).resolve()
    if _inside(target, source) or _inside(source, target):
        raise BidsExportError(
            f"{out}: the BIDS folder must lie outside the input archive {archive.root} and not hold it"
        )
    if not Path(out).exists():
        return
    if not Path(out).is_dir():
        raise BidsExportError(f"{out} exists and is not a folder; choose a new folder")
    if any(Path(out).iterdir()):
        if not overwrite:
            raise BidsExportError(
                f"{out} is not empty; choose a new folder, or --overwrite to replace an earlier export"
            )
        if not _is_our_export(Path(out)):
            raise BidsExportError(
                f"{out} is not empty and not an export of this command (no restasmr-jax in its "
                f"{bids.DESCRIPTION_FILE} GeneratedBy); it is never replaced, choose a new folder"
            )


def _write_tsv(frame: pl.DataFrame, path: Path) -> Path:
    with storage.atomic_path(path) as tmp:
        frame.write_csv(tmp, separator="\t", null_value=NULL, line_terminator="\n")
    return path


def _events_by_subject(archive: Archive, kept: list[int], cfg: ProtocolConfig) -> dict[int, pl.DataFrame]:
    """Each kept participant's log events (ingestion has validated them; files it excluded are passed over)."""
    found = {}
    for path in archive.log_files():
        try:
            parse = archive.read_events(path, cfg)
        except LogFormatError:
            continue
        if parse.report["subject"] in kept:
            found[parse.report["subject"]] = parse.events
    missing = sorted(set(kept) - set(found))
    if missing:
        raise BidsExportError(f"{archive.root}: no readable event file for participant(s) {missing}")
    return found


def _write_physio_all(
    archive: Archive,
    stage: Path,
    subjects: list[int],
    *,
    cache_dir: Path,
    hashes: dict,
    level: int,
    workers: int,
    progress: bool,
) -> None:
    """Every participant's physio file: recordings loaded here, formatted and compressed `workers` at a time."""
    pending: deque[Future] = deque()
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        tqdm(total=len(subjects), desc="physio", unit="participant", disable=not progress) as bar,
    ):
        for subject in subjects:
            path = archive.ppg_file(subject)
            known = hashes.get(str(path.relative_to(archive.root)))
            recording = archive.read_recording(path, cache_dir=cache_dir, sha256=known)
            pending.append(pool.submit(write_physio, recording, bids.physio_path(stage, subject), level=level))
            while len(pending) >= workers:
                pending.popleft().result()
                bar.update()
        while pending:
            pending.popleft().result()
            bar.update()


def _write_stimuli(archive: Archive, stage: Path, videos: list[str], mode: str) -> None:
    if mode == "none":
        return
    folder = stage / bids.STIMULI_DIR
    folder.mkdir(parents=True)
    for source in stimulus_paths(archive.stim_dir, videos).values():
        target = folder / source.name
        if mode == "copy":
            shutil.copyfile(source, target)
        else:
            os.symlink(source.resolve(), target)


def _write_derivatives(
    archive: Archive,
    ingested: Ingested,
    stage: Path,
    *,
    cfg: ProtocolConfig,
    stimuli: str,
    hashes: dict,
    git: dict,
    level: int,
) -> None:
    """The 10-Hz tables, their descriptions, and the run's provenance (manifest, ingestion report)."""
    folder = stage / DERIVATIVE_DIR
    synth = archive.synth if archive.source == "synthetic" else None
    n = len(ingested.report["participants"])
    write_tables(ingested, folder, archive.source)
    for name, sidecar in sidecars.derivative_sidecars().items():
        if name in TABLES:
            _write_tsv(getattr(ingested, name), folder / f"{name}.tsv")
            storage.write_json(folder / f"{name}.json", sidecar)
    storage.write_json(
        folder / bids.DESCRIPTION_FILE, sidecars.derivative_description(synth=synth, git=git, n_participants=n)
    )
    storage.atomic_write_text(folder / "README", readme.derivative_readme())
    storage.write_json(folder / "report.json", ingested.report)
    manifest.write_manifest(
        folder,
        configs={"protocol": to_dict(cfg), "stimuli": stimuli, "gzip_level": level},
        archive=archive,
        input_hashes=hashes,
        extra={"exclusions": ingested.report["excluded"]},
    )


def _write_dataset(
    archive: Archive,
    ingested: Ingested,
    stage: Path,
    *,
    cfg: ProtocolConfig,
    stimuli: str,
    cache_dir: Path,
    hashes: dict,
    license: str | None,
    level: int,
    workers: int,
    progress: bool,
) -> None:
    kept = ingested.report["participants"]
    with_ppg = ingested.report["participants_with_ppg"]
    synth, real = archive.synth if archive.source == "synthetic" else None, archive.source == "real"
    git = manifest.git_state()
    events = _events_by_subject(archive, kept, cfg)
    for subject in kept:
        timeline = ingested.timeline.filter(pl.col("subject") == subject)
        table = events_table(events[subject], timeline, cfg, stim_file=stimuli != "none")
        _write_tsv(table, bids.events_path(stage, subject))
    _write_physio_all(
        archive, stage, with_ppg, cache_dir=cache_dir, hashes=hashes, level=level, workers=workers, progress=progress
    )
    participants = participants_table(ingested.timeline)
    if real:
        participants = participants.with_columns(pl.lit("right").alias("handedness"))
    _write_tsv(participants, stage / f"{PARTICIPANTS}.tsv")
    storage.write_json(stage / f"{PARTICIPANTS}.json", sidecars.participants_sidecar(real=real))
    version = ", ".join(ingested.report["presentation_versions"]) or None
    storage.write_json(
        stage / EVENTS_SIDECAR,
        sidecars.events_sidecar(real=real, stim_file=stimuli != "none", presentation_version=version, cfg=cfg),
    )
    description = sidecars.dataset_description(synth=synth, git=git, n_participants=len(kept), license=license)
    storage.write_json(stage / bids.DESCRIPTION_FILE, description)
    storage.atomic_write_text(
        stage / "README",
        readme.dataset_readme(
            source=archive.source,
            synth=synth,
            participants=kept,
            without_physio=sorted(set(kept) - set(with_ppg)),
            excluded=ingested.report["excluded"],
            stimuli=stimuli,
            license=description.get("License"),
        ),
    )
    storage.atomic_write_text(stage / "CHANGES", sidecars.changes(source=archive.source))
    _write_stimuli(archive, stage, sorted(ingested.timeline["video"].unique().to_list()), stimuli)
    _write_derivatives(archive, ingested, stage, cfg=cfg, stimuli=stimuli, hashes=hashes, git=git, level=level)


def _move_into_place(stage: Path, out: Path, archive: Archive, overwrite: bool) -> None:
    """Rename the finished folder onto `out`; an earlier export there is set aside first and removed last."""
    check_target(out, archive, overwrite=overwrite)  # again: the folder may have changed during the export
    if out.exists() and any(out.iterdir()):
        old = out.with_name(f".{out.name}.replaced-{uuid.uuid4().hex[:8]}")
        os.rename(out, old)
        os.rename(stage, out)
        shutil.rmtree(old)
    else:
        os.replace(stage, out)  # an empty folder is replaced, a missing one created


def export_bids(
    archive: Archive,
    out: str | os.PathLike,
    cfg: ProtocolConfig = ProtocolConfig(),
    *,
    stimuli: str | None = None,
    overwrite: bool = False,
    skip_bad: bool = False,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    hashes: dict[str, str] | None = None,
    license: str | None = None,
    gzip_level: int = GZIP_LEVEL,
    workers: int | None = None,
    progress: bool = True,
) -> Export:
    """Write `archive` as a BIDS dataset at `out` (see the module docstring); returns what was written.

    `stimuli`: "copy" | "link" | "none", default `default_stimuli(archive.source)`.
    `license`: the License field; the synthetic archive's default is CC0-1.0, a real
    archive's is left out unless given (its licence is the Zenodo record's).
    `gzip_level`: of the physio files (`bids.physio.GZIP_LEVEL`, whose docstring says why).
    Raises `BidsExportError`, or ingestion's `IngestError` listing every bad input file.
    """
    stimuli = stimuli or default_stimuli(archive.source)
    if stimuli not in STIMULI_MODES:
        raise BidsExportError(f"stimuli mode {stimuli!r}: expected one of {', '.join(STIMULI_MODES)}")
    out = Path(out)
    check_target(out, archive, overwrite=overwrite)
    hashes = hashes if hashes is not None else input_hashes(archive, cache_dir)
    ingested = ingest_archive(archive, cfg, skip_bad=skip_bad, cache_dir=cache_dir, hashes=hashes, progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    stage.mkdir()
    try:
        _write_dataset(
            archive,
            ingested,
            stage,
            cfg=cfg,
            stimuli=stimuli,
            cache_dir=Path(cache_dir),
            hashes=hashes,
            license=license,
            level=gzip_level,
            workers=max(1, workers or os.cpu_count() or 1),
            progress=progress,
        )
        _move_into_place(stage, out, archive, overwrite)
    finally:
        if stage.exists():
            shutil.rmtree(stage)
    return Export(
        root=out,
        source=archive.source,
        stimuli=stimuli,
        participants=list(ingested.report["participants"]),
        with_physio=list(ingested.report["participants_with_ppg"]),
        excluded=list(ingested.report["excluded"]),
        gzip_level=gzip_level,
    )
