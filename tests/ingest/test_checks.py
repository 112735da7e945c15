"""Nothing wrong goes through silently: one small archive per class of defect, through `experiments.ingest`.

Each test builds its archive, runs the command, and asserts the exit status, that the message names
the file (and line where there is one), and for warnings that the outputs equal the clean run's.
"""

import json

import numpy as np
import polars as pl
import pytest

from experiments.ingest import main as ingest_cli
from restasmr_jax.config import IngestConfig
from restasmr_jax.ingest.tables import TABLES, IngestWarning, ingest_archive
from restasmr_jax.io.archive import open_archive
from tests.ingest.test_tables import INTERVAL_MS, make_archive, signal
from tests.io.test_biopac import export
from tests.io.test_presentation import ONSETS, lines_of, protocol_rows, write_log

pytestmark = pytest.mark.filterwarnings("ignore::restasmr_jax.ingest.tables.IngestWarning")
N_SAMPLES = 15_200  # 760 s at 20 Hz: 50 s past the logs' last event (a Pulse at 710 s)
RESPONSES = [(ONSETS[1] + 61_000, 3), (ONSETS[4] + 100_000, 2)]


def build(root, subjects=(1, 3), **kw):
    """The archive's folder (`tests.ingest.test_tables.make_archive` with 760-s recordings)."""
    return make_archive(root, subjects, n_samples=N_SAMPLES, **kw).root


