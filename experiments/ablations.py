"""Modality ablations and the XGBoost baseline, Table 2 (SPEC §7, §8): `python -m experiments.ablations`."""

from __future__ import annotations

import argparse
from pathlib import Path

from restasmr_jax.config import XGBConfig
from restasmr_jax.runs import jobs
from restasmr_jax.runs.options import ABLATION_MODELS, OptionsError, add_run_flags, options_from_args

DESCRIPTION = """\
Trains the BiLSTM with the same protocol on each feature set -- fusion (544 columns), video-only
(512), audio-only (31) and, as an extra the paper left out, PPG-only (1) -- plus the non-temporal
XGBoost baseline on the same folds (every valid frame an independent row), and writes Table 2:
4-fold mean ± SD per model, the condition-prior baseline, and the paired-bootstrap p (and one-sided
paired t-test) of fusion against every other model on the per-fold macro F1.

Each model trains as long as one fusion run; --fusion-run reuses the predictions of a finished
`experiments.fusion` run (same data and training flags) instead of training fusion again.
--features is ignored here: every model sets its own. On 2 CPU cores each BiLSTM takes about as
long as one fusion run.

Like experiments.fusion, it runs as one of several JAX processes with --coordinator HOST:PORT
--num-processes N --process-id K (or SLURM's variables); process 0 writes."""


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.ablations",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_flags(parser)
    x = XGBConfig()
    group = parser.add_argument_group("ablations and XGBoost (SPEC §7, §8)")
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
    group.add_argument(
        "--xgb-estimators", type=int, default=x.n_estimators, help=f"boosting rounds (paper {x.n_estimators})"
    )
    group.add_argument("--xgb-depth", type=int, default=x.max_depth, help=f"maximum tree depth (paper {x.max_depth})")
    group.add_argument(
        "--xgb-lr", type=float, default=x.learning_rate, help=f"learning rate / eta (paper {x.learning_rate})"
    )
    group.add_argument("--xgb-seed", type=int, default=x.random_state, help=f"random_state (paper {x.random_state})")
    args = parser.parse_args(argv)
    models = tuple(dict.fromkeys(["fusion", *args.models]))  # fusion is always the reference row
    xgb = XGBConfig(
        n_estimators=args.xgb_estimators,
        max_depth=args.xgb_depth,
        learning_rate=args.xgb_lr,
        random_state=args.xgb_seed,
    )
    try:
        options = options_from_args(args, models=models, with_xgb=not args.no_xgb, xgb=xgb, fusion_run=args.fusion_run)
    except OptionsError as exc:
        parser.error(str(exc))
    return jobs.cli(jobs.ablations, options)


if __name__ == "__main__":
    main()
