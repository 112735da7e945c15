"""Technical validation report and the paper's figures (SPEC §10): `python -m experiments.validation`."""

from __future__ import annotations

import argparse
from pathlib import Path

from restasmr_jax.runs import archive_jobs, jobs
from restasmr_jax.runs.ingest_options import add_cache_flag, add_ingest_flags, ingest_config


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.validation",
        description="Behavioural efficacy, leave-one-out inter-subject agreement, PPG integrity and pulse rate "
        "vs rating (SPEC §10); writes validation.md/.json, per-window CSVs and Figs. 1, 3, 4 (and 6 "
        "with --predictions) as PNG+SVG, and prints the report.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="raw archive folder with log/, ppg/, stim/ (default: data/ if it holds the real "
        "archive, else the seeded synthetic archive in data/synthetic/, generated on first use)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder to write the report into, new or empty (default: a new runs/<UTC time>-validation folder)",
    )
    parser.add_argument(
        "--predictions",
        type=Path,
        default=None,
        metavar="PATH",
        help="predictions for the Fig. 6 tinglegram: a fusion run folder (its predictions/seed0.pkl), "
        "a predictions .pkl, or the authors' paper_fusion_results_4_fold.pkl; "
        "without it Fig. 6 is skipped",
    )
    parser.add_argument(
        "--tinglegram-subject",
        type=int,
        default=None,
        help="participant drawn in Fig. 6 (default 27 as in the paper when present, else the "
        "participant whose predicted probability tracks the reported tingle best)",
    )
    add_cache_flag(parser)
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="exclude participants with unreadable files (listed in the report) instead of stopping",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_ingest_flags(parser)
    args = parser.parse_args(argv)
    return jobs.cli(
        lambda: archive_jobs.validation(
            args.data_dir,
            args.out,
            args.predictions,
            progress=not args.no_progress,
            cache_dir=args.cache_dir,
            skip_bad=args.skip_bad,
            tinglegram_subject=args.tinglegram_subject,
            checks=ingest_config(args),
        )
    )


if __name__ == "__main__":
    main()
