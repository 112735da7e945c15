"""The REST-ASMR benchmark (SPEC §6-§9.1): `python -m experiments.benchmark`."""

from __future__ import annotations

import argparse
from pathlib import Path

from restasmr_jax.learning.models import BUILTINS, DEFAULT_MODELS
from restasmr_jax.runs import jobs
from restasmr_jax.runs.options import OptionsError, add_run_flags, add_xgb_flags, options_from_args, xgb_from_args

DESCRIPTION = """\
Trains every model on the same double-independent folds in the same jitted, vmapped seeds x folds
program as the paper's BiLSTM (same loss, class weights, optimiser, epochs, batches, model selection,
checkpoints), plus XGBoost, and writes a leaderboard beside the reference rows that bound what is
learnable: the condition prior ("tingle" on every ASMR frame), the crowd (the other test viewers'
reports of the same video; it reads test labels, so it is a reference, never ranked) and elapsed
time. Per row: 4-fold mean ± SD of accuracy, macro F1, Nature specificity, within-ASMR macro F1 and
AUROC, within-trial AUROC; pooled bootstrap CI and permutation p of the within-ASMR AUROC; video-level
accuracy under both truths; paired bootstrap p against the BiLSTM; seed spread; parameters and
training time. Sorted by within-ASMR AUROC.

Writes runs/<UTC time>-benchmark/ with leaderboard.{md,json,png,svg}, results.{csv,parquet} (long
format: name, kind, seed, fold, metric, value) and models/<name>/ (checkpoints or boosters,
predictions, history, training.json). A model already trained with the same data, folds, code and
settings, in an earlier run, is not trained again: adding a model to a finished benchmark trains only
that model. Your own model needs no change to the package: --models bilstm,path/to/file.py:ClassName
(see the README's model contract).

Like experiments.fusion, it runs as one of several JAX processes with --coordinator HOST:PORT
--num-processes N --process-id K (or SLURM's variables); process 0 writes."""


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.benchmark",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_flags(parser)
    group = parser.add_argument_group("models")
    group.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        metavar="LIST",
        help="comma-separated models: built-ins "
        + ", ".join(f"{name} ({entry.summary})" for name, entry in BUILTINS.items())
        + "; or path/to/file.py:ClassName, a flax.linen.Module of your own (default: every built-in)",
    )
    add_xgb_flags(parser)
    args = parser.parse_args(argv)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    try:
        options = options_from_args(args, model_specs=models, xgb=xgb_from_args(args))
    except OptionsError as exc:
        parser.error(str(exc))
    return jobs.cli(jobs.benchmark, options)


if __name__ == "__main__":
    main()
