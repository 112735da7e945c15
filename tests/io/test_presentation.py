"""Presentation log reader: table discovery, decoding, ragged rows, every bad-input case (SPEC §1.1)."""

import polars as pl
import pytest

from restasmr_jax.io.presentation import LogFormatError, read_log

HEADER = (
    "Subject\tTrial\tEvent Type\tCode\tTime\tTTime\tUncertainty\tDuration\tUncertainty"
    "\tReqTime\tReqDur\tStim Type\tPair Index"
)
SECOND_TABLE = (
    "Event Type\tCode\tType\tResponse\tRT\tRT Uncertainty\tTime\tUncertainty\tDuration"
    "\tUncertainty\tReqTime\tReqDur\n"
    "Video\tvid1\thit\t1\t1200\t1\t643000\t1\t600000\t2\t0\tnext\n"
)
# Eight Video onsets (0.1-ms ticks): the first ~4.3 s late after a 60-s rest, then ~60 s apart.
TAB = "\t"
ONSETS = (643_000, 1_300_000, 1_950_000, 2_600_000, 5_000_000, 5_650_000, 6_300_000, 6_950_000)
CODES = ("vid3", "vid1", "vid4", "vid2", "vid7", "vid5", "vid8", "vid6")


def row(event_type, code, time, trial=1):
    """One event row; Video rows are long, Response/Pulse rows ragged-short as Presentation writes them."""
    if event_type == "Video":
        return f"sub01\t{trial}\tVideo\t{code}\t{time}\t0\t1\t600000\t2\t0\tnext\tother\t0"
    return f"sub01\t{trial}\t{event_type}\t{code}\t{time}\t0\t1"


def protocol_rows(responses=(), onsets=ONSETS, codes=CODES, pulses=True):
    """Rows of a whole session, sorted by time: Video events, (time, key) responses, Pulse events."""
    events = [("Video", c, t) for c, t in zip(codes, onsets)]
    events += [("Response", str(key), t) for t, key in responses]
    if pulses:
        events += [("Pulse", "99", t) for t in range(100_000, 7_200_000, 1_000_000)]
    events.sort(key=lambda e: e[2])  # stable: equal times keep their given order
    return [row(kind, code, time, trial=i + 1) for i, (kind, code, time) in enumerate(events)]


def log_text(rows, *, preamble=True, second_table=True, blank_after_header=True):
    parts = []
    if preamble:
        parts.append("Scenario - rest_asmr\nSubject: ASMR study, session A\nLogfile written - 01/15/2024 10:23:45\n\n")
    parts.append(HEADER + "\n" + ("\n" if blank_after_header else ""))
    parts.append("\n".join(rows) + "\n")
    if second_table:
        parts.append("\n" + SECOND_TABLE)
    return "".join(parts)


def write_log(directory, rows=None, *, name="001-1-20240115-ab12.log", newline="\n", encoding="utf-8", **kw):
    text = log_text(protocol_rows() if rows is None else rows, **kw).replace("\n", newline)
    path = directory / name
    path.write_bytes(text.encode(encoding))
    return path


def lines_of(path, needle):
    """1-based numbers of the lines containing needle (independent of the reader)."""
    lines = path.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    return [i for i, line in enumerate(lines, 1) if needle in line]


def line_of(path, needle):
    return lines_of(path, needle)[0]


def test_reads_table_skipping_preamble_and_second_table(tmp_path):
    responses = [(700_000, 2), (1_400_000, 4)]
    path = write_log(tmp_path, protocol_rows(responses))
    parsed = read_log(path)
    ev = parsed.events
    assert dict(ev.schema) == {
        "subject": pl.Int32,
        "trial": pl.Int32,
        "event_type": pl.Utf8,
        "code": pl.Utf8,
        "time_ticks": pl.Int64,
        "line": pl.Int32,
    }
    videos = ev.filter(pl.col("event_type") == "Video")
    assert videos["code"].to_list() == list(CODES)  # the second table's "Video vid1" row is not an event
    assert videos["time_ticks"].to_list() == list(ONSETS)
    assert ev.filter(pl.col("event_type") == "Response")["code"].to_list() == ["2", "4"]
    assert ev["subject"].unique().to_list() == [1]
    assert parsed.report["events"] == {"Pulse": 8, "Response": 2, "Video": 8}
    assert parsed.report["header_line"] == line_of(path, "Subject\tTrial")
    assert parsed.report["second_table_line"] == line_of(path, "Event Type\tCode\tType")
    # line numbers point at the source rows
    lines = path.read_text().split("\n")
    for line, code, time in ev.select("line", "code", "time_ticks").iter_rows():
        assert lines[line - 1].split("\t")[3:5] == [code, str(time)]


