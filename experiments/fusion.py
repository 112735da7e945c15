"""The main job (SPEC §6-§9): `python -m experiments.fusion` runs the whole pipeline end to end."""

from __future__ import annotations

import argparse
from pathlib import Path

from restasmr_jax.runs import jobs
from restasmr_jax.runs.options import OptionsError, add_run_flags, options_from_args

DESCRIPTION = """\
Raw archive -> ingestion -> features -> the 2-layer BiLSTM fusion model trained on all four
double-independent CV folds in one program -> test predictions -> Table 1 (4-fold mean ± SD,
subject-level bootstrap CI, sequence-level permutation p, Cohen's d) beside the condition-prior
baseline and within-ASMR metrics, the video-level table and the tinglegram figure.

With no arguments it uses data/ if the real REST-ASMR archive is there, otherwise the seeded
synthetic archive (generated once into data/synthetic/, every output labelled "synthetic").
Writes a new folder runs/<UTC time>-fusion/ (see restasmr_jax.runs.pipeline for its contents) and
prints a summary. Every paper constant has a flag; left out, it keeps the paper's value.

Several JAX processes (e.g. two on one machine, or one per GPU host): start the same command once
per process with --coordinator HOST:PORT --num-processes N --process-id K (or under SLURM with
`srun`, which sets them); the seed x fold replicas are sharded over every process's devices and
process 0 alone writes the run folder. README "Running on a GPU" has the details."""


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.fusion",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_flags(parser)
    args = parser.parse_args(argv)
    try:
        options = options_from_args(args)
    except OptionsError as exc:
        parser.error(str(exc))
    return jobs.cli(jobs.fusion, options)


if __name__ == "__main__":
    main()
