"""REST-ASMR sessions from Presentation logs: the protocol layer over `presentation_format` (SPEC §1.1, §2).

`read_event_table` (from `presentation_format`, importable here too) reads
any Presentation log; `read_log` holds one to the REST-ASMR protocol and is
the only place that raises protocol errors.  Decisions (SPEC §2 leaves them
to us):

- the participant ID is a `--subjects-file` row naming the log, else the file
  name's leading number (`<ID>-<Condition>-<Date>-<Hash>.log`), else the one
  number of the `Subject` column, else the JSON block's `subject`; sources
  that disagree are a warning naming them all (the file name wins: it is
  what pairs the log with its PPG export);
- Video codes are `vid1`..`vid8`; a plain number N in 1..8 stands for vidN
  and a file name for its stimulus (`C:\\stim\\ASMR3.avi` -> vid3), each
  translation noted as a warning;
- a Response code is the key number, also when written `1.0`; a code that is
  no whole number is dropped and counted (the authors' code turned it into a 0
  rating), and a log none of whose Response codes is a key is an error; a key
  outside 1..4 is clipped (SPEC §2) with a warning, or refused or dropped as
  `IngestConfig.keys` says;
- the Video events must be exactly `ProtocolConfig.n_trials` distinct codes
  at increasing times, else the log is rejected: a trial cannot be guessed;
- the `video summary` section, when present, is matched to the Video events
  in order: dropped frames, and a start time more than one frame from the
  Video event's, are warnings; its times are taken in the log's 0.1-ms ticks.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from restasmr_jax.config import STIMULUS_FILES, VIDEO_CODES, IngestConfig, ProtocolConfig
from restasmr_jax.io.presentation_format import EventTable, LogFormatError, read_event_table, where

__all__ = ["EVENT_SCHEMA", "EventTable", "LogFormatError", "LogParse", "SubjectsFileError", "read_event_table"]

EVENT_SCHEMA = {
    "subject": pl.Int32,
    "trial": pl.Int32,
    "event_type": pl.Utf8,
    "code": pl.Utf8,
    "time_ticks": pl.Int64,
    "line": pl.Int32,
}
VIDEO_SCHEMA = {
    "code": pl.Utf8,  # vid1..vid8
    "written": pl.Utf8,  # the code as the log has it
    "time_ticks": pl.Int64,
    "line": pl.Int32,
    "duration_ticks": pl.Int64,  # the Duration column (time on screen) when the log has one, else null
}
_SUBJECT_FROM_NAME = re.compile(r"^(\d+)(?=[-_.])")
_STIMULUS_CODES = {
    **{name.lower(): code for code, name in STIMULUS_FILES.items()},
    **{name.lower().rsplit(".", 1)[0]: code for code, name in STIMULUS_FILES.items()},
}


class SubjectsFileError(ValueError):
    """A `--subjects-file` that cannot be read as CSV `file,subject`; names file and line."""


@dataclass(frozen=True)
class LogParse:
    """events: schema `EVENT_SCHEMA`, file order; videos: the Video events, schema `VIDEO_SCHEMA`."""

    events: pl.DataFrame
    report: dict
    videos: pl.DataFrame | None = None


def subject_from_filename(path: str | os.PathLike) -> int | None:
    """001-1-20240115-ab12.log -> 1; None when the name does not start with a number."""
    match = _SUBJECT_FROM_NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def read_subjects_file(path: str | os.PathLike) -> dict[str, int]:
    """log file name -> participant ID from a CSV with rows `file,subject` (a header row is allowed)."""
    path = Path(path)
    if not path.is_file():
        raise SubjectsFileError(f"{path}: --subjects-file not found (expected a CSV file with rows file,subject)")
    mapping: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for number, row in enumerate(csv.reader(fh), 1):
            cells = [cell.strip() for cell in row]
            if not any(cells) or (number == 1 and [c.lower() for c in cells[:2]] == ["file", "subject"]):
                continue
            if len(cells) != 2 or not cells[1].isdigit():
                raise SubjectsFileError(f"{path}: line {number}: expected 'file,subject' (e.g. session.log,7): {row}")
            if cells[0] in mapping:
                raise SubjectsFileError(f"{path}: line {number}: {cells[0]!r} listed twice")
            mapping[cells[0]] = int(cells[1])
    return mapping


def _whole_number(column: str) -> pl.Expr:
    """The cell as an Int64 when it is a whole number ('3', ' 3', '3.0', '3e0'), else null."""
    value = pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)
    whole = value.is_finite() & (value == value.floor()) & (value.abs() < 1e15)
    return pl.when(whole).then(value.cast(pl.Int64)).otherwise(None)


def _video_code() -> pl.Expr:
    text = pl.col("code").str.strip_chars()
    lowered = text.str.to_lowercase()
    number = text.str.to_integer(strict=False)
    base = lowered.str.replace(r"^.*[\\/]", "")
    return (
        pl.when(lowered.is_in(VIDEO_CODES))
        .then(lowered)
        .when(number.is_between(1, len(VIDEO_CODES)))
        .then(pl.format("vid{}", number))
        .when(base.is_in(list(_STIMULUS_CODES)))
        .then(base.replace_strict(_STIMULUS_CODES, default=None))
        .otherwise(text)
    )


def _subject(path: Path, table: EventTable, subjects: dict[str, int] | None, warnings: list[str]) -> int:
    """The participant ID (see module docstring); every source that gives one is compared."""
    sources = {}
    if subjects and path.name in subjects:
        sources["--subjects-file"] = subjects[path.name]
    if (from_name := subject_from_filename(path)) is not None:
        sources["file name"] = from_name
    column = "subject" if "subject" in table.events.columns else None
    values = []
    if column is not None:
        cells = table.events.filter(pl.col(column).is_not_null() & (pl.col(column) != ""))
        numbers = cells.select(pl.col(column).str.to_integer(strict=False))[column]
        values = sorted(set(cells[column].to_list()))[:5]
        if cells.height and numbers.null_count() == 0 and numbers.n_unique() == 1:
            sources["Subject column"] = int(numbers[0])
    json_subject = (table.metadata or {}).get("subject")
    if isinstance(json_subject, (int, str)) and str(json_subject).strip().isdigit():
        sources["JSON subject"] = int(str(json_subject).strip())
    if not sources:
        raise LogFormatError(
            f"{path}: cannot tell the participant ID: the file name does not start with it "
            f"(e.g. 001-1-20240101-abcd.log), the Subject column holds no single number "
            f"({'values ' + repr(values) if values else 'no such column' if column is None else 'empty'}), "
            f"and the JSON block has no numeric 'subject' ({json_subject!r}); pass --subjects-file FILE "
            f"(CSV rows file,subject, e.g. {path.name},7)"
        )
    chosen_by, chosen = next(iter(sources.items()))
    if len(set(sources.values())) > 1:
        listed = ", ".join(f"{source} {value}" for source, value in sources.items())
        warnings.append(
            f"{path}: participant ID sources disagree ({listed}); using {chosen} from the {chosen_by} "
            "(pass --subjects-file to decide)"
        )
    return chosen


def _videos(path: Path, table: EventTable, warnings: list[str]) -> pl.DataFrame:
    videos = table.events.filter(pl.col("event_type") == "Video")
    duration = _whole_number("duration") if "duration" in videos.columns else pl.lit(None, pl.Int64)
    out = videos.select(
        _video_code().alias("code"),
        pl.col("code").alias("written"),
        pl.col("time").alias("time_ticks"),
        "line",
        duration.alias("duration_ticks"),
    ).cast(VIDEO_SCHEMA)
    translated = out.filter((pl.col("code") != pl.col("written")) & pl.col("code").is_in(VIDEO_CODES))
    if translated.height:
        pairs = ", ".join(
            f"{w!r}->{c}" for w, c in translated.select("written", "code").unique(maintain_order=True).rows()
        )
        warnings.append(f"{where(path, translated['line'].to_list())}: Video codes read as stimuli: {pairs}")
    return out


def check_video_events(videos: pl.DataFrame, path, cfg: ProtocolConfig = ProtocolConfig()) -> None:
    """Exactly `cfg.n_trials` Video events with distinct codes from vid1..vid8, at increasing times (SPEC §1, §2).

    `videos`: schema `VIDEO_SCHEMA` (or `EVENT_SCHEMA` rows of type Video).
    """
    expected = f"{cfg.n_trials} ({VIDEO_CODES[0]}..{VIDEO_CODES[-1]}, each once)"
    if videos.is_empty():
        raise LogFormatError(f"{path}: no Video events in the event table, expected {expected}")
    problems = []
    unknown = videos.filter(~pl.col("code").is_in(VIDEO_CODES))
    if unknown.height:
        problems.append(
            f"{where(path, unknown['line'].to_list())}: unknown video code {unknown['code'][0]!r} "
            f"(known: {', '.join(VIDEO_CODES)}, a number 1..8 or a stimulus file name)"
        )
    duplicated = videos.filter(pl.col("code").is_duplicated() & pl.col("code").is_in(VIDEO_CODES))
    if duplicated.height:
        problems.append(
            f"{where(path, duplicated['line'].to_list())}: video code {duplicated['code'][0]!r} shown more than once"
        )
    backwards = videos.filter(pl.col("time_ticks").diff() <= 0)
    if backwards.height:
        problems.append(
            f"{where(path, backwards['line'].to_list())}: Video onset at Time {backwards['time_ticks'][0]} "
            "is not after the previous Video's (trials are taken in file order)"
        )
    if videos.height != cfg.n_trials:
        problems.append(f"{where(path, videos['line'].to_list())}: {videos.height} Video events, expected {expected}")
    if problems:
        raise LogFormatError("; ".join(problems))


def _responses(path: Path, rows: pl.DataFrame, cfg: ProtocolConfig, checks: IngestConfig, warnings: list[str]):
    """(rows with Response codes as key numbers, ignored-response report, out-of-range count)."""
    is_response = pl.col("event_type") == "Response"
    key = pl.col("key")
    rows = rows.with_columns(pl.when(is_response).then(_whole_number("code")).alias("key"))
    responses = rows.filter(is_response)
    not_keys = responses.filter(key.is_null())
    if responses.height and not_keys.height == responses.height:
        raise LogFormatError(
            f"{where(path, not_keys['line'].to_list())}: none of the {responses.height} Response codes is a key "
            f"number (e.g. {not_keys['code'][0]!r}): every rating would be 0"
        )
    top = cfg.max_rating + 1
    outside = responses.filter(key.is_not_null() & ((key < 1) | (key > top)))
    if outside.height and checks.keys == "error":
        raise LogFormatError(
            f"{where(path, outside['line'].to_list())}: Response key {outside['key'][0]} outside 1..{top} "
            f"({outside.height} such responses); --keys clip maps them to the nearest rating (SPEC §2), "
            "--keys ignore drops them"
        )
    if outside.height:
        action = "clipped to the nearest rating" if checks.keys == "clip" else "ignored"
        warnings.append(
            f"{where(path, outside['line'].to_list())}: {outside.height} Response key(s) outside 1..{top} "
            f"(e.g. {outside['key'][0]}), {action} (--keys {checks.keys})"
        )
    if not_keys.height:
        warnings.append(
            f"{where(path, not_keys['line'].to_list())}: {not_keys.height} Response code(s) that are no key "
            f"number ignored (e.g. {not_keys['code'][0]!r})"
        )
    unusable = key.is_null() | ((key < 1) | (key > top)) if checks.keys == "ignore" else key.is_null()
    drop = is_response & unusable
    kept = rows.filter(~drop).with_columns(
        pl.when(is_response).then(key.cast(pl.Utf8)).otherwise(pl.col("code")).alias("code")
    )
    ignored = {
        "count": not_keys.height,
        "lines": not_keys["line"].head(20).to_list(),
        "codes": sorted(set(not_keys["code"].to_list()))[:20],
    }
    return kept.drop("key"), ignored, outside.height


def _video_summary(path: Path, table: EventTable, videos: pl.DataFrame, warnings: list[str]) -> list[dict]:
    """One dict per video summary row, matched to the Video events in order; oddities become warnings."""
    summary = table.video_summary
    if summary is None:
        return []
    if summary.height != videos.height:
        warnings.append(
            f"{path}: line {table.video_summary_line}: video summary lists {summary.height} videos, "
            f"the event table {videos.height} Video events (matched in order)"
        )
    rows = []
    for row, video in zip(summary.iter_rows(named=True), videos.iter_rows(named=True)):
        where_ = f"{path}: line {row['line']}: video summary, {video['code']} (Video event on line {video['line']})"
        dropped, start = row["frames_dropped"], row["start_time"]
        presented, duration = row["frames_presented"], row["duration"]
        named = _STIMULUS_CODES.get(re.sub(r"^.*[\\/]", "", row.get("filename") or "").lower())
        if named is not None and named != video["code"]:
            warnings.append(f"{where_}: plays {row['filename']!r}, the Video event says {video['code']}")
        if dropped:
            warnings.append(f"{where_}: {dropped:g} frame(s) dropped")
        frame = duration / presented if duration and presented else None
        if start is not None and frame is not None and abs(start - video["time_ticks"]) > frame:
            warnings.append(
                f"{where_}: start time {start:g} is {start - video['time_ticks']:+g} ticks from the Video "
                f"event's Time {video['time_ticks']} (more than one frame, {frame:.0f} ticks)"
            )
        rows.append(
            {
                "video": video["code"],
                "file": row.get("filename"),
                "frames_dropped": dropped,
                "start_time": start,
                "end_time": row["end_time"],
                "duration": duration,
                "line": row["line"],
            }
        )
    return rows


def presentation_version(metadata: dict | None) -> str | None:
    """'20.3 ...' from the JSON block's `"app": "Presentation Version 20.3 ..."`, else None."""
    app = (metadata or {}).get("app")
    if not isinstance(app, str):
        return None
    return re.sub(r"^\s*Presentation\s+Version\s*", "", app).strip() or app