def run(tmp_path, root, *flags, out="out"):
    """(the error line or None, the output folder) of `python -m experiments.ingest` on `root`."""
    out_dir = tmp_path / out
    argv = ["--data-dir", str(root), "--out", str(out_dir), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    try:
        ingest_cli([*argv, *flags])
    except SystemExit as exc:
        assert exc.code not in (0, None)
        message = str(exc.code)
        assert message.startswith("error: ") and "Traceback" not in message
        return message, out_dir
    return None, out_dir


def outputs(out_dir):
    return {name: pl.read_parquet(out_dir / f"{name}.parquet") for name in TABLES}


@pytest.fixture
def clean(tmp_path):
    """The clean two-participant archive's outputs."""
    error, out_dir = run(tmp_path, build(tmp_path / "clean"), out="clean-out")
    assert error is None
    assert json.loads((out_dir / "report.json").read_text())["warnings"] == []
    return outputs(out_dir)


def assert_warned(out_dir, capsys, *fragments):
    """The run succeeded with its outputs, and every warning fragment is in the summary, report and manifest."""
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    report = json.loads((out_dir / "report.json").read_text())["warnings"]
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    for fragment in fragments:
        assert fragment in printed, printed
        assert any(fragment in w for w in report), report
        assert any(fragment in w for w in manifest["warnings"]), manifest["warnings"]


def assert_same(out_dir, clean):
    for name, frame in outputs(out_dir).items():
        assert frame.equals(clean[name]), name


# ---- 1. a header parsed wrongly: the recording's length against the log's timeline -----------------------


def test_a_misread_interval_is_caught_by_the_session_length(tmp_path):
    root = build(tmp_path / "a")
    path = root / "ppg" / "003_csv.txt"
    export(path, signal(3, N_SAMPLES), interval_ms=500.0, time_unit=None, counts=True)  # 10x the true 50 ms
    error, out_dir = run(tmp_path, root)
    assert f"{path}: the recording lasts 7600.0 s" in error and "001-1-20240115-ab01.log" not in error
    assert "sampling interval is probably wrong" in error and "--max-recording-ratio" in error
    assert not out_dir.exists()  # bad input leaves no folder behind


def test_comma_decimal_interval_reads_as_written(tmp_path, clean):
    root = build(tmp_path / "a")
    for s in (1, 3):
        path = root / "ppg" / f"{s:03d}_csv.txt"
        path.write_text(path.read_text().replace("50 msec/sample", "50,0 msec/sample"))
    error, out_dir = run(tmp_path, root)
    assert error is None
    assert_same(out_dir, clean)


def test_a_recording_far_past_the_session_is_a_warning(tmp_path, clean, capsys):
    root = build(tmp_path / "a")
    path = root / "ppg" / "001_csv.txt"
    export(path, signal(1, N_SAMPLES + 2_000), interval_ms=INTERVAL_MS)  # 100 s longer
    error, out_dir = run(tmp_path, root)
    assert error is None
    assert_warned(out_dir, capsys, f"{path}: the recording lasts 860.0 s", "differ by more than 60 s")
    assert_same(out_dir, clean)


# ---- 2. valid presses dropped, or invalid ones kept quietly -------------------------------------------------


def test_keys_written_as_decimals_are_presses(tmp_path, clean):
    root = build(tmp_path / "a")
    for log in root.glob("log/*.log"):
        lines = log.read_text().split("\n")
        log.write_text("\n".join(line.replace("\tResponse\t3\t", "\tResponse\t3.0\t") for line in lines))
    error, out_dir = run(tmp_path, root)
    assert error is None
    assert_same(out_dir, clean)


def test_a_key_outside_1_to_4_is_said_and_can_be_refused(tmp_path, capsys):
    root = build(tmp_path / "a")
    log = next(root.glob("log/003-*.log"))
    log.write_text(log.read_text().replace("\tResponse\t2\t", "\tResponse\t7\t"))
    line = lines_of(log, "Response\t7")[0]
    error, out_dir = run(tmp_path, root)
    assert error is None
    assert_warned(out_dir, capsys, f"{log}: line {line}: 1 Response key(s) outside 1..4", "clipped")
    error, _ = run(tmp_path, root, "--keys", "error", out="strict")
    assert f"{log}: line {line}: Response key 7 outside 1..4" in error


def test_a_log_without_responses_is_a_warning(tmp_path, capsys):
    root = build(tmp_path / "a")
    log = next(root.glob("log/001-*.log"))
    write_log(root / "log", protocol_rows([]), name=log.name)
    error, out_dir = run(tmp_path, root)
    assert error is None
    assert_warned(out_dir, capsys, f"{log}: no Response events")


# ---- 3. impossible timelines ---------------------------------------------------------------------------------


def test_overlapping_trials_are_an_error(tmp_path):
    root = build(tmp_path / "a")
    onsets = list(ONSETS)
    onsets[2] = onsets[1] + 250_000  # 25 s after trial 1 started: 35 s of overlap
    log = write_log(root / "log", protocol_rows(RESPONSES, onsets=tuple(onsets)), name="003-1-20240115-ab03.log")
    first, second = lines_of(log, "\tVideo\t")[1:3]
    error, _ = run(tmp_path, root)
    assert f"{log}: lines {first}, {second}: trial 1 (vid1)" in error and "overlap by 35.00 s" in error
    assert "--timing-tolerance" in error
    assert run(tmp_path, root, "--timing-tolerance", "40", out="relaxed")[0] is None


def test_a_video_shown_shorter_than_its_trial_is_a_warning(tmp_path, clean, capsys):
    root = build(tmp_path / "a")
    log = next(root.glob("log/001-*.log"))
    log.write_text(log.read_text().replace("\tvid4\t1950000\t0\t1\t600000\t", "\tvid4\t1950000\t0\t1\t300000\t"))
    error, out_dir = run(tmp_path, root)
    assert error is None
    line = lines_of(log, "\tvid4\t")[0]
    assert_warned(out_dir, capsys, f"{log}: line {line}: vid4 was on screen for 30.00 s")
    assert_same(out_dir, clean)


# ---- 4. non-finite samples -------------------------------------------------------------------------------------


def put_nan(root, subject, row):
    path = root / "ppg" / f"{subject:03d}_csv.txt"
    lines = path.read_text().split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("0\t")) + 1
    fields = lines[first - 1 + row].split("\t")
    fields[2] = "NaN"
    lines[first - 1 + row] = "\t".join(fields)
    path.write_text("\n".join(lines))
    return path, first + row


