"""Presentation event-log reader: raw `.log` text to a tidy event frame (SPEC §1.1, §2).

A log is free-text preamble lines, then the event table (header line starting
with `Subject`), then optionally, after a blank line, a second summary table
whose header starts with `Event Type`; the second table is never read as
events.  Rows are tab-separated and ragged (a `Response` row has fewer
columns than a `Video` row); the header repeats `Uncertainty`, so columns are
located by the first occurrence of each name we use and nothing else.

Decisions (SPEC §2 leaves them to us):
- the participant ID comes from the file name (`<ID>-<Condition>-...log`),
  falling back to a single numeric value in the `Subject` column;
- a `Response` whose Code is not an integer is dropped from the events and
  counted in the report (the authors' code turned it into a 0 rating);
- the Video events must be exactly `ProtocolConfig.n_trials` distinct known
  codes, else the whole log is rejected: a trial cannot be guessed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from restasmr_jax.config import VIDEO_CODES, ProtocolConfig

EVENT_SCHEMA = {
    "subject": pl.Int32,
    "trial": pl.Int32,
    "event_type": pl.Utf8,
    "code": pl.Utf8,
    "time_ticks": pl.Int64,
    "line": pl.Int32,
}
# Header name -> events column; the table must have all of them.
_COLUMNS = {"Trial": "trial", "Event Type": "event_type", "Code": "code", "Time": "time_ticks"}
_SUBJECT_FROM_NAME = re.compile(r"^(\d+)-")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Control bytes that never occur in a text log (tab, LF, CR, FF are fine).
_BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
_MAX_LISTED = 5


class LogFormatError(ValueError):
    """A log that cannot be read as a REST-ASMR event table; names file and line."""


@dataclass(frozen=True)
class LogParse:
    """events: one row per event row of the table, schema `EVENT_SCHEMA`, file order."""

    events: pl.DataFrame
    report: dict


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


def subject_from_filename(path: str | os.PathLike) -> int | None:
    """001-1-20240115-ab12.log -> 1; None when the name does not follow the archive's pattern."""
    match = _SUBJECT_FROM_NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def _first_field() -> pl.Expr:
    return pl.col("text").str.split("\t").list.first().str.strip_chars()


def _field(index: int) -> pl.Expr:
    return pl.col("fields").list.get(index, null_on_oob=True).str.strip_chars()


def _where(path, lines: pl.Series) -> str:
    shown = ", ".join(str(n) for n in lines.head(_MAX_LISTED).to_list())
    more = f" (+{lines.len() - _MAX_LISTED} more)" if lines.len() > _MAX_LISTED else ""
    return f"{path}: line{'s' if lines.len() > 1 else ''} {shown}{more}"


def _header_positions(path, header_text: str, header_line: int) -> dict[str, int]:
    names = [name.strip() for name in header_text.split("\t")]
    missing = [name for name in _COLUMNS if name not in names]
    if missing:
        raise LogFormatError(
            f"{path}: line {header_line}: event-table header lacks column(s) {', '.join(missing)} "
            f"(expected Subject, Trial, Event Type, Code, Time, ...)"
        )
    return {"Subject": 0, **{name: names.index(name) for name in _COLUMNS}}


