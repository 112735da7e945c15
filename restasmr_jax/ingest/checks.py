"""The archive held against the protocol as a whole, after every file has been read (SPEC §1-§3).

A file can be readable and still wrong for the study.  These checks compare
what the files say with each other and with the protocol (12-minute session,
videos 60 s apart with the first cut to 55.7 s):

| check | outcome | relaxed by (`IngestConfig`) |
|---|---|---|
| two trials overlap by more than the tolerance | error | `timing_tolerance_s` |
| a video shown (log Duration / video summary) shorter than its trial | warning | `timing_tolerance_s` |
| recording longer than `max_recording_ratio` x the log's session | error | `max_recording_ratio` |
| recording and session lengths differ by more than the tolerance | warning | `session_tolerance_s` |
| two participants' logs or PPG exports byte-identical | error | `allow_duplicates` (then a warning) |
| a trial's PPG window holds NaN or inf | error (in `ingest.ppg`) | none: the numbers would be wrong |

An error makes a number wrong and excludes the participant (stopping the
run unless `--skip-bad`); a warning is surprising but possibly legitimate:
it goes to the printed summary, `report.json` and the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from restasmr_jax.config import IngestConfig, ProtocolConfig
from restasmr_jax.ingest.labels import ticks
from restasmr_jax.io.archive import Archive, duplicate_inputs


@dataclass
class Findings:
    """What the checks found: errors per participant (or file name), warnings in the order found."""

    bad: dict[int | str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def error(self, subject: int | str, message: str) -> None:
        self.bad.setdefault(subject, []).append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def _seconds(value: int, cfg: ProtocolConfig) -> str:
    return f"{value / cfg.log_ticks_per_second:.2f} s"


def check_timeline(
    timeline: pl.DataFrame,
    videos: dict[int, pl.DataFrame],
    log_paths: dict[int, Path],
    findings: Findings,
    cfg: ProtocolConfig = ProtocolConfig(),
    checks: IngestConfig = IngestConfig(),
    video_summaries: dict[int, list[dict]] | None = None,
) -> None:
    """Trials must not overlap, and each video should have been shown for its whole trial.

    `timeline`: `labels.TIMELINE_SCHEMA`; `videos`: each participant's Video
    events (`presentation.VIDEO_SCHEMA`, trial order); `video_summaries`: the
    parse reports' `video_summary` rows, whose `duration` is used when present.
    """
    tolerance = ticks(checks.timing_tolerance_s, cfg)
    relax = f"--timing-tolerance S accepts up to S s (now {checks.timing_tolerance_s:g})"
    for subject in sorted(videos):
        trials = timeline.filter(pl.col("subject") == subject).sort("trial_index")
        if trials.is_empty():
            continue
        lines = videos[subject]["line"].to_list()
        path = log_paths[subject]
        onset, end, code = trials["onset_ticks"].to_list(), trials["end_ticks"].to_list(), trials["video"].to_list()
        for i in range(len(onset) - 1):
            overlap = end[i] - onset[i + 1]
            if overlap > tolerance:
                findings.error(
                    subject,
                    f"{path}: lines {lines[i]}, {lines[i + 1]}: trial {i} ({code[i]}) runs to "
                    f"{_seconds(end[i], cfg)} but trial {i + 1} ({code[i + 1]}) starts at "
                    f"{_seconds(onset[i + 1], cfg)}: they overlap by {_seconds(overlap, cfg)} (the protocol "
                    f"spaces videos {cfg.trial_seconds:g} s apart, the first cut to {cfg.first_trial_seconds:g} s); "
                    f"{relax}",
                )
        shown = videos[subject]["duration_ticks"].to_list()
        summary = (video_summaries or {}).get(subject) or []
        for i, (start, stop) in enumerate(zip(onset, end)):
            for what, value in (("its Duration", shown[i] if i < len(shown) else None), *_summary(summary, i)):
                if value is not None and (stop - start) - value > tolerance:
                    findings.warn(
                        f"{path}: line {lines[i]}: {code[i]} was on screen for {_seconds(int(value), cfg)} "
                        f"({what}), shorter than its analysed trial of {_seconds(stop - start, cfg)}; {relax}"
                    )


def _summary(rows: list[dict], i: int) -> list[tuple[str, float | None]]:
    if i >= len(rows) or rows[i].get("duration") is None:
        return []
    return [(f"video summary, line {rows[i]['line']}", rows[i]["duration"])]


def check_recording_length(
    subject: int,
    ppg_path: Path,
    n_samples: int,
    interval_ms: float,
    log_path: Path,
    last_event_ticks: int | None,
    findings: Findings,
    cfg: ProtocolConfig = ProtocolConfig(),
    checks: IngestConfig = IngestConfig(),
) -> None:
    """The recording should last about as long as the log's session (its last event), never far longer.

    `last_event_ticks` None: the event file does not record the session's end (a BIDS copy), nothing to check.
    """
    if last_event_ticks is None:
        return
    recording_s = n_samples * interval_ms / 1000.0
    session_s = last_event_ticks / cfg.log_ticks_per_second
    what = (
        f"{ppg_path}: the recording lasts {recording_s:.1f} s ({n_samples} samples at {interval_ms:g} msec/sample) "
        f"and the session in {log_path.name} {session_s:.1f} s (its last event)"
    )
    if session_s > 0 and recording_s > checks.max_recording_ratio * session_s:
        findings.error(
            subject,
            f"{what}: more than {checks.max_recording_ratio:g}x as long, so the header's sampling interval "
            f"is probably wrong; --max-recording-ratio R accepts up to R x",
        )
    elif abs(recording_s - session_s) > checks.session_tolerance_s:
        findings.warn(f"{what}: they differ by more than {checks.session_tolerance_s:g} s (--session-tolerance S)")


def check_duplicates(
    hashes: dict[str, str],
    owners: dict[str, int],
    archive: Archive,
    findings: Findings,
    checks: IngestConfig = IngestConfig(),
) -> None:
    """Byte-identical logs or PPG exports of different participants: a copy mistake unless `allow_duplicates`.

    `hashes`: relative path (log/..., ppg/...) -> sha256; `owners`: relative path -> participant.
    """
    for folder, what in (("log", "log"), ("ppg", "PPG export")):
        for names in duplicate_inputs({n: h for n, h in hashes.items() if n in owners}, archive, folder):
            subjects = sorted({owners[n] for n in names})
            if len(subjects) < 2:
                continue
            message = (
                f"{', '.join(names)}: byte-identical {what} files of participants "
                f"{', '.join(f'{s:03d}' for s in subjects)} (sha256 {hashes[names[0]][:12]}...)"
            )
            if checks.allow_duplicates:
                findings.warn(f"{message}; kept (--allow-duplicates)")
            else:
                for subject in subjects:
                    findings.error(subject, f"{message}: a copy mistake? --allow-duplicates keeps them")
