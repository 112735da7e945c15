"""A BIDS 1.11 copy of the archive read back into what the raw readers return (SPEC §1-§2; BIDS physio, events).

The copy is the one `python -m experiments.bids` writes:

    dataset_description.json
    sub-001/beh/sub-001_task-asmr_events.tsv         videos + rating changes (onset, duration in s)
    sub-001/beh/sub-001_task-asmr_physio.tsv.gz      Biopac channels, no header, names in the sidecar
    sub-001/beh/sub-001_task-asmr_physio.json        SamplingFrequency, StartTime 0.0, Columns, ...
    stimuli/ASMR1.avi ..                             the clips, under their archive names

`read_events` turns an events file into the events frame of `presentation.read_log`
(`Video` rows from the video rows, `Response` rows from the rating rows, with the
participant's key as the Code), and `read_physio` turns a physio file into the
`BiopacRecording` of `biopac.read_biopac`, so ingestion is the same code for both
layouts.  Onsets are converted back to whole 0.1-ms log ticks; a time that is not a
whole tick is refused, not rounded.  The sampling interval is recovered from
SamplingFrequency to 12 significant digits, which returns the header's printed
interval exactly (0.5 ms <- 2000 Hz); the writer refuses an interval that would not
come back.  Parsed physio samples are cached like parsed exports (`read_physio`).
Errors subclass the raw readers' errors, so ingestion reports and skips a bad BIDS
file exactly as it does a bad log or export.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path

import numpy as np
import polars as pl

from restasmr_jax import storage
from restasmr_jax.config import VIDEO_CODES, ProtocolConfig, condition_of
from restasmr_jax.io.biopac import BiopacFormatError, BiopacRecording
from restasmr_jax.io.presentation import EVENT_SCHEMA, VIDEO_SCHEMA, LogFormatError, LogParse, check_video_events

TASK = "asmr"
DESCRIPTION_FILE = "dataset_description.json"
STIMULI_DIR = "stimuli"
# dataset_description.json key holding the synthetic generator's marker (absent for a real archive).
SYNTHETIC_KEY = "RestAsmrJaxSynthetic"
RATING = "rating"  # trial_type of a rating-change row; video rows carry their condition (ASMR | Nature)
# Columns of an events file in their written order; stim_file only when the clips are exported.
EVENT_COLUMNS = (
    "onset",
    "duration",
    "trial_type",
    "value",
    "response_key",
    "stim_id",
    "stim_file",
    "trial_index",
    "warmup_s",
)
# Physio column names by channel position: the archive's CH1 is the raw PPG, CH2 the band-passed one (SPEC §1.2).
PHYSIO_NAMES = ("cardiac", "cardiac_bandpass")
_SUBJECT = re.compile(rf"^sub-(\d+)_task-{TASK}_")
_FLOAT_TOLERANCE = 1e-6  # ticks: a decimal onset printed from whole ticks lands within this of an integer


class BidsEventsError(LogFormatError):
    """An events file that cannot stand for a Presentation log; names file and line."""


class BidsPhysioError(BiopacFormatError):
    """A physio file or sidecar that cannot stand for a Biopac export; names the file."""


def participant_label(subject: int) -> str:
    """1 -> 'sub-001': the archive's zero-padded IDs."""
    return f"sub-{subject:03d}"


def beh_dir(root: Path, subject: int) -> Path:
    return Path(root) / participant_label(subject) / "beh"


def events_path(root: Path, subject: int) -> Path:
    return beh_dir(root, subject) / f"{participant_label(subject)}_task-{TASK}_events.tsv"


def physio_path(root: Path, subject: int) -> Path:
    return beh_dir(root, subject) / f"{participant_label(subject)}_task-{TASK}_physio.tsv.gz"


def sidecar_path(physio: Path) -> Path:
    """The JSON beside a `_physio.tsv.gz`."""
    return Path(physio).with_name(Path(physio).name.removesuffix(".tsv.gz") + ".json")


