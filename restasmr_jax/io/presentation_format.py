"""Presentation log files as Neurobehavioral Systems Presentation writes them, for any scenario (SPEC §1.1).

A log is free-text preamble lines (`Scenario - ...`, `Logfile written - ...`),
the event table, and after it, each following blank lines, any of:

- the response summary table (header `Event Type  Code  Type  Response  RT ...`,
  sometimes without rows);
- the `video summary` table (`filename  start frame  end frame  frames presented
  frames dropped  start time  end time  duration`, one row per video played);
- in Presentation >= 20, a JSON block (`{"app": "Presentation Version 20.3 ...",
  "scenario": ..., "subject": ..., "timestamp": ...}`).

The event table's header is the first line naming the columns `Event Type`,
`Code` and `Time` (only these three are required; the header may start with
`Subject`, `Trial` or anything else, repeat names, and carry user-defined
columns anywhere).  Columns are found by name, never by position.  The table
starts after the header (blank lines right after it are skipped) and ends at
its first blank line after the rows: nothing after it is read as an event.
Rows are tab-separated and ragged; a row is refused only when it stops
before the Event Type, Code or Time field.  `Time` is an integer in 0.1-ms
ticks (negative values are kept).  Codes are kept exactly as written (a
single space, a quote, a `;` are codes too).

Nothing here knows the REST-ASMR protocol: which events a study needs, what
its codes mean and whose log it is are decided by `io.presentation`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

_REQUIRED = {"Event Type": "event_type", "Code": "code", "Time": "time"}
_VIDEO_SUMMARY_NUMERIC = (
    "start_frame",
    "end_frame",
    "frames_presented",
    "frames_dropped",
    "start_time",
    "end_time",
    "duration",
)
_SECTION_TITLES = {"video summary", "response summary", "event summary"}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Control bytes that never occur in a text log (tab, LF, CR, FF are fine).
_BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
_MAX_LISTED = 5
_PREAMBLE_LINES = 12  # where a Presentation log's `Scenario - ` line may be


class LogFormatError(ValueError):
    """A log that cannot be read (or, one layer up, does not fit the protocol); names file and line."""


@dataclass(frozen=True)
class EventTable:
    """Everything one Presentation log holds.

    events: one row per event row, in file order: `event_type`, `code` (as
    written), `time` (Int64 ticks), `line` (Int32, 1-based file line), then
    every other named column of the header as Utf8 (snake_case names; a
    repeated name gets `_2`, `_3`).  Sections that are absent are None.
    """

    path: Path
    events: pl.DataFrame
    header_line: int | None
    columns: dict[str, str]  # events column -> header name
    preamble: dict[str, str]  # e.g. {"scenario": ..., "logfile_written": ...}
    response_summary: pl.DataFrame | None = None
    response_summary_line: int | None = None
    video_summary: pl.DataFrame | None = None  # filename, start_frame .. duration (Float64), line
    video_summary_line: int | None = None
    metadata: dict | None = None  # the JSON block
    metadata_line: int | None = None
    encoding: str = "utf-8"
    line_endings: str = "LF"
    notes: list[str] = field(default_factory=list)  # readable oddities, each naming file and line


def decode_log(data: bytes, path: str | os.PathLike) -> tuple[str, str]:
    """(text with '\\n' line ends, encoding used); UTF-8, then cp932, then Latin-1."""
    if not data.strip():
        raise LogFormatError(f"{path}: empty file (expected a Presentation event log)")
    if data.startswith(_UTF16_BOMS):
        return _normalise_newlines(data.decode("utf-16")), "utf-16"
    binary = sum(data.count(bytes([b])) for b in _BINARY_BYTES)
    if binary > max(1, len(data) // 1000):
        raise LogFormatError(f"{path}: binary data ({binary} control bytes in {len(data)}), not a text event log")
    # Presentation on a Japanese Windows machine writes cp932 text; Latin-1 never fails.
    for encoding in ("utf-8", "cp932", "latin-1"):
        try:
            return _normalise_newlines(data.decode(encoding).removeprefix("\ufeff")), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def where(path, lines: list[int]) -> str:
    """'path: line 7' or 'path: lines 7, 9, 12 (+3 more)'."""
    shown = ", ".join(str(n) for n in lines[:_MAX_LISTED])
    more = f" (+{len(lines) - _MAX_LISTED} more)" if len(lines) > _MAX_LISTED else ""
    return f"{path}: line{'s' if len(lines) > 1 else ''} {shown}{more}"


def _names(line: str) -> list[str]:
    return [name.strip() for name in line.split("\t")]


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "column"


def _column_names(names: list[str]) -> list[str | None]:
    """events column for each header field (None for an empty trailing name); repeats get _2, _3."""
    out, used = [], {"line"}
    for name in names:
        if not name:
            out.append(None)
            continue
        base = _REQUIRED.get(name) or _REQUIRED.get(name.title()) or _snake(name)
        column, n = base, 1
        while column in used:
            n += 1
            column = f"{base}_{n}"
        used.add(column)
        out.append(column)
    return out


def _has_required(names: list[str]) -> bool:
    lowered = {name.lower() for name in names}
    return all(name.lower() in lowered for name in _REQUIRED)


def _is_response_summary(names: list[str]) -> bool:
    return _has_required(names) and "rt" in {name.lower() for name in names}


def _is_video_summary(names: list[str]) -> bool:
    lowered = [name.lower() for name in names]
    return bool(lowered) and lowered[0] == "filename" and "frames dropped" in lowered


def _block_end(lines: list[str], start: int) -> int:
    """Index of the first blank line at or after `start` (or len(lines))."""
    return next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))


def _table(path: Path, lines: list[str], header: int, start: int, stop: int) -> tuple[pl.DataFrame, dict[str, str]]:
    """Rows lines[start:stop] under the header lines[header] as Utf8 columns plus `line`."""
    names = _names(lines[header])
    columns = _column_names(names)
    rows = pl.DataFrame({"text": lines[start:stop]}, schema={"text": pl.Utf8}).with_row_index("line", offset=start + 1)
    fields = pl.col("text").str.split("\t")
    selected = [(i, c) for i, c in enumerate(columns) if c is not None]
    frame = rows.select(
        pl.col("line").cast(pl.Int32),
        fields.list.len().alias("_n_fields"),
        *(fields.list.get(i, null_on_oob=True).alias(c) for i, c in selected),
    )
    return frame, {c: names[i] for i, c in selected}


def _event_rows(path: Path, lines: list[str], header: int, start: int, stop: int) -> tuple[pl.DataFrame, dict]:
    frame, columns = _table(path, lines, header, start, stop)
    positions = {c: i for i, c in enumerate(_column_names(_names(lines[header]))) if c is not None}
    needed = max(positions[c] for c in _REQUIRED.values()) + 1
    short = frame.filter(pl.col("_n_fields") < needed)
    if short.height:
        raise LogFormatError(
            f"{where(path, short['line'].to_list())}: truncated row, {short['_n_fields'][0]} of at least "
            f"{needed} tab-separated fields (the header's Event Type, Code and Time must all be present)"
        )
    strip = [pl.col(c).str.strip_chars() for c in frame.columns if c not in ("line", "_n_fields", "code")]
    frame = frame.drop("_n_fields").with_columns(strip)
    bad = frame.filter(pl.col("time").str.to_integer(strict=False).is_null())
    if bad.height:
        raise LogFormatError(
            f"{where(path, bad['line'].to_list())}: Time {bad['time'][0]!r} is not an integer (0.1-ms ticks)"
        )
    frame = frame.with_columns(pl.col("time").str.to_integer().cast(pl.Int64))
    order = ["event_type", "code", "time", "line"]
    return frame.select(*order, *(c for c in frame.columns if c not in order)), columns


def _empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema={"event_type": pl.Utf8, "code": pl.Utf8, "time": pl.Int64, "line": pl.Int32})


def _video_summary(path: Path, lines: list[str], header: int, stop: int, notes: list[str]) -> pl.DataFrame:
    frame = _table(path, lines, header, header + 1, stop)[0].drop("_n_fields")
    frame = frame.with_columns(pl.col(c).str.strip_chars() for c in frame.columns if c != "line")
    for column in _VIDEO_SUMMARY_NUMERIC:
        if column not in frame.columns:
            notes.append(f"{path}: line {header + 1}: video summary has no '{column.replace('_', ' ')}' column")
            frame = frame.with_columns(pl.lit(None, pl.Float64).alias(column))
            continue
        values = pl.col(column).cast(pl.Float64, strict=False)
        bad = frame.filter(values.is_null() & pl.col(column).is_not_null() & (pl.col(column) != ""))
        if bad.height:
            notes.append(
                f"{where(path, bad['line'].to_list())}: video summary {column.replace('_', ' ')} "
                f"{bad[column][0]!r} is not a number (left empty)"
            )
        frame = frame.with_columns(values)
    return frame


def _json_block(path: Path, lines: list[str], start: int, notes: list[str]) -> tuple[dict | None, int]:
    """(the JSON object starting at lines[start], index after it); a broken block is a note."""
    for stop in range(start + 1, len(lines) + 1):
        try:
            value = json.loads("\n".join(lines[start:stop]))
        except ValueError:
            continue
        if isinstance(value, dict):
            return value, stop
        break
    notes.append(f"{path}: line {start + 1}: JSON block that does not parse as one object (ignored)")
    return None, _block_end(lines, start)


def _preamble(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        key, sep, value = line.partition(" - ")
        if sep and key.strip() in ("Scenario", "Logfile written"):
            out[_snake(key)] = value.strip()
    return out


def read_event_table(path: str | os.PathLike) -> EventTable:
    """Read one Presentation log of any scenario; raises `LogFormatError` naming file and line."""
    path = Path(path)
    data = path.read_bytes()
    text, encoding = decode_log(data, path)
    lines = text.split("\n")
    header = next(
        (i for i, line in enumerate(lines) if _has_required(_names(line)) and not _is_response_summary(_names(line))),
        None,
    )
    preamble = _preamble(lines[: header if header is not None else _PREAMBLE_LINES])
    if header is None and "scenario" not in preamble and not _looks_like_json_log(lines):
        first = next((line.strip() for line in lines if line.strip()), "")
        raise LogFormatError(
            f"{path}: not a Presentation log (first line {first[:80]!r}): no 'Scenario - ' line and no "
            "event-table header naming Event Type, Code and Time"
        )
    notes: list[str] = []
    # Without an event table, the summary sections (if any) follow the preamble directly.
    after = next((i for i, line in enumerate(lines) if _is_section_start(_names(line), line)), len(lines))
    events, columns = _empty_events(), {}
    if header is not None:
        start = next((i for i in range(header + 1, len(lines)) if lines[i].strip()), len(lines))
        stop = _block_end(lines, start)
        if start < len(lines) and _is_section_start(_names(lines[start]), lines[start]):
            stop = start  # a header with no events, directly followed by a section
        events, columns = _event_rows(path, lines, header, start, stop)
        after = stop
    found = _sections(path, lines, after, notes)
    return EventTable(
        path=path,
        events=events,
        header_line=header + 1 if header is not None else None,
        columns=columns,
        preamble=preamble,
        encoding=encoding,
        line_endings="CRLF" if b"\r\n" in data else "LF",
        notes=notes,
        **found,
    )


def _looks_like_json_log(lines: list[str]) -> bool:
    return any('"app"' in line and "Presentation" in line for line in lines[:200])


def _is_section_start(names: list[str], line: str) -> bool:
    return _is_response_summary(names) or _is_video_summary(names) or line.strip().startswith("{")


def _sections(path: Path, lines: list[str], index: int, notes: list[str]) -> dict:
    """The summary tables and JSON block after the event table (each may be absent)."""
    found: dict = {}
    while index < len(lines):
        line = lines[index]
        if not line.strip() or line.strip().lower() in _SECTION_TITLES:
            index += 1
            continue
        names = _names(line)
        if _is_response_summary(names) and "response_summary" not in found:
            stop = _block_end(lines, index + 1)
            table, _ = _table(path, lines, index, index + 1, stop)
            found["response_summary"], found["response_summary_line"] = table.drop("_n_fields"), index + 1
        elif _is_video_summary(names) and "video_summary" not in found:
            stop = _block_end(lines, index + 1)
            found["video_summary"] = _video_summary(path, lines, index, stop, notes)
            found["video_summary_line"] = index + 1
        elif line.strip().startswith("{") and "metadata" not in found:
            metadata, stop = _json_block(path, lines, index, notes)
            if metadata is not None:
                found["metadata"], found["metadata_line"] = metadata, index + 1
        else:
            stop = _block_end(lines, index)
            notes.append(
                f"{path}: line {index + 1}: {stop - index} line(s) after the event table that are no known "
                f"section (ignored; first: {line.strip()[:60]!r})"
            )
        index = stop
    return found
