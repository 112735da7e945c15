"""Biopac Student Lab text-export reader with a content-hash cache (SPEC §1.2).

The header (`io.biopac_header`) says how to read the body: delimiter, time
column or none, channel names, optional sample counts.  The body goes through
Polars' CSV reader in one pass (no Python loop); only when something is wrong
are the lines re-scanned to name the first bad one.  Then:

- the time column is checked against the interval within one unit of its last
  printed digit, measured from what is printed at the start and the end of the
  file (fixed decimals, or significant digits as `%g` prints them), so exports
  that print 4 decimals of minutes or truncate instead of rounding pass, and a
  wrong interval does not; a header-less export takes its interval from it;
- channels of unequal length (the shorter ones end with empty fields) are
  padded with NaN, never zeros, and reported; a sample-count row announcing
  more samples than are present is truncation, an error;
- non-finite samples (`NaN`, `inf`) are counted per channel with the line of
  the first; the caller decides whether they fall where they matter.

Cache: `read_biopac(path, cache_dir=...)` keeps the parsed samples in the
verified `storage.ContentCache` (`cache_dir/biopac/`), keyed by the sha256 of
the source bytes, the layout asked for and this reader's source, so an entry
can never be stale; the source digest goes through the cache folder's hash memo.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from restasmr_jax import storage
from restasmr_jax.io import biopac_header
from restasmr_jax.io.biopac_header import BiopacFormatError, BiopacHeader, parse_header, settle_count_row

__all__ = ["BiopacFormatError", "BiopacRecording", "parse_biopac", "read_biopac"]

_HEAD_BYTES = 1 << 16
_TAIL_BYTES = 1 << 12


@dataclass(frozen=True)
class BiopacRecording:
    """One export.  samples: float32 `[sample, channel]` (no time column); NaN after a short channel's end."""

    path: Path
    interval_ms: float
    labels: list[str]
    units: list[str]
    samples: np.ndarray
    columns: list[str] = field(default_factory=list)  # column-header names, e.g. CH1, CH2
    title: str = ""
    encoding: str = ""
    delimiter: str = "\t"
    time_unit: str | None = None
    lengths: list[int] = field(default_factory=list)  # [channel] samples before any NaN padding
    first_line: int = 0  # file line of sample 0
    recording_on: str | None = None
    sample_rate_hz: float | None = None
    notes: list[str] = field(default_factory=list)  # readable oddities, each naming file and line

    def channel_index(self, name: str) -> int:
        """Column of channel `name`: a column-header name (CH2), else the one channel whose label contains it."""
        by_name = [i for i, column in enumerate(self.columns) if column.lower() == name.lower()]
        if by_name:
            return by_name[0]
        by_label = [i for i, label in enumerate(self.labels) if name.lower() in label.lower()]
        if len(by_label) == 1:
            return by_label[0]
        listed = ", ".join(f"{c} ({label!r})" for c, label in zip(self.columns, self.labels))
        what = "no channel is named or labelled" if not by_label else f"{len(by_label)} channel labels contain"
        raise BiopacFormatError(f"{self.path}: {what} {name!r}; the export has {listed}")

    def channel(self, name: str) -> np.ndarray:
        """`[sample]` of channel `name` (see `channel_index`)."""
        return self.samples[:, self.channel_index(name)]

    def header(self) -> dict:
        return {
            "interval_ms": self.interval_ms,
            "labels": self.labels,
            "units": self.units,
            "columns": self.columns,
            "title": self.title,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "time_unit": self.time_unit,
            "lengths": self.lengths,
            "first_line": self.first_line,
            "recording_on": self.recording_on,
            "sample_rate_hz": self.sample_rate_hz,
            "notes": self.notes,
            "n_samples": int(self.samples.shape[0]),
        }


def _schema(header: BiopacHeader) -> dict[str, pl.DataType]:
    schema: dict[str, pl.DataType] = {}
    if header.time_unit is not None:
        schema["time"] = pl.Float64
    schema.update({f"ch{c + 1}": pl.Float32 for c in range(len(header.columns))})
    if header.n_fields > len(schema):
        schema["_trailing"] = pl.String
    return schema


