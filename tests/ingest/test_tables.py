"""Whole-archive ingestion: tables, exclusions, one error listing every bad file, run outputs (SPEC §1-§3)."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.signal

from experiments.ingest import main as ingest_cli
from restasmr_jax.ingest.tables import IngestError, IngestWarning, ingest_archive
from restasmr_jax.io.archive import open_archive
from restasmr_jax.runs import archive_jobs
from tests.io.test_biopac import export
from tests.io.test_presentation import ONSETS, protocol_rows, write_log

INTERVAL_MS = 50.0  # a 20-Hz stand-in keeps the hand-made exports small; the arithmetic is the same
TICKS_PER_SAMPLE = 500
SESSION_SAMPLES = 15_400  # 770 s: past the last trial's end (6_950_000 + 600_000 ticks = 755 s)


def signal(subject, n=SESSION_SAMPLES):
    i = np.arange(n)
    return np.stack([np.sin(i / (1.4 + subject)), np.cos(i / (2.6 + subject)) + 0.01 * (i % 17)], axis=1)


def make_archive(root, subjects=(1, 3), *, n_samples=None, ppg=True):
    for sub in ("log", "ppg", "stim"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for s in subjects:
        responses = [(ONSETS[1] + 60_000 + 1_000 * s, 3), (ONSETS[4] + 100_000, 2)]
        write_log(root / "log", protocol_rows(responses), name=f"{s:03d}-{2 - s % 2}-20240115-ab{s:02d}.log")
        if ppg:
            export(root / "ppg" / f"{s:03d}_csv.txt", signal(s, n_samples or SESSION_SAMPLES), interval_ms=INTERVAL_MS)
    return open_archive(root)


def expected_ppg(subject, trial):
    """Independent slice + resample + z-score for the hand-made archive."""
    onset = ONSETS[trial]
    end = onset + (557_000 if trial == 0 else 600_000)
    first, stop = -(-(onset + 50_000) // TICKS_PER_SAMPLE), -(-end // TICKS_PER_SAMPLE)
    ch2 = np.array([float(f"{v:.6g}") for v in signal(subject)[first:stop, 1]], dtype=np.float32)
    x = scipy.signal.resample(ch2.astype(np.float64), 507 if trial == 0 else 550)
    return (x - x.mean()) / x.std()


def test_ingest_hand_made_archive(tmp_path):
    archive = make_archive(tmp_path / "archive")
    out = ingest_archive(archive, cache_dir=tmp_path / "cache", progress=False)
    assert out.timeline.height == 16
    assert out.timeline.group_by("subject").len().sort("subject").rows() == [(1, 8), (3, 8)]
    assert out.labels.height == 2 * (507 + 7 * 550)
    assert out.ppg10hz.height == out.labels.height
    key = ["subject", "trial_index", "t"]
    assert out.ppg10hz.select(key).equals(out.labels.select(key))
    assert out.ppg10hz["video"].equals(out.labels["video"])
    for subject, trial in ((1, 0), (3, 5)):
        got = out.ppg10hz.filter(pl.col("subject") == subject, pl.col("trial_index") == trial)["ppg"].to_numpy()
        np.testing.assert_allclose(got, expected_ppg(subject, trial), atol=1e-9)
    # subject 3 pressed key 3 at 6.0 s + 3 * 0.1 s after trial 1's onset: 1.3 s into its epoch
    trial1 = out.labels.filter(pl.col("subject") == 3, pl.col("trial_index") == 1)
    assert trial1.filter(pl.col("intensity") == 2)["t"].min() == 1.3
    assert out.report["participants"] == [1, 3] and out.report["excluded"] == []
    assert out.report["logs"]["003"]["events"]["Video"] == 8
    assert out.report["ppg"]["001"]["interval_ms"] == INTERVAL_MS


def test_missing_ppg_file_excludes_only_ppg(tmp_path):
    archive = make_archive(tmp_path / "archive")
    (archive.ppg_dir / "003_csv.txt").unlink()
    with pytest.warns(IngestWarning, match="subject 003: no PPG file"):
        out = ingest_archive(archive, cache_dir=tmp_path / "cache", progress=False)
    assert out.labels["subject"].unique().sort().to_list() == [1, 3]
    assert out.ppg10hz["subject"].unique().to_list() == [1]
    assert out.report["excluded"] == [{"subject": 3, "scope": "ppg", "reasons": ["no PPG file"]}]


@pytest.fixture
def archive_with_bad_files(tmp_path):
    archive = make_archive(tmp_path / "archive", subjects=(1, 3, 4, 5))
    log1 = next(archive.log_dir.glob("001-*.log"))
    log1.write_text(log1.read_text().replace("\tvid8\t", "\tvid9\t"))
    ppg3 = archive.ppg_dir / "003_csv.txt"
    ppg3.write_bytes(ppg3.read_bytes()[:-3])  # cut mid-row
    export(archive.ppg_dir / "004_csv.txt", signal(4, 14_800), interval_ms=INTERVAL_MS)  # ends at 740 s
    return archive


def test_all_bad_files_in_one_error(archive_with_bad_files, tmp_path):
    with pytest.raises(IngestError) as info:
        ingest_archive(archive_with_bad_files, cache_dir=tmp_path / "cache", progress=False)
    message = str(info.value)
    assert message.startswith("3 bad input file(s)")
    assert "001-1-20240115-ab01.log" in message and "unknown video code 'vid9'" in message
    assert "003_csv.txt: line" in message and "mid-row" in message
    # trial 7 (vid6) ends at 755 s, after the recording's 740 s
    assert "subject 004 vid6 (trial 7" in message and "004_csv.txt" in message
    assert "--skip-bad" in message


def test_skip_bad_excludes_affected_participants(archive_with_bad_files, tmp_path):
    out = ingest_archive(archive_with_bad_files, skip_bad=True, cache_dir=tmp_path / "cache", progress=False)
    assert out.labels["subject"].unique().to_list() == [5]
    assert out.ppg10hz["subject"].unique().to_list() == [5]
    assert [(e["subject"], e["scope"]) for e in out.report["excluded"]] == [(1, "all"), (3, "all"), (4, "all")]
    assert "vid9" in out.report["excluded"][0]["reasons"][0]


def test_ingest_job_writes_tables_report_manifest(tmp_path, capsys):
    make_archive(tmp_path / "archive")
    run_dir = archive_jobs.ingest(tmp_path / "archive", tmp_path / "run", progress=False, cache_dir=tmp_path / "cache")
    assert run_dir == tmp_path / "run"
    labels = pl.read_parquet(run_dir / "labels.parquet")
    assert dict(labels.schema) == {
        "subject": pl.Int32,
        "trial_index": pl.Int32,
        "video": pl.Utf8,
        "stimulus": pl.Utf8,
        "condition": pl.Utf8,
        "t": pl.Float64,
        "intensity": pl.Int8,
    }
    timeline = pl.read_parquet(run_dir / "timeline.parquet")
    assert {"subject", "video", "trial_index", "onset_s", "end_s"} <= set(timeline.columns)
    ppg = pl.read_parquet(run_dir / "ppg10hz.parquet")
    assert ppg.columns == ["subject", "video", "trial_index", "t", "ppg"]
    assert pl.read_parquet_metadata(run_dir / "ppg10hz.parquet")["data_source"] == "real"
    report = json.loads((run_dir / "report.json").read_text())
    assert report["participants"] == [1, 3] and report["data_source"] == "real"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["data_source"] == "real" and "ppg/001_csv.txt" in manifest["input_hashes"]
    printed = capsys.readouterr().out
    assert "real data" in printed and "      1  ASMR" in printed and "      3  ASMR" in printed


def test_cli_reports_bad_input_without_traceback(archive_with_bad_files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the CLI's default cache lives under ./data/cache
    with pytest.raises(SystemExit) as info:
        ingest_cli(["--data-dir", str(archive_with_bad_files.root), "--out", str(tmp_path / "o"), "--no-progress"])
    assert str(info.value.code).startswith("error: 3 bad input file(s)")
    ingest_cli(
        ["--data-dir", str(archive_with_bad_files.root), "--out", str(tmp_path / "o"), "--no-progress", "--skip-bad"]
    )
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["exclusions"][0]["subject"] == 1


# ---- against the synthetic generator's ground truth (`simulate_subject`) --------------------------


@pytest.fixture(scope="module")
def truth(tiny_archive):
    """What the generator wrote for each participant of the tiny archive, recomputed (not read)."""
    import dataclasses

    from restasmr_jax.config import SynthConfig
    from restasmr_jax.synth import simulate_subject, subjects_of

    marker = {k: tuple(v) if isinstance(v, list) else v for k, v in tiny_archive.synth.items()}
    cfg = SynthConfig(**{f.name: marker[f.name] for f in dataclasses.fields(SynthConfig) if f.name in marker})
    out = {}
    for subject in subjects_of(cfg):
        sim = simulate_subject(cfg, subject)
        out[subject] = {
            "ch1": np.asarray(sim.ch1),
            "ch2": np.asarray(sim.ch2),
            "interval_ms": sim.interval_ms,
            "press_ticks": np.asarray(sim.press_ticks),
            "press_keys": np.asarray(sim.press_keys),
            "onset_ticks": np.asarray(sim.onset_ticks),
            "video_order": list(sim.video_order),
            "labels": [sim.dense_labels(i) for i in range(8)],
            "log_name": sim.log_name,
        }
    return out


def test_reader_recovers_the_generators_samples(tiny_archive, truth, tmp_path):
    from restasmr_jax.io.biopac import read_biopac

    for subject, sim in truth.items():
        rec = read_biopac(tiny_archive.ppg_file(subject), cache_dir=tmp_path)
        assert rec.interval_ms == sim["interval_ms"]
        np.testing.assert_array_equal(rec.samples[:, 0], sim["ch1"].astype(np.float32))
        np.testing.assert_array_equal(rec.samples[:, 1], sim["ch2"].astype(np.float32))


def test_log_events_are_the_generators_presses_and_videos(tiny_archive, truth):
    from restasmr_jax.io.presentation import read_log

    for sim in truth.values():
        parsed = read_log(tiny_archive.log_dir / sim["log_name"])
        responses = parsed.events.filter(pl.col("event_type") == "Response")
        np.testing.assert_array_equal(responses["time_ticks"].to_numpy(), sim["press_ticks"])
        np.testing.assert_array_equal(responses["code"].cast(pl.Int64).to_numpy(), sim["press_keys"])
        videos = parsed.events.filter(pl.col("event_type") == "Video")
        assert videos["code"].to_list() == sim["video_order"]
        np.testing.assert_array_equal(videos["time_ticks"].to_numpy(), sim["onset_ticks"])
        assert parsed.report["ignored_responses"]["non-numeric code"]["count"] == 0


def test_ingest_tiny_archive(tiny_ingested, truth):
    out = tiny_ingested
    assert out.report["participants"] == sorted(truth) == out.report["participants_with_ppg"]
    assert out.report["data_source"] == "synthetic" and out.report["excluded"] == []
    per_trial = out.labels.group_by("subject", "trial_index").len()
    assert per_trial.height == 8 * len(truth)
    assert set(per_trial.filter(pl.col("trial_index") == 0)["len"]) == {507}
    assert set(per_trial.filter(pl.col("trial_index") > 0)["len"]) == {550}
    assert out.ppg10hz.select("subject", "trial_index", "t").equals(out.labels.select("subject", "trial_index", "t"))


def test_labels_equal_the_generators_truth(tiny_ingested, truth):
    for subject, sim in truth.items():
        for trial in range(8):
            got = tiny_ingested.labels.filter(pl.col("subject") == subject, pl.col("trial_index") == trial)
            np.testing.assert_array_equal(got["intensity"].to_numpy(), sim["labels"][trial])


def test_ppg_equals_independent_slice_of_the_generators_ch2(tiny_ingested, truth):
    subject = min(truth)
    sim = truth[subject]
    for trial in (0, 6):
        onset = int(sim["onset_ticks"][trial])
        end = onset + (557_000 if trial == 0 else 600_000)
        first, stop = -(-(onset + 50_000) // 5), -(-end // 5)  # 0.5 ms = 5 ticks
        x = scipy.signal.resample(
            sim["ch2"].astype(np.float32)[first:stop].astype(np.float64), 507 if trial == 0 else 550
        )
        got = tiny_ingested.ppg10hz.filter(pl.col("subject") == subject, pl.col("trial_index") == trial)["ppg"]
        np.testing.assert_allclose(got.to_numpy(), (x - x.mean()) / x.std(), atol=1e-9)


def test_ingestion_given_the_runs_hashes_reads_each_export_once(tiny_archive, tmp_path, monkeypatch):
    from restasmr_jax import storage
    from restasmr_jax.io.archive import input_hashes

    calls = []
    real = storage.sha256_file
    monkeypatch.setattr(storage, "sha256_file", lambda path: calls.append(Path(path).name) or real(path))
    hashes = input_hashes(tiny_archive, tmp_path)
    ingest_archive(tiny_archive, cache_dir=tmp_path, hashes=hashes, progress=False)
    exports = sorted(p.name for p in tiny_archive.ppg_dir.glob("*_csv.txt"))
    assert sorted(name for name in calls if name.endswith("_csv.txt")) == exports  # once each, not twice