def physio_name(channel: int) -> str:
    """BIDS column name of the export's channel at 0-based position `channel`."""
    return PHYSIO_NAMES[channel] if channel < len(PHYSIO_NAMES) else f"biopac_ch{channel + 1}"


def is_bids(root: str | os.PathLike) -> bool:
    return (Path(root) / DESCRIPTION_FILE).is_file()


def events_files(root: Path) -> list[Path]:
    return sorted(Path(root).glob(f"sub-*/beh/sub-*_task-{TASK}_events.tsv"))


def physio_files(root: Path) -> list[Path]:
    return sorted(Path(root).glob(f"sub-*/beh/sub-*_task-{TASK}_physio.tsv.gz"))


def subject_of(path: str | os.PathLike) -> int | None:
    """sub-001_task-asmr_events.tsv -> 1; None for another name."""
    match = _SUBJECT.match(Path(path).name)
    return int(match.group(1)) if match else None


def _ticks(path: Path, frame: pl.DataFrame, column: str, per_second: int) -> pl.Series:
    """Whole log ticks of a seconds column; names the first line that is not a number or not a whole tick."""
    values = frame[column].str.strip_chars().cast(pl.Float64, strict=False) * per_second
    bad = frame.filter(values.is_null() | ((values - values.round()).abs() > _FLOAT_TOLERANCE))
    if bad.height:
        raise BidsEventsError(
            f"{path}: line {bad['line'][0]}: {column} {bad[column][0]!r} is not a time in seconds on the "
            f"0.1-ms grid of the log (at most 4 decimals)"
        )
    return values.round().cast(pl.Int64)


def _require_columns(path: Path, frame: pl.DataFrame, names) -> None:
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise BidsEventsError(
            f"{path}: line 1: no column(s) {', '.join(missing)} (expected {', '.join(EVENT_COLUMNS)} "
            "as written by python -m experiments.bids)"
        )


def _check_rows(path: Path, rows: pl.DataFrame, cfg: ProtocolConfig) -> None:
    """Video rows name a known clip of their condition; rating rows carry an integer key and its 0..3 value."""
    videos = rows.filter(pl.col("event_type") == "Video")
    unknown = videos.filter(~pl.col("code").is_in(VIDEO_CODES))
    if unknown.height:
        raise BidsEventsError(
            f"{path}: line {unknown['line'][0]}: stim_id {unknown['code'][0]!r} is not a video code "
            f"({', '.join(VIDEO_CODES)})"
        )
    conditions = {v: condition_of(v) for v in VIDEO_CODES}
    wrong = videos.filter(pl.col("code").replace_strict(conditions) != pl.col("trial_type"))
    if wrong.height:
        raise BidsEventsError(
            f"{path}: line {wrong['line'][0]}: trial_type {wrong['trial_type'][0]!r} but stim_id "
            f"{wrong['code'][0]} is a {conditions[wrong['code'][0]]} clip"
        )
    ratings = rows.filter(pl.col("event_type") == "Response")
    key = pl.col("code").str.to_integer(strict=False)
    value = pl.col("value").str.to_integer(strict=False)
    bad = ratings.filter(key.is_null() | value.is_null() | (value != (key - 1).clip(0, cfg.max_rating)))
    if bad.height:
        raise BidsEventsError(
            f"{path}: line {bad['line'][0]}: rating row with response_key {bad['code'][0]!r} and value "
            f"{bad['value'][0]!r}; expected an integer key k and value k-1 clipped to 0..{cfg.max_rating}"
        )


