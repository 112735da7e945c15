"""A run folder is complete, listing the hash of every file it holds, or says it is not (SPEC §7-§11)."""

import json

import pytest

from restasmr_jax import manifest
from restasmr_jax.runs import archive_jobs
from restasmr_jax.runs.options import RunOptions
from restasmr_jax.runs.pipeline import run_recorded
from tests.fake_tensor import make_tensor
from tests.ingest.test_tables import make_archive


def test_a_crash_between_two_outputs_leaves_the_folder_marked_failed(tmp_path, monkeypatch):
    root = make_archive(tmp_path / "archive", (1, 3), n_samples=15_200).root

    def first_table_then_crash(ingested, folder, source):
        (folder / "labels.parquet").write_bytes(b"new labels")
        raise OSError("disk full")

    monkeypatch.setattr(archive_jobs, "write_tables", first_table_then_crash)
    with pytest.raises(OSError, match="disk full"):
        archive_jobs.ingest(root, tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    saved = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert saved["status"] == "failed" and "disk full" in saved["error"] and "files" not in saved
    assert manifest.verify_run(tmp_path / "out") != []
    monkeypatch.undo()
    done = archive_jobs.ingest(root, tmp_path / "second", cache_dir=tmp_path / "cache", progress=False)
    saved = json.loads((done / "manifest.json").read_text())
    assert saved["status"] == "complete" and manifest.verify_run(done) == []
    assert sorted(saved["files"]) == ["labels.parquet", "ppg10hz.parquet", "report.json", "timeline.parquet"]


def test_pipeline_runs_are_complete_with_file_hashes_or_failed(tmp_path):
    tensor = make_tensor(n_subjects=8, n_time=6, seed=1)
    options = RunOptions(out=tmp_path / "runs", cache_dir=tmp_path / "cache", progress=False)

    def stages(run):
        (run.run_dir / "table.md").write_text("| a |")
        return {"summary": {"ok": 1}, "markdown": "done"}, {}

    run_dir = run_recorded("t", options, tensor, stages)
    saved = json.loads((run_dir / "manifest.json").read_text())
    assert saved["status"] == "complete" and {"table.md", "options.json", "data.json"} <= set(saved["files"])
    assert manifest.verify_run(run_dir) == []

    def broken(run):
        raise RuntimeError("stage crashed")

    with pytest.raises(RuntimeError):
        run_recorded("t", options, tensor, broken)
    failed = max((tmp_path / "runs").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    assert json.loads((failed / "manifest.json").read_text())["status"] == "failed"
    (tmp_path / "file").write_text("x")
    from restasmr_jax import storage

    with pytest.raises(storage.PathKindError, match="--cache-dir"):
        run_recorded(
            "t", RunOptions(out=tmp_path / "runs", cache_dir=tmp_path / "file", progress=False), tensor, stages
        )
