"""Ingest the raw archive into 10-Hz labels, timeline and PPG tables (SPEC §1-§3).

python -m experiments.ingest [--data-dir DIR] [--out DIR] [--skip-bad]
"""

from __future__ import annotations

import argparse

from restasmr_jax.runs import jobs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.ingest",
        description="Parse every Presentation log and Biopac PPG export of a REST-ASMR archive, "
        "validate them, and write labels.parquet, timeline.parquet, ppg10hz.parquet, report.json and "
        "manifest.json into a run directory. Prints a per-participant summary.",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="archive folder holding log/, ppg/ and stim/ (default: data/ if it holds a real archive, "
        "else the seeded synthetic archive, generated once under data/synthetic/)",
    )
    parser.add_argument("--out", default=None, help="output folder (default: a new runs/<timestamp>-ingest/)")
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="exclude participants whose log or PPG file is bad and record them in report.json and "
        "manifest.json, instead of stopping with a list of every bad file",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    jobs.cli(jobs.ingest, args.data_dir, args.out, skip_bad=args.skip_bad, progress=not args.no_progress)


if __name__ == "__main__":
    main()
