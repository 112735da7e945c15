"""Reading a BIDS copy back: events as the log's events, physio as the Biopac recording (io.bids, io.archive)."""

import gzip
import json

import numpy as np
import polars as pl
import pytest

from restasmr_jax.io import archive, bids
from restasmr_jax.io.presentation import LogFormatError

HEADER = "onset\tduration\ttrial_type\tvalue\tresponse_key\tstim_id\ttrial_index\twarmup_s\n"
VIDEOS = [(f"vid{i}", "ASMR" if i <= 4 else "Nature") for i in (2, 4, 3, 1, 8, 7, 5, 6)]


def events_text(extra: dict[int, str] | None = None) -> str:
    """Eight video rows 60 s apart from 65.4635 s, each followed by a rating row 7.5 s in; `extra` replaces rows."""
    rows = []
    for i, (code, condition) in enumerate(VIDEOS):
        onset = 654635 + i * 600_000
        rows.append(f"{onset / 1e4}\t{55.7 if i == 0 else 60.0}\t{condition}\tn/a\tn/a\t{code}\t{i}\t5.0")
        rows.append(f"{(onset + 75_000) / 1e4}\t1.0\trating\t{i % 4}\t{i % 4 + 1}\tn/a\t{i}\tn/a")
    for index, row in (extra or {}).items():
        rows[index] = row
    return HEADER + "\n".join(rows) + "\n"


def write_events(folder, text: str, subject: int = 7):
    path = bids.events_path(folder, subject)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_events_file_reads_back_as_the_logs_events(tmp_path):
    parse = bids.read_events(write_events(tmp_path, events_text()))
    events = parse.events
    assert events.columns == ["subject", "trial", "event_type", "code", "time_ticks", "line"]
    assert events["subject"].unique().to_list() == [7]
    videos = events.filter(pl.col("event_type") == "Video")
    assert videos["code"].to_list() == [code for code, _ in VIDEOS]
    assert videos["time_ticks"].to_list() == [654635 + i * 600_000 for i in range(8)]  # exact ticks, no rounding
    assert videos["line"].to_list() == list(range(2, 18, 2))  # the header is line 1
    ratings = events.filter(pl.col("event_type") == "Response")
    assert ratings["code"].to_list() == [str(i % 4 + 1) for i in range(8)]
    assert ratings["time_ticks"].to_list() == [654635 + 75_000 + i * 600_000 for i in range(8)]
    assert parse.report["events"] == {"Response": 8, "Video": 8} and parse.report["subject"] == 7


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("65.46351\t55.7\tASMR\tn/a\tn/a\tvid2\t0\t5.0", r"line 2: onset '65.46351' is not .* 0.1-ms grid"),
        ("65.4635\t55.7\tNature\tn/a\tn/a\tvid2\t0\t5.0", "line 2: trial_type 'Nature' but stim_id vid2 is a ASMR"),
        ("65.4635\t55.7\tASMR\tn/a\tn/a\tvid9\t0\t5.0", "line 2: stim_id 'vid9' is not a video code"),
        ("72.9635\t1.0\trating\t3\t2\tn/a\t0\tn/a", "line 3: rating row with response_key '2' and value '3'"),
        ("72.9635\t1.0\trating\t1\tx\tn/a\t0\tn/a", "line 3: rating row with response_key 'x'"),
    ],
)
def test_a_wrong_events_row_is_named_by_line(tmp_path, row, expected):
    index = 0 if "rating" not in row else 1
    with pytest.raises(bids.BidsEventsError, match=expected):
        bids.read_events(write_events(tmp_path, events_text({index: row})))


def test_events_file_without_the_needed_columns_or_videos(tmp_path):
    text = events_text().replace("\tresponse_key", "\tkey")
    with pytest.raises(bids.BidsEventsError, match="line 1: no column.*response_key"):
        bids.read_events(write_events(tmp_path, text))
    seven = "".join(events_text().splitlines(keepends=True)[:-2])  # the last video and its rating removed
    with pytest.raises(LogFormatError, match="7 Video events, expected 8"):
        bids.read_events(write_events(tmp_path, seven))


def write_physio(folder, samples: np.ndarray, meta: dict | None, subject: int = 7):
    path = bids.physio_path(folder, subject)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join("\t".join(repr(float(v)) for v in row) + "\n" for row in samples)
    path.write_bytes(gzip.compress(text.encode()))
    if meta is not None:
        bids.sidecar_path(path).write_text(json.dumps(meta))
    return path


META = {
    "SamplingFrequency": 1000,
    "StartTime": 0.0,
    "Columns": ["cardiac", "cardiac_bandpass"],
    "cardiac": {"LongName": "PPG raw", "Units": "mV"},
    "cardiac_bandpass": {"LongName": "PPG, 0.5 Hz - 35 Hz", "Units": "V"},
}


