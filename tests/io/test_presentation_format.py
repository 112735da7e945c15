"""Presentation logs of any scenario, as other installations write them: sections, header and row variants (SPEC §1.1).

Every file is written here, line by line, so each expectation is read off the text by hand.
"""

import json

import polars as pl
import pytest

from restasmr_jax.io.presentation_format import LogFormatError, read_event_table

T = "\t"
PREAMBLE = ["Scenario - asmr_replication", "Logfile written - 02/21/2025 11:05:38", ""]
HEADER13 = T.join(
    ["Subject", "Trial", "Event Type", "Code", "Time", "TTime", "Uncertainty", "Duration", "Uncertainty"]
    + ["ReqTime", "ReqDur", "Stim Type", "Pair Index"]
)
RESPONSE_SUMMARY_HEADER = T.join(
    ["Event Type", "Code", "Type", "Response", "RT", "RT Uncertainty", "Time", "Uncertainty", "Duration"]
)
VIDEO_SUMMARY_HEADER = T.join(
    [
        "filename",
        "start frame",
        "end frame",
        "frames presented",
        "frames dropped",
        "start time",
        "end time",
        "duration",
    ]
)


def write(tmp_path, lines, name="s01.log", newline="\n"):
    path = tmp_path / name
    path.write_bytes(newline.join(lines).encode("utf-8") + newline.encode())
    return path


def line_no(path, needle):
    return next(i for i, line in enumerate(path.read_text().split("\n"), 1) if needle in line)


def test_sections_after_the_event_table_are_read_and_never_leak(tmp_path):
    lines = [
        *PREAMBLE,
        HEADER13,
        "",
        f"7{T}1{T}Pulse{T}99{T}1000{T}0{T}1",
        f"7{T}2{T}Video{T}vid1{T}643000{T}0{T}1{T}600000{T}1{T}0{T}600000{T}other{T}0",
        f"7{T}2{T}Response{T}2{T}700000{T}57000{T}1",
        "",
        "",
        RESPONSE_SUMMARY_HEADER,
        f"Video{T}vid1{T}hit{T}1{T}1200{T}1{T}643000{T}1{T}600000",
        "",
        "video summary",
        VIDEO_SUMMARY_HEADER,
        f"C:\\Users\\lab\\stim\\ASMR1.avi{T}1{T}1800{T}1797{T}3{T}643010{T}1243010{T}600000",
        "",
        '{ "app": "Presentation Version 20.3 Build 02.25.22",',
        '  "scenario": "asmr_replication", "subject": "7",',
        '  "timestamp": "2025-02-21T11:05:38" }',
    ]
    path = write(tmp_path, lines)
    table = read_event_table(path)
    assert table.events["event_type"].to_list() == ["Pulse", "Video", "Response"]  # nothing after the blank line
    assert table.events["time"].to_list() == [1000, 643000, 700000]
    assert table.events["line"].to_list() == [6, 7, 8]  # 3 preamble lines, the header, a blank line
    assert table.header_line == 4 and table.preamble == {
        "scenario": "asmr_replication",
        "logfile_written": "02/21/2025 11:05:38",
    }
    assert table.response_summary_line == line_no(path, "RT Uncertainty")
    assert table.response_summary["code"].to_list() == ["vid1"]
    assert table.response_summary["rt"].to_list() == ["1200"]
    video = table.video_summary.row(0, named=True)
    assert video["filename"] == "C:\\Users\\lab\\stim\\ASMR1.avi"
    assert (video["frames_presented"], video["frames_dropped"], video["start_time"]) == (1797.0, 3.0, 643010.0)
    assert table.video_summary_line == line_no(path, "frames dropped")
    assert table.metadata["app"].startswith("Presentation Version 20.3")
    assert table.metadata["subject"] == "7" and table.metadata_line == line_no(path, '"app"')
    assert table.notes == []


def test_response_summary_without_rows_then_json(tmp_path):
    meta = {"app": "Presentation Version 21.1", "scenario": "x", "subject": 3, "timestamp": "t"}
    lines = [
        *PREAMBLE,
        HEADER13,
        f"3{T}1{T}Video{T}vid2{T}5{T}0{T}1",
        "",
        RESPONSE_SUMMARY_HEADER,
        "",
        json.dumps(meta),
    ]
    table = read_event_table(write(tmp_path, lines))
    assert table.events.height == 1 and table.response_summary.height == 0
    assert table.metadata == meta and table.video_summary is None


def test_header_variants_found_by_name(tmp_path):
    # no Subject column, Pulse second, three user-defined columns between Code and Time, Uncertainty repeated
    names = ["Trial", "Pulse", "Event Type", "Code", "cond", "block", "my col", "Time", "TTime", "Uncertainty"]
    names += ["Duration", "Uncertainty", "ReqTime"]
    row = ["4", "12", "Video", "vid5", "nat", "B", "x", "2600000", "0", "1", "600000", "2", "0"]
    path = write(tmp_path, [*PREAMBLE, T.join(names), "", T.join(row)])
    table = read_event_table(path)
    got = table.events.row(0, named=True)
    assert (got["event_type"], got["code"], got["time"]) == ("Video", "vid5", 2600000)
    assert (got["trial"], got["pulse"], got["cond"], got["my_col"]) == ("4", "12", "nat", "x")
    assert (got["uncertainty"], got["uncertainty_2"]) == ("1", "2")
    assert table.columns["uncertainty_2"] == "Uncertainty" and "subject" not in table.events.columns


