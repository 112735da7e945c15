"""Raw archive to tidy 10-Hz tables: timeline, labels and PPG per trial (SPEC §1-§3).

`ingest_archive` reads every log and every PPG export before it returns
anything, so one run names all bad files at once (`IngestError`), or with
`skip_bad=True` drops the affected participants and says so in the report.
A participant whose PPG file is missing keeps their labels; only the PPG
table lacks them (with a warning).  A bad PPG file (format error, or a
recording that ends before a trial does) counts as bad input: it stops the
run, or with `skip_bad` excludes that participant from every table, because
a half-usable participant would silently change the model's training set.
`write_tables` writes the three tables as Parquet files labelled with the
data source.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from restasmr_jax import storage
from restasmr_jax.config import ProtocolConfig, to_dict
from restasmr_jax.ingest.labels import build_timeline, dense_labels
from restasmr_jax.ingest.ppg import PPGError, epoch_ppg
from restasmr_jax.io import archive as archive_lib
from restasmr_jax.io.archive import DEFAULT_CACHE_DIR
from restasmr_jax.io.biopac import BiopacFormatError
from restasmr_jax.io.presentation import LogFormatError

PPG_SCHEMA = {
    "subject": pl.Int32,
    "video": pl.Utf8,
    "trial_index": pl.Int32,
    "t": pl.Float64,  # seconds from the epoch start, k / 10 (same grid as the labels)
    "ppg": pl.Float64,  # z-scored per trial
}
PPG_CHANNEL = "CH2"  # band-passed 0.5-35 Hz (SPEC §1.2)
TABLES = ("labels", "timeline", "ppg10hz")  # the files `write_tables` writes, <name>.parquet


class IngestError(ValueError):
    """One or more raw files are bad; the message lists every one of them."""


class IngestWarning(UserWarning):
    """Something is missing but the run can go on (e.g. a participant without PPG)."""


@dataclass(frozen=True)
class Ingested:
    labels: pl.DataFrame  # labels.LABELS_SCHEMA
    timeline: pl.DataFrame  # labels.TIMELINE_SCHEMA
    ppg10hz: pl.DataFrame  # PPG_SCHEMA
    report: dict


def _ppg_trials(recording, timeline: pl.DataFrame, cfg: ProtocolConfig) -> list[np.ndarray]:
    """`[time]` z-scored PPG for each of one subject's timeline rows, in row order."""
    ch2 = recording.channel(PPG_CHANNEL)
    return [
        epoch_ppg(
            ch2,
            recording.interval_ms,
            row["onset_ticks"],
            row["end_ticks"],
            row["n_frames"],
            cfg,
            context=f"subject {row['subject']:03d} {row['video']} (trial {row['trial_index']}, {recording.path})",
        )
        for row in timeline.iter_rows(named=True)
    ]


def _ppg_frame(timeline: pl.DataFrame, series: list[np.ndarray], cfg: ProtocolConfig) -> pl.DataFrame:
    if not series:
        return pl.DataFrame(schema=PPG_SCHEMA)
    repeat = timeline["n_frames"].to_numpy()
    k = np.concatenate([np.arange(n) for n in repeat])
    return pl.DataFrame(
        {
            "subject": np.repeat(timeline["subject"].to_numpy(), repeat),
            "video": np.repeat(timeline["video"].to_numpy(), repeat),
            "trial_index": np.repeat(timeline["trial_index"].to_numpy(), repeat),
            "t": k / cfg.label_rate_hz,
            "ppg": np.concatenate(series),
        }
    ).cast(PPG_SCHEMA)


def _read_logs(archive: archive_lib.Archive, cfg: ProtocolConfig, bad: dict) -> tuple[dict, dict]:
    """({subject: events}, {subject: parse report}); failures go into `bad` keyed by subject or file name."""
    events, reports = {}, {}
    for path in archive.log_files():
        try:
            result = archive.read_events(path, cfg)
        except LogFormatError as exc:
            subject = archive.subject_of(path)
            bad.setdefault(subject if subject is not None else path.name, []).append(str(exc))
            continue
        subject = result.report["subject"]
        if subject in events:
            bad.setdefault(subject, []).append(
                f"{path}: second log for subject {subject:03d} (first: {reports[subject]['file']})"
            )
            continue
        events[subject], reports[subject] = result.events, result.report
    return events, reports


def _read_ppg(
    archive: archive_lib.Archive,
    subjects: list[int],
    timeline: pl.DataFrame | None,
    cfg: ProtocolConfig,
    cache_dir: Path,
    hashes: dict[str, str],
    bad: dict,
    warned: list[str],
    progress: bool,
) -> tuple[dict, dict]:
    """({subject: [trial][time] PPG}, {subject: header}) for subjects with a timeline; every file is validated."""
    series, reports = {}, {}
    with_log = set() if timeline is None else set(timeline["subject"].to_list())
    for subject in tqdm(subjects, desc="PPG", unit="participant", disable=not progress):
        path = archive.ppg_file(subject)
        if not path.exists():
            if subject in with_log:
                warned.append(f"subject {subject:03d}: no PPG file {path}; excluded from the PPG table")
            continue
        try:
            known = hashes.get(str(path.relative_to(archive.root)))
            recording = archive.read_recording(path, cache_dir=cache_dir, sha256=known)
            reports[subject] = {"file": path.name, **recording.header()}
            if subject in with_log:
                series[subject] = _ppg_trials(recording, timeline.filter(pl.col("subject") == subject), cfg)
            elif subject not in bad:
                warned.append(f"subject {subject:03d}: PPG file {path} has no log; ignored")
        except (BiopacFormatError, PPGError) as exc:
            bad.setdefault(subject, []).append(str(exc))
    return series, reports


