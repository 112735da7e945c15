"""Which archive a run uses (runs.data)."""

from restasmr_jax.io import archive
from restasmr_jax.runs.data import resolve_archive


def test_real_archive_in_data_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for sub in ("log", "ppg", "stim"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    found = resolve_archive()
    assert found.source == "real" and found.root == archive.DEFAULT_DATA_DIR
