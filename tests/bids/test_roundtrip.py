"""Every command reads the BIDS copy back: identical labels, PPG, recordings and analyses (SPEC §1-§3, §10)."""

import json
import os
import shutil
import warnings

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from restasmr_jax.config import SynthConfig
from restasmr_jax.ingest.ppg import sample_window
from restasmr_jax.ingest.tables import ingest_archive
from restasmr_jax.io import bids
from restasmr_jax.io.archive import input_hashes, open_archive
from restasmr_jax.io.biopac import read_biopac
from restasmr_jax.runs import archive_jobs, jobs
from restasmr_jax.synth import simulate_subject


@pytest.fixture(scope="module")
def bids_archive(tiny_bids):
    return open_archive(tiny_bids.root)


def test_the_copy_opens_as_the_same_synthetic_archive(bids_archive, tiny_archive):
    assert (bids_archive.layout, bids_archive.source) == ("bids", "synthetic")
    assert bids_archive.synth == tiny_archive.synth


def test_ingesting_the_copy_gives_identical_tables(bids_archive, tiny_ingested, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = ingest_archive(bids_archive, cache_dir=tmp_path, progress=False)
    for name in ("labels", "timeline", "ppg10hz"):
        assert_frame_equal(getattr(again, name), getattr(tiny_ingested, name))
    assert again.report["participants_with_ppg"] == tiny_ingested.report["participants_with_ppg"] == [1, 3, 4, 5]
    assert {s: r["events"]["Video"] for s, r in again.report["logs"].items()} == dict.fromkeys(
        ["001", "003", "004", "005"], 8
    )


def test_recordings_come_back_bit_for_bit(bids_archive, tiny_archive, tiny_cache):
    for subject in (1, 3, 4, 5):
        raw = read_biopac(tiny_archive.ppg_file(subject), cache_dir=tiny_cache)
        back = bids_archive.read_recording(bids_archive.ppg_file(subject))
        assert back.interval_ms == raw.interval_ms and back.labels == raw.labels and back.units == raw.units
        assert np.array_equal(back.samples.view(np.uint32), raw.samples.view(np.uint32))
        assert np.array_equal(back.channel("CH2"), raw.channel("CH2"))


def test_input_hashes_cover_events_physio_sidecars_and_clips(bids_archive, tmp_path):
    hashes = input_hashes(bids_archive, tmp_path)
    assert len(hashes) == 4 * 3 + 8 and "sub-003/beh/sub-003_task-asmr_physio.json" in hashes
    assert "stimuli/nature4.avi" in hashes


def test_ingest_and_validation_jobs_read_the_copy(tiny_bids, tiny_archive, tiny_ingested, tmp_path):
    run = archive_jobs.ingest(tiny_bids.root, tmp_path / "ingest", progress=False, cache_dir=tmp_path / "cache")
    assert_frame_equal(pl.read_parquet(run / "ppg10hz.parquet"), tiny_ingested.ppg10hz)
    assert json.loads((run / "manifest.json").read_text())["archive"]["layout"] == "bids"
    out = archive_jobs.validation(tiny_bids.root, tmp_path / "validation", progress=False, cache_dir=tmp_path / "cache")
    data = json.loads((out / "validation.json").read_text())
    fields = SynthConfig.__dataclass_fields__
    cfg = SynthConfig(**{k: v for k, v in tiny_archive.synth.items() if k in fields and k != "video_size"})
    for subject in (1, 3, 4, 5):  # the integrity analysis reads the copy's raw channel: the generator's artifacts
        sim = simulate_subject(cfg, subject)
        lost = np.zeros(sim.ch1.shape[0], bool)
        for start, stop, _ in sim.artifacts:
            lost[start:stop] = True
        windows = [sample_window(sim.interval_ms, on, end) for on, end in zip(sim.onset_ticks, sim.end_ticks)]
        expected = sum(int(lost[a:b].sum()) for a, b in windows)
        assert data["integrity"]["per_participant"][str(subject)]["lost_samples"] == expected
    assert data["data_source"] == "synthetic" and data["pulse_rate"]["windows"]["total"] == 4 * (7 * 50 + 46)


def test_features_name_the_missing_clip(tiny_bids, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_bids.root, copy, copy_function=os.link, symlinks=True)
    (copy / bids.STIMULI_DIR / "ASMR2.avi").unlink()
    with pytest.raises(SystemExit, match=r"^error: .*vid2 -> .*stimuli/ASMR2\.avi"):
        jobs.cli(archive_jobs.features, copy, cache_dir=tmp_path / "cache", runs_dir=tmp_path / "runs", progress=False)
