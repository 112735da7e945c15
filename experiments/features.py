"""Build (or load) the 272-trial model tensor and report it (SPEC §4, §5).

python -m experiments.features [--data-dir DIR] [--video-weights auto|imagenet|random:SEED|PATH]
                               [--export-parquet PATH [--include-video]] [--missing-ppg error|exclude]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from restasmr_jax.runs import archive_jobs, jobs
from restasmr_jax.runs.ingest_options import add_cache_flag, add_ingest_flags, ingest_config


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.features",
        description="Decode the stimuli, extract ResNet-18 + librosa features (cached per stimulus), fuse them "
        "with the 10-Hz PPG and dense labels into the [trial, 550, 544] tensor (cached), and print "
        "shapes, class balance per condition, padding and the data source.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="archive folder with log/, ppg/, stim/ (default: data/ if it holds the real archive, "
        "else the synthetic archive generated under data/synthetic/)",
    )
    parser.add_argument(
        "--video-weights",
        default="auto",
        help="ResNet-18 weights: auto (imagenet for a real archive, random:0 for a synthetic one), "
        "imagenet (torchvision IMAGENET1K_V1 from the torch hub cache; no download), "
        "random:SEED (seeded random init, recorded as such), or PATH to a state-dict file",
    )
    parser.add_argument(
        "--export-parquet",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the tidy long-format Parquet (one row per participant x video x "
        "100-ms step: ids, t, intensity, label, ppg, audio features)",
    )
    parser.add_argument(
        "--include-video",
        action="store_true",
        help="with --export-parquet: add the 512 ResNet columns video_000..video_511",
    )
    parser.add_argument(
        "--missing-ppg",
        choices=("error", "exclude"),
        default="error",
        help="a trial with labels but no PPG: stop with an error (default) or drop the trial "
        "and list it in the provenance",
    )
    add_cache_flag(parser)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for ResNet-18 inference (default: all CPU cores; on a machine "
        "shared with other jobs, 1 avoids thread oversubscription)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_ingest_flags(parser)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    return jobs.cli(
        lambda: archive_jobs.features(
            args.data_dir,
            video_weights=args.video_weights,
            export_parquet=args.export_parquet,
            include_video=args.include_video,
            cache_dir=args.cache_dir,
            missing_ppg=args.missing_ppg,
            num_threads=args.threads,
            progress=not args.no_progress,
            checks=ingest_config(args),
        )
    )


if __name__ == "__main__":
    main()
