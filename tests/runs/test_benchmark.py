"""`python -m experiments.benchmark` at tiny scale: the README's plug-in, leaderboard, results, reuse (SPEC §9.1).

The README's plug-in through --models file.py:Class, the leaderboard and results.csv, reuse of finished
trainings, bit-identical re-prediction, bad input in one line.

Runs start from a small fabricated TrialTensor (8 participants x 8 videos x 20 frames) instead of the archive:
`jobs.run_benchmark` is pointed at it, everything else is the command line.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from experiments import benchmark
from restasmr_jax.runs import jobs, repredict, training
from restasmr_jax.runs.benchmark import run_benchmark
from tests.fake_tensor import make_tensor

README = Path(__file__).resolve().parents[2] / "README.md"
# The BiLSTM settings and tensor of tests/runs/test_pipeline.py, so the suite compiles that program once.
FLAGS = [
    "--epochs", "2", "--hidden", "8", "--batch-size", "8", "--seeds", "2",
    "--n-bootstrap", "30", "--n-permutation", "30", "--n-compare-bootstrap", "100",
    "--xgb-estimators", "3", "--xgb-depth", "2", "--no-progress",
]  # fmt: skip


def readme_plugin(folder: Path) -> Path:
    """The README's example plug-in, exactly as printed there."""
    after = README.read_text().split("### Example plug-in", 1)[1]
    code = after.split("```python\n", 1)[1].split("```", 1)[0]
    path = folder / "smoothed_mlp.py"
    path.write_text(code)
    return path


@pytest.fixture(scope="module")
def tensor():
    tensor = make_tensor(n_subjects=8, n_time=20, seed=3)
    return replace(tensor, provenance={"data_source": "synthetic", "note": "fabricated for tests"})


def cli(argv, tensor, monkeypatch, tmp):
    fabricated = tensor

    def on_the_fabricated_tensor(options, tensor=None):
        return run_benchmark(options, tensor=fabricated)

    monkeypatch.setattr(jobs, "run_benchmark", on_the_fabricated_tensor)
    return benchmark.main([*argv, *FLAGS, "--out", str(tmp / "runs"), "--cache-dir", str(tmp / "cache")])


