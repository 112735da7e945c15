"""Parse all synthetic PPG exports: Polars reader vs pandas.read_csv, and cached re-load vs first parse (SPEC §1.2).

    python -m bench.ppg_parse [--data-dir DIR] [--files N]

Per file, interleaved so that a busy machine slows every contender alike:
  pandas   `pandas.read_csv(path, sep="\\t", skiprows=<header lines>, header=None)` (body only)
  polars   `parse_biopac(path)`: header, body, time-column check, float32 samples (no cache)
  first    `read_biopac(path, cache_dir=fresh)`: parse + sha256 + write the .npy cache entry
  cached   `read_biopac(path, cache_dir=same)` again: digest memo + .npy load
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from restasmr_jax.archive import resolve_archive
from restasmr_jax.io import biopac


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _header_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    header = biopac._parse_header(path, head, whole_file=False)
    return header.body_line - 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ppg_parse", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="archive folder (default: data/ or the synthetic archive)")
    parser.add_argument("--files", type=int, default=None, help="only the first N PPG files (default: all)")
    args = parser.parse_args(argv)

    import pandas as pd  # benchmark-only dependency

    archive = resolve_archive(args.data_dir)
    files = sorted(archive.ppg_dir.glob("*_csv.txt"))[: args.files]
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    print(f"{len(files)} PPG files, {megabytes:.0f} MB ({archive.source} archive {archive.root})")
    totals = dict.fromkeys(("pandas", "polars", "first", "cached"), 0.0)
    cache = Path(tempfile.mkdtemp(prefix="bench-ppg-cache-"))
    try:
        for path in files:
            skip = _header_lines(path)
            seconds, frame = _timed(lambda: pd.read_csv(path, sep="\t", skiprows=skip, header=None))
            totals["pandas"] += seconds
            seconds, recording = _timed(lambda: biopac.parse_biopac(path))
            totals["polars"] += seconds
            assert frame.shape[0] == recording.samples.shape[0]
            totals["first"] += _timed(lambda: biopac.read_biopac(path, cache_dir=cache))[0]
            totals["cached"] += _timed(lambda: biopac.read_biopac(path, cache_dir=cache))[0]
    finally:
        shutil.rmtree(cache)

    n = len(files)
    print(f"{'':32s}{'total s':>10s}{'per file s':>12s}")
    for name, label in (("pandas", "pandas.read_csv"), ("polars", "Polars reader (parse_biopac)"),
                        ("first", "first read (parse+hash+cache)"), ("cached", "cached re-load")):
        print(f"{label:32s}{totals[name]:10.3f}{totals[name] / n:12.4f}")
    print(f"Polars reader vs pandas.read_csv: {totals['pandas'] / totals['polars']:.1f}x faster (goal >= 5x)")
    print(f"cached re-load vs first read:     {totals['first'] / totals['cached']:.0f}x faster (goal >= 50x)")
    print(f"cached re-load vs Polars parse:   {totals['polars'] / totals['cached']:.0f}x faster")


if __name__ == "__main__":
    main()