def test_crlf_and_no_preamble_give_the_same_events(tmp_path):
    rows = protocol_rows([(700_000, 3)])
    lf = read_log(write_log(tmp_path, rows, name="001-a.log")).events
    crlf = read_log(write_log(tmp_path, rows, name="001-b.log", newline="\r\n"))
    bare = read_log(
        write_log(tmp_path, rows, name="001-c.log", preamble=False, second_table=False, blank_after_header=False)
    ).events
    assert crlf.report["line_endings"] == "CRLF"
    assert crlf.events.equals(lf)
    assert bare.drop("line").equals(lf.drop("line"))
    assert (lf["line"] - bare["line"]).unique().to_list() == [5]  # 4 preamble lines + 1 blank


def test_decodes_cp932_preamble(tmp_path):
    text = log_text(protocol_rows()).replace("Scenario - rest_asmr", "Scenario - ASMR実験")
    path = tmp_path / "005-1-x.log"
    path.write_bytes(text.encode("cp932"))
    parsed = read_log(path)
    assert parsed.report["encoding"] == "cp932"
    assert parsed.events["subject"][0] == 5


def test_non_numeric_response_is_ignored_and_counted(tmp_path):
    path = write_log(tmp_path, protocol_rows([(700_000, "x"), (710_000, 3), (720_000, "")]))
    parsed = read_log(path)
    responses = parsed.events.filter(pl.col("event_type") == "Response")
    assert responses["code"].to_list() == ["3"]
    ignored = parsed.report["ignored_responses"]["non-numeric code"]
    assert ignored["count"] == 2
    assert ignored["lines"] == [line_of(path, "Response\tx\t700000"), line_of(path, "Response\t\t720000")]


def test_subject_from_column_when_name_has_no_id(tmp_path):
    rows = [r.replace("sub01", "7") for r in protocol_rows()]
    assert read_log(write_log(tmp_path, rows, name="session.log")).events["subject"][0] == 7
    with pytest.raises(LogFormatError, match="participant ID"):
        read_log(write_log(tmp_path, name="other.log"))


# ---- bad input: each names the file and the line ------------------------------------------


def assert_error(path, *fragments):
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_empty_file(tmp_path):
    path = tmp_path / "001-1-x.log"
    path.write_bytes(b"")
    assert_error(path, "empty file")
    path.write_bytes(b"\r\n  \n")
    assert_error(path, "empty file")


def test_binary_garbage(tmp_path):
    path = tmp_path / "001-1-x.log"
    path.write_bytes(bytes(range(256)) * 40)
    assert_error(path, "binary")


def test_header_without_a_required_column(tmp_path):
    # a header needs Event Type, Code and Time only (a missing Subject column is fine, see test_presentation_format)
    path = write_log(tmp_path)
    path.write_text(path.read_text().replace("Event Type\tCode\tTime\tTTime", "Event Type\tKode\tTime\tTTime", 1))
    assert_error(path, "no event table", "'Code'")


def test_truncated_row(tmp_path):
    rows = protocol_rows()
    rows.insert(5, "sub01\t6\tResponse\t2")  # cut before Time
    path = write_log(tmp_path, rows)
    assert_error(path, f"line {line_of(path, 'Response' + TAB + '2')}", "truncated row")


def test_truncated_last_row_at_end_of_file(tmp_path):
    path = write_log(tmp_path, second_table=False)
    path.write_bytes(path.read_bytes() + b"sub01\t30\tResp")
    assert_error(path, f"line {len(path.read_text().split(chr(10)))}", "truncated row")


def test_non_numeric_time(tmp_path):
    rows = protocol_rows()
    rows[3] = rows[3].replace("\t1300000\t", "\t13O0000\t")
    path = write_log(tmp_path, rows)
    assert_error(path, f"line {line_of(path, '13O0000')}", "Time", "'13O0000'")


def test_no_video_events(tmp_path):
    path = write_log(tmp_path, protocol_rows(codes=(), onsets=()))
    assert_error(path, "no Video events")


@pytest.mark.parametrize("n", [7, 9])
def test_wrong_number_of_videos(tmp_path, n):
    onsets = ONSETS + (7_600_000,)
    codes = CODES[:n] if n <= 8 else CODES + ("vid1",)
    path = write_log(tmp_path, protocol_rows(onsets=onsets[:n], codes=codes))
    message = assert_error(path, f"{n} Video events", "expected 8")
    assert f"lines {line_of(path, 'Video' + TAB + codes[0])}, " in message


def test_duplicated_video_code(tmp_path):
    codes = CODES[:7] + ("vid3",)
    path = write_log(tmp_path, protocol_rows(codes=codes))
    first, second = lines_of(path, "Video" + TAB + "vid3")
    assert_error(path, "'vid3' shown more than once", f"lines {first}, {second}")


