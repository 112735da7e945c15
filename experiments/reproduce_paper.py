"""Table 1 from the authors' published predictions (SPEC §9, §11): `python -m experiments.reproduce_paper`."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from restasmr_jax.config import StatsConfig
from restasmr_jax.evidence.artifact import default_artifact_path
from restasmr_jax.runs import jobs

DESCRIPTION = """\
Loads the authors' serialized test predictions (68 trials, 4 folds) with a restricted unpickler that
admits only numpy arrays and builtin containers, and writes Table 1: 4-fold mean ± SD per metric
(75.51 ± 5.63 accuracy, 71.86 ± 8.86 macro F1, ...), per-fold values, participant-level bootstrap
CIs, sequence-level permutation p-values and Cohen's d; beside each row the condition-prior baseline
("tingle" on every ASMR frame) and the within-ASMR metrics; then the video-level classification
against the stimulus (the paper's truth) and against the participant's reported tingle.

The artifact does not record which trial each participant saw first, so it is scored on all 550
frames per trial, the paper's convention. Outputs: table1.md, table1.json and manifest.json in --out."""


def main(argv: list[str] | None = None) -> Path:
    s = StatsConfig()
    parser = argparse.ArgumentParser(
        prog="python -m experiments.reproduce_paper",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--artifact",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"the authors' paper_fusion_results_4_fold.pkl (default: {default_artifact_path()})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder for table1.md, table1.json and manifest.json (default: a new runs/<UTC time>-reproduce_paper)",
    )
    parser.add_argument(
        "--n-bootstrap",
        type=int,
        default=s.n_bootstrap,
        metavar="N",
        help=f"participant-level bootstrap resamples for the CIs (paper {s.n_bootstrap})",
    )
    parser.add_argument(
        "--n-permutation",
        type=int,
        default=s.n_permutation,
        metavar="N",
        help=f"sequence-level permutations for p-values and Cohen's d (paper {s.n_permutation})",
    )
    parser.add_argument(
        "--seed", type=int, default=s.seed, metavar="S", help=f"seed of the resampling (default {s.seed})"
    )
    args = parser.parse_args(argv)
    if args.n_bootstrap < 1 or args.n_permutation < 1:
        parser.error("--n-bootstrap and --n-permutation must be at least 1")
    cfg = replace(s, n_bootstrap=args.n_bootstrap, n_permutation=args.n_permutation, seed=args.seed)
    return jobs.cli(jobs.reproduce_paper, args.artifact, args.out, cfg)["out_dir"]


if __name__ == "__main__":
    main()
