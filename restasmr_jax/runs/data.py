"""The data stage of a run: which archive, its ingestion and its tensor, resolved once (SPEC §1-§5, §12).

`resolve_archive` is the single decision point every command uses: an
explicit `--data-dir` must be an archive (it never falls back to synthetic
data, also when it names `data/`); without one, a real archive in `data/`
wins, a partial one (some of log/, ppg/, stim/) is an error naming what is
missing, and only a `data/` holding none of them means the seeded synthetic
archive, generated once into `data/synthetic/` and reused.  `prepare_data`
then hashes the inputs and resolves the ResNet weights once, ingests and
builds (or loads) the tensor, and records what it used in `data.json`.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

from restasmr_jax import storage
from restasmr_jax.config import SynthConfig
from restasmr_jax.features.weights import resolve_weights_spec, weights_provenance
from restasmr_jax.ingest.tables import Ingested, IngestWarning, ingest_archive
from restasmr_jax.io.archive import (
    DEFAULT_DATA_DIR,
    FOLDERS,
    Archive,
    ArchiveError,
    duplicate_inputs,
    has_layout,
    input_hashes,
    open_archive,
)
from restasmr_jax.runs.layout import DATA_FILE, RunFolderError
from restasmr_jax.runs.options import RunOptions
from restasmr_jax.runs.timings import Timings
from restasmr_jax.synth.archive import ensure_synthetic, synthetic_root
from restasmr_jax.tensor.cache import load_or_build_tensor
from restasmr_jax.tensor.trial_tensor import TrialTensor

INGEST_FOLDERS = ("log", "ppg")  # what the stages that never read the stimuli need


def resolve_archive(
    data_dir: str | os.PathLike | None = None,
    *,
    synth: SynthConfig = SynthConfig(),
    progress: bool = True,
    need: tuple[str, ...] = FOLDERS,
) -> Archive:
    """The archive a run uses; `need`: the sub-folders the calling stage reads.

    `data_dir` given: that folder must be an archive (real or synthetic) with
    `need`.  Otherwise: `data/` if it holds `need`; an error if it holds some
    of log/, ppg/, stim/ but not `need`; else the synthetic archive under
    `data/synthetic/`, generated on first use.
    """
    if data_dir is not None:
        return open_archive(data_dir, need=need)
    if has_layout(DEFAULT_DATA_DIR, need):
        return open_archive(DEFAULT_DATA_DIR, need=need)
    present = [sub for sub in FOLDERS if (DEFAULT_DATA_DIR / sub).exists()]
    if present:
        missing = [sub for sub in need if not (DEFAULT_DATA_DIR / sub).is_dir()]
        raise ArchiveError(
            f"{DEFAULT_DATA_DIR}: holds {', '.join(p + '/' for p in present)} but not "
            f"{', '.join(m + '/' for m in missing)}: a partial real archive is never replaced by the synthetic "
            "one; complete it, or move those folders away to use the synthetic archive"
        )
    return ensure_synthetic(synthetic_root(DEFAULT_DATA_DIR, synth), synth, progress=progress)


def check_distinct_stimuli(hashes: dict[str, str], archive: Archive, *, allow: bool = False) -> None:
    """Two byte-identical stimulus clips would give two videos one set of features: an error unless `allow`."""
    groups = duplicate_inputs(hashes, archive, "stim")
    if groups:
        listed = "; ".join(f"{', '.join(names)} (sha256 {hashes[names[0]][:12]}...)" for names in groups)
        message = f"byte-identical stimulus files: {listed}"
        if not allow:
            raise ArchiveError(f"{message}: every video needs its own clip (--allow-duplicates keeps them)")
        warnings.warn(message, ArchiveWarning, stacklevel=2)


class ArchiveWarning(UserWarning):
    """Something about the archive's files is surprising but was allowed (e.g. --allow-duplicates)."""


def ingest_for_run(archive: Archive, protocol, **kwargs) -> Ingested:
    """`ingest_archive` for a command: its warnings are printed once, as one list on stderr, right away.

    They are in the ingestion report as well (and from there in report.json and the manifest).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IngestWarning)
        ingested = ingest_archive(archive, protocol, **kwargs)
    found = ingested.report["warnings"]
    if found:
        print(f"{len(found)} ingestion warning(s) (also in report.json and the manifest):", file=sys.stderr)
        for message in found:
            print(f"  - {message}", file=sys.stderr)
    return ingested


@dataclass
class Data:
    """What the data stage hands to the model stages."""

    tensor: TrialTensor
    source: str  # "real" | "synthetic" | whatever a fabricated tensor's provenance says
    archive: Archive | None = None
    input_hashes: dict = field(default_factory=dict)
    video_weights: str | None = None
    ingest: dict = field(default_factory=dict)  # warnings, exclusions, PPG channel, Presentation versions

    def describe(self) -> dict:
        return {
            "data_source": self.source,
            "archive": self.archive.describe() if self.archive is not None else None,
            "ingest": self.ingest,
            "video_weights": self.video_weights,
            "n_trials": self.tensor.n_trials,
            "tensor_fingerprint": self.tensor.fingerprint,
            "tensor_provenance": self.tensor.provenance,
        }


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
        storage.require_folder(options.cache_dir, "--cache-dir")
        with timings.stage("archive", options.progress):
            archive = resolve_archive(options.data_dir, synth=options.synth, progress=options.progress)
            hashes = input_hashes(archive, options.cache_dir)
        check_distinct_stimuli(hashes, archive)
        print(f"[pipeline] data: {archive.source.upper()} archive at {archive.root}", file=sys.stderr, flush=True)
        spec = resolve_weights_spec(options.feature_cfg.video_weights, archive.source)
        weights = weights_provenance(spec)  # before any work: missing weights stop the run here
        with timings.stage("ingest", options.progress):
            ingested = ingest_for_run(
                archive, options.protocol, cache_dir=options.cache_dir, hashes=hashes, progress=options.progress
            )
        with timings.stage("features", options.progress):
            tensor = load_or_build_tensor(
                archive,
                ingested,
                feature_cfg=replace(options.feature_cfg, video_weights=spec),
                protocol=options.protocol,
                cache_dir=options.cache_dir,
                hashes=hashes,
                weights=weights,
                progress=options.progress,
            )
        report = ingested.report
        summary = {key: report[key] for key in ("warnings", "excluded", "ppg_channels", "presentation_versions")}
        data = Data(
            tensor=tensor,
            source=archive.source,
            archive=archive,
            input_hashes=hashes,
            video_weights=spec,
            ingest=summary,
        )
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
    now = data.tensor.fingerprint
    if saved != now:
        raise RunFolderError(
            f"{path}: the run was made on tensor {saved[:16]}, but the data now give "
            f"{now[:16]} (archive, features or weights changed); start a new run instead"
        )