def test_time_as_column_12_of_20(tmp_path):
    names = ["Subject", "Trial", "Event Type", "Code"] + [f"u{i}" for i in range(7)] + ["Time"]
    names += ["TTime", "Uncertainty", "Duration", "Uncertainty", "ReqTime", "ReqDur", "Stim Type", "Pair Index"]
    assert len(names) == 20 and names.index("Time") == 11
    full = ["1", "3", "Video", "vid4", *"abcdefg", "1950000", "0", "1", "600000", "1", "0", "600000", "other", "0"]
    short = ["1", "4", "Response", "3", *"abcdefg", "2000000"]
    table = read_event_table(write(tmp_path, [*PREAMBLE, T.join(names), T.join(full), T.join(short)]))
    assert table.events["time"].to_list() == [1950000, 2000000]
    assert table.events["u6"].to_list() == ["g", "g"] and table.events["pair_index"].to_list() == ["0", None]


def test_row_variants(tmp_path):
    rows = [
        f"1{T}1{T}Manual{T}start{T}100",  # 5 fields
        f"1{T}1{T}Pulse{T}99{T}-2500{T}0{T}1",  # 7 fields, negative Time
        f"{T}2{T}Nothing{T} {T}3000{T}NA{T}next",  # empty Subject, a single-space code, NA and next
        f"1{T}2{T}Text Input{T}'{T}4000{T}{T}",  # a quote for a code, empty cells
        f"1{T}2{T}Port Input{T}a;b;c{T}5000{T}0{T}1",
        f"1{T}3{T}Sound{T}beep.wav{T}6000{T}0{T}1{T}2000{T}1{T}0{T}2000{T}other{T}0",  # 13 fields
        f"1{T}3{T}Picture{T}fix{T}7000{T}0{T}1{T}2000{T}1{T}0{T}2000{T}other{T}0",
        f"1{T}4{T}Video{T}3{T}8000{T}0{T}1",  # a plain number as video code
        f"1{T}5{T}Video{T}C:\\stim\\nature2.avi{T}9000{T}0{T}1",  # a file name
        f"1{T}6{T}Quit{T}{T}9500",
    ]
    path = write(tmp_path, [*PREAMBLE, HEADER13, "", *rows])
    events = read_event_table(path).events
    assert events["event_type"].to_list() == [r.split(T)[2] for r in rows]
    assert events["code"].to_list() == [
        "start",
        "99",
        " ",
        "'",
        "a;b;c",
        "beep.wav",
        "fix",
        "3",
        "C:\\stim\\nature2.avi",
        "",
    ]
    assert events["time"].to_list() == [100, -2500, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 9500]
    assert events["subject"].to_list()[2] == "" and events["ttime"].to_list()[2] == "NA"
    assert events["uncertainty"].to_list()[2] == "next" and events["duration"].to_list()[0] is None
    assert events.schema["time"] == pl.Int64 and events["line"].to_list() == list(range(6, 16))


def test_header_without_events_and_preamble_only(tmp_path):
    table = read_event_table(write(tmp_path, [*PREAMBLE, HEADER13, ""], name="a.log"))
    assert table.events.height == 0 and table.header_line == 4
    assert {"event_type", "code", "time", "line", "subject", "pair_index"} <= set(table.events.columns)
    table = read_event_table(write(tmp_path, PREAMBLE[:2], name="b.log", newline="\r\n"))
    assert table.events.height == 0 and table.header_line is None and table.line_endings == "CRLF"
    assert table.preamble["scenario"] == "asmr_replication" and table.notes == []


def test_unknown_section_and_broken_json_are_notes(tmp_path):
    lines = [*PREAMBLE, HEADER13, f"1{T}1{T}Pulse{T}99{T}1", "", "some trailer text", "", "{ not json"]
    path = write(tmp_path, lines)
    notes = read_event_table(path).notes
    assert len(notes) == 2
    assert f"line {line_no(path, 'trailer')}" in notes[0] and "trailer" in notes[0]
    assert f"line {line_no(path, 'not json')}" in notes[1] and "JSON" in notes[1]


def test_another_programs_log_is_refused_by_name(tmp_path):
    path = write(tmp_path, ["2025-02-21 11:05:38 INFO backup started", "2025-02-21 11:06:01 INFO done"], "backup.log")
    with pytest.raises(LogFormatError) as info:
        read_event_table(path)
    message = str(info.value)
    assert (
        message.startswith(f"{path}: not a Presentation log") and "'2025-02-21 11:05:38 INFO backup started'" in message
    )


@pytest.mark.parametrize(
    "row, fragment",
    [
        (f"1{T}1{T}Pulse{T}99", "truncated row"),  # stops before Time
        (f"1{T}1{T}Pulse{T}99{T}NA", "Time 'NA' is not an integer"),
        (f"1{T}1{T}Pulse{T}99{T}12.5", "Time '12.5'"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, row, fragment):
    path = write(tmp_path, [*PREAMBLE, HEADER13, f"1{T}1{T}Pulse{T}99{T}100", row])
    with pytest.raises(LogFormatError) as info:
        read_event_table(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line 6:") and fragment in message and "\n" not in message