def read_events(path: str | os.PathLike, cfg: ProtocolConfig = ProtocolConfig()) -> LogParse:
    """One participant's events file as `read_log` would return the log it came from.

    The events frame has `presentation.EVENT_SCHEMA`, in file order, `line` the TSV line
    (the header is line 1).  Rows of another trial_type are kept as events of that type,
    which no table uses.  Raises `BidsEventsError` naming file and line on bad input.
    """
    path = Path(path)
    subject = subject_of(path)
    if subject is None:
        raise BidsEventsError(f"{path}: name does not follow sub-<3-digit ID>_task-{TASK}_events.tsv")
    try:
        frame = pl.read_csv(path, separator="\t", infer_schema=False, quote_char=None, raise_if_empty=True)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise BidsEventsError(
            f"{path}: not a readable tab-separated events file ({str(exc).splitlines()[0]})"
        ) from None
    _require_columns(path, frame, ("onset", "duration", "trial_type", "stim_id", "value", "response_key"))
    frame = frame.with_row_index("line", offset=2)
    per_second = cfg.log_ticks_per_second
    trial_type = pl.col("trial_type").str.strip_chars()
    is_video = trial_type.is_in(["ASMR", "Nature"])
    rows = frame.select(
        pl.col("line").cast(pl.Int32),
        trial_type.alias("trial_type"),
        pl.when(is_video)
        .then(pl.lit("Video"))
        .when(trial_type == RATING)
        .then(pl.lit("Response"))
        .otherwise(trial_type)
        .alias("event_type"),
        pl.when(is_video).then(pl.col("stim_id")).otherwise(pl.col("response_key")).str.strip_chars().alias("code"),
        pl.col("value").str.strip_chars(),
        (pl.col("trial_index") if "trial_index" in frame.columns else pl.lit(None, pl.Utf8))
        .str.to_integer(strict=False)
        .cast(pl.Int32)
        .alias("trial"),
    ).with_columns(
        _ticks(path, frame, "onset", per_second).alias("time_ticks"), pl.lit(subject, pl.Int32).alias("subject")
    )
    _check_rows(path, rows, cfg)
    events = rows.select(list(EVENT_SCHEMA)).cast(EVENT_SCHEMA)
    durations = frame.select(pl.col("duration").str.strip_chars().cast(pl.Float64, strict=False))["duration"]
    videos = (
        events.with_columns(duration_ticks=(durations * per_second).round().cast(pl.Int64))
        .filter(pl.col("event_type") == "Video")
        .select("code", pl.col("code").alias("written"), "time_ticks", "line", "duration_ticks")
        .cast(VIDEO_SCHEMA)
    )
    check_video_events(videos, path, cfg)
    keys = events.filter(pl.col("event_type") == "Response")["code"].str.to_integer()
    report = {
        "file": path.name,
        "subject": subject,
        "format": "bids",
        "encoding": "utf-8",
        "n_rows": frame.height,
        "events": dict(sorted(events.group_by("event_type").len().iter_rows())),
        "ignored_responses": {"non-numeric code": {"count": 0, "lines": [], "codes": []}},
        "responses_out_of_range": int(((keys < 1) | (keys > cfg.max_rating + 1)).sum()),
        "presentation_version": None,
        # the copy keeps no record of when the session ended, so the recording-length check has nothing to compare
        "last_event_ticks": None,
        "video_summary": [],
        "warnings": [],
    }
    return LogParse(events=events, report=report, videos=videos)


def read_json_object(path: Path, error: type[Exception]) -> dict:
    """A JSON file that must hold one object; `error` names the file otherwise."""
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(found, dict):
        raise error(f"{path}: expected a JSON object")
    return found


def _sidecar(path: Path) -> dict:
    side = sidecar_path(path)
    if not side.is_file():
        raise BidsPhysioError(f"{path}: no sidecar {side.name} beside it (SamplingFrequency, StartTime, Columns)")
    meta = read_json_object(side, BidsPhysioError)
    fs = meta.get("SamplingFrequency")
    if isinstance(fs, bool) or not isinstance(fs, int | float) or not fs > 0:
        raise BidsPhysioError(f"{side}: SamplingFrequency must be a positive number of Hz, got {fs!r}")
    if meta.get("StartTime") != 0:
        raise BidsPhysioError(
            f"{side}: StartTime is {meta.get('StartTime')!r}; the pipeline needs 0.0 (PPG sample 0 = log time 0)"
        )
    columns = meta.get("Columns")
    expected = [physio_name(c) for c in range(len(columns))] if isinstance(columns, list) else None
    if not columns or columns != expected:
        raise BidsPhysioError(
            f"{side}: Columns {columns!r}, expected {PHYSIO_NAMES[0]} (Biopac CH1), {PHYSIO_NAMES[1]} (CH2), "
            "... in channel order"
        )
    return meta


