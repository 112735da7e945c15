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
