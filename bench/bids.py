"""The full BIDS export vs the 3-minute goal, gzip levels side by side, and the round trip (SPEC §1-§3; BIDS 1.11).

    python -m bench.bids [--data-dir DIR] [--levels 1,3,6,9] [--no-roundtrip]

Prints, in one run: the cold export (an empty parse cache, so all 1.4 GB of Biopac
text is parsed and hashed) and the warm one (cache filled, as after any other
command) at the chosen gzip level, each next to the 180-s goal; the size and time
of one participant's physio file at each gzip level (the same samples, one core);
and, unless `--no-roundtrip`, whether ingesting the BIDS copy gives labels and PPG
identical to ingesting the raw archive.  The default archive is the one every
command uses (`runs.data.resolve_archive`: data/ if real, else the synthetic one).
The machine's load average is printed because the 2 cores are shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from polars.testing import assert_frame_equal

from restasmr_jax.bids.export import export_bids
from restasmr_jax.bids.physio import GZIP_LEVEL, gzip_bytes, physio_text
from restasmr_jax.ingest.tables import TABLES, ingest_archive
from restasmr_jax.io.archive import open_archive
from restasmr_jax.runs.data import resolve_archive

GOAL_SECONDS = 180.0


def _timed(fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _verdict(wall: float) -> str:
    if wall < GOAL_SECONDS:
        return f"{GOAL_SECONDS / wall:.2f}x under the {GOAL_SECONDS:.0f}-s goal"
    return f"{wall / GOAL_SECONDS:.2f}x OVER the {GOAL_SECONDS:.0f}-s goal"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bids", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="archive to export (default: the one every command uses)")
    parser.add_argument("--levels", default="1,3,6,9", help="gzip levels to compare on one participant")
    parser.add_argument("--no-roundtrip", action="store_true", help="skip re-ingesting the copy")
    args = parser.parse_args(argv)
    archive = resolve_archive(args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="bench-bids-"))
    try:
        text_bytes = sum(p.stat().st_size for p in archive.ppg_files())
        print(
            f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f} (cores shared with other work)\n"
            f"{archive.source} archive {archive.root}: {len(archive.log_files())} logs, "
            f"{text_bytes / 1e9:.2f} GB of PPG text"
        )
        cache = work / "cache"
        export, cold, cold_cpu = _timed(export_bids, archive, work / "cold", cache_dir=cache, progress=True)
        _, warm, warm_cpu = _timed(export_bids, archive, work / "warm", cache_dir=cache, progress=True)
        size = export.size_bytes()
        print(
            f"\nfull export, {len(export.participants)} participants, gzip level {GZIP_LEVEL}, {size / 1e6:.0f} MB:"
            f"\n  cold (empty parse cache)  {cold:7.1f} s wall ({cold_cpu:.1f} s CPU, main thread) -> {_verdict(cold)}"
            f"\n  warm (parse cache filled) {warm:7.1f} s wall ({warm_cpu:.1f} s CPU, main thread) -> {_verdict(warm)}"
        )

        subject = export.with_physio[0]
        recording = archive.read_recording(archive.ppg_file(subject), cache_dir=cache)
        text, format_wall, _ = _timed(physio_text, recording)
        print(
            f"\none participant's physio ({len(text) / 1e6:.1f} MB of text, formatted in {format_wall:.2f} s), "
            "compressed on one core:"
        )
        for level in (int(x) for x in args.levels.split(",")):
            data, wall, _ = _timed(gzip_bytes, text, level)
            chosen = "  <- chosen" if level == GZIP_LEVEL else ""
            print(f"  level {level}: {wall:6.2f} s, {len(data) / 1e6:6.2f} MB ({len(data) / len(text):.1%}){chosen}")

        if not args.no_roundtrip:
            raw, raw_wall, _ = _timed(ingest_archive, archive, cache_dir=cache, progress=False)
            copy, copy_wall, _ = _timed(ingest_archive, open_archive(export.root), cache_dir=cache, progress=False)
            for name in TABLES:
                assert_frame_equal(getattr(copy, name), getattr(raw, name))
            print(
                f"\nround trip: ingesting the BIDS copy ({copy_wall:.1f} s) gives labels ({raw.labels.height} rows), "
                f"timeline and PPG ({raw.ppg10hz.height} rows) identical to the raw archive's ({raw_wall:.1f} s cached)"
            )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
