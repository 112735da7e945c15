"""Modality ablations and the XGBoost baseline, Table 2 (SPEC §7, §8): `python -m experiments.ablations`."""

from __future__ import annotations

import argparse
from pathlib import Path

from restasmr_jax.runs import jobs
from restasmr_jax.runs.options import (
    ABLATION_MODELS,
    OptionsError,
    add_run_flags,
    add_xgb_flags,
    options_from_args,
    xgb_from_args,
)

DESCRIPTION = """\
Trains the BiLSTM with the same protocol on each feature set -- fusion (544 columns), video-only
(512), audio-only (31) and, as an extra the paper left out, PPG-only (1) -- plus the non-temporal
XGBoost baseline on the same folds (every valid frame an independent row), and writes Table 2:
4-fold mean ± SD per model, the condition-prior baseline, and the paired-bootstrap p (and one-sided
paired t-test) of fusion against every other model on the per-fold macro F1.

Each model trains as long as one fusion run; --fusion-run reuses the predictions of a finished
`experiments.fusion` run (same data and training flags) instead of training fusion again, and a
feature set already trained with the same data, folds, code and settings -- in this run folder or
in an earlier ablation or benchmark run (the training cache under --cache-dir) -- is reused, not
trained again (the same model stage as `experiments.benchmark`). --features is ignored here: every
model sets its own. On 2 CPU cores each BiLSTM takes about as long as one fusion run.

Like experiments.fusion, it runs as one of several JAX processes with --coordinator HOST:PORT
--num-processes N --process-id K (or SLURM's variables); process 0 writes."""


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.ablations",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_flags(parser)
    group = parser.add_argument_group("ablations (SPEC §7)")
    group.add_argument(
        "--models",
        nargs="+",
        choices=ABLATION_MODELS,
        default=list(ABLATION_MODELS),
        help="BiLSTM feature sets to train (default: all four; fusion is the reference)",
    )
    group.add_argument(
        "--fusion-run",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="take the fusion row from this finished experiments.fusion run instead of training it",
    )
    group.add_argument("--no-xgb", action="store_true", help="leave out the XGBoost row")
    add_xgb_flags(parser)
    args = parser.parse_args(argv)
    models = tuple(dict.fromkeys(["fusion", *args.models]))  # fusion is always the reference row
    try:
        options = options_from_args(
            args, models=models, with_xgb=not args.no_xgb, xgb=xgb_from_args(args), fusion_run=args.fusion_run
        )
    except OptionsError as exc:
        parser.error(str(exc))
    return jobs.cli(jobs.ablations, options)


if __name__ == "__main__":
    main()
