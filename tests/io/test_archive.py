"""The archive's folder layout and input hashes (io.archive)."""

import hashlib

import pytest

from restasmr_jax import storage
from restasmr_jax.io import archive


def test_open_archive_names_missing_folders(tmp_path):
    (tmp_path / "log").mkdir()
    with pytest.raises(archive.ArchiveError, match="ppg, stim"):
        archive.open_archive(tmp_path)


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