def test_nan_inside_a_trial_is_an_error_naming_file_line_and_trial(tmp_path):
    root = build(tmp_path / "a")
    row = -(-(ONSETS[2] + 50_000) // 500) + 10  # 10 samples into trial 2's epoch
    path, line = put_nan(root, 3, row)
    error, _ = run(tmp_path, root)
    assert f"subject 003 vid4 (trial 2, {path})" in error and f"the first at line {line}" in error


def test_nan_outside_every_trial_is_a_warning(tmp_path, clean, capsys):
    root = build(tmp_path / "a")
    path, line = put_nan(root, 1, 100)  # 5 s into the baseline rest
    error, out_dir = run(tmp_path, root)
    assert error is None
    assert_warned(out_dir, capsys, f"{path}: line {line}: CH2 holds 1 non-finite sample(s)")
    assert_same(out_dir, clean)


# ---- 5. files paired wrongly or lost ----------------------------------------------------------------------------


def test_unpadded_ppg_names_and_upper_case_logs_are_paired(tmp_path, clean):
    root = build(tmp_path / "a")
    (root / "ppg" / "001_csv.txt").rename(root / "ppg" / "1_csv.txt")
    log = next(root.glob("log/003-*.log"))
    log.rename(log.with_suffix(".LOG"))
    error, out_dir = run(tmp_path, root)
    assert error is None
    assert_same(out_dir, clean)
    report = json.loads((out_dir / "report.json").read_text())
    assert report["ppg"]["001"]["file"] == "1_csv.txt" and report["logs"]["003"]["file"].endswith(".LOG")


def test_two_exports_for_one_participant_are_an_error(tmp_path):
    root = build(tmp_path / "a")
    (root / "ppg" / "1_csv.txt").write_bytes((root / "ppg" / "001_csv.txt").read_bytes()[:-1] + b"\n")
    error, _ = run(tmp_path, root)
    assert f"{root / 'ppg' / '001_csv.txt'}, {root / 'ppg' / '1_csv.txt'}: 2 PPG exports name participant 001" in error


def test_byte_identical_exports_of_two_participants_are_an_error(tmp_path, capsys):
    root = build(tmp_path / "a")
    (root / "ppg" / "003_csv.txt").write_bytes((root / "ppg" / "001_csv.txt").read_bytes())
    error, _ = run(tmp_path, root)
    assert "ppg/001_csv.txt, ppg/003_csv.txt: byte-identical PPG export files of participants 001, 003" in error
    error, out_dir = run(tmp_path, root, "--allow-duplicates", out="allowed")
    assert error is None
    assert_warned(out_dir, capsys, "byte-identical PPG export files", "--allow-duplicates")


def test_subject_column_disagreeing_with_the_file_name_is_a_warning(tmp_path, clean, capsys):
    root = build(tmp_path / "a")
    log = next(root.glob("log/003-*.log"))
    log.write_text(log.read_text().replace("sub01\t", "5\t"))
    error, out_dir = run(tmp_path, root)
    assert error is None
    assert_warned(out_dir, capsys, f"{log}: participant ID sources disagree (file name 3, Subject column 5)")
    assert_same(out_dir, clean)


def test_files_that_are_no_input_are_named(tmp_path, clean, capsys):
    root = build(tmp_path / "a")
    (root / "log" / "notes.txt").write_text("session notes\n")
    (root / "ppg" / "003.txt").write_text("a copy\n")
    error, out_dir = run(tmp_path, root)
    assert error is None
    assert_warned(out_dir, capsys, f"{root / 'log' / 'notes.txt'}: not a .log file", f"{root / 'ppg' / '003.txt'}")
    assert_same(out_dir, clean)


def test_subjects_file_names_logs_without_an_id(tmp_path, clean):
    root = build(tmp_path / "a")
    for log in root.glob("log/*.log"):
        log.rename(root / "log" / f"session-{log.name[:3]}.log")
    error, _ = run(tmp_path, root)
    assert "cannot tell the participant ID" in error and "--subjects-file" in error
    table = tmp_path / "subjects.csv"
    table.write_text("file,subject\nsession-001.log,1\nsession-003.log,3\n")
    error, out_dir = run(tmp_path, root, "--subjects-file", str(table), out="mapped")
    assert error is None
    assert_same(out_dir, clean)


# ---- 9. the wrong kind of path: one line, before any work ----------------------------------------------------


def test_paths_of_the_wrong_kind_fail_up_front(tmp_path, monkeypatch):
    root = build(tmp_path / "a")
    calls = []
    monkeypatch.setattr("restasmr_jax.runs.data.ingest_archive", lambda *a, **k: calls.append(1))
    (tmp_path / "file").write_text("x")
    error, _ = run(tmp_path, root, out="file")
    assert f"--out {tmp_path / 'file'}: a file" in error
    error, _ = run(tmp_path, root, "--cache-dir", str(tmp_path / "file"))
    assert f"--cache-dir {tmp_path / 'file'}: a file, expected a folder" in error
    (root / "ppg" / "005_csv.txt").mkdir()
    error, _ = run(tmp_path, root)
    assert f"{root / 'ppg' / '005_csv.txt'}: a directory, expected a Biopac text export" in error
    assert calls == []  # nothing was ingested


def test_a_folder_holding_earlier_outputs_is_refused(tmp_path, clean):
    root = build(tmp_path / "a")
    error, _ = run(tmp_path, root, out="clean-out")
    assert "--out" in error and "already holds files" in error and "labels.parquet" in error


# ---- 6 and stim/: which archive -------------------------------------------------------------------------------


def test_ingest_needs_no_stimuli_and_data_dir_never_becomes_synthetic(tmp_path, monkeypatch, clean):
    root = build(tmp_path / "a")
    (root / "stim").rmdir()
    error, out_dir = run(tmp_path, root)
    assert error is None
    assert_same(out_dir, clean)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "log").mkdir(parents=True)
    error, _ = run(tmp_path, "data", out="from-data")
    assert "data: not a REST-ASMR archive, missing folder(s) ppg" in error
    from restasmr_jax.io.archive import ArchiveError
    from restasmr_jax.runs.data import resolve_archive

    with pytest.raises(ArchiveError, match="a partial real archive is never replaced by the synthetic one"):
        resolve_archive()


