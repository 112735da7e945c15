"""The command-line jobs: each resolves its inputs, does one thing, writes a run folder and prints (SPEC §1-§12).

`experiments/*.py` parse flags and hand the result to `cli(job, ...)`, which
runs the job and turns bad input into one line on stderr (`error: ...`) and
exit status 1 instead of a traceback.  Library modules stay free of such side effects.
"""

from __future__ import annotations

import os
from pathlib import Path

from restasmr_jax import manifest, storage
from restasmr_jax.bids.export import BidsExportError
from restasmr_jax.bids.physio import PhysioExportError
from restasmr_jax.bids.validator import ValidatorFailed, ValidatorUnavailable
from restasmr_jax.config import (
    StatsConfig,
)
from restasmr_jax.evidence import artifact
from restasmr_jax.evidence.leaderboard import LeaderboardError
from restasmr_jax.evidence.metrics import MetricsInputError
from restasmr_jax.evidence.references import ReferenceInputError
from restasmr_jax.evidence.tables import PAPER_TABLE1, paper_table1, render_table1
from restasmr_jax.features.weights import WeightsError
from restasmr_jax.ingest.tables import IngestError
from restasmr_jax.io.archive import ArchiveError
from restasmr_jax.io.biopac import BiopacFormatError
from restasmr_jax.io.presentation import LogFormatError, SubjectsFileError
from restasmr_jax.io.stimuli import StimulusError
from restasmr_jax.learning.batches import PlanError
from restasmr_jax.learning.checkpoint import CheckpointError
from restasmr_jax.learning.fit import TrainError
from restasmr_jax.learning.models import ModelError
from restasmr_jax.learning.replicas import use_cpu_devices
from restasmr_jax.learning.splits import SplitError
from restasmr_jax.runs import distributed, layout
from restasmr_jax.runs.benchmark import run_benchmark
from restasmr_jax.runs.layout import RunFolderError
from restasmr_jax.runs.options import OptionsError, RunOptions
from restasmr_jax.runs.pipeline import run_ablations, run_fusion
from restasmr_jax.runs.repredict import run_predict
from restasmr_jax.synth.truth import TruthError
from restasmr_jax.tensor.assemble import AssembleError
from restasmr_jax.tensor.trial_tensor import FeatureSetError, TrialTensor
from restasmr_jax.validation import ValidationInputError

# What a user can get wrong (files, folders, flags, saved runs): reported in one line, never a traceback.
BAD_INPUT = (
    ArchiveError,
    IngestError,
    LogFormatError,
    BiopacFormatError,
    SubjectsFileError,
    storage.PathKindError,
    manifest.OutputFolderError,
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
    distributed.DistributedError,
    ModelError,
    LeaderboardError,
    ReferenceInputError,
    TruthError,
)


def cli(job, *args, **kwargs):
    """`job(*args, **kwargs)`; bad input exits with status 1 and its message, never a traceback."""
    try:
        return job(*args, **kwargs)
    except BAD_INPUT as exc:
        raise SystemExit(f"error: {exc}") from None


def fusion(options: RunOptions, *, tensor: TrialTensor | None = None) -> Path:
    """`experiments.fusion`: the main job, as one of `options.processes` (default: one, a JAX CPU device per core).

    `tensor` skips the data stage (tests, notebooks).
    """
    with distributed.processes(options) as options:
        return run_fusion(options, tensor=tensor)


def ablations(options: RunOptions, *, tensor: TrialTensor | None = None) -> Path:
    """`experiments.ablations`: Table 2, as one of `options.processes`."""
    with distributed.processes(options) as options:
        return run_ablations(options, tensor=tensor)


def benchmark(options: RunOptions, *, tensor: TrialTensor | None = None) -> Path:
    """`experiments.benchmark`: every model on the same folds beside the reference rows, as one of
    `options.processes`."""
    with distributed.processes(options) as options:
        return run_benchmark(options, tensor=tensor)


def predict(run_dir: Path, *, progress: bool = True) -> dict:
    """`experiments.predict`: reload a run's checkpoints and re-predict (the verdict's `identical`: exit status)."""
    use_cpu_devices()
    return run_predict(run_dir, progress=progress)


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