def test_unknown_video_code(tmp_path):
    codes = CODES[:7] + ("vid9",)
    path = write_log(tmp_path, protocol_rows(codes=codes))
    assert_error(path, "unknown video code 'vid9'", f"line {line_of(path, 'vid9')}")


def test_latin1_fallback_for_undecodable_bytes(tmp_path):
    text = log_text(protocol_rows()).replace("Scenario - rest_asmr", "Scenario - caf\xe9 \xff")
    path = tmp_path / "006-2-x.log"
    path.write_bytes(text.encode("latin-1"))  # 0xE9 0x20 is invalid UTF-8, 0xFF is not cp932
    parsed = read_log(path)
    assert parsed.report["encoding"] == "latin-1" and parsed.report["events"]["Video"] == 8


# ---- the protocol layer on logs other installations write ----------------------------------------

from restasmr_jax.config import IngestConfig  # noqa: E402
from restasmr_jax.io.presentation import SubjectsFileError, read_subjects_file  # noqa: E402

FILES = {"vid1": "ASMR1.avi", "vid3": "ASMR3.avi", "vid5": "nature1.avi", "vid7": "nature3.avi"}


def video_summary(rows):
    """A video summary section: (file, frames presented, frames dropped, start time, duration) per video."""
    head = "\tframes presented\tframes dropped\tstart time\tend time\tduration"
    lines = ["video summary", "filename\tstart frame\tend frame" + head]
    for file, presented, dropped, start, duration in rows:
        lines.append(
            f"C:\\stim\\{file}\t1\t{presented}\t{presented}\t{dropped}\t{start}\t{start + duration}\t{duration}"
        )
    return "\n" + "\n".join(lines) + "\n"


def test_field_log_reads_like_the_archives(tmp_path):
    # another lab's export: Trial-first header with a user column, no Subject, the videos named by file,
    # responses written 2.0, a video summary and Presentation 20's JSON block with the subject
    responses = [(700_000, 2), (1_400_000, 4), (5_100_000, 3)]
    reference = read_log(write_log(tmp_path, protocol_rows(responses), name="003-1-x.log"))
    stimuli = {v: f for v, f in zip(CODES, ("ASMR3.avi", "ASMR1.avi", "ASMR4.avi", "ASMR2.avi"))}
    stimuli |= {"vid7": "nature3.avi", "vid5": "nature1.avi", "vid8": "nature4.avi", "vid6": "nature2.avi"}
    rows = []
    for line in protocol_rows(responses):
        subject, trial, kind, code, time, *rest = line.split("\t")
        code = (
            f"C:\\Users\\lab\\stim\\{stimuli[code]}" if kind == "Video" else f"{code}.0" if kind == "Response" else code
        )
        rows.append("\t".join([trial, kind, code, "block-a", time, *rest]))
    header = "Trial\tEvent Type\tCode\tcondition\tTime\tTTime\tUncertainty\tDuration\tUncertainty\tReqTime\tReqDur"
    summary = video_summary([(stimuli[c], 1800, 0, t, 600_000) for c, t in zip(CODES, ONSETS)])
    meta = '{"app": "Presentation Version 20.3 Build 02.25.22", "scenario": "rest_asmr", "subject": "3"}\n'
    text = (
        "Scenario - rest_asmr\nLogfile written - 1\n\n"
        + header
        + "\n\n"
        + "\n".join(rows)
        + "\n"
        + summary
        + "\n"
        + meta
    )
    path = tmp_path / "session.log"
    path.write_text(text)
    parsed = read_log(path)
    assert parsed.events.drop("line", "trial").equals(reference.events.drop("line", "trial"))
    assert parsed.report["subject"] == 3 and parsed.report["presentation_version"] == "20.3 Build 02.25.22"
    assert [row["video"] for row in parsed.report["video_summary"]] == list(CODES)
    assert parsed.report["ignored_responses"]["non-numeric code"]["count"] == 0
    assert len(parsed.report["warnings"]) == 1 and "Video codes read as stimuli" in parsed.report["warnings"][0]


