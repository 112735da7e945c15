"""Raw archive to tidy 10-Hz tables: timeline, labels and PPG per trial (SPEC §1-§3).

`ingest_archive` reads every log and every PPG export before it returns
anything and checks the archive against the protocol as a whole
(`ingest.checks`), so one run names all bad files at once (`IngestError`), or
with `skip_bad=True` drops the affected participants and says so in the
report.  Warnings (surprising but possibly legitimate findings) are raised as
`IngestWarning` and listed in the report.  A participant whose PPG file is
missing keeps their labels; only the PPG table lacks them (with a warning).
A bad PPG file (format error, a recording that ends before a trial does, NaN
in a trial's window) counts as bad input: it stops the run, or with
`skip_bad` excludes that participant from every table, because a
half-usable participant would silently change the model's training set.
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
from restasmr_jax.config import IngestConfig, ProtocolConfig, to_dict
from restasmr_jax.ingest.checks import Findings, check_duplicates, check_recording_length, check_timeline
from restasmr_jax.ingest.labels import build_timeline, dense_labels
from restasmr_jax.ingest.ppg import PPGError, epoch_ppg
from restasmr_jax.ingest.sources import Logs, note_ignored_files, pair_ppg, read_logs, responses_per_trial
from restasmr_jax.io import archive as archive_lib
from restasmr_jax.io.archive import DEFAULT_CACHE_DIR
from restasmr_jax.io.biopac import BiopacFormatError
from restasmr_jax.io.presentation import SubjectsFileError, read_subjects_file

PPG_SCHEMA = {
    "subject": pl.Int32,
    "video": pl.Utf8,
    "trial_index": pl.Int32,
    "t": pl.Float64,  # seconds from the epoch start, k / 10 (same grid as the labels)
    "ppg": pl.Float64,  # z-scored per trial
}
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


def _ppg_trials(recording, index: int, timeline: pl.DataFrame, cfg: ProtocolConfig) -> list[np.ndarray]:
    """`[time]` z-scored PPG of channel `index` for each of one subject's timeline rows, in row order."""
    channel = recording.samples[:, index]
    return [
        epoch_ppg(
            channel,
            recording.interval_ms,
            row["onset_ticks"],
            row["end_ticks"],
            row["n_frames"],
            cfg,
            context=f"subject {row['subject']:03d} {row['video']} (trial {row['trial_index']}, {recording.path})",
            first_line=recording.first_line,
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


def _read_ppg(
    archive: archive_lib.Archive,
    subjects: list[int],
    pairs: dict[int, Path],
    logs: Logs,
    timeline: pl.DataFrame | None,
    findings: Findings,
    cfg: ProtocolConfig,
    checks: IngestConfig,
    cache_dir: Path,
    hashes: dict[str, str],
    progress: bool,
) -> tuple[dict, dict]:
    """({subject: [trial][time] PPG}, {subject: header}) for subjects with a timeline; every file is validated."""
    series, reports = {}, {}
    for subject in tqdm(subjects, desc="PPG", unit="participant", disable=not progress):
        path = pairs.get(subject)
        if path is None:
            if subject in logs.events:
                expected = archive.ppg_dir / f"{subject:03d}_csv.txt"
                findings.warn(f"subject {subject:03d}: no PPG file {expected}; excluded from the PPG table")
            continue
        try:
            known = hashes.get(str(path.relative_to(archive.root)))
            recording = archive.read_recording(path, cache_dir=cache_dir, sha256=known, layout=checks.ppg_layout)
            index = recording.channel_index(checks.ppg_channel)
            channel = {"column": recording.columns[index], "label": recording.labels[index]}
            reports[subject] = {"file": path.name, **recording.header(), "ppg_channel": channel}
            for message in recording.notes:
                findings.warn(message)
            if subject not in logs.events:
                if subject not in findings.bad:
                    findings.warn(f"subject {subject:03d}: PPG file {path} has no log; ignored")
                continue
            check_recording_length(
                subject,
                path,
                recording.lengths[index],
                recording.interval_ms,
                logs.paths[subject],
                logs.reports[subject]["last_event_ticks"],
                findings,
                cfg,
                checks,
            )
            rows = timeline.filter(pl.col("subject") == subject)
            series[subject] = _ppg_trials(recording, index, rows, cfg)
        except (BiopacFormatError, PPGError) as exc:
            findings.error(subject, str(exc))
        except OSError as exc:
            findings.error(subject, f"{path}: cannot be read ({exc.strerror or exc})")
    return series, reports


def _hashes(archive: archive_lib.Archive, cache_dir: Path) -> dict[str, str]:
    """sha256 of the logs and PPG exports (ingestion never reads the stimuli)."""
    files = archive.log_files() + [p for _, p in archive.ppg_candidates()]
    digests = storage.memoised_sha256(files, Path(cache_dir) / storage.MEMO_NAME)
    return {str(path.relative_to(archive.root)): digest for path, digest in digests.items()}


def ingest_archive(
    archive: archive_lib.Archive,
    cfg: ProtocolConfig = ProtocolConfig(),
    *,
    checks: IngestConfig = IngestConfig(),
    skip_bad: bool = False,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    hashes: dict[str, str] | None = None,
    progress: bool = True,
) -> Ingested:
    """Parse and validate the whole archive, check it against the protocol, then build the three tables.

    `hashes`: the archive's input hashes (`io.archive.input_hashes`) when the
    caller holds them, so no PPG export is hashed twice.  `checks`: the
    tolerances and reader choices of `IngestConfig` (see `ingest.checks`).
    """
    wrong = archive.not_files(("log", "ppg"))
    if wrong:
        raise IngestError("; ".join(wrong))
    subjects_map = None
    if checks.subjects_file is not None:
        try:
            subjects_map = read_subjects_file(checks.subjects_file)
        except SubjectsFileError as exc:
            raise IngestError(str(exc)) from None
    hashes = hashes if hashes is not None else _hashes(archive, Path(cache_dir))
    findings = Findings()
    note_ignored_files(archive, findings)
    logs = read_logs(archive, findings, cfg, checks, subjects_map)
    if not logs.events and not findings.bad:
        raise IngestError(f"{archive.log_dir}: no .log files (expected one per participant)")
    pairs = pair_ppg(archive, findings)
    owners = {str(p.relative_to(archive.root)): s for s, p in logs.paths.items()}
    owners |= {str(p.relative_to(archive.root)): s for s, p in archive.ppg_candidates()}
    check_duplicates(hashes, owners, archive, findings, checks)
    events = pl.concat(list(logs.events.values())) if logs.events else None
    timeline = build_timeline(events, source=str(archive.log_dir), cfg=cfg) if logs.events else None
    if timeline is not None:
        summaries = {s: r["video_summary"] for s, r in logs.reports.items()}
        check_timeline(timeline, logs.videos, logs.paths, findings, cfg, checks, summaries)
    subjects = sorted(set(logs.events) | {s for s in findings.bad if isinstance(s, int)} | set(pairs))
    ppg_series, ppg_reports = _read_ppg(
        archive, subjects, pairs, logs, timeline, findings, cfg, checks, Path(cache_dir), hashes, progress
    )

    bad = findings.bad
    bad_messages = [message for messages in bad.values() for message in messages]
    if bad_messages and not skip_bad:
        listing = "\n".join(f"  - {message}" for message in bad_messages)
        raise IngestError(
            f"{len(bad_messages)} bad input file(s) in {archive.root}:\n{listing}\n"
            "Fix them, or re-run with --skip-bad (skip_bad=True) to exclude these participants."
        )
    kept = [s for s in sorted(logs.events) if s not in bad]
    counts = responses_per_trial(events, timeline) if timeline is not None else {}
    for subject in kept:
        if logs.reports[subject]["events"].get("Response") and not sum(counts.get(subject, [])):
            findings.warn(f"{logs.paths[subject]}: no Response inside any trial: every rating is 0")
    for message in findings.warnings:
        warnings.warn(message, IngestWarning, stacklevel=2)

    by_subject = sorted(bad.items(), key=lambda kv: (isinstance(kv[0], str), str(kv[0]).zfill(3)))
    excluded = [{"subject": s, "scope": "all", "reasons": m} for s, m in by_subject]
    excluded += [{"subject": s, "scope": "ppg", "reasons": ["no PPG file"]} for s in kept if s not in pairs]
    if timeline is None or not kept:
        raise IngestError(f"{archive.root}: no participant left after excluding bad files")
    timeline = timeline.filter(pl.col("subject").is_in(kept))
    labels = dense_labels(events.filter(pl.col("subject").is_in(kept)), timeline, cfg)
    with_ppg = [s for s in kept if s in ppg_series]
    ppg_timeline = timeline.filter(pl.col("subject").is_in(with_ppg))
    ppg10hz = _ppg_frame(ppg_timeline, [x for s in with_ppg for x in ppg_series[s]], cfg)

    for subject, report in logs.reports.items():
        report["responses_per_trial"] = counts.get(subject, [])
    report = {
        "data_source": archive.source,
        "archive": archive.describe(),
        "protocol": to_dict(cfg),
        "checks": to_dict(checks),
        "participants": kept,
        "participants_with_ppg": with_ppg,
        "n_trials": timeline.height,
        "n_label_rows": labels.height,
        "n_ppg_rows": ppg10hz.height,
        "excluded": excluded,
        "warnings": findings.warnings,
        "ppg_channels": sorted(
            {f"{r['ppg_channel']['column']} ({r['ppg_channel']['label']})" for r in ppg_reports.values()}
        ),
        "presentation_versions": sorted({v for r in logs.reports.values() if (v := r["presentation_version"])}),
        "logs": {f"{s:03d}": r for s, r in sorted(logs.reports.items())},
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