def read_log(
    path: str | os.PathLike,
    cfg: ProtocolConfig = ProtocolConfig(),
    *,
    checks: IngestConfig = IngestConfig(),
    subjects: dict[str, int] | None = None,
) -> LogParse:
    """One REST-ASMR participant's log; raises `LogFormatError` naming file and line on bad input.

    `subjects`: log file name -> participant ID (`read_subjects_file`), overriding what the log says.
    """
    path = Path(path)
    table = read_event_table(path)
    if table.header_line is None:
        raise LogFormatError(
            f"{path}: no event table (no header line naming the columns 'Event Type', 'Code' and 'Time')"
        )
    warnings = list(table.notes)
    subject = _subject(path, table, subjects, warnings)
    videos = _videos(path, table, warnings)
    check_video_events(videos, path, cfg)
    trial = _whole_number("trial") if "trial" in table.events.columns else pl.lit(None, pl.Int64)
    rows = table.events.select(
        pl.lit(subject, pl.Int32).alias("subject"),
        trial.alias("trial"),
        "event_type",
        pl.when(pl.col("event_type") == "Video").then(_video_code()).otherwise(pl.col("code")).alias("code"),
        pl.col("time").alias("time_ticks"),
        "line",
    )
    kept, ignored, out_of_range = _responses(path, rows, cfg, checks, warnings)
    events = kept.select(list(EVENT_SCHEMA)).cast(EVENT_SCHEMA)
    if not events.filter(pl.col("event_type") == "Response").height:
        warnings.append(f"{path}: no Response events: every rating of this participant is 0")
    report = {
        "file": path.name,
        "subject": subject,
        "encoding": table.encoding,
        "line_endings": table.line_endings,
        "header_line": table.header_line,
        "second_table_line": table.response_summary_line,
        "video_summary_line": table.video_summary_line,
        "metadata_line": table.metadata_line,
        "presentation_version": presentation_version(table.metadata),
        "scenario": table.preamble.get("scenario") or (table.metadata or {}).get("scenario"),
        "columns": list(table.columns.values()),
        "n_rows": table.events.height,
        "last_event_ticks": int(table.events["time"].max()),
        "events": dict(sorted(events.group_by("event_type").len().iter_rows())),
        "ignored_responses": {"non-numeric code": ignored},
        "responses_out_of_range": out_of_range,
        "video_summary": _video_summary(path, table, videos, warnings),
        "warnings": warnings,
    }
    return LogParse(events=events, report=report, videos=videos)
