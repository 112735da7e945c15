"""Run folders and their manifest (manifest)."""

import json

import jax

from restasmr_jax import manifest
from restasmr_jax.io import archive


def test_manifest_records_provenance(tmp_path):
    for sub in ("log", "ppg", "stim"):
        (tmp_path / sub).mkdir()
    arch = archive.open_archive(tmp_path)
    run = manifest.new_run_dir("t", root=tmp_path / "runs")
    other = manifest.new_run_dir("t", root=tmp_path / "runs")
    assert run != other
    path = manifest.write_manifest(run, configs={"protocol": {"a": 1}}, archive=arch, input_hashes={"x": "y"})
    data = json.loads(path.read_text())
    assert data["data_source"] == "real"
    assert data["packages"]["jax"] and data["configs"] == {"protocol": {"a": 1}}
    assert set(data["git"]) == {"commit", "dirty"}
    backend = data["jax_backend"]
    assert (backend["process_count"], backend["process_index"]) == (1, 0)
    assert backend["devices"] == [str(d) for d in jax.devices()] and backend["local_devices"] == backend["devices"]


def test_complete_manifest_lists_every_file_and_verify_run_rechecks(tmp_path):
    import hashlib

    run = tmp_path / "run"
    (run / "sub").mkdir(parents=True)
    (run / "a.txt").write_text("one")
    (run / "sub" / "b.bin").write_bytes(b"\x00\x01")
    manifest.write_manifest(run, configs={}, status="running")
    assert manifest.verify_run(run) == [f"{run / 'manifest.json'}: status 'running', not a complete run"]
    manifest.write_manifest(run, configs={}, status="complete")
    listed = json.loads((run / "manifest.json").read_text())["files"]
    assert listed == {"a.txt": hashlib.sha256(b"one").hexdigest(), "sub/b.bin": hashlib.sha256(b"\x00\x01").hexdigest()}
    assert manifest.verify_run(run) == []
    (run / "a.txt").write_text("two")
    (run / "c.txt").write_text("new")
    (run / "sub" / "b.bin").unlink()
    assert manifest.verify_run(run) == [
        f"{run}/sub/b.bin: missing",
        f"{run}/a.txt: changed since the run",
        f"{run}/c.txt: not written by the run",
    ]


def test_out_folders_never_mix_runs(tmp_path):
    import pytest

    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "labels.parquet").write_text("old")
    with pytest.raises(manifest.OutputFolderError, match="already holds files \\(labels.parquet"):
        manifest.prepare_out_dir(tmp_path / "used", "ingest")
    (tmp_path / "file").write_text("x")
    with pytest.raises(manifest.OutputFolderError, match="a file, expected a folder"):
        manifest.check_out_dir(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    assert manifest.prepare_out_dir(tmp_path / "empty", "ingest") == tmp_path / "empty"
    assert manifest.prepare_out_dir(tmp_path / "new" / "deeper", "ingest").is_dir()
    fresh = manifest.prepare_out_dir(None, "ingest", root=tmp_path / "runs")
    assert fresh.parent == tmp_path / "runs" and fresh.name.endswith("-ingest")
    from restasmr_jax import storage

    with pytest.raises(storage.PathKindError, match="is a file, so this folder cannot be created"):
        manifest.new_run_dir("x", root=tmp_path / "file" / "runs")
