"""The ingestion flags of `experiments.ingest`, `.features` and `.validation`: readers and checks (SPEC §1-§3).

Each flag sets one field of `config.IngestConfig`; its default is the strict
one (see the README's table of ingestion checks).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from restasmr_jax.config import KEY_POLICIES, PPG_LAYOUTS, IngestConfig
from restasmr_jax.io.archive import DEFAULT_CACHE_DIR
from restasmr_jax.runs.options import OptionsError


def add_cache_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE_DIR,
        help="cache folder: parsed Biopac exports, stimulus features, the tensor, the hash memo (default %(default)s)",
    )


def add_ingest_flags(parser: argparse.ArgumentParser) -> None:
    """Reader choices and the flags that relax each protocol check."""
    d = IngestConfig()
    group = parser.add_argument_group("ingestion: readers and checks (README, 'Ingestion checks')")
    group.add_argument(
        "--ppg-channel",
        default=d.ppg_channel,
        help="PPG channel: a column name (CH2) or a substring of exactly one channel's label (e.g. PPG); "
        "default %(default)s, recorded in the manifest",
    )
    group.add_argument(
        "--ppg-layout",
        choices=PPG_LAYOUTS,
        default=d.ppg_layout,
        help="headerless: also read Biopac exports that have no header (first column seconds; the interval "
        "is taken from it); exports with a header are read by it either way (default %(default)s)",
    )
    group.add_argument(
        "--subjects-file",
        type=Path,
        default=None,
        metavar="CSV",
        help="participant IDs by log file name, CSV rows file,subject; overrides the file name, the "
        "Subject column and the log's JSON subject",
    )
    group.add_argument(
        "--keys",
        choices=KEY_POLICIES,
        default=d.keys,
        help="a Response key outside 1-4: clip it to the nearest rating as SPEC §2 does (default, with a "
        "warning), stop with an error, or ignore the press (with a warning)",
    )
    group.add_argument(
        "--timing-tolerance",
        type=float,
        default=d.timing_tolerance_s,
        metavar="S",
        help="seconds two trials may overlap, or a video may be shown shorter than its trial, before it "
        "is an error (overlap) or a warning (shown) (default %(default)s)",
    )
    group.add_argument(
        "--session-tolerance",
        type=float,
        default=d.session_tolerance_s,
        metavar="S",
        help="seconds the PPG recording may differ from the log's session length before a warning "
        "(default %(default)s)",
    )
    group.add_argument(
        "--max-recording-ratio",
        type=float,
        default=d.max_recording_ratio,
        metavar="R",
        help="a recording longer than R x the log's session is an error: its sampling interval is "
        "probably misread (default %(default)s)",
    )
    group.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="keep byte-identical logs, PPG exports or stimuli of different participants/videos "
        "(a warning instead of an error)",
    )


def ingest_config(args: argparse.Namespace) -> IngestConfig:
    """IngestConfig from the flags of `add_ingest_flags`; refuses tolerances that cannot be meant."""
    for flag, value in (
        ("--timing-tolerance", args.timing_tolerance),
        ("--session-tolerance", args.session_tolerance),
    ):
        if not value >= 0:
            raise OptionsError(f"{flag} must be >= 0 seconds, got {value}")
    if not args.max_recording_ratio >= 1:
        raise OptionsError(f"--max-recording-ratio must be >= 1, got {args.max_recording_ratio}")
    return IngestConfig(
        ppg_channel=args.ppg_channel,
        ppg_layout=args.ppg_layout,
        session_tolerance_s=args.session_tolerance,
        max_recording_ratio=args.max_recording_ratio,
        timing_tolerance_s=args.timing_tolerance,
        keys=args.keys,
        allow_duplicates=args.allow_duplicates,
        subjects_file=None if args.subjects_file is None else str(args.subjects_file),
    )
