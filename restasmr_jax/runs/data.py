"""The data stage of a run: which archive, its ingestion and its tensor, resolved once (SPEC §1-§5, §12).

`resolve_archive` is the single decision point every command uses: a real
archive in `data/` (log/, ppg/, stim/) wins; otherwise the seeded synthetic
archive is generated once into `data/synthetic/` and reused.  `prepare_data`
then hashes the inputs and resolves the ResNet weights once, ingests and
builds (or loads) the tensor, and records what it used in `data.json`.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from restasmr_jax import storage
from restasmr_jax.config import SynthConfig
from restasmr_jax.features.weights import resolve_weights_spec, weights_provenance
from restasmr_jax.ingest.tables import ingest_archive
from restasmr_jax.io.archive import DEFAULT_DATA_DIR, Archive, has_layout, input_hashes, open_archive
from restasmr_jax.runs.layout import DATA_FILE, RunFolderError
from restasmr_jax.runs.options import RunOptions
from restasmr_jax.runs.timings import Timings
from restasmr_jax.synth.archive import ensure_synthetic, synthetic_root
from restasmr_jax.tensor.cache import load_or_build_tensor
from restasmr_jax.tensor.trial_tensor import TrialTensor


def resolve_archive(
    data_dir: str | os.PathLike | None = None, *, synth: SynthConfig = SynthConfig(), progress: bool = True
) -> Archive:
    """The archive a run uses.

    `data_dir` given: that folder must be an archive (real or synthetic).
    Otherwise: `data/` if it holds log/, ppg/, stim/; else the synthetic
    archive under `data/synthetic/`, generated on first use.
    """
    if data_dir is not None and Path(data_dir) != DEFAULT_DATA_DIR:
        return open_archive(data_dir)
    if has_layout(DEFAULT_DATA_DIR):
        return open_archive(DEFAULT_DATA_DIR)
    return ensure_synthetic(synthetic_root(DEFAULT_DATA_DIR, synth), synth, progress=progress)


@dataclass
class Data:
    """What the data stage hands to the model stages."""

    tensor: TrialTensor
    source: str  # "real" | "synthetic" | whatever a fabricated tensor's provenance says
    archive: Archive | None = None
    input_hashes: dict = field(default_factory=dict)
    video_weights: str | None = None

    def describe(self) -> dict:
        return {
            "data_source": self.source,
            "archive": self.archive.describe() if self.archive is not None else None,
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
        with timings.stage("archive", options.progress):
            archive = resolve_archive(options.data_dir, synth=options.synth, progress=options.progress)
            hashes = input_hashes(archive, options.cache_dir)
        print(f"[pipeline] data: {archive.source.upper()} archive at {archive.root}", file=sys.stderr, flush=True)
        spec = resolve_weights_spec(options.feature_cfg.video_weights, archive.source)
        weights = weights_provenance(spec)  # before any work: missing weights stop the run here
        with timings.stage("ingest", options.progress):
            ingested = ingest_archive(
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
        data = Data(tensor=tensor, source=archive.source, archive=archive, input_hashes=hashes, video_weights=spec)
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
