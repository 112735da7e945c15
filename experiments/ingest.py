"""Ingest the raw archive into 10-Hz labels, timeline and PPG tables (SPEC §1-§3).

python -m experiments.ingest [--data-dir DIR] [--out DIR] [--cache-dir DIR] [--skip-bad] [ingestion flags]
"""

from __future__ import annotations

import argparse

from restasmr_jax.runs import archive_jobs, jobs
from restasmr_jax.runs.ingest_options import add_cache_flag, add_ingest_flags, ingest_config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.ingest",
        description="Parse every Presentation log and Biopac PPG export of a REST-ASMR archive, "
        "validate them, check them against the protocol, and write labels.parquet, timeline.parquet, "
        "ppg10hz.parquet, report.json and manifest.json into a new run directory. Prints a per-participant "
        "summary and every warning. Needs only log/ and ppg/ (the stimuli are not read).",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="archive folder holding log/ and ppg/ (default: data/ if it holds a real archive, else the "
        "seeded synthetic archive, generated once under data/synthetic/; an explicit folder never falls "
        "back to synthetic data)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="output folder, new or empty (default: a new runs/<timestamp>-ingest/); a folder holding "
        "files is refused, so two runs never mix",
    )
    add_cache_flag(parser)
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="exclude participants whose log or PPG file is bad and record them in report.json and "
        "manifest.json, instead of stopping with a list of every bad file",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_ingest_flags(parser)
    args = parser.parse_args(argv)
    jobs.cli(
        lambda: archive_jobs.ingest(
            args.data_dir,
            args.out,
            skip_bad=args.skip_bad,
            progress=not args.no_progress,
            cache_dir=args.cache_dir,
            checks=ingest_config(args),
        )
    )


if __name__ == "__main__":
    main()