def interval_from_frequency(frequency: float) -> float:
    """Sampling interval in ms from SamplingFrequency in Hz, to the 12 digits a Biopac header never exceeds."""
    return float(f"{1000.0 / frequency:.12g}")


def _bad_physio_line(path: Path, n_columns: int) -> str | None:
    """'line L: <text>' of the first line that is not n numbers (the slow path, only after a failed parse)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                fields = line.rstrip("\n").split("\t")
                try:
                    numbers = [float(f) for f in fields]
                except ValueError:
                    numbers = []
                if len(numbers) != n_columns:
                    return f"line {number}: {line.strip()[:60]!r}"
    except (OSError, EOFError) as exc:
        return f"not a readable gzip file ({exc})"
    return None


def read_physio(
    path: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None, sha256: str | None = None
) -> BiopacRecording:
    """One participant's physio file as the `BiopacRecording` of the export it came from.

    With `cache_dir`, the samples are kept in the verified cache (`cache_dir/bids-physio/`)
    keyed by the file's sha256 (`sha256` when the caller holds it), its sidecar's and this
    reader's code, as `biopac.read_biopac` keeps an export's.  samples: float32 `[sample, channel]`.
    """
    path = Path(path)
    meta = _sidecar(path)
    if cache_dir is None:
        return _parse_physio(path, meta)
    cache = storage.ContentCache(cache_dir, "bids-physio")
    if sha256 is None:
        sha256 = storage.memoised_sha256([path], cache.memo_path)[path]
    key = storage.sha256_json(
        {"source_sha256": sha256, "sidecar": meta, "reader": storage.code_digest([Path(__file__)])}
    )
    stem = path.name.removesuffix(".tsv.gz")
    entry = cache.load(stem, key)
    if entry is not None:
        return _recording(path, meta, entry.arrays["samples"])
    recording = _parse_physio(path, meta)
    cache.store(stem, key, {"samples": recording.samples}, {"source": path.name})
    return recording


def _recording(path: Path, meta: dict, samples: np.ndarray) -> BiopacRecording:
    names = meta["Columns"]
    described = [meta.get(name) if isinstance(meta.get(name), dict) else {} for name in names]
    return BiopacRecording(
        path=path,
        interval_ms=interval_from_frequency(meta["SamplingFrequency"]),
        labels=[str(d.get("LongName", name)) for d, name in zip(described, names)],
        units=[str(d.get("Units", "")) for d in described],
        samples=samples,
        columns=[f"CH{c + 1}" for c in range(len(names))],
        title="",
        encoding="utf-8",
        lengths=[int(samples.shape[0])] * len(names),
    )


def _parse_physio(path: Path, meta: dict) -> BiopacRecording:
    names = meta["Columns"]
    try:
        frame = pl.read_csv(
            path,
            has_header=False,
            separator="\t",
            quote_char=None,
            schema=dict.fromkeys(names, pl.Float32),
            raise_if_empty=False,
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        where = _bad_physio_line(path, len(names)) or str(exc).splitlines()[0]
        raise BidsPhysioError(f"{path}: {where}: expected {len(names)} tab-separated numbers per line") from None
    if frame.is_empty():
        raise BidsPhysioError(f"{path}: no samples")
    nulls = frame.select(pl.any_horizontal(pl.all().is_null()).arg_true().first()).item()
    if nulls is not None:
        raise BidsPhysioError(f"{path}: line {nulls + 1}: empty sample, expected {len(names)} tab-separated numbers")
    return _recording(path, meta, np.ascontiguousarray(frame.to_numpy(), dtype=np.float32))