def _read_body(path: Path, header: BiopacHeader, schema: dict[str, pl.DataType], numeric: list[str]) -> pl.DataFrame:
    """The numeric columns of the data rows, in one Polars CSV pass (raises Polars' own errors)."""
    return pl.read_csv(
        path,
        has_header=False,
        separator=header.delimiter,
        quote_char=None,
        skip_lines=header.body_line - 1,
        schema=schema,
        columns=list(range(len(numeric))),
        decimal_comma=header.decimal_comma,
        raise_if_empty=False,
    )


def _locate_bad_row(path: Path, header: BiopacHeader, n_numeric: int) -> str | None:
    """'line L: why' for the first row with the wrong number of fields or a non-numeric value (slow path)."""
    body = path.read_bytes().decode("latin-1").split("\n")[header.body_line - 1 :]
    lines = pl.DataFrame({"raw": body}).with_row_index("line", offset=header.body_line)
    last = lines.filter(pl.col("raw").str.strip_chars() != "")["line"].max()
    fields = pl.col("raw").str.strip_suffix("\r").str.split(header.delimiter)
    value = pl.col("fields").list.get
    text = [value(i, null_on_oob=True).str.strip_chars() for i in range(n_numeric)]
    if header.decimal_comma:
        text = [t.str.replace(",", ".", literal=True) for t in text]
    checked = (
        lines.filter(pl.col("line") <= last)
        .with_columns(fields.alias("fields"))
        .with_columns(
            pl.col("fields").list.len().alias("n"),
            pl.any_horizontal((t != "") & t.cast(pl.Float64, strict=False).is_null() for t in text).alias("bad"),
        )
    )
    bad = checked.filter((pl.col("n") != header.n_fields) | pl.col("bad")).head(1)
    if bad.is_empty():
        return None
    line, raw, n = bad.select("line", "raw", "n").row(0)
    shown = raw.strip()[:60]
    kind = "tab-separated" if header.delimiter == "\t" else "comma-separated"
    if n != header.n_fields:
        return f"line {line}: {n} {kind} fields, expected {header.n_fields} (truncated row?): {shown!r}"
    return f"line {line}: non-numeric value in a data row: {shown!r}"


def _tail_lines(path: Path) -> list[str]:
    """The complete lines at the end of the file (at most a few kB), without line ends."""
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - _TAIL_BYTES))
        tail = fh.read()
    lines = tail.decode("latin-1").split("\n")
    if size > _TAIL_BYTES:
        lines = lines[1:]  # the chunk may start mid-line
    return [line.rstrip("\r") for line in lines if line.strip()]


def _check_last_row(path: Path, header: BiopacHeader, tail: list[str], n_rows: int) -> None:
    """A final row with fewer fields than the others was cut mid-row."""
    n_fields = len(tail[-1].split(header.delimiter)) if tail else 0
    if n_fields != header.n_fields:
        raise BiopacFormatError(
            f"{path}: line {header.body_line + n_rows - 1}: file ends mid-row "
            f"({n_fields} of {header.n_fields} fields): truncated export"
        )


def _sig_digits(text: str) -> int:
    mantissa = text.lower().split("e")[0].lstrip("+-")
    return len(mantissa.replace(".", "").lstrip("0")) or 1


def printed_precision(texts: list[str]) -> tuple[str, int]:
    """('fixed', decimals) or ('significant', digits): how the time column was printed.

    Fixed: every sampled value has the same number of decimals and no exponent.
    Otherwise `%g`-like: the most significant digits any sampled value shows.
    """
    texts = [t.replace(",", ".") for t in texts if t]
    decimals = {len(t.split(".")[1]) if "." in t else 0 for t in texts}
    if texts and len(decimals) == 1 and not any("e" in t.lower() for t in texts):
        return "fixed", decimals.pop()
    return "significant", max((_sig_digits(t) for t in texts), default=6)