def read_log(path: str | os.PathLike, cfg: ProtocolConfig = ProtocolConfig()) -> LogParse:
    """Parse one Presentation log; raise `LogFormatError` naming file and line on bad input."""
    path = Path(path)
    data = path.read_bytes()
    text, encoding = decode_log(data, path)
    lines = pl.DataFrame({"text": text.split("\n")}).with_row_index("line", offset=1)

    headers = lines.filter(_first_field() == "Subject")
    if headers.is_empty():
        raise LogFormatError(f"{path}: no event table (no line starting with 'Subject' among {lines.height} lines)")
    header_line, header_text = headers.row(0)[0], headers.row(0)[1]
    positions = _header_positions(path, header_text, header_line)

    after = lines.filter(pl.col("line") > header_line)
    second = after.filter(_first_field() == "Event Type")
    second_line = second["line"][0] if second.height else None
    table = after.filter(
        (pl.col("line") < second_line) if second_line is not None else pl.lit(True),
        pl.col("text").str.strip_chars() != "",
    ).with_columns(pl.col("text").str.split("\t").alias("fields"))

    needed = max(positions.values()) + 1
    truncated = table.filter(pl.col("fields").list.len() < needed)
    if truncated.height:
        raise LogFormatError(
            f"{_where(path, truncated['line'])}: truncated row, {truncated['fields'][0].len()} of "
            f"at least {needed} tab-separated fields (Subject ... Time)"
        )

    rows = table.select(
        pl.col("line").cast(pl.Int32),
        _field(positions["Subject"]).alias("subject_text"),
        *(_field(index).alias(_COLUMNS[name]) for name, index in positions.items() if name != "Subject"),
    )
    for column, what in (("time_ticks", "Time (0.1-ms ticks)"), ("trial", "Trial")):
        bad = rows.filter(pl.col(column).str.to_integer(strict=False).is_null())
        if bad.height:
            raise LogFormatError(f"{_where(path, bad['line'])}: {what} {bad[column][0]!r} is not an integer")
    subject = _subject(path, rows)
    rows = rows.with_columns(
        pl.lit(subject, pl.Int32).alias("subject"),
        pl.col("trial").str.to_integer().cast(pl.Int32),
        pl.col("time_ticks").str.to_integer().cast(pl.Int64),
    )

    is_response = pl.col("event_type") == "Response"
    key = pl.col("code").str.to_integer(strict=False)
    ignored = rows.filter(is_response & key.is_null())
    events = rows.filter(~(is_response & key.is_null())).select(list(EVENT_SCHEMA)).cast(EVENT_SCHEMA)
    check_video_events(events, path, cfg)

    keys = events.filter(is_response).select(key.alias("key"))["key"]
    report = {
        "file": path.name,
        "subject": subject,
        "encoding": encoding,
        "line_endings": "CRLF" if b"\r\n" in data else "LF",
        "header_line": header_line,
        "second_table_line": second_line,
        "n_rows": rows.height,
        "events": dict(sorted(events.group_by("event_type").len().iter_rows())),
        "ignored_responses": {
            "non-numeric code": {
                "count": ignored.height,
                "lines": ignored["line"].head(20).to_list(),
                "codes": sorted(set(ignored["code"].to_list()))[:20],
            }
        },
        # Kept but clipped into [0, max_rating] by the label mapping (SPEC §2).
        "responses_out_of_range": int(((keys < 1) | (keys > cfg.max_rating + 1)).sum()),
    }
    return LogParse(events=events, report=report)


def _subject(path, rows: pl.DataFrame) -> int:
    from_name = subject_from_filename(path)
    if from_name is not None:
        return from_name
    values = rows["subject_text"].str.to_integer(strict=False).unique().drop_nulls()
    if values.len() == 1 and rows["subject_text"].str.to_integer(strict=False).null_count() == 0:
        return int(values[0])
    raise LogFormatError(
        f"{path}: cannot tell the participant ID: the file name should start with it "
        "(e.g. 001-1-20240101-abcd.log) or the Subject column should hold one number"
    )


def check_video_events(events: pl.DataFrame, path, cfg: ProtocolConfig = ProtocolConfig()) -> None:
    """Exactly `cfg.n_trials` Video events with distinct codes from vid1..vid8 (SPEC §1, §2)."""
    videos = events.filter(pl.col("event_type") == "Video")
    expected = f"{cfg.n_trials} ({VIDEO_CODES[0]}..{VIDEO_CODES[-1]}, each once)"
    if videos.is_empty():
        raise LogFormatError(f"{path}: no Video events in the event table, expected {expected}")
    problems = []
    unknown = videos.filter(~pl.col("code").is_in(VIDEO_CODES))
    if unknown.height:
        problems.append(
            f"{_where(path, unknown['line'])}: unknown video code {unknown['code'][0]!r} "
            f"(known: {', '.join(VIDEO_CODES)})"
        )
    duplicated = videos.filter(pl.col("code").is_duplicated() & pl.col("code").is_in(VIDEO_CODES))
    if duplicated.height:
        problems.append(
            f"{_where(path, duplicated['line'])}: video code {duplicated['code'][0]!r} shown more than once"
        )
    backwards = videos.filter(pl.col("time_ticks").diff() <= 0)
    if backwards.height:
        problems.append(
            f"{_where(path, backwards['line'])}: Video onset at Time {backwards['time_ticks'][0]} "
            "is not after the previous Video's (trials are taken in file order)"
        )
    if videos.height != cfg.n_trials:
        problems.append(f"{_where(path, videos['line'])}: {videos.height} Video events, expected {expected}")
    if problems:
        raise LogFormatError("; ".join(problems))
