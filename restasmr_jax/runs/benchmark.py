"""The REST-ASMR benchmark: every model on the same folds in one program, beside the reference rows (SPEC §6-§9.1).

`run_benchmark(options)` opens a run folder like the main job, prepares the
data and folds, then trains each model of `options.model_specs` in its own
`models/<name>/` folder through the keyed model stage (`runs.training`:
Flax models in the one jitted, vmapped seeds x folds program with the
paper's loss, class weights, optimiser, epochs, batches and selection;
XGBoost on its own), and writes `leaderboard.{md,json}`, `results.{csv,
parquet}` and the forest plot `leaderboard.{png,svg}`.  A model already
trained with the same key, in this folder (`--resume`) or in another run
(the training cache), is not trained again.

Every model is checked against the contract (`learning.models.check_tagger`)
before the data stage, so a plug-in with the wrong output shape fails in a
second, not after the features are computed.  Run by several JAX processes,
every process trains the Flax models; process 0 alone trains XGBoost and
writes the leaderboard (`runs.distributed`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from restasmr_jax.evidence import figures
from restasmr_jax.evidence.leaderboard import ModelResult
from restasmr_jax.evidence.references import CONDITION_PRIOR, CROWD, ELAPSED_TIME, PARTICIPANT_ORACLE, STIMULUS_ORACLE
from restasmr_jax.learning.models import ModelError, ModelSpec, check_tagger, parse_models
from restasmr_jax.runs import distributed, layout
from restasmr_jax.runs.options import RunOptions
from restasmr_jax.runs.pipeline import Stages, run_recorded
from restasmr_jax.runs.references import run_references
from restasmr_jax.runs.report import benchmark_report
from restasmr_jax.tensor.trial_tensor import FEATURE_SETS, TrialTensor

RESERVED = (CONDITION_PRIOR, CROWD, ELAPSED_TIME, STIMULUS_ORACLE, PARTICIPANT_ORACLE)  # reference rows


def resolve_models(options: RunOptions) -> tuple[ModelSpec, ...]:
    """The benchmark's models, each checked against the contract on a tiny batch of `options.train.features`."""
    specs = parse_models(options.model_specs)
    taken = [s.name for s in specs if s.name in RESERVED]
    if taken:
        raise ModelError(f"model name {taken[0]!r} is the name of a reference row; rename the class")
    columns, with_ppg = FEATURE_SETS[options.train.features]
    for spec in specs:
        if not spec.is_xgboost:
            check_tagger(spec.tagger(options.train), spec.name, columns.stop - columns.start, int(with_ppg))
    return specs


def model_info(spec: ModelSpec, record: dict) -> dict:
    """What the leaderboard says about a model besides its scores."""
    info = {
        "source": spec.source,
        "n_params": record.get("n_params"),
        "train_seconds": record.get("train_seconds"),
        "trained_in": record.get("folder"),
    }
    if record.get("epochs_run"):
        info["seconds_per_epoch"] = record["train_seconds"] / record["epochs_run"]
    return info


def run_benchmark(options: RunOptions = RunOptions(), *, tensor: TrialTensor | None = None) -> Path:
    """Train every model of `options.model_specs`, score them beside the reference rows; returns the run folder.

    `tensor` skips the archive, ingestion and features (tests, notebooks).
    """
    if options.resume is None:  # fail before the data stage, and save plug-ins by absolute path
        options = replace(options, model_specs=tuple(spec.source for spec in resolve_models(options)))

    def model_stages(run: Stages):
        specs = resolve_models(run.options)
        results = {}
        # Flax models first, on every process; XGBoost and the statistics on process 0 alone, last
        for spec in sorted(specs, key=lambda s: s.is_xgboost):
            if spec.is_xgboost and not distributed.is_writer():
                continue
            trained = run.train(spec, run.options.train, layout.model_dir(run.run_dir, spec.name), f":{spec.name}")
            results[spec.name] = ModelResult(spec.name, trained.per_seed, model_info(spec, trained.record))
        if not distributed.is_writer():
            return None, {}
        results = [results[spec.name] for spec in specs]
        with run.timings.stage("statistics", run.options.progress):
            references = run_references(results[0].per_seed[0], run.data.archive)
            report = benchmark_report(results, run.options.stats, run.run_dir, run.data.source, references=references)
        with run.timings.stage("leaderboard figure", run.options.progress):
            written = figures.save_figure(
                figures.leaderboard_forest(report["board"]), Path(run.run_dir) / layout.LEADERBOARD
            )
        return report, {"models": [s.source for s in specs], "figures": [p.name for p in written]}

    return run_recorded("benchmark", options, tensor, model_stages)
