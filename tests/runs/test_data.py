"""Which archive a run uses (runs.data)."""

from restasmr_jax.io import archive
from restasmr_jax.runs.data import resolve_archive


def test_real_archive_in_data_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for sub in ("log", "ppg", "stim"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    found = resolve_archive()
    assert found.source == "real" and found.root == archive.DEFAULT_DATA_DIR


def test_an_explicit_data_dir_never_falls_back_to_synthetic(tmp_path, monkeypatch):
    import pytest

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    for given in ("data", "data/", tmp_path / "data"):
        with pytest.raises(archive.ArchiveError, match="missing folder\\(s\\) log, ppg, stim"):
            resolve_archive(given)
    (tmp_path / "data" / "log").mkdir()
    (tmp_path / "data" / "ppg").mkdir()
    assert resolve_archive("data", need=("log", "ppg")).source == "real"
    with pytest.raises(archive.ArchiveError, match="holds log/, ppg/ but not stim/: a partial real archive"):
        resolve_archive()  # the default: data/ is neither complete nor empty
    assert resolve_archive(need=("log", "ppg")).root == archive.DEFAULT_DATA_DIR


def test_stimuli_checked_before_any_work(tmp_path, monkeypatch):
    import pytest

    from experiments.features import main as features_cli
    from restasmr_jax.runs.data import check_distinct_stimuli

    root = tmp_path / "archive"
    for sub in ("log", "ppg", "stim"):
        (root / sub).mkdir(parents=True)
    (root / "stim" / "ASMR1.avi").write_bytes(b"same clip")
    (root / "stim" / "nature2.avi").write_bytes(b"same clip")
    opened = archive.open_archive(root)
    hashes = archive.input_hashes(opened, tmp_path / "cache")
    with pytest.raises(archive.ArchiveError, match="stim/ASMR1.avi, stim/nature2.avi"):
        check_distinct_stimuli(hashes, opened)
    monkeypatch.setattr(
        "restasmr_jax.runs.data.ingest_archive", lambda *a, **k: pytest.fail("ingested before the checks")
    )
    argv = ["--data-dir", str(root), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    with pytest.raises(SystemExit) as info:
        features_cli(argv)
    assert str(info.value.code).startswith("error: byte-identical stimulus files: stim/ASMR1.avi, stim/nature2.avi")
    (root / "stim" / "nature2.avi").unlink()
    (root / "stim" / "nature2.avi").mkdir()
    with pytest.raises(SystemExit) as info:
        features_cli(argv)
    assert str(info.value.code) == f"error: {root / 'stim' / 'nature2.avi'}: a directory, expected an AVI stimulus"