def _check_time(path: Path, header: BiopacHeader, times: np.ndarray, interval_ms: float, texts: list[str]) -> None:
    """Row i must print i * interval within one unit of its last printed digit.

    For `%g`-like printing that unit grows with the value's decade, so the
    allowed error is constant within each decade: a handful of contiguous row
    ranges, each checked with one vectorised comparison.  One unit (not half)
    admits truncation as well as rounding, also when a value rounds up to the
    next power of ten.
    """
    step = interval_ms / header.time_unit_ms
    # One scratch buffer, updated in place: the column has ~1.5 million rows per file.
    expected = np.arange(times.size, dtype=np.float64)
    expected *= step
    error = np.subtract(times, expected)
    np.abs(error, out=error)
    kind, digits = printed_precision(texts)
    bottom = math.floor(math.log10(step))
    top = math.floor(math.log10(expected[-1])) if times.size > 1 else bottom
    edges = np.searchsorted(expected, [10.0**d for d in range(bottom + 1, top + 1)]).tolist()
    for decade, start, stop in zip(range(bottom, top + 1), [0, *edges], [*edges, times.size]):
        unit = 10.0**-digits if kind == "fixed" else 10.0 ** (decade - digits + 1)
        allowed = unit * (1 + 1e-9) + 1e-15 * 10.0**decade
        off = np.flatnonzero(~(error[start:stop] <= allowed))
        if off.size:
            row = start + int(off[0])
            raise BiopacFormatError(
                f"{path}: line {header.body_line + row}: time column reads {times[row]:.6g} but "
                f"{interval_ms:g} msec/sample implies {expected[row]:.6g} for sample {row}; "
                "the interval disagrees with the time column beyond its printed precision"
            )


def _interval_from_time(path: Path, header: BiopacHeader, times: np.ndarray) -> float:
    """A header-less export's interval (ms) from its first column (seconds); a whole rate in Hz is kept exact."""
    if times.size < 2 or not times[-1] > times[0]:
        raise BiopacFormatError(f"{path}: line {header.body_line}: too few rows to tell the sampling interval")
    step_ms = (times[-1] - times[0]) / (times.size - 1) * 1000.0
    rate = 1000.0 / step_ms
    return 1000.0 / round(rate) if abs(rate - round(rate)) <= 1e-6 * rate else float(f"{step_ms:.9g}")


def _channel_lengths(path: Path, header: BiopacHeader, frame: pl.DataFrame, numeric: list[str]) -> list[int]:
    """[channel] rows before its trailing empty fields; an empty field before a channel's last value is an error."""
    channels = [c for c in numeric if c != "time"]
    stats = frame.select(
        *(pl.col(c).is_not_null().sum().alias(f"{c}_n") for c in channels),
        *(pl.col(c).is_null().arg_max().alias(f"{c}_first_null") for c in channels),
    ).row(0, named=True)
    lengths = []
    for name, c in zip(header.columns, channels):
        n, first_null = stats[f"{c}_n"], stats[f"{c}_first_null"]
        if n < frame.height and first_null != n:
            gap = f"line {header.body_line + first_null}: empty {name} field before that channel's last value"
            raise BiopacFormatError(f"{path}: {_locate_bad_row(path, header, len(numeric)) or gap}")
        lengths.append(int(n))
    return lengths


def _count_notes(path: Path, header: BiopacHeader, lengths: list[int], rows: int) -> list[str]:
    notes = []
    if header.counts is not None:
        announced = [count if count is not None else length for count, length in zip(header.counts, lengths)]
        if any(count > length for count, length in zip(announced, lengths)):
            raise BiopacFormatError(
                f"{path}: line {header.body_line - 1}: sample-count row says {announced} samples but "
                f"{rows} data rows follow (channel lengths {lengths}): truncated export"
            )
        if announced != lengths:
            notes.append(
                f"{path}: line {header.body_line - 1}: sample-count row says {announced} samples, the channels "
                f"hold {lengths} (all rows read)"
            )
    short = [(name, n) for name, n in zip(header.columns, lengths) if n < rows]
    if short:
        listed = ", ".join(f"{name} {n}" for name, n in short)
        notes.append(f"{path}: channels of unequal length ({listed} of {rows} samples), padded with NaN")
    return notes


def _finite_notes(path: Path, header: BiopacHeader, samples: np.ndarray, lengths: list[int]) -> list[str]:
    notes = []
    for c, (name, n) in enumerate(zip(header.columns, lengths)):
        bad = np.flatnonzero(~np.isfinite(samples[:n, c]))
        if bad.size:
            notes.append(
                f"{path}: line {header.body_line + int(bad[0])}: {name} holds {bad.size} non-finite sample(s) "
                "(NaN or inf)"
            )
    return notes


