"""The header of a Biopac Student Lab text export, read from what it says rather than assumed (SPEC §1.2).

    001.acq   (or a path)                       title, free text
    Recording on: 2025-02-21 11:05:38.634       optional, any language, anywhere before the column header
    0.5 msec/sample [<TAB>Sample rate =<TAB>2000Hz]   interval: leading number and unit; a printed rate must agree
    2 channels                                   N
    <label>\\n<unit>                              two lines per channel (labels may hold commas, Japanese text)
    min  CH1  CH2                                column header: a time unit (min, sec, ms/milliSec) or none,
                                                 then channel names (any numbers: CH0.., CH1-3, CH28-35, ...)
    750000  750000                               optional per-channel sample counts (may start empty, may differ)
    0  0.0123  -0.0045                           numeric rows, often with a trailing delimiter

The delimiter (tab or comma) is sniffed from the column-header line; a tab
export whose numbers use a decimal comma (and `0,5 msec/sample`) is read as
such.  A file whose first line is numbers has no header: it is read only
when the caller asks for `layout="headerless"` (first column seconds, the
interval taken from it later).  UTF-16 text and binary files are refused by
what they are.  Text is decoded as UTF-8, then cp932 (Shift-JIS), then
Latin-1 (see `_ENCODINGS` for why UTF-8 goes first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

PRECISION_SAMPLE_ROWS = 200
_HEADER_SEARCH = 12  # lines in which the next header line must appear
# UTF-8 first although SPEC §1.2 lists Shift-JIS first: UTF-8 Japanese labels often decode
# "successfully" as Shift-JIS into mojibake, while Shift-JIS text is almost never valid UTF-8.
# cp932 is the Windows flavour of Shift-JIS that a Japanese Windows machine writes.
_ENCODINGS = ("utf-8", "cp932", "latin-1")
_NUMBER = r"[-+]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)(?:[eE][-+]?[0-9]+)?"
_INTERVAL = re.compile(rf"^\s*({_NUMBER})\s*(msec|millisec|ms|µsec|usec|sec|s)\s*/\s*sample", re.IGNORECASE)
_INTERVAL_UNIT_MS = {"msec": 1.0, "millisec": 1.0, "ms": 1.0, "µsec": 1e-3, "usec": 1e-3, "sec": 1e3, "s": 1e3}
_RATE = re.compile(rf"sample\s*rate\s*[=:]?\s*({_NUMBER})\s*(k?hz)?", re.IGNORECASE)
_CHANNELS = re.compile(r"^\s*(\d+)\s+channels?\b", re.IGNORECASE)
_CHANNEL_NAME = re.compile(r"^CH\d+$", re.IGNORECASE)
_RECORDED = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}[ T]+\d{1,2}:\d{2}")
_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+(?:[eE][-+]?\d+)?$")
TIME_UNITS_MS = {"min": 60_000.0, "sec": 1_000.0, "s": 1_000.0, "msec": 1.0, "millisec": 1.0, "ms": 1.0}
RATE_TOLERANCE = 1e-3  # relative: a printed rate is rounded, a wrong one is off by a factor


class BiopacFormatError(ValueError):
    """A PPG export that cannot be read as documented; names file and line."""


@dataclass(frozen=True)
class BiopacHeader:
    title: str
    interval_ms: float | None  # None: header-less, taken from the time column
    labels: list[str]
    units: list[str]
    columns: list[str]  # channel names, e.g. CH1, CH2
    time_unit: str | None  # as printed (min, sec, ms, ...); None: no time column
    counts: list[int | None] | None  # per-channel sample counts when the export has that row
    encoding: str
    delimiter: str
    decimal_comma: bool
    body_line: int  # 1-based line of the first data row
    n_fields: int  # fields per data row, including an empty trailing one
    time_texts: list[str]  # the time column of the first rows, as printed
    sample_rate_hz: float | None = None
    recording_on: str | None = None
    headerless: bool = False
    # Without a time column: the first row, all integers, may be the count row (see `settle_count_row`).
    count_candidate: list[int | None] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def time_unit_ms(self) -> float | None:
        return None if self.time_unit is None else TIME_UNITS_MS[self.time_unit.lower()]


def _check_text(path: Path, head: bytes) -> None:
    sample = head[:4096]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")) or (
        len(sample) >= 8 and max(sample[0::2].count(0), sample[1::2].count(0)) > 0.8 * (len(sample) // 2)
    ):
        raise BiopacFormatError(
            f"{path}: UTF-16 text (byte-order mark or NUL bytes); Biopac Student Lab writes ASCII/ANSI "
            "text exports: export again as text, or convert it (e.g. iconv -f UTF-16 -t UTF-8)"
        )
    control = sum(sample.count(bytes([b])) for b in range(32) if b not in (9, 10, 12, 13))
    if control > max(2, len(sample) // 100):
        raise BiopacFormatError(
            f"{path}: binary data ({control} control bytes in the first {len(sample)}), not a text export "
            "(an .acq recording? save it as text in Biopac Student Lab)"
        )


def decode(raw: bytes) -> tuple[str, str]:
    for encoding in _ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def number(text: str) -> float:
    """A printed number, with a decimal comma read as a point."""
    return float(text.replace(",", "."))


def split_fields(line: str, delimiter: str) -> list[str]:
    return [f.strip() for f in line.split(delimiter)]


def _sniff(line: str) -> str:
    return "\t" if "\t" in line else ","


def is_number(text: str) -> bool:
    """A printed number (decimal point or comma, exponent) or NaN/inf."""
    return bool(re.fullmatch(_NUMBER, text)) or text.lower() in ("nan", "inf", "-inf", "+inf")


def _trimmed(fields: list[str]) -> list[str]:
    while fields and not fields[-1]:
        fields = fields[:-1]
    return fields


def _column_header(line: str) -> tuple[str, list[str]] | None:
    """(delimiter, names) when `line` is the column header: an optional time unit, then CH names."""
    delimiter = _sniff(line)
    names = _trimmed(split_fields(line, delimiter))
    if not names or not all(_CHANNEL_NAME.match(n) for n in names[1:]):
        return None
    if names[0].lower() in TIME_UNITS_MS or _CHANNEL_NAME.match(names[0]):
        return delimiter, names
    return None


def _interval(path: Path, lines: list[str], stop: int) -> tuple[int, float]:
    """(line index, interval in ms) of the interval line among lines[:stop]."""
    at = next((i for i in range(stop) if _INTERVAL.match(lines[i])), None)
    if at is None:
        raise BiopacFormatError(f"{path}: lines 1-{max(stop, 1)}: no '<interval> msec/sample' line in the header")
    value, unit = _INTERVAL.match(lines[at]).groups()
    interval_ms = number(value) * _INTERVAL_UNIT_MS[unit.lower()]
    if not interval_ms > 0:
        raise BiopacFormatError(f"{path}: line {at + 1}: sampling interval must be positive, got {value} {unit}")
    return at, interval_ms


def _sample_rate(path: Path, lines: list[str], interval_at: int, interval_ms: float) -> float | None:
    """The printed sample rate (Hz) when the header has one; it must agree with the interval."""
    found = next(((i, m) for i, m in enumerate(_RATE.search(line) for line in lines) if m), None)
    if found is None:
        return None
    at, match = found
    rate_hz = number(match.group(1)) * (1000.0 if (match.group(2) or "").lower() == "khz" else 1.0)
    implied = 1000.0 / interval_ms
    if not abs(rate_hz - implied) <= RATE_TOLERANCE * implied:
        raise BiopacFormatError(
            f"{path}: line {at + 1}: a sample rate of {rate_hz:g} Hz disagrees with the interval on line "
            f"{interval_at + 1} ({interval_ms:g} msec/sample = {implied:g} Hz)"
        )
    return rate_hz


def _count_row(fields: list[str], n: int, has_time: bool) -> tuple[list[int | None] | None, bool]:
    """(per-channel sample counts, settled?) for the row after the column header.

    With a time column the count row is told by its fields (one fewer, or an
    empty time field).  Without one it looks like a row of integer samples:
    it is a candidate, settled by the reader once it knows how many rows follow.
    """
    filled = [f for f in fields if f]
    if not filled or not all(f.isdigit() for f in filled):
        return None, True
    trimmed = _trimmed(fields)
    if has_time and trimmed and not trimmed[0]:
        values = trimmed[1:]  # under an empty time field
    elif len(trimmed) == n:
        values = trimmed
    else:
        return None, True
    if len(values) > n:
        return None, True
    return [int(v) if v else None for v in values] + [None] * (n - len(values)), has_time


def _body(path: Path, lines: list[str], at: int, delimiter: str, n_cols: int) -> tuple[int, list[str], bool]:
    """(fields per data row, the sampled data lines, decimal comma?) checked on the first data row."""
    data_lines = [line for line in lines[at : at + PRECISION_SAMPLE_ROWS] if line.strip()]
    if not data_lines:
        raise BiopacFormatError(f"{path}: line {at + 1}: no data rows after the header")
    first_row = data_lines[0].split(delimiter)
    trailing = len(first_row) == n_cols + 1 and not first_row[-1].strip()
    if len(first_row) != n_cols and not trailing:
        name = "tab-separated" if delimiter == "\t" else "comma-separated"
        raise BiopacFormatError(f"{path}: line {at + 1}: {len(first_row)} {name} fields, expected {n_cols}")
    decimal_comma = delimiter != "," and any(_DECIMAL_COMMA.match(f.strip()) for f in first_row)
    return len(first_row), data_lines, decimal_comma


def _headerless(path: Path, lines: list[str], encoding: str, layout: str) -> BiopacHeader:
    first_at = next(i for i, line in enumerate(lines) if line.strip())
    if layout != "headerless":
        raise BiopacFormatError(
            f"{path}: line {first_at + 1}: no header (the file starts with numbers: "
            f"{lines[first_at].strip()[:40]!r}); a Biopac export starts with its title, interval and channel "
            "lines. A header-less export is read only with --ppg-layout headerless (first column seconds, "
            "the sampling interval taken from it)"
        )
    delimiter = _sniff(lines[first_at])
    n_cols = len(_trimmed(split_fields(lines[first_at], delimiter)))
    if n_cols < 2:
        raise BiopacFormatError(f"{path}: line {first_at + 1}: a header-less export needs a time column and a channel")
    n_fields, data_lines, decimal_comma = _body(path, lines, first_at, delimiter, n_cols)
    n = n_cols - 1
    return BiopacHeader(
        title="",
        interval_ms=None,
        labels=[""] * n,
        units=[""] * n,
        columns=[f"CH{c + 1}" for c in range(n)],
        time_unit="sec",
        counts=None,
        encoding=encoding,
        delimiter=delimiter,
        decimal_comma=decimal_comma,
        body_line=first_at + 1,
        n_fields=n_fields,
        time_texts=[line.split(delimiter)[0].strip() for line in data_lines],
        headerless=True,
    )


def parse_header(path: Path, head: bytes, *, whole_file: bool, layout: str = "header") -> BiopacHeader:
    """The header of the export whose first bytes are `head`; raises `BiopacFormatError` naming file and line."""
    if not head.strip():
        raise BiopacFormatError(f"{path}: empty file (expected a Biopac text export)")
    _check_text(path, head)
    raw_lines = head.split(b"\n")
    if not whole_file:
        raw_lines = raw_lines[:-1]  # the chunk may end mid-line
    text, encoding = decode(b"\n".join(raw_lines))
    lines = [line.rstrip("\r") for line in text.split("\n")]
    first = next((line for line in lines if line.strip()), "")
    if all(is_number(f) for f in _trimmed(split_fields(first, _sniff(first)))):
        return _headerless(path, lines, encoding, layout)

    interval_at, interval_ms = _interval(path, lines, min(len(lines), _HEADER_SEARCH))
    channels_at = next(
        (i for i in range(interval_at, min(len(lines), interval_at + _HEADER_SEARCH)) if _CHANNELS.match(lines[i])),
        None,
    )
    if channels_at is None:
        raise BiopacFormatError(f"{path}: line {interval_at + 2}: expected '<N> channels' after the interval")
    n = int(_CHANNELS.match(lines[channels_at]).group(1))
    if n < 1:
        raise BiopacFormatError(f"{path}: line {channels_at + 1}: the export has no channels")
    earliest = channels_at + 1 + 2 * n  # labels and units come first, so a label named CH1 is no column header
    columns_at = next(
        (i for i in range(earliest, min(len(lines), earliest + _HEADER_SEARCH)) if _column_header(lines[i])), None
    )
    if columns_at is None:
        raise BiopacFormatError(
            f"{path}: line {min(earliest, len(lines)) + 1}: no column-header line after the {n} channel "
            "label/unit pairs (a time unit such as min, then channel names CH1, CH2, ...)"
        )
    delimiter, names = _column_header(lines[columns_at])
    rate_hz = _sample_rate(path, lines[:columns_at], interval_at, interval_ms)
    has_time = names[0].lower() in TIME_UNITS_MS
    channel_names = names[1:] if has_time else names
    if len(channel_names) != n:
        raise BiopacFormatError(
            f"{path}: line {columns_at + 1}: column header has {len(names)} names, expected "
            f"a time column and {n} channel(s) as announced on line {channels_at + 1}"
        )
    recorded = [i for i in range(columns_at) if i != interval_at and _RECORDED.search(lines[i])]
    described = [i for i in range(channels_at + 1, columns_at) if i not in recorded]
    if len(described) != 2 * n:
        raise BiopacFormatError(
            f"{path}: lines {channels_at + 2}-{columns_at}: expected {n} label/unit line pair(s) between "
            f"the channel count and the column header, found {len(described)} line(s)"
        )
    labels = [lines[i].strip() for i in described[0::2]]
    units = [lines[i].strip() for i in described[1::2]]

    body_at, counts, settled = columns_at + 1, None, True
    if body_at < len(lines):
        counts, settled = _count_row(split_fields(lines[body_at], delimiter), n, has_time)
        body_at += counts is not None and settled
    n_fields, data_lines, decimal_comma = _body(path, lines, body_at, delimiter, n + has_time)
    title_at = 0 if interval_at > 0 and 0 not in recorded else None
    return BiopacHeader(
        title=lines[title_at].strip() if title_at is not None else "",
        interval_ms=interval_ms,
        labels=labels,
        units=units,
        columns=channel_names,
        time_unit=names[0] if has_time else None,
        counts=counts if settled else None,
        count_candidate=None if settled else counts,
        encoding=encoding,
        delimiter=delimiter,
        decimal_comma=decimal_comma,
        body_line=body_at + 1,
        n_fields=n_fields,
        time_texts=[line.split(delimiter)[0].strip() for line in data_lines] if has_time else [],
        sample_rate_hz=rate_hz,
        recording_on=lines[recorded[0]].strip() if recorded else None,
    )


def settle_count_row(header: BiopacHeader, n_rows: int) -> BiopacHeader:
    """The header once the body's `n_rows` (the candidate row included) are known.

    The candidate is the count row when every count reaches the rows after it
    (equal, or more: a truncated export): a sample row of integers that large
    would be a recording of millions of units.  Otherwise it is the first sample.
    """
    candidate = header.count_candidate
    if candidate is None:
        return header
    if all(c is None or c >= n_rows - 1 for c in candidate) and any(c is not None for c in candidate):
        return replace(header, counts=candidate, count_candidate=None, body_line=header.body_line + 1)
    return replace(header, count_candidate=None)
