"""Write the archive as a BIDS 1.11 dataset: physio, events, participants, stimuli, derivatives (SPEC §1-§3).

python -m experiments.bids --out DIR [--data-dir DIR] [--stimuli copy|link|none] [--no-progress]
"""

from __future__ import annotations

import argparse

from restasmr_jax.bids.export import STIMULI_MODES
from restasmr_jax.bids.physio import GZIP_LEVEL
from restasmr_jax.runs import archive_jobs, jobs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.bids",
        description="Write a BIDS 1.11 copy of a REST-ASMR archive: per participant sub-XXX/beh/ with the events "
        "(one row per video and per rating change) and the Biopac PPG as physio (gzip TSV + JSON sidecar with the "
        "header's sampling rate), participants.tsv, dataset_description.json, README, CHANGES, the stimuli, and "
        "derivatives/restasmr-jax/ with the 10-Hz labels and PPG. Every log and export is validated first, as by "
        "experiments.ingest. The copy is written into a hidden folder beside DIR and renamed onto it when "
        "complete; the input archive is never modified. Every command's --data-dir reads such a folder back.",
    )
    parser.add_argument("--out", required=True, help="new (or empty) folder for the BIDS dataset")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="archive folder holding log/, ppg/ and stim/, or a BIDS copy (default: data/ if it holds a real "
        "archive, else the seeded synthetic archive, generated once under data/synthetic/)",
    )
    parser.add_argument(
        "--stimuli",
        choices=STIMULI_MODES,
        default=None,
        help="the 8 clips in stimuli/: copy the files, link to the archive's (symbolic links), or none. Default: "
        "copy for the synthetic archive, link for a real one, because the real clips may be redistributed only as "
        "the archive's licence allows; features read a BIDS copy's clips from stimuli/, so none makes it "
        "labels-and-PPG only",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace DIR if it holds an earlier export of this command"
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out participants whose log or PPG file is bad (listed in the README) instead of stopping",
    )
    parser.add_argument(
        "--license",
        default=None,
        help="License field of dataset_description.json (default: CC0-1.0 for the synthetic archive; for a real "
        "archive none is written unless given: use the Zenodo record's licence)",
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="run the official BIDS validator (bids-validator-deno, in the dev extra) on the result; exit 1 on errors",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.epilog = f"Physio files are gzip level {GZIP_LEVEL}; python -m bench.bids times the full export."
    args = parser.parse_args(argv)
    jobs.cli(
        archive_jobs.bids,
        args.out,
        args.data_dir,
        stimuli=args.stimuli,
        overwrite=args.overwrite,
        skip_bad=args.skip_bad,
        license=args.license,
        validate=args.validate,
        progress=not args.no_progress,
    )


if __name__ == "__main__":
    main()