def ingest_archive(
    archive: archive_lib.Archive,
    cfg: ProtocolConfig = ProtocolConfig(),
    *,
    skip_bad: bool = False,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    hashes: dict[str, str] | None = None,
    progress: bool = True,
) -> Ingested:
    """Parse and validate the whole archive, then build the three tables (see module docstring).

    `hashes`: the archive's input hashes (`io.archive.input_hashes`) when the
    caller holds them, so no PPG export is hashed twice.
    """
    bad: dict[int | str, list[str]] = {}  # subject (or file name) -> messages
    warned: list[str] = []
    parsed, log_reports = _read_logs(archive, cfg, bad)
    if not parsed and not bad:
        raise IngestError(f"{archive.log_dir}: no .log files (expected one per participant)")
    events = pl.concat(list(parsed.values())) if parsed else None
    timeline = build_timeline(events, source=str(archive.log_dir), cfg=cfg) if parsed else None
    subjects = sorted(set(parsed) | {s for s in bad if isinstance(s, int)} | archive.ppg_subjects())
    ppg_series, ppg_reports = _read_ppg(
        archive, subjects, timeline, cfg, Path(cache_dir), hashes or {}, bad, warned, progress
    )

    bad_messages = [message for messages in bad.values() for message in messages]
    if bad_messages and not skip_bad:
        listing = "\n".join(f"  - {message}" for message in bad_messages)
        raise IngestError(
            f"{len(bad_messages)} bad input file(s) in {archive.root}:\n{listing}\n"
            "Fix them, or re-run with --skip-bad (skip_bad=True) to exclude these participants."
        )
    for message in warned:
        warnings.warn(message, IngestWarning, stacklevel=2)

    by_subject = sorted(bad.items(), key=lambda kv: (isinstance(kv[0], str), str(kv[0]).zfill(3)))
    excluded = [{"subject": s, "scope": "all", "reasons": m} for s, m in by_subject]
    excluded += [
        {"subject": s, "scope": "ppg", "reasons": ["no PPG file"]}
        for s in sorted(parsed)
        if s not in bad and not archive.ppg_file(s).exists()
    ]
    kept = [s for s in sorted(parsed) if s not in bad]
    if timeline is None or not kept:
        raise IngestError(f"{archive.root}: no participant left after excluding bad files")
    timeline = timeline.filter(pl.col("subject").is_in(kept))
    labels = dense_labels(events.filter(pl.col("subject").is_in(kept)), timeline, cfg)
    with_ppg = [s for s in kept if s in ppg_series]
    ppg_timeline = timeline.filter(pl.col("subject").is_in(with_ppg))
    ppg10hz = _ppg_frame(ppg_timeline, [x for s in with_ppg for x in ppg_series[s]], cfg)

    report = {
        "data_source": archive.source,
        "archive": archive.describe(),
        "protocol": to_dict(cfg),
        "participants": kept,
        "participants_with_ppg": with_ppg,
        "n_trials": timeline.height,
        "n_label_rows": labels.height,
        "n_ppg_rows": ppg10hz.height,
        "excluded": excluded,
        "warnings": warned,
        "logs": {f"{s:03d}": r for s, r in sorted(log_reports.items())},
        "ppg": {f"{s:03d}": r for s, r in sorted(ppg_reports.items())},
    }
    return Ingested(labels=labels, timeline=timeline, ppg10hz=ppg10hz, report=report)


def summary_table(ingested: Ingested) -> str:
    """Per-participant lines: block order, responses, % of epoch frames rated > 0, PPG status."""
    rated = (
        ingested.labels.group_by("subject", "condition")
        .agg((pl.col("intensity") > 0).mean().mul(100).alias("rated"))
        .pivot("condition", index="subject", values="rated")
    )
    first = ingested.timeline.filter(pl.col("trial_index") == 0).select("subject", pl.col("condition").alias("first"))
    table = first.join(rated, on="subject", how="left").sort("subject")
    with_ppg = set(ingested.report["participants_with_ppg"])
    lines = [f"{'subject':>7}  {'first block':<11}  {'ASMR >0 %':>9}  {'Nature >0 %':>11}  ppg"]
    for row in table.iter_rows(named=True):
        responses = ingested.report["logs"][f"{row['subject']:03d}"]["events"].get("Response", 0)
        lines.append(
            f"{row['subject']:>7d}  {row['first']:<11}  {row.get('ASMR') or 0:>9.1f}  "
            f"{row.get('Nature') or 0:>11.1f}  {'yes' if row['subject'] in with_ppg else 'MISSING'}"
            f"   ({responses} responses)"
        )
    for item in ingested.report["excluded"]:
        lines.append(f"excluded {item['subject']} ({item['scope']}): {'; '.join(item['reasons'])}")
    return "\n".join(lines)


def write_tables(ingested: Ingested, folder: str | os.PathLike, source: str) -> list[Path]:
    """`<folder>/{labels,timeline,ppg10hz}.parquet`, each labelled `data_source` in its key-value metadata."""
    written = []
    for name in TABLES:
        path = Path(folder) / f"{name}.parquet"
        with storage.atomic_path(path) as tmp:
            getattr(ingested, name).write_parquet(
                tmp, metadata={"data_source": source, "producer": "restasmr_jax.ingest"}
            )
        written.append(path)
    return written