# ---- 10. --cache-dir honoured ---------------------------------------------------------------------------------------


def test_ingest_caches_only_under_cache_dir(tmp_path, monkeypatch):
    root = build(tmp_path / "a")
    monkeypatch.chdir(tmp_path)
    error, _ = run(tmp_path, root, "--cache-dir", str(tmp_path / "elsewhere"))
    assert error is None
    assert sorted(p.name for p in (tmp_path / "elsewhere" / "biopac").glob("*.npz")) != []
    assert not (tmp_path / "data").exists() and not (tmp_path / "cache").exists()


def test_ppg_channel_is_chosen_and_recorded(tmp_path):
    root = build(tmp_path / "a")
    error, out_dir = run(tmp_path, root, "--ppg-channel", "0.5-35")  # a substring of CH2's label
    assert error is None
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["ppg_channels"] == ["CH2 (PPG, 0.5-35 Hz)"]
    assert manifest["configs"]["checks"]["ppg_channel"] == "0.5-35"
    error, _ = run(tmp_path, root, "--ppg-channel", "PPG", out="ambiguous")
    assert "2 channel labels contain 'PPG'" in error and "001_csv.txt" in error


def test_library_call_warns_once_per_finding(tmp_path):
    root = build(tmp_path / "a")
    (root / "log" / "notes.txt").write_text("x")
    with pytest.warns(IngestWarning, match="notes.txt: not a .log file"):
        out = ingest_archive(open_archive(root), cache_dir=tmp_path / "c", progress=False, checks=IngestConfig())
    assert len(out.report["warnings"]) == 1
    np.testing.assert_array_equal(out.report["participants"], [1, 3])