@pytest.fixture(scope="module")
def first_run(tensor, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("benchmark")
    plugin = readme_plugin(tmp)
    with pytest.MonkeyPatch.context() as patch:
        run_dir = cli(["--models", f"bilstm,{plugin}:SmoothedMLP"], tensor, patch, tmp)
    return tmp, plugin, run_dir


def test_the_readme_plugin_is_short_and_trains_beside_the_builtins(first_run):
    tmp, plugin, run_dir = first_run
    assert len(plugin.read_text().strip().splitlines()) < 30
    board = json.loads((run_dir / "leaderboard.json").read_text())
    names = [(r["name"], r["kind"]) for r in board["rows"]]
    assert set(names[:2]) == {("bilstm", "model"), ("SmoothedMLP", "model")}
    assert names[2:] == [("condition_prior", "reference"), ("crowd", "reference"), ("elapsed_time", "reference")]
    mine = next(r for r in board["rows"] if r["name"] == "SmoothedMLP")
    assert mine["info"]["source"] == f"{plugin.resolve()}:SmoothedMLP" and mine["info"]["n_params"] > 0
    assert set(mine["vs_baseline"]) == {"macro_f1", "within_asmr_auroc"} and mine["n_seeds"] == 2
    assert set(mine["seed_spread"]) == {"macro_f1", "within_asmr_auroc", "within_trial_auroc"}
    markdown = (run_dir / "leaderboard.md").read_text()
    assert "SYNTHETIC" in markdown and "| SmoothedMLP |" in markdown and "*crowd (other viewers" in markdown
    assert (run_dir / "leaderboard.png").read_bytes()[:4] == b"\x89PNG" and (run_dir / "leaderboard.svg").exists()
    record = json.loads((run_dir / "models" / "SmoothedMLP" / "training.json").read_text())
    assert record["status"] == "finished" and record["parts"]["train"]["epochs"] == 2
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and "train:SmoothedMLP" in manifest["stage_seconds"]


def test_results_csv_is_the_long_form_of_the_leaderboard(first_run):
    _, _, run_dir = first_run
    results = pl.read_csv(run_dir / "results.csv")
    assert results.columns == ["name", "kind", "seed", "fold", "metric", "value"]
    assert results.equals(pl.read_parquet(run_dir / "results.parquet"))
    assert pl.read_parquet_metadata(run_dir / "results.parquet")["data_source"] == "synthetic"
    board = json.loads((run_dir / "leaderboard.json").read_text())
    mine = results.filter(pl.col("name") == "SmoothedMLP")
    assert mine["kind"].unique().to_list() == ["model"] and sorted(mine["seed"].unique().to_list()) == [0, 1]
    assert mine.height == 2 * 4 * len(board["metrics"])  # one row per seed x fold x metric
    row = next(r for r in board["rows"] if r["name"] == "SmoothedMLP")
    auroc = mine.filter((pl.col("metric") == "within_asmr_auroc") & (pl.col("seed") == 0)).sort("fold")["value"]
    auroc = auroc.to_list()
    assert auroc == pytest.approx(row["metrics"]["within_asmr_auroc"]["per_fold"])
    crowd = results.filter(pl.col("name") == "crowd")
    assert crowd["kind"].unique().to_list() == ["reference"] and crowd["seed"].null_count() == crowd.height


def test_every_model_repredicts_bit_identically(first_run, tensor):
    _, _, run_dir = first_run
    verdict = repredict.run_predict(run_dir, tensor=tensor, progress=False)
    assert set(verdict["models"]) == {"bilstm", "SmoothedMLP"} and verdict["identical"]


def test_adding_a_model_to_a_finished_benchmark_trains_only_that_model(first_run, tensor, monkeypatch):
    tmp, plugin, first = first_run
    trained = []
    real = training.train_flax

    def counting(tensor, splits, cfg, spec, *args, **kwargs):
        trained.append(spec.name)
        return real(tensor, splits, cfg, spec, *args, **kwargs)

    monkeypatch.setattr(training, "train_flax", counting)
    run_dir = cli(["--models", f"bilstm,{plugin}:SmoothedMLP,xgboost"], tensor, monkeypatch, tmp)
    assert run_dir != first and trained == []  # only XGBoost trains, outside the Flax program
    assert json.loads((run_dir / "models" / "xgboost" / "training.json").read_text())["folder"] == str(
        (run_dir / "models" / "xgboost").resolve()
    )
    for name in ("bilstm", "SmoothedMLP"):
        saved = run_dir / "models" / name / "predictions" / "seed0.pkl"
        assert saved.read_bytes() == (first / "models" / name / "predictions" / "seed0.pkl").read_bytes()
    board = json.loads((run_dir / "leaderboard.json").read_text())
    assert {r["name"] for r in board["rows"] if r["kind"] == "model"} == {"bilstm", "SmoothedMLP", "xgboost"}
    verdict = repredict.run_predict(run_dir, tensor=tensor, progress=False)  # linked checkpoints, new boosters
    assert set(verdict["models"]) == {"bilstm", "SmoothedMLP", "xgboost"} and verdict["identical"]


@pytest.mark.parametrize(
    "models, message",
    [
        ("bilstm,lstm", "error: unknown model 'lstm': the built-ins are bilstm, bigru, tcn, transformer, mlp, xgboost"),
        ("{folder}/absent.py:Net", "error: model .*absent.py:Net: no such file"),
        (
            "{folder}/wrong.py:SmoothedMLP",
            r"error: model SmoothedMLP: in evaluation mode, .* returned shape \[2, 7, 3\]",
        ),
        ("{folder}/wrong.py:nn", "error: model .*wrong.py:nn: nn is not a flax.linen.Module subclass"),
    ],
)
def test_bad_models_stop_before_any_work_with_one_line(models, message, tensor, tmp_path, monkeypatch):
    wrong = readme_plugin(tmp_path).read_text().replace("nn.Dense(2)", "nn.Dense(3)")
    (tmp_path / "wrong.py").write_text(wrong)
    with pytest.raises(SystemExit) as info:
        cli(["--models", models.format(folder=tmp_path)], tensor, monkeypatch, tmp_path)
    assert str(info.value).count("\n") == 0 and re.search(message, str(info.value)), str(info.value)
    assert not (tmp_path / "runs").exists()  # no run folder, no data stage
