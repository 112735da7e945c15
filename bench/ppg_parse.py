"""Parse all synthetic PPG exports: Polars reader vs pandas.read_csv, and cached re-load vs first parse (SPEC §1.2).

    python -m bench.ppg_parse [--data-dir DIR] [--files N] [--reloads K]

Phase 1, per file, interleaved so that a busy machine slows every contender alike:
  pandas, authors' call  `pandas.read_csv(path, sep="\\t", skiprows=8, encoding="shift_jis",
                         on_bad_lines="skip")`, then the rows whose time is numeric, as float: how the
                         authors' PPG loader reads these files (the job the Polars reader replaces)
  pandas, bare           `pandas.read_csv(path, sep="\\t", skiprows=<header lines>, header=None)`:
                         the fastest pandas call (body only, default encoding, no checks)
  Polars reader          `parse_biopac(path)`: header, body, every field checked numeric,
                         time-column check, float32 samples (no cache)
  pl.read_csv alone      the Polars call inside the reader, without the header parse and checks:
                         the ceiling for any reader that SPEC §1.2 asks to build on Polars
  read bytes             `open(path, "rb").read()`: the floor any text parser pays
  first read             `read_biopac(path, cache_dir=fresh)`: parse + sha256 + write the verified entry
Phase 2, like a later run: `read_biopac(path, cache_dir=same)` for every file (the memo vouches for
the source and the entry: a `stat` each, then the .npz load), K passes; the median pass is reported.
Phase 3, what verification costs when the memo cannot vouch (a fresh clone's cache, a touched file):
the same re-load with the memo deleted before each pass, so every source and entry is re-hashed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from restasmr_jax import storage
from restasmr_jax.io import biopac
from restasmr_jax.io.biopac_header import parse_header
from restasmr_jax.runs.data import resolve_archive


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def _header_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    return parse_header(path, head, whole_file=False).body_line - 1


def _pandas_authors_call(path: Path):
    """The authors' way: try encodings in turn, column header on line 9, count row filtered out."""
    import pandas as pd

    for encoding in ("shift_jis", "utf-8", "latin-1"):
        try:
            frame = pd.read_csv(path, sep="\t", skiprows=8, encoding=encoding, on_bad_lines="skip")
            break
        except UnicodeDecodeError:
            continue
    frame = frame.iloc[:, [0, 1, 2]]
    frame = frame[pd.to_numeric(frame.iloc[:, 0], errors="coerce").notnull()]
    return frame.astype(float)


def _polars_body(path: Path):
    """The reader's own Polars call on the body, without its checks."""
    with open(path, "rb") as fh:
        header = parse_header(path, fh.read(1 << 16), whole_file=False)
    schema = biopac._schema(header)
    return biopac._read_body(path, header, schema, [name for name in schema if name != "_trailing"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ppg_parse", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="archive folder (default: data/ or the synthetic archive)")
    parser.add_argument("--files", type=int, default=None, help="only the first N PPG files (default: all)")
    parser.add_argument("--reloads", type=int, default=3, help="passes of the cached re-load (median reported)")
    args = parser.parse_args(argv)

    import pandas as pd  # benchmark-only dependency

    archive = resolve_archive(args.data_dir)
    files = sorted(archive.ppg_dir.glob("*_csv.txt"))[: args.files]
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    load = os.getloadavg()[0]
    print(
        f"{len(files)} PPG files, {megabytes:.0f} MB ({archive.source} archive {archive.root}); "
        f"{os.cpu_count()} CPUs, load average {load:.1f}"
    )
    totals = dict.fromkeys(("authors", "bare", "polars", "pl_read_csv", "bytes", "first"), 0.0)
    cache = Path(tempfile.mkdtemp(prefix="bench-ppg-cache-"))
    try:
        for path in files:
            skip = _header_lines(path)
            seconds, authors = _timed(_pandas_authors_call, path)
            totals["authors"] += seconds
            seconds, bare = _timed(pd.read_csv, path, sep="\t", skiprows=skip, header=None)
            totals["bare"] += seconds
            seconds, recording = _timed(biopac.parse_biopac, path)
            totals["polars"] += seconds
            # skiprows=8 takes the first data row as the column header in exports without a count row
            assert bare.shape[0] == recording.samples.shape[0], path
            assert abs(authors.shape[0] - recording.samples.shape[0]) <= 1, path
            totals["pl_read_csv"] += _timed(_polars_body, path)[0]
            totals["bytes"] += _timed(path.read_bytes)[0]
            totals["first"] += _timed(biopac.read_biopac, path, cache_dir=cache)[0]
        # A later run comes later: digests taken within the racy window of a write are re-checked by design.
        time.sleep(storage._RACY_NS / 1e9)
        totals["cached"] = _reload(files, cache, args.reloads, forget_memo=False)
        totals["cold_memo"] = _reload(files, cache, args.reloads, forget_memo=True)
    finally:
        shutil.rmtree(cache)

    n = len(files)
    rows = (
        ("authors", "pandas.read_csv, authors' call"),
        ("bare", "pandas.read_csv, bare"),
        ("polars", "Polars reader (parse_biopac)"),
        ("pl_read_csv", "pl.read_csv alone (no checks)"),
        ("bytes", "read the bytes only"),
        ("first", "first read (parse+hash+cache)"),
        ("cached", "cached re-load (later run)"),
        ("cold_memo", "re-load, every digest re-checked"),
    )
    print(f"{'':34s}{'total s':>10s}{'per file s':>12s}")
    for name, label in rows:
        print(f"{label:34s}{totals[name]:10.3f}{totals[name] / n:12.4f}")
    print(f"Polars reader vs pandas, authors' call: {totals['authors'] / totals['polars']:5.1f}x faster (goal >= 5x)")
    print(
        f"Polars reader vs pandas, bare call:     {totals['bare'] / totals['polars']:5.1f}x faster "
        f"(reading the bytes alone is {totals['bare'] / totals['bytes']:.1f}x faster than this pandas call)"
    )
    print(
        f"pl.read_csv alone vs pandas, bare call: {totals['bare'] / totals['pl_read_csv']:5.1f}x faster "
        "(the ceiling for a reader built on Polars' CSV parser)"
    )
    print(f"cached re-load vs first read:           {totals['first'] / totals['cached']:5.0f}x faster (goal >= 50x)")
    print(f"cached re-load vs Polars parse:         {totals['polars'] / totals['cached']:5.0f}x faster")
    print(
        f"verification without the memo:          {totals['cold_memo'] / n:.4f} s per file "
        f"({totals['first'] / totals['cold_memo']:.1f}x faster than a first read); with it "
        f"{totals['cached'] / n:.4f} s per file"
    )


def _reload(files: list[Path], cache: Path, passes: int, *, forget_memo: bool) -> float:
    """Median seconds of `passes` re-loads of every file from `cache`, each as a new process would start."""
    times = []
    for _ in range(max(1, passes)):
        storage._MEMOS.clear()  # a later run reads the memo file from disk
        if forget_memo:
            (cache / storage.MEMO_NAME).unlink(missing_ok=True)
        start = time.perf_counter()
        for path in files:
            biopac.read_biopac(path, cache_dir=cache)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


if __name__ == "__main__":
    main()
