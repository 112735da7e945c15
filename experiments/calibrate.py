"""Check the synthetic stand-in against the published statistics (SPEC §10, §12): `python -m experiments.calibrate`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from restasmr_jax.io.archive import DEFAULT_CACHE_DIR
from restasmr_jax.runs import archive_jobs, jobs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.calibrate",
        description="Compute the published statistics (responders, durations, inter-subject agreement, tingle "
        "fraction, crowd agreement, pulse rate vs rating, PPG integrity) on an archive with the project's own "
        "analyses and print target, tolerance and value for each; exits 1 when any is outside its tolerance.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="archive folder with log/, ppg/, stim/ (default: data/ if it holds the real archive, else the "
        "seeded synthetic archive in data/synthetic/, generated on first use)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="parsed-PPG cache (default data/cache)"
    )
    parser.add_argument(
        "--spread",
        type=int,
        default=0,
        metavar="N",
        help="also print each statistic's mean and SD over N generated cohorts (seeds 0..N-1; ~15 s each): "
        "the evidence behind the tolerances",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.spread < 0:
        parser.error(f"--spread must be >= 0, got {args.spread}")
    rows = jobs.cli(
        archive_jobs.calibrate,
        args.data_dir,
        cache_dir=args.cache_dir,
        progress=not args.no_progress,
        spread_seeds=args.spread,
    )
    sys.exit(0 if all(row.passed for row in rows) else 1)


if __name__ == "__main__":
    main()