def test_video_summary_dropped_frames_and_late_start_are_warnings(tmp_path):
    stimuli = ["ASMR3.avi", "ASMR1.avi", "ASMR4.avi", "ASMR2.avi", "nature3.avi", "nature1.avi", "nature4.avi"]
    rows = [(f, 1800, 0, t, 600_000) for f, t in zip(stimuli, ONSETS)]
    rows[1] = (stimuli[1], 1800, 4, ONSETS[1], 600_000)  # 4 frames dropped
    rows[2] = (stimuli[2], 1800, 0, ONSETS[2] + 400, 600_000)  # 40 ms late, one frame is 600000/1800 = 333 ticks
    rows[3] = (stimuli[3], 1800, 0, ONSETS[3] + 300, 600_000)  # within one frame: fine
    rows.append(("nature1.avi", 1800, 0, ONSETS[7], 600_000))  # plays nature1, the event says vid6 (nature2)
    path = write_log(tmp_path, protocol_rows([(700_000, 2)]), second_table=False)
    path.write_text(path.read_text() + video_summary(rows))
    warned = read_log(path).report["warnings"]
    assert len(warned) == 3, warned
    lines = lines_of(path, "C:\\stim\\")
    assert f"line {lines[1]}: video summary, vid1" in warned[0] and "4 frame(s) dropped" in warned[0]
    assert f"line {lines[2]}: video summary, vid4" in warned[1] and "+400 ticks" in warned[1]
    assert f"line {lines[7]}: video summary, vid6" in warned[2] and "nature1.avi" in warned[2]


def test_participant_id_sources(tmp_path):
    numbered = [r.replace("sub01", "5") for r in protocol_rows()]
    parsed = read_log(write_log(tmp_path, numbered, name="001-1-x.log"))
    assert parsed.report["subject"] == 1
    assert (
        "file name 1, Subject column 5" in parsed.report["warnings"][0]
        and "--subjects-file" in parsed.report["warnings"][0]
    )
    path = write_log(tmp_path, name="session.log", second_table=False)
    path.write_text(path.read_text() + '\n{"app": "Presentation Version 22.0", "subject": "12"}\n')
    assert read_log(path).report["subject"] == 12
    assert read_log(path, subjects={"session.log": 9}).report["subject"] == 9
    with pytest.raises(LogFormatError) as info:
        read_log(write_log(tmp_path, name="other.log"))
    message = str(info.value)
    for fragment in (
        "participant ID",
        "file name",
        "Subject column",
        "'sub01'",
        "JSON",
        "--subjects-file",
        "other.log,7",
    ):
        assert fragment in message, message


def test_subjects_file(tmp_path):
    path = tmp_path / "subjects.csv"
    path.write_text("file,subject\nsession-a.log,3\n\nsession-b.log, 14\n")
    assert read_subjects_file(path) == {"session-a.log": 3, "session-b.log": 14}
    path.write_text("session-a.log,3\nsession-b.log,x\n")
    with pytest.raises(SubjectsFileError, match=rf"{path}: line 2: expected 'file,subject'"):
        read_subjects_file(path)
    with pytest.raises(SubjectsFileError, match="not found"):
        read_subjects_file(tmp_path / "nope.csv")


def test_video_codes_as_plain_numbers(tmp_path):
    rows = [r.replace("\tvid", "\t") if "\tVideo\t" in r else r for r in protocol_rows()]
    parsed = read_log(write_log(tmp_path, rows))
    assert parsed.events.filter(pl.col("event_type") == "Video")["code"].to_list() == list(CODES)
    assert "'3'->vid3" in parsed.report["warnings"][0]


@pytest.mark.parametrize("written", ["1.0", "4.00", " 2", "3e0"])
def test_response_codes_written_as_numbers_are_keys(tmp_path, written):
    rows = protocol_rows([(700_000, written)])
    parsed = read_log(write_log(tmp_path, rows))
    assert parsed.events.filter(pl.col("event_type") == "Response")["code"].to_list() == [str(int(float(written)))]
    assert parsed.report["ignored_responses"]["non-numeric code"]["count"] == 0 and parsed.report["warnings"] == []


def test_out_of_range_keys_follow_the_policy(tmp_path):
    path = write_log(tmp_path, protocol_rows([(700_000, 2), (710_000, 7)]))
    line = line_of(path, "Response\t7")
    clipped = read_log(path)
    assert clipped.events.filter(pl.col("event_type") == "Response")["code"].to_list() == ["2", "7"]
    assert f"line {line}: 1 Response key(s) outside 1..4" in clipped.report["warnings"][0]
    ignored = read_log(path, checks=IngestConfig(keys="ignore"))
    assert ignored.events.filter(pl.col("event_type") == "Response")["code"].to_list() == ["2"]
    assert "ignored (--keys ignore)" in ignored.report["warnings"][0]
    with pytest.raises(LogFormatError, match=rf"line {line}: Response key 7 outside 1..4.*--keys clip"):
        read_log(path, checks=IngestConfig(keys="error"))


def test_responses_none_of_which_is_a_key_are_an_error(tmp_path):
    path = write_log(tmp_path, protocol_rows([(700_000, "a"), (710_000, "b")]))
    assert_error(path, "none of the 2 Response codes is a key number", f"lines {line_of(path, 'Response')}")


def test_a_log_without_responses_is_a_warning(tmp_path):
    path = write_log(tmp_path, protocol_rows([]))
    assert read_log(path).report["warnings"] == [f"{path}: no Response events: every rating of this participant is 0"]
