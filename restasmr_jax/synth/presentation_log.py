"""Presentation event-log text of a synthetic participant (SPEC §1.1).

Layout, as Neurobehavioral Systems Presentation writes it:

    Scenario - REST_ASMR_sequence<1|2>
    Logfile written - MM/DD/YYYY HH:MM:SS
    <blank>
    Subject  Trial  Event Type  Code  Time  TTime  Uncertainty  Duration  Uncertainty  ReqTime  ReqDur
        Stim Type  Pair Index   (one header line)
    <blank>
    event rows (tab-separated, sorted by Time)
    <blank>
    <blank>
    Event Type  Code  Type  Response  RT  RT Uncertainty  Time  Uncertainty  Duration  Uncertainty  ReqTime  ReqDur
    one stimulus-summary row per video

Rows are ragged: `Pulse` and `Response` rows stop after the first
Uncertainty (7 fields), `Video` rows fill all 13.  `Trial` is
Presentation's trial counter (1 = baseline rest, 2-5 block A, 6 washout,
7-10 block B, 11 final rest); `TTime` is the time since that trial started.
The Pulse code is 99.  Text is ASCII; CRLF or LF line endings.
"""

from __future__ import annotations

import numpy as np

EVENT_HEADER = (
    "Subject",
    "Trial",
    "Event Type",
    "Code",
    "Time",
    "TTime",
    "Uncertainty",
    "Duration",
    "Uncertainty",
    "ReqTime",
    "ReqDur",
    "Stim Type",
    "Pair Index",
)
SUMMARY_HEADER = (
    "Event Type",
    "Code",
    "Type",
    "Response",
    "RT",
    "RT Uncertainty",
    "Time",
    "Uncertainty",
    "Duration",
    "Uncertainty",
    "ReqTime",
    "ReqDur",
)
PULSE_CODE = "99"
SCENARIO = "REST_ASMR_sequence"
_ORDER = {"Pulse": 0, "Video": 1, "Response": 2}  # same-tick tie-break


def render_log(sim, requested_ticks: int) -> str:
    """The whole log of `sim` (a SubjectSim) with LF line endings; `requested_ticks` is ReqDur of a video."""
    session = sim.session
    sid = f"{sim.subject:03d}"
    events = (
        [(int(t), "Pulse", PULSE_CODE, None) for t in session.pulse_ticks]
        + [
            (int(t), "Video", code, trial)
            for trial, (t, code) in enumerate(zip(session.onset_ticks, session.video_order))
        ]
        + [(int(t), "Response", str(int(k)), None) for t, k in zip(sim.press_ticks, sim.press_keys)]
    )
    events.sort(key=lambda e: (e[0], _ORDER[e[1]]))
    times = np.array([e[0] for e in events], dtype=np.int64)
    trial_numbers = session.presentation_trial(times)
    trial_starts = session.segment_start_ticks[trial_numbers - 1]

    lines = [
        f"Scenario - {SCENARIO}{sim.sequence}",
        f"Logfile written - {sim.logfile_written}",
        "",
        "\t".join(EVENT_HEADER),
        "",
    ]
    for (time, kind, code, trial), number, start in zip(events, trial_numbers, trial_starts):
        head = f"{sid}\t{number}\t{kind}\t{code}\t{time}"
        if kind == "Video":
            lines.append(f"{head}\t0\t1\t{session.shown_ticks[trial]}\t1\t0\t{requested_ticks}\tother\t0")
        else:
            lines.append(f"{head}\t{time - start}\t1")
    lines += ["", "", "\t".join(SUMMARY_HEADER)]
    for trial, code in enumerate(session.video_order):
        lines.append(
            f"Video\t{code}\tother\t\t\t\t{session.onset_ticks[trial]}\t1\t{session.shown_ticks[trial]}"
            f"\t1\t0\t{requested_ticks}"
        )
    return "\n".join(lines) + "\n"


def log_bytes(sim, requested_ticks: int) -> bytes:
    text = render_log(sim, requested_ticks)
    if sim.crlf_log:
        text = text.replace("\n", "\r\n")
    return text.encode("ascii")
