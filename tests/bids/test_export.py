"""The export: layout, metadata from the paper and the files, atomic writing into a new folder (SPEC §1-§3)."""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from restasmr_jax.bids.export import DERIVATIVE_DIR, BidsExportError, check_target, export_bids
from restasmr_jax.bids.sidecars import AUTHORS, BIDS_VERSION
from restasmr_jax.io import bids
from restasmr_jax.io.archive import open_archive
from restasmr_jax.io.stimuli import StimulusError


def relative_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_layout(tiny_bids):
    per_subject = {
        f"sub-{s:03d}/beh/sub-{s:03d}_task-asmr_{name}"
        for s in (1, 3, 4, 5)
        for name in ("events.tsv", "physio.tsv.gz", "physio.json")
    }
    derivatives = {
        f"{DERIVATIVE_DIR}/{f}" for f in ("dataset_description.json", "README", "report.json", "manifest.json")
    }
    derivatives |= {
        f"{DERIVATIVE_DIR}/{t}.{ext}" for t in ("labels", "ppg10hz", "timeline") for ext in ("parquet", "tsv", "json")
    }
    top = {
        "dataset_description.json",
        "README",
        "CHANGES",
        "participants.tsv",
        "participants.json",
        "task-asmr_events.json",
    }
    stimuli = {f"stimuli/{name}" for name in ("ASMR1.avi", "ASMR2.avi", "ASMR3.avi", "ASMR4.avi")} | {
        f"stimuli/nature{i}.avi" for i in range(1, 5)
    }
    assert relative_files(tiny_bids.root) == per_subject | derivatives | top | stimuli
    assert not [p for p in tiny_bids.root.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_dataset_description_names_the_synthetic_source_and_this_commit(tiny_bids, tiny_archive):
    description = json.loads((tiny_bids.root / "dataset_description.json").read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent)
    assert description["BIDSVersion"] == BIDS_VERSION == "1.11.1" and description["DatasetType"] == "raw"
    assert "synthetic" in description["Name"] and "NOT real data" in description["Name"]
    assert description["Authors"] == AUTHORS and description["License"] == "CC0-1.0"
    assert description["GeneratedBy"][0]["Name"] == "restasmr-jax"
    assert head.stdout.strip() in description["GeneratedBy"][0]["Description"]
    assert description[bids.SYNTHETIC_KEY] == tiny_archive.synth
    assert "zenodo" not in json.dumps(description["SourceDatasets"]).lower()  # it names the real archive only
    readme = (tiny_bids.root / "README").read_text()
    assert "**THIS IS NOT REAL DATA.**" in readme and "seed 7" in readme
    derivative = json.loads((tiny_bids.root / DERIVATIVE_DIR / "dataset_description.json").read_text())
    assert derivative["DatasetType"] == "derivative" and derivative["SourceDatasets"] == [{"URL": "bids:raw:"}]


def test_participants_physio_sidecar_and_stimuli(tiny_bids, tiny_archive):
    participants = pl.read_csv(tiny_bids.root / "participants.tsv", separator="\t")
    assert participants.rows() == [
        ("sub-001", "ASMR-first", 1),
        ("sub-003", "ASMR-first", 1),
        ("sub-004", "Nature-first", 2),
        ("sub-005", "ASMR-first", 1),
    ]
    side = json.loads(bids.sidecar_path(bids.physio_path(tiny_bids.root, 3)).read_text())
    header = tiny_archive.ppg_file(3).read_text(encoding="latin-1").splitlines()[1]
    assert header == "0.5 msec/sample" and side["SamplingFrequency"] == 2000 and side["StartTime"] == 0.0
    assert side["Columns"] == ["cardiac", "cardiac_bandpass"] and side["Manufacturer"] == "BIOPAC"
    assert side["ManufacturersModelName"] == "MP36" and "0.5-35 Hz" in side["cardiac_bandpass"]["Description"]
    for path in (tiny_archive.stim_dir).iterdir():
        copy = tiny_bids.root / "stimuli" / path.name
        assert (
            not copy.is_symlink()
            and hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(path.read_bytes()).digest()
        )
    events = pl.read_csv(bids.events_path(tiny_bids.root, 1), separator="\t", null_values="n/a")
    assert set(events.filter(pl.col("trial_type") != "rating")["stim_file"]) == {
        p.name for p in tiny_archive.stim_dir.iterdir()
    }


def test_derivatives_are_the_ingestion_tables(tiny_bids, tiny_ingested):
    for name in ("labels", "ppg10hz", "timeline"):
        table = getattr(tiny_ingested, name)
        parquet = tiny_bids.root / DERIVATIVE_DIR / f"{name}.parquet"
        assert_frame_equal(pl.read_parquet(parquet), table)
        assert pl.read_parquet_metadata(parquet)["data_source"] == "synthetic"
        tsv = pl.read_csv(tiny_bids.root / DERIVATIVE_DIR / f"{name}.tsv", separator="\t", schema=table.schema)
        assert_frame_equal(tsv, table)


def test_target_checks_never_touch_what_they_refuse(tiny_archive, tmp_path):
    with pytest.raises(BidsExportError, match="outside the input archive"):
        check_target(tiny_archive.root / "bids", tiny_archive, overwrite=False)
    with pytest.raises(BidsExportError, match="outside the input archive"):
        check_target(tiny_archive.root.parent, tiny_archive, overwrite=True)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(BidsExportError, match="is not empty; choose a new folder, or --overwrite"):
        check_target(foreign, tiny_archive, overwrite=False)
    with pytest.raises(BidsExportError, match="not an export of this command"):
        check_target(foreign, tiny_archive, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    check_target(tmp_path / "empty", tiny_archive, overwrite=False)


def linked_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, copy_function=os.link)
    return target


def snapshot(root: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_a_failure_leaves_no_folder_and_the_archive_untouched(tiny_archive, tiny_cache, tmp_path):
    archive_dir = linked_copy(tiny_archive.root, tmp_path / "archive")
    (archive_dir / "stim" / "nature3.avi").unlink()  # found missing only after events and physio are written
    before = snapshot(archive_dir)
    with pytest.raises(StimulusError, match="nature3.avi"):
        export_bids(open_archive(archive_dir), tmp_path / "out", cache_dir=tiny_cache, gzip_level=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive"]
    assert snapshot(archive_dir) == before


def test_link_export_is_deterministic_and_overwrite_replaces_only_an_earlier_export(
    tiny_bids, tiny_archive, tiny_cache, tmp_path
):
    linked = export_bids(
        tiny_archive, tmp_path / "a", stimuli="link", cache_dir=tiny_cache, gzip_level=1, progress=False
    )
    files = relative_files(linked.root)
    assert files == relative_files(tiny_bids.root)
    # the same archive gives the same bytes; only the clips, the README's word on them and the manifest's time differ
    for rel in files:
        if not rel.startswith("stimuli/") and rel not in ("README", f"{DERIVATIVE_DIR}/manifest.json"):
            assert (linked.root / rel).read_bytes() == (tiny_bids.root / rel).read_bytes(), rel
    link = linked.root / "stimuli" / "ASMR1.avi"
    assert link.is_symlink() and link.resolve() == (tiny_archive.stim_dir / "ASMR1.avi").resolve()
    (linked.root / "stray.txt").write_text("from the earlier export")
    with pytest.raises(BidsExportError, match="not empty"):
        export_bids(tiny_archive, linked.root, cache_dir=tiny_cache, progress=False)
    again = export_bids(
        tiny_archive, linked.root, stimuli="none", overwrite=True, cache_dir=tiny_cache, gzip_level=1, progress=False
    )
    assert not (again.root / "stray.txt").exists() and not (again.root / "stimuli").exists()
    assert "stim_file" not in pl.read_csv(bids.events_path(again.root, 1), separator="\t").columns
    assert (tiny_archive.stim_dir / "ASMR1.avi").is_file()  # replacing the links left their targets alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
