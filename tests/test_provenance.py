"""Atomic writes, hashes, archive resolution and run manifests (lead's modules)."""

import hashlib
import json

import pytest

from restasmr_jax import manifest, storage
from restasmr_jax.config import ProtocolConfig, StatsConfig
from restasmr_jax.io import archive


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with storage.atomic_path(target) as tmp:
            tmp.write_bytes(b"half-written")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_sha256_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 5000
    path = storage.atomic_write_bytes(tmp_path / "f", data)
    assert storage.sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_write_json_roundtrip_numpy(tmp_path):
    import numpy as np

    path = storage.write_json(tmp_path / "a.json", {"x": np.arange(3), "y": np.float32(0.5)})
    assert json.loads(path.read_text()) == {"x": [0, 1, 2], "y": 0.5}


def test_protocol_constants():
    cfg = ProtocolConfig()
    assert cfg.n_frames_for(0) == 507 and cfg.n_frames_for(5) == 550 and cfg.padded_frames == 550
    assert StatsConfig().video_min_frames(550) == 82


def test_open_archive_names_missing_folders(tmp_path):
    (tmp_path / "log").mkdir()
    with pytest.raises(archive.ArchiveError, match="ppg, stim"):
        archive.open_archive(tmp_path)


def test_real_archive_in_data_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for sub in ("log", "ppg", "stim"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    found = archive.resolve_archive()
    assert found.source == "real" and found.root == archive.DEFAULT_DATA_DIR


def test_marker_makes_archive_synthetic(tmp_path):
    for sub in ("log", "ppg", "stim"):
        (tmp_path / sub).mkdir()
    storage.write_json(tmp_path / archive.SYNTH_MARKER, {"seed": 3})
    assert archive.open_archive(tmp_path).source == "synthetic"


def test_input_hashes_memoised(tmp_path):
    for sub in ("log", "ppg", "stim"):
        (tmp_path / sub).mkdir()
    (tmp_path / "log" / "001-1-x-y.log").write_text("abc")
    arch = archive.open_archive(tmp_path)
    hashes = archive.input_hashes(arch, cache_dir=tmp_path / "cache")
    assert hashes == {"log/001-1-x-y.log": hashlib.sha256(b"abc").hexdigest()}
    assert archive.input_hashes(arch, cache_dir=tmp_path / "cache") == hashes


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


def test_atomic_write_uses_default_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        path = storage.atomic_write_text(tmp_path / "x.txt", "hi")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_generator_fingerprint_follows_source_and_config(tmp_path, monkeypatch):
    from restasmr_jax.config import SynthConfig

    source = tmp_path / "generator.py"
    source.write_text("A = 1\n")
    monkeypatch.setattr(archive, "_GENERATOR_SOURCES", (source,))
    first = archive.generator_fingerprint(SynthConfig())
    assert archive.generator_fingerprint(SynthConfig()) == first
    assert archive.generator_fingerprint(SynthConfig(seed=1)) != first
    source.write_text("A = 2\n")
    assert archive.generator_fingerprint(SynthConfig()) != first


def test_changed_generator_writes_a_fresh_archive_and_keeps_the_old(tmp_path, monkeypatch, capsys):
    import restasmr_jax.synth as synth_pkg
    from restasmr_jax.config import SynthConfig

    def fake_generate(out, cfg, progress=True):
        for sub in ("log", "ppg", "stim"):
            (out / sub).mkdir(parents=True)
        (out / "log" / "version.txt").write_text(str(source.read_text()))

    source = tmp_path / "generator.py"
    source.write_text("old\n")
    monkeypatch.setattr(archive, "_GENERATOR_SOURCES", (source,))
    monkeypatch.setattr(synth_pkg, "generate_archive", fake_generate)
    cfg = SynthConfig(seed=3, n_subjects=2)
    old_root = archive.synthetic_root(tmp_path, cfg)
    assert archive.ensure_synthetic(old_root, cfg, progress=False).root == old_root
    assert capsys.readouterr().err == ""

    source.write_text("new\n")
    new_root = archive.synthetic_root(tmp_path, cfg)
    assert new_root != old_root and new_root.parent == old_root.parent
    found = archive.ensure_synthetic(new_root, cfg, progress=False)
    assert found.root == new_root and found.synth["generator_fingerprint"] == archive.generator_fingerprint(cfg)
    assert (new_root / "log" / "version.txt").read_text() == "new\n"
    assert (old_root / "log" / "version.txt").read_text() == "old\n"  # never deleted
    assert str(old_root) in capsys.readouterr().err
    assert archive.ensure_synthetic(new_root, cfg, progress=False).root == new_root  # reused, no regeneration
