"""Every log of an archive read once, and every PPG export paired with its participant (SPEC §1).

Logs are read through the archive's layout (`io.presentation.read_log`, or a BIDS
copy's events; the participant ID from the file name, the log or a `--subjects-file`); a PPG export is paired by the ID
its name carries, however it is zero-padded.  What cannot be paired is
never dropped quietly: two logs or two exports claiming one participant are
errors, and files in `log/` or `ppg/` that are no input are warnings naming
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from restasmr_jax.config import IngestConfig, ProtocolConfig
from restasmr_jax.ingest.checks import Findings
from restasmr_jax.io.archive import Archive
from restasmr_jax.io.presentation import LogFormatError


@dataclass
class Logs:
    """The readable logs, by participant."""

    events: dict[int, pl.DataFrame] = field(default_factory=dict)  # presentation.EVENT_SCHEMA
    videos: dict[int, pl.DataFrame] = field(default_factory=dict)  # presentation.VIDEO_SCHEMA
    reports: dict[int, dict] = field(default_factory=dict)
    paths: dict[int, Path] = field(default_factory=dict)


def read_logs(
    archive: Archive,
    findings: Findings,
    cfg: ProtocolConfig = ProtocolConfig(),
    checks: IngestConfig = IngestConfig(),
    subjects: dict[str, int] | None = None,
) -> Logs:
    """Every log of `archive`; a bad one is an error under its participant (or file name), never skipped silently."""
    logs = Logs()
    for path in archive.log_files():
        try:
            result = archive.read_events(path, cfg, checks=checks, subjects=subjects)
        except LogFormatError as exc:
            subject = (subjects or {}).get(path.name, archive.subject_of(path))
            findings.error(subject if subject is not None else path.name, str(exc))
            continue
        except OSError as exc:
            findings.error(path.name, f"{path}: cannot be read ({exc.strerror or exc})")
            continue
        subject = result.report["subject"]
        if subject in logs.events:
            findings.error(subject, f"{path}: second log for participant {subject:03d} (first: {logs.paths[subject]})")
            continue
        logs.events[subject], logs.videos[subject] = result.events, result.videos
        logs.reports[subject], logs.paths[subject] = result.report, path
        for message in result.report["warnings"]:
            findings.warn(message)
    return logs


def pair_ppg(archive: Archive, findings: Findings) -> dict[int, Path]:
    """participant -> PPG export; two exports for one participant are an error for that participant."""
    claimed: dict[int, list[Path]] = {}
    for subject, path in archive.ppg_candidates():
        claimed.setdefault(subject, []).append(path)
    for subject, paths in sorted(claimed.items()):
        if len(paths) > 1:
            listed = ", ".join(str(p) for p in paths)
            findings.error(subject, f"{listed}: {len(paths)} PPG exports name participant {subject:03d}; keep one")
    return {subject: paths[0] for subject, paths in claimed.items()}


def note_ignored_files(archive: Archive, findings: Findings) -> None:
    """A warning for each file of log/ or ppg/ that no participant gets (a `.txt` log, `001.txt` export)."""
    for path in archive.ignored_files():
        if path.parent == archive.log_dir:
            findings.warn(f"{path}: not a .log file, ignored")
        else:
            findings.warn(f"{path}: not named <ID>_csv.txt, so no participant's PPG; ignored")


def responses_per_trial(events: pl.DataFrame, timeline: pl.DataFrame) -> dict[int, list[int]]:
    """participant -> [trial] number of Response events inside [onset, end) (what the labels are built from)."""
    responses = events.filter(pl.col("event_type") == "Response").select("subject", "time_ticks")
    counts = (
        timeline.select("subject", "trial_index", "onset_ticks", "end_ticks")
        .join(responses, on="subject", how="left")
        .group_by("subject", "trial_index")
        .agg(((pl.col("time_ticks") >= pl.col("onset_ticks")) & (pl.col("time_ticks") < pl.col("end_ticks"))).sum())
        .sort("subject", "trial_index")
    )
    out: dict[int, list[int]] = {}
    for subject, _, n in counts.iter_rows():
        out.setdefault(subject, []).append(int(n or 0))
    return out
