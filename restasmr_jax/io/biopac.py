"""Biopac Student Lab text-export reader with a content-hash cache (SPEC §1.2).

Layout, read from the header rather than assumed:

    001.acq                     title (free text)
    0.5 msec/sample             sampling interval
    2 channels                  N
    <label>\\n<unit>             two lines per channel (labels may be Japanese)
    min  CH1  CH2               column header: time unit, then channel names
    750000  750000              optional per-channel sample-count row
    0  0.0123  -0.0045          numeric rows, often with a trailing tab

The header is decoded as UTF-8, then Shift-JIS (cp932), then Latin-1 (see
`_HEADER_ENCODINGS` for why UTF-8 goes first).  The body goes
through Polars' CSV reader (one pass, no Python loop); only when it fails do
we re-scan the lines to name the first bad one.  The time column is checked
against the header's interval within the precision it was printed with
(exports print ~6 significant digits, so 12.4999 min stands for any
instant within ±5e-5 min).

Cache: `read_biopac(path, cache_dir=...)` keeps the parsed samples in the
verified `storage.ContentCache` (`cache_dir/biopac/`), keyed by the sha256
of the source bytes and of this module's source, so an entry can never be
stale; the source digest goes through the cache folder's hash memo.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from restasmr_jax import storage

_HEAD_BYTES = 1 << 16
_TAIL_BYTES = 1 << 10
_PRECISION_SAMPLE_ROWS = 200
# UTF-8 first although SPEC §1.2 lists Shift-JIS first: UTF-8 Japanese labels often decode
# "successfully" as Shift-JIS into mojibake, while Shift-JIS text is almost never valid UTF-8.
# cp932 is the Windows flavour of Shift-JIS that a Japanese Windows machine writes.
_HEADER_ENCODINGS = ("utf-8", "cp932", "latin-1")
_INTERVAL = re.compile(r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*msec/sample", re.IGNORECASE)
_CHANNELS = re.compile(r"^\s*(\d+)\s+channels?\b", re.IGNORECASE)
_CHANNEL_NAME = re.compile(r"^CH\d+$", re.IGNORECASE)
_TIME_UNITS_MS = {"min": 60_000.0, "sec": 1_000.0, "s": 1_000.0, "msec": 1.0, "millisec": 1.0, "ms": 1.0}


class BiopacFormatError(ValueError):
    """A PPG export that cannot be read as documented; names file and line."""


@dataclass(frozen=True)
class BiopacRecording:
    """One export.  samples: float32 `[sample, channel]` (CH1, CH2, ...; no time column)."""

    path: Path
    interval_ms: float
    labels: list[str]
    units: list[str]
    samples: np.ndarray
    columns: list[str] = field(default_factory=list)  # column-header names, e.g. CH1, CH2
    title: str = ""
    encoding: str = ""

    def channel(self, name: str) -> np.ndarray:
        """`[sample]` of channel `name` (e.g. "CH2"): the column so named, else the n-th channel column."""
        if name in self.columns:
            return self.samples[:, self.columns.index(name)]
        number = int(name.upper().removeprefix("CH"))
        return self.samples[:, number - 1]

    def header(self) -> dict:
        return {
            "interval_ms": self.interval_ms,
            "labels": self.labels,
            "units": self.units,
            "columns": self.columns,
            "title": self.title,
            "encoding": self.encoding,
            "n_samples": int(self.samples.shape[0]),
        }


@dataclass(frozen=True)
class _Header:
    title: str
    interval_ms: float
    labels: list[str]
    units: list[str]
    columns: list[str]
    time_unit_ms: float | None  # None: the export has no time column
    counts: list[int] | None
    encoding: str
    body_line: int  # 1-based line number of the first data row
    n_fields: int  # tab-separated fields per data row, including an empty trailing one
    time_texts: list[str]  # time column of the first rows, as printed


def _decode(raw: bytes) -> tuple[str, str]:
    for encoding in _HEADER_ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def _parse_header(path: Path, head: bytes, whole_file: bool) -> _Header:
    if not head.strip():
        raise BiopacFormatError(f"{path}: empty file (expected a Biopac text export)")
    raw_lines = head.split(b"\n")
    if not whole_file:
        raw_lines = raw_lines[:-1]  # the chunk may end mid-line
    text, encoding = _decode(b"\n".join(raw_lines))
    lines = [line.rstrip("\r") for line in text.split("\n")]

    def line_at(index: int) -> str:
        if index >= len(lines):
            raise BiopacFormatError(f"{path}: line {index + 1}: header ends early (file truncated?)")
        return lines[index]

    interval_at = next((i for i, line in enumerate(lines[:10]) if _INTERVAL.search(line)), None)
    if interval_at is None:
        raise BiopacFormatError(
            f"{path}: lines 1-{min(10, len(lines))}: no '<interval> msec/sample' line in the header"
        )
    interval_ms = float(_INTERVAL.search(lines[interval_at]).group(1))
    if not interval_ms > 0:
        raise BiopacFormatError(f"{path}: line {interval_at + 1}: sampling interval must be positive")
    channels_at = next((i for i in range(interval_at + 1, interval_at + 4) if _CHANNELS.match(line_at(i))), None)
    if channels_at is None:
        raise BiopacFormatError(f"{path}: line {interval_at + 2}: expected '<N> channels' after the interval")
    n = int(_CHANNELS.match(lines[channels_at]).group(1))
    if n < 1:
        raise BiopacFormatError(f"{path}: line {channels_at + 1}: the export has no channels")
    labels = [line_at(channels_at + 1 + 2 * c).strip() for c in range(n)]
    units = [line_at(channels_at + 2 + 2 * c).strip() for c in range(n)]

    columns_at = channels_at + 1 + 2 * n
    names = [name.strip() for name in line_at(columns_at).split("\t")]
    while names and not names[-1]:
        names.pop()
    if len(names) == n + 1:
        unit = names[0].lower()
        if unit not in _TIME_UNITS_MS:
            raise BiopacFormatError(
                f"{path}: line {columns_at + 1}: unknown time unit {names[0]!r} in the column header "
                f"(expected one of {', '.join(sorted(_TIME_UNITS_MS))})"
            )
        time_unit_ms, columns = _TIME_UNITS_MS[unit], names[1:]
    elif len(names) == n and all(_CHANNEL_NAME.match(name) for name in names):
        time_unit_ms, columns = None, names
    else:
        raise BiopacFormatError(
            f"{path}: line {columns_at + 1}: column header has {len(names)} names, expected "
            f"a time column and {n} channel(s) as announced on line {channels_at + 1}"
        )

    counts, body_at = None, columns_at + 1
    first = [f.strip() for f in line_at(body_at).split("\t")]
    filled = [f for f in first if f]
    if (
        len(filled) == n
        and all(f.isdigit() for f in filled)
        and (time_unit_ms is not None or "." in line_at(body_at + 1))
    ):
        counts, body_at = [int(f) for f in filled], body_at + 1

    data_lines = [line for line in lines[body_at : body_at + _PRECISION_SAMPLE_ROWS] if line.strip()]
    if not data_lines:
        raise BiopacFormatError(f"{path}: line {body_at + 1}: no data rows after the header")
    first_row = data_lines[0].split("\t")
    n_cols = n + (time_unit_ms is not None)
    trailing = len(first_row) == n_cols + 1 and not first_row[-1].strip()
    if len(first_row) != n_cols and not trailing:
        raise BiopacFormatError(f"{path}: line {body_at + 1}: {len(first_row)} tab-separated fields, expected {n_cols}")
    time_texts = [line.split("\t")[0].strip() for line in data_lines] if time_unit_ms is not None else []
    return _Header(
        title=lines[0].strip() if interval_at > 0 else "",
        interval_ms=interval_ms,
        labels=labels,
        units=units,
        columns=columns,
        time_unit_ms=time_unit_ms,
        counts=counts,
        encoding=encoding,
        body_line=body_at + 1,
        n_fields=len(first_row),
        time_texts=time_texts,
    )


def _schema(header: _Header) -> dict[str, pl.DataType]:
    schema: dict[str, pl.DataType] = {}
    if header.time_unit_ms is not None:
        schema["time"] = pl.Float64
    schema.update({f"ch{c + 1}": pl.Float32 for c in range(len(header.columns))})
    if header.n_fields > len(schema):
        schema["_trailing"] = pl.String
    return schema


def _locate_bad_row(path: Path, header: _Header, numeric: list[str]) -> str | None:
    """'line L: why' for the first malformed data row (the slow path: only after a failure)."""
    body = path.read_bytes().decode("latin-1").split("\n")[header.body_line - 1 :]
    lines = pl.DataFrame({"raw": body}).with_row_index("line", offset=header.body_line)
    last = lines.filter(pl.col("raw").str.strip_chars() != "")["line"].max()
    fields = pl.col("raw").str.strip_suffix("\r").str.split("\t")
    checked = (
        lines.filter(pl.col("line") <= last)
        .with_columns(fields.alias("fields"))
        .with_columns(
            pl.col("fields").list.len().alias("n"),
            pl.any_horizontal(
                pl.col("fields")
                .list.get(i, null_on_oob=True)
                .str.strip_chars()
                .cast(pl.Float64, strict=False)
                .is_null()
                for i in range(len(numeric))
            ).alias("not_numeric"),
        )
    )
    bad = checked.filter((pl.col("n") != header.n_fields) | pl.col("not_numeric")).head(1)
    if bad.is_empty():
        return None
    line, raw, n = bad.select("line", "raw", "n").row(0)
    shown = raw.strip()[:60]
    if n != header.n_fields:
        return f"line {line}: {n} tab-separated fields, expected {header.n_fields} (truncated row?): {shown!r}"
    return f"line {line}: non-numeric value in a data row: {shown!r}"


def _sig_digits(text: str) -> int:
    mantissa = text.lower().split("e")[0].lstrip("+-")
    return len(mantissa.replace(".", "").lstrip("0")) or 1


def _precision(texts: list[str]) -> tuple[int, int | None]:
    """(significant digits, fixed decimals or None) the time column was printed with."""
    digits = max((_sig_digits(t) for t in texts), default=6)
    fixed = [len(t.split(".")[1]) if "." in t else 0 for t in texts if "e" not in t.lower()]
    return digits, max(fixed) if fixed else None


def _check_time(path: Path, header: _Header, times: np.ndarray) -> None:
    """Row i must print i * interval within half a unit in its last printed place.

    The expected times grow with i, so the allowed error is constant within each
    decade of them: a handful of contiguous row ranges, each checked with one
    vectorised comparison.  (Rounding a value to P significant digits moves it by
    at most half a unit of P digits at the value's own decade, also when it rounds
    up to the next power of ten.)
    """
    step = header.interval_ms / header.time_unit_ms
    # One scratch buffer, updated in place: the column has ~1.5 million rows per file.
    expected = np.arange(times.size, dtype=np.float64)
    expected *= step
    error = np.subtract(times, expected)
    np.abs(error, out=error)
    digits, decimals = _precision(header.time_texts)
    floor = 0.0 if decimals is None else 0.5 * 10.0**-decimals
    bottom = math.floor(math.log10(step))
    top = math.floor(math.log10(expected[-1])) if times.size > 1 else bottom
    edges = np.searchsorted(expected, [10.0**d for d in range(bottom + 1, top + 1)]).tolist()
    for decade, start, stop in zip(range(bottom, top + 1), [0, *edges], [*edges, times.size]):
        allowed = max(0.5 * 10.0 ** (decade - digits + 1), floor) * (1 + 1e-9) + 1e-15 * 10.0**decade
        off = np.flatnonzero(error[start:stop] > allowed)
        if off.size:
            row = start + int(off[0])
            raise BiopacFormatError(
                f"{path}: line {header.body_line + row}: time column reads {times[row]:.6g} but "
                f"{header.interval_ms:g} msec/sample implies {expected[row]:.6g} for sample {row}; "
                "the header's interval disagrees with the time column beyond its printed precision"
            )


def _check_last_row(path: Path, header: _Header, n_rows: int) -> None:
    """A trailing-tab export whose final row lacks its tab was cut mid-row."""
    with open(path, "rb") as fh:
        fh.seek(max(0, fh.seek(0, os.SEEK_END) - _TAIL_BYTES))
        tail = fh.read()
    last = tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].rstrip(b"\r")
    n_fields = len(last.split(b"\t"))
    if n_fields != header.n_fields:
        raise BiopacFormatError(
            f"{path}: line {header.body_line + n_rows - 1}: file ends mid-row "
            f"({n_fields} of {header.n_fields} fields): truncated export"
        )


def _read_body(path: Path, header: _Header, schema: dict[str, pl.DataType], numeric: list[str]) -> pl.DataFrame:
    """The numeric columns of the data rows, in one Polars CSV pass (raises Polars' own errors)."""
    return pl.read_csv(
        path,
        has_header=False,
        separator="\t",
        quote_char=None,
        skip_lines=header.body_line - 1,
        schema=schema,
        columns=list(range(len(numeric))),
        raise_if_empty=False,
    )


def parse_biopac(path: str | os.PathLike) -> BiopacRecording:
    """Parse one export (no cache).  Raises `BiopacFormatError` naming file and line."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(_HEAD_BYTES + 1)
    header = _parse_header(path, head[:_HEAD_BYTES], whole_file=len(head) <= _HEAD_BYTES)
    schema = _schema(header)
    numeric = [name for name in schema if name != "_trailing"]
    try:
        frame = _read_body(path, header, schema, numeric)
    except pl.exceptions.PolarsError as exc:
        where = _locate_bad_row(path, header, numeric)
        raise BiopacFormatError(f"{path}: {where or f'unreadable data rows ({str(exc).splitlines()[0]})'}") from None

    incomplete = frame.select(pl.any_horizontal(pl.col(numeric).is_null()))
    if incomplete.to_series().any():
        complete = frame.select(pl.all_horizontal(pl.col(numeric).is_null()).not_().alias("ok"))["ok"]
        last_row = complete.arg_true().max()
        frame = frame.head(0 if last_row is None else last_row + 1)  # trailing blank lines are harmless
        if frame.select(pl.any_horizontal(pl.col(numeric).is_null())).to_series().any():
            where = _locate_bad_row(path, header, numeric)
            raise BiopacFormatError(f"{path}: {where or 'a data row has empty fields'}")
    if frame.is_empty():
        raise BiopacFormatError(f"{path}: line {header.body_line}: no data rows after the header")
    if header.n_fields > len(numeric):
        _check_last_row(path, header, frame.height)
    if header.counts is not None and any(count != frame.height for count in header.counts):
        raise BiopacFormatError(
            f"{path}: line {header.body_line - 1}: sample-count row says {header.counts} samples but "
            f"{frame.height} data rows follow (file truncated, or channels of unequal length)"
        )
    if header.time_unit_ms is not None:
        _check_time(path, header, frame["time"].to_numpy())
    channels = [f"ch{c + 1}" for c in range(len(header.columns))]
    return BiopacRecording(
        path=path,
        interval_ms=header.interval_ms,
        labels=header.labels,
        units=header.units,
        samples=frame.select(channels).to_numpy(),
        columns=header.columns,
        title=header.title,
        encoding=header.encoding,
    )


def read_biopac(
    path: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None, sha256: str | None = None
) -> BiopacRecording:
    """Parse an export, or load it from the verified cache `cache_dir/biopac/` when parsed before.

    `sha256`: the file's digest when the caller already holds it (the run's
    input hashes), so a cold run hashes each export once.
    """
    path = Path(path)
    if cache_dir is None:
        return parse_biopac(path)
    cache = storage.ContentCache(cache_dir, "biopac")
    if sha256 is None:
        sha256 = storage.memoised_sha256([path], cache.memo_path)[path]
    # Keyed by the source bytes and by this reader's own code: editing the parser re-parses.
    key = storage.sha256_json({"source_sha256": sha256, "reader": storage.code_digest([Path(__file__)])})
    entry = cache.load(path.stem, key)
    if entry is not None:
        header = {k: v for k, v in entry.meta.items() if k not in ("n_samples", "source")}
        return BiopacRecording(path=path, samples=entry.arrays["samples"], **header)
    recording = parse_biopac(path)
    cache.store(path.stem, key, {"samples": recording.samples}, {**recording.header(), "source": path.name})
    return recording
