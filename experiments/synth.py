"""Write a seeded synthetic REST-ASMR archive in the real raw formats (SPEC §12).

python -m experiments.synth --out DIR [--subjects N] [--seed S]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from restasmr_jax.config import SUBJECT_IDS, SynthConfig
from restasmr_jax.runs import archive_jobs, jobs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.synth",
        description="Generate the synthetic stand-in for the REST-ASMR Zenodo archive: Presentation logs "
        "(log/), 2000-Hz Biopac PPG text exports (ppg/) and 8 AVI stimuli with audio (stim/), "
        "byte-for-byte determined by the seed. A SYNTHETIC.json marker is written last; an existing "
        "complete archive with the same settings is reused, not regenerated.",
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="folder to create (must not exist, or be an archive this command wrote)"
    )
    parser.add_argument(
        "--subjects",
        type=int,
        default=len(SUBJECT_IDS),
        help=f"number of participants, the first N of 001, 003..035 (1-{len(SUBJECT_IDS)}, default {len(SUBJECT_IDS)})",
    )
    parser.add_argument(
        "--seed", type=int, default=SynthConfig().seed, help="non-negative generator seed (default %(default)s)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)

    if not 1 <= args.subjects <= len(SUBJECT_IDS):
        parser.error(f"--subjects must be in 1..{len(SUBJECT_IDS)}, got {args.subjects}")
    if args.seed < 0:
        parser.error(f"--seed must be non-negative, got {args.seed}")
    cfg = SynthConfig(seed=args.seed, n_subjects=args.subjects)
    jobs.cli(archive_jobs.synth, args.out, cfg, progress=not args.no_progress)


if __name__ == "__main__":
    main()