def test_physio_reads_back_with_rate_labels_and_units_from_the_sidecar(tmp_path):
    samples = np.array([[0.5, -0.25], [1.0, 2.0], [-3.5, 0.125]], dtype=np.float32)
    recording = bids.read_physio(write_physio(tmp_path, samples, META))
    assert recording.samples.dtype == np.float32 and np.array_equal(recording.samples, samples)
    assert recording.interval_ms == 1.0  # from SamplingFrequency 1000 Hz, not an assumed 2000
    assert recording.labels == ["PPG raw", "PPG, 0.5 Hz - 35 Hz"] and recording.units == ["mV", "V"]
    assert np.array_equal(recording.channel("CH2"), samples[:, 1])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"StartTime": 1.5}, "StartTime is 1.5"),
        ({"SamplingFrequency": 0}, "SamplingFrequency must be a positive number"),
        ({"Columns": ["cardiac", "respiratory"]}, "Columns .* expected cardiac"),
        ({"Columns": ["cardiac_bandpass", "cardiac"]}, "in channel order"),
    ],
)
def test_a_wrong_sidecar_is_refused(tmp_path, change, expected):
    path = write_physio(tmp_path, np.ones((3, 2), np.float32), {**META, **change})
    with pytest.raises(bids.BidsPhysioError, match=expected):
        bids.read_physio(path)


def test_physio_without_sidecar_or_with_holes(tmp_path):
    path = write_physio(tmp_path, np.ones((3, 2), np.float32), None)
    with pytest.raises(bids.BidsPhysioError, match="no sidecar sub-007_task-asmr_physio.json"):
        bids.read_physio(path)
    bids.sidecar_path(path).write_text(json.dumps(META))
    path.write_bytes(gzip.compress(b"1.0\t2.0\n1.5\tn/a\n2.0\t3.0\n"))
    with pytest.raises(bids.BidsPhysioError, match=r"line 2: '1.5\\tn/a': expected 2 tab-separated numbers"):
        bids.read_physio(path)


@pytest.mark.parametrize("interval", [0.5, 1.0, 0.333, 0.25, 0.1, 2.5, 0.0125])
def test_interval_survives_the_frequency(interval):
    assert bids.interval_from_frequency(1000.0 / interval) == interval


def test_open_archive_recognises_a_bids_copy(tmp_path):
    (tmp_path / bids.DESCRIPTION_FILE).write_text(json.dumps({"Name": "x", "BIDSVersion": "1.11.1"}))
    with pytest.raises(archive.ArchiveError, match="without REST-ASMR events"):
        archive.open_archive(tmp_path)
    write_events(tmp_path, events_text())
    write_physio(tmp_path, np.ones((3, 2), np.float32), META)
    opened = archive.open_archive(tmp_path)
    assert (opened.layout, opened.source, opened.synth) == ("bids", "real", None)
    assert opened.log_files() == [bids.events_path(tmp_path, 7)] and [s for s, _ in opened.ppg_candidates()] == [7]
    assert opened.stim_dir == tmp_path / "stimuli" and opened.subject_of(bids.events_path(tmp_path, 7)) == 7
    assert {p.name for p in opened.input_files()} == {
        "sub-007_task-asmr_events.tsv",
        "sub-007_task-asmr_physio.tsv.gz",
        "sub-007_task-asmr_physio.json",
    }
    marker = {"generator": "restasmr_jax.synth", "seed": 3}
    (tmp_path / bids.DESCRIPTION_FILE).write_text(json.dumps({"Name": "x", bids.SYNTHETIC_KEY: marker}))
    assert archive.open_archive(tmp_path).source == "synthetic" and archive.open_archive(tmp_path).synth == marker
    (tmp_path / bids.DESCRIPTION_FILE).write_text("{not json")
    with pytest.raises(archive.ArchiveError, match="dataset_description.json: not valid JSON"):
        archive.open_archive(tmp_path)


def test_physio_cache_returns_the_parse_and_follows_the_sidecar(tmp_path):
    samples = np.array([[0.5, -0.25], [1.0, 2.0]], dtype=np.float32)
    path = write_physio(tmp_path, samples, META)
    cache = tmp_path / "cache"
    first = bids.read_physio(path, cache_dir=cache)
    assert list((cache / "bids-physio").glob("*.npz"))
    path.write_bytes(gzip.compress(b""))  # other bytes, another key: parsed again (and refused), not served stale
    with pytest.raises(bids.BidsPhysioError, match="no samples"):
        bids.read_physio(path, cache_dir=cache)
    write_physio(tmp_path, samples, META)
    assert np.array_equal(bids.read_physio(path, cache_dir=cache).samples, first.samples)
    bids.sidecar_path(path).write_text(json.dumps({**META, "SamplingFrequency": 500}))
    assert bids.read_physio(path, cache_dir=cache).interval_ms == 2.0  # the sidecar is part of the key
