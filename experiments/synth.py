"""Write a seeded synthetic REST-ASMR archive in the real raw formats (SPEC §12).

python -m experiments.synth --out DIR [--subjects N] [--seed S]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from restasmr_jax.config import SUBJECT_IDS, SynthConfig
from restasmr_jax.io.archive import SYNTH_MARKER, ensure_synthetic


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
    out: Path = args.out
    if out.exists() and not (out / SYNTH_MARKER).exists() and any(out.iterdir()):
        sys.exit(f"error: {out} exists and is not a synthetic archive; choose a new folder")
    started = time.perf_counter()
    archive = ensure_synthetic(out, cfg, progress=not args.no_progress)
    existing = {k: v for k, v in (archive.synth or {}).items() if k in dataclasses.asdict(cfg)}
    if existing != {k: v if not isinstance(v, tuple) else list(v) for k, v in dataclasses.asdict(cfg).items()}:
        sys.exit(f"error: {out} already holds a synthetic archive with other settings {existing}; choose a new folder")
    files = archive.input_files()
    size = sum(f.stat().st_size for f in files)
    print(
        f"synthetic archive at {out}: {len(files)} files, {size / 1e9:.2f} GB, "
        f"seed {cfg.seed}, {cfg.n_subjects} participants ({time.perf_counter() - started:.1f} s)"
    )


if __name__ == "__main__":
    main()