def parse_biopac(path: str | os.PathLike, *, layout: str = "header") -> BiopacRecording:
    """Parse one export (no cache).  Raises `BiopacFormatError` naming file and line.

    `layout="headerless"` also reads an export without a header (first column
    seconds); exports with a header are read by it either way.
    """
    path = Path(path)
    if not path.is_file():
        raise BiopacFormatError(f"{path}: not a file (expected a Biopac text export)")
    with open(path, "rb") as fh:
        head = fh.read(_HEAD_BYTES + 1)
    header = parse_header(path, head[:_HEAD_BYTES], whole_file=len(head) <= _HEAD_BYTES, layout=layout)
    schema = _schema(header)
    numeric = [name for name in schema if name != "_trailing"]
    channels = [name for name in numeric if name != "time"]
    try:
        frame = _read_body(path, header, schema, numeric)
    except pl.exceptions.PolarsError as exc:
        where = _locate_bad_row(path, header, len(numeric))
        raise BiopacFormatError(f"{path}: {where or f'unreadable data rows ({str(exc).splitlines()[0]})'}") from None

    filled = frame.select(pl.any_horizontal(pl.col(numeric).is_not_null()).alias("ok"))["ok"]
    last_row = filled.arg_true().max()
    frame = frame.head(0 if last_row is None else last_row + 1)  # trailing blank lines are harmless
    if frame.is_empty():
        raise BiopacFormatError(f"{path}: line {header.body_line}: no data rows after the header")
    settled = settle_count_row(header, frame.height)
    if settled.counts is not None and header.count_candidate is not None:
        frame = frame.slice(1)
    header = settled
    tail = _tail_lines(path)[-frame.height :]  # data rows only, also when the file is shorter than the tail
    _check_last_row(path, header, tail, frame.height)
    if "time" in numeric and frame["time"].null_count():
        where = _locate_bad_row(path, header, len(numeric))
        gap = frame["time"].is_null().arg_max()
        raise BiopacFormatError(f"{path}: {where or f'line {header.body_line + gap}: empty time field'}")
    lengths = _channel_lengths(path, header, frame, numeric)
    notes = list(header.notes) + _count_notes(path, header, lengths, frame.height)
    interval_ms = header.interval_ms
    if "time" in numeric:
        times = frame["time"].to_numpy()
        if interval_ms is None:
            interval_ms = _interval_from_time(path, header, times)
        texts = header.time_texts + [line.split(header.delimiter)[0].strip() for line in tail]
        _check_time(path, header, times, interval_ms, texts)
    samples = frame.select(pl.col(channels).fill_null(float("nan"))).to_numpy()
    notes += _finite_notes(path, header, samples, lengths)
    return BiopacRecording(
        path=path,
        interval_ms=interval_ms,
        labels=header.labels,
        units=header.units,
        samples=samples,
        columns=header.columns,
        title=header.title,
        encoding=header.encoding,
        delimiter=header.delimiter,
        time_unit=header.time_unit,
        lengths=lengths,
        first_line=header.body_line,
        recording_on=header.recording_on,
        sample_rate_hz=header.sample_rate_hz,
        notes=notes,
    )


def read_biopac(
    path: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    sha256: str | None = None,
    layout: str = "header",
) -> BiopacRecording:
    """Parse an export, or load it from the verified cache `cache_dir/biopac/` when parsed before.

    `sha256`: the file's digest when the caller already holds it (the run's
    input hashes), so a cold run hashes each export once.
    """
    path = Path(path)
    if cache_dir is None:
        return parse_biopac(path, layout=layout)
    if not path.is_file():
        raise BiopacFormatError(f"{path}: not a file (expected a Biopac text export)")
    cache = storage.ContentCache(cache_dir, "biopac")
    if sha256 is None:
        sha256 = storage.memoised_sha256([path], cache.memo_path)[path]
    # Keyed by the source bytes and by this reader's own code: editing the parser re-parses.
    identity = {"source_sha256": sha256, "reader": storage.code_digest([Path(__file__), Path(biopac_header.__file__)])}
    if layout != "header":
        identity["layout"] = layout
    key = storage.sha256_json(identity)
    entry = cache.load(path.stem, key)
    if entry is not None and isinstance(entry.arrays.get("samples"), np.ndarray):
        header = {k: v for k, v in entry.meta.items() if k not in ("n_samples", "source")}
        try:
            return BiopacRecording(path=path, samples=entry.arrays["samples"], **header)
        except TypeError:  # written by another version of this class: rebuild
            pass
    recording = parse_biopac(path, **({"layout": layout} if layout != "header" else {}))
    cache.store(path.stem, key, {"samples": recording.samples}, {**recording.header(), "source": path.name})
    return recording
