"""Pipeline orchestration at tiny scale: run folder contents, bit-identical re-prediction, resume.

The full synthetic path (ResNet-18 on 4,400 frames) is too slow for the
suite, so these runs start from a small fabricated TrialTensor: 8
participants x 8 videos x 20 frames, 2 epochs of a hidden-8 BiLSTM and a
few dozen resamples.  The CLI is checked through its parser.
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
from dataclasses import replace

import numpy as np
import pytest

from restasmr_jax.config import StatsConfig, TrainConfig, XGBConfig
from restasmr_jax.evidence.artifact import load_predictions
from restasmr_jax.learning import splits as splits_mod
from restasmr_jax.runs import pipeline, repredict
from restasmr_jax.runs.layout import RunFolderError
from restasmr_jax.runs.options import RunOptions, add_run_flags, load_options, options_from_args
from restasmr_jax.tensor.trial_tensor import TrialTensor
from tests.fake_tensor import make_tensor

N_TIME = 20
TINY_TRAIN = TrainConfig(epochs=2, hidden=8, batch_size=8, n_seeds=2)  # the seed axis too
TINY_STATS = StatsConfig(n_bootstrap=40, n_permutation=40, n_compare_bootstrap=100)
TINY_XGB = XGBConfig(n_estimators=5, max_depth=3)  # histogram work scales with 544 columns x bins x nodes


def tiny_tensor() -> TrialTensor:
    tensor = make_tensor(n_subjects=8, n_time=N_TIME, seed=3)
    return replace(tensor, provenance={"data_source": "synthetic", "note": "fabricated for tests"})


def tiny_options(tmp_path, **kw) -> RunOptions:
    kw.setdefault("cache_dir", tmp_path / "cache")
    return RunOptions(out=tmp_path / "runs", train=TINY_TRAIN, stats=TINY_STATS, xgb=TINY_XGB, progress=False, **kw)


def _broken_figure(*args, **kwargs):
    raise RuntimeError("figure stage crashed")


def _no_training(*args, **kwargs):
    raise AssertionError("a finished model was trained again")


@pytest.fixture(scope="module")
def fusion_run(tmp_path_factory):
    """One tiny run that fails in its last stage, then is resumed to completion without retraining.

    Returns the run folder, the tensor and what the folder held right after the failure.
    """
    from restasmr_jax.learning import fit as train

    tmp = tmp_path_factory.mktemp("pipeline")
    tensor = tiny_tensor()
    options = tiny_options(tmp)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "tinglegram_stage", _broken_figure)
        with pytest.raises(RuntimeError, match="figure stage crashed"):
            pipeline.run_fusion(options, tensor=tensor)
    (run_dir,) = list((tmp / "runs").iterdir())
    after_failure = {
        "manifest": json.loads((run_dir / "manifest.json").read_text()),
        "predictions": (run_dir / "predictions" / "seed0.pkl").read_bytes(),
        "files": sorted(p.name for p in run_dir.iterdir()),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train, "fit", _no_training)
        # flags given with --resume are ignored: the saved options describe the run
        resumed = pipeline.run_fusion(replace(options, resume=run_dir, train=TrainConfig()), tensor=tensor)
    assert resumed == run_dir
    return run_dir, tensor, after_failure


def test_run_folder_holds_every_output(fusion_run):
    run_dir, tensor, _ = fusion_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["data_source"] == "synthetic"
    assert manifest["configs"]["train"]["epochs"] == TINY_TRAIN.epochs
    assert {"splits", "train", "predict", "statistics", "tinglegram"} <= set(manifest["stage_seconds"])
    assert load_options(run_dir).train == TINY_TRAIN

    # splits: the file the split loader reads, the folds of SPEC §6 for these participants
    folds = splits_mod.load_splits(run_dir, tensor)
    assert folds == splits_mod.make_splits(np.unique(tensor.subject), TINY_TRAIN)
    assert (run_dir / "checkpoints" / "state").is_dir()

    # predictions: safe loader, one row per test trial of every fold, aligned with the tensor
    pred = load_predictions(run_dir / "predictions" / "seed0.pkl", n_frames=N_TIME)
    expected_rows = [i for f in folds for i in splits_mod.trial_indices(tensor, f)[2]]
    assert pred.n_trials == len(expected_rows) == 4 * 2 * 2  # 4 folds x 2 test participants x 2 videos
    np.testing.assert_array_equal(pred.truths, tensor.y[expected_rows])
    np.testing.assert_array_equal(pred.mask, tensor.mask[expected_rows])
    np.testing.assert_array_equal(pred.subject, tensor.subject[expected_rows])
    assert pred.fold.tolist() == [f.fold for f in folds for _ in splits_mod.trial_indices(tensor, f)[2]]
    other_seed = load_predictions(run_dir / "predictions" / "seed1.pkl", n_frames=N_TIME)
    np.testing.assert_array_equal(other_seed.subject, pred.subject)
    assert not np.array_equal(other_seed.probs, pred.probs)  # seed 43 is another model

    # Table 1 with its baselines, labelled synthetic
    table = json.loads((run_dir / "table1.json").read_text())
    assert table["data_source"] == "synthetic"
    assert set(table) >= {"model", "condition_prior"}
    macro_f1 = table["model"]["frame_level"]["metrics"]["macro_f1"]
    assert len(macro_f1["per_fold"]) == 4 and len(macro_f1["ci"]) == 2
    assert {"asmr_macro_f1", "asmr_auroc"} <= set(table["model"]["frame_level"]["metrics"])
    assert len(table["seed_spread"]["macro_f1"]["per_seed"]) == 2
    assert table["seed_spread"]["macro_f1"]["per_seed"][0] == pytest.approx(macro_f1["mean"])
    history = json.loads((run_dir / "history.json").read_text())
    assert np.shape(history["val_f1"]) == (TINY_TRAIN.epochs, 2, 4)
    markdown = (run_dir / "table1.md").read_text()
    assert "SYNTHETIC" in markdown and "Condition prior" in markdown and "Within-ASMR" in markdown
    assert json.loads((run_dir / "video_level.json").read_text())["model"]["stimulus"]["n_trials"] == pred.n_trials
    assert (run_dir / "video_level.md").read_text().count("Video-level") >= 1
    assert (run_dir / "tinglegram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_reloads_checkpoints_bit_identically(fusion_run, tmp_path):
    run_dir, tensor, _ = fusion_run
    assert repredict.run_predict(run_dir, tensor=tensor, progress=False)["identical"]
    assert json.loads((run_dir / "repredict.json").read_text())["identical"] is True

    # the comparison can fail: one probability nudged in a copy of the run
    copy = shutil.copytree(run_dir, tmp_path / "copy")
    path = copy / "predictions" / "seed0.pkl"
    records = pickle.loads(path.read_bytes())
    records[0]["probs"][0] = np.nextafter(records[0]["probs"][0], np.float32(2))
    path.write_bytes(pickle.dumps(records))
    verdict = repredict.run_predict(copy, tensor=tensor, progress=False)
    assert not verdict["identical"]
    seed0, seed1 = verdict["models"]["fusion"]
    assert set(seed0["differences"]) == {"probs"} and seed1["identical"]


def test_failed_stage_keeps_finished_work_and_resume_does_not_retrain(fusion_run):
    run_dir, tensor, after_failure = fusion_run
    assert after_failure["manifest"]["status"] == "failed"
    assert "figure stage crashed" in after_failure["manifest"]["error"]
    assert {"table1.json", "predictions", "checkpoints"} <= set(after_failure["files"])
    assert "tinglegram.png" not in after_failure["files"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["configs"]["train"]["epochs"] == TINY_TRAIN.epochs  # the saved options, not the new flags
    assert (run_dir / "predictions" / "seed0.pkl").read_bytes() == after_failure["predictions"]
    assert (run_dir / "tinglegram.png").exists()

    # a resumed run refuses data that differ from what it was trained on
    changed = replace(tensor, ppg=tensor.ppg + np.float32(1))
    with pytest.raises(RunFolderError, match="tensor"):
        pipeline.run_fusion(RunOptions(resume=run_dir, progress=False), tensor=changed)


def test_ablations_table2_reuses_fusion_and_adds_xgboost(fusion_run, tmp_path):
    run_dir, tensor, _ = fusion_run
    # training another feature set runs the same `train_and_predict` as fusion; left out to stay fast
    options = tiny_options(tmp_path, models=("fusion",), fusion_run=run_dir)
    out = pipeline.run_ablations(options, tensor=tensor)
    table = json.loads((out / "table2.json").read_text())
    assert set(table["models"]) == {"fusion", "xgboost"}
    assert set(table["references"]) == {"condition_prior", "crowd", "elapsed_time"}
    assert set(table["comparisons"]) == {"xgboost", "condition_prior", "crowd"}
    fusion = load_predictions(run_dir / "predictions" / "seed0.pkl", n_frames=N_TIME)
    xgb = load_predictions(out / "models" / "xgboost" / "predictions" / "seed0.pkl", n_frames=N_TIME)
    # same test trials in the same order for every model: the paired comparison is fold by fold
    np.testing.assert_array_equal(xgb.subject, fusion.subject)
    np.testing.assert_array_equal(xgb.video, fusion.video)
    assert (xgb.preds[~xgb.mask] == 0).all()
    rows = json.loads((out / "models" / "xgboost" / "folds.json").read_text())
    assert [r["n_test_rows"] for r in rows] == [int(fusion.mask[fusion.fold == f].sum()) for f in range(4)]
    assert "SYNTHETIC" in (out / "table2.md").read_text()
    # the saved boosters reproduce the saved XGBoost predictions bit for bit
    verdict = repredict.run_predict(out, tensor=tensor, progress=False)
    assert verdict["models"]["xgboost"][0]["identical"] and verdict["identical"]


def parse(argv):
    parser = argparse.ArgumentParser()
    add_run_flags(parser)
    return options_from_args(parser.parse_args(argv))


def test_flags_quick_preset_and_explicit_overrides():
    paper = parse([])
    assert paper.train == TrainConfig() and paper.stats == StatsConfig()
    assert paper.feature_cfg.video_weights == "auto"
    quick = parse(
        [
            "--quick",
            "--epochs",
            "5",
            "--count-padding",
            "--threshold",
            "0.2",
            "--seeds",
            "3",
            "--video-weights",
            "random:3",
        ]
    )
    assert (quick.train.epochs, quick.train.hidden, quick.train.n_seeds) == (5, 16, 3)
    assert (quick.stats.n_bootstrap, quick.stats.n_permutation) == (200, 200)
    assert quick.stats.count_padding and quick.stats.video_threshold == 0.2
    assert quick.feature_cfg.video_weights == "random:3"
    assert RunOptions.from_dict(json.loads(json.dumps(quick.to_dict()))) == quick
    with pytest.raises(ValueError, match="--epochs"):
        parse(["--epochs", "0"])


def test_cli_help_explains_every_flag(capsys):
    from experiments import ablations, benchmark, fusion, predict

    for module in (fusion, ablations, benchmark, predict):
        with pytest.raises(SystemExit) as exit_info:
            module.main(["--help"])
        assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--epochs",
        "--lr",
        "--batch-size",
        "--hidden",
        "--dropout",
        "--threshold",
        "--n-bootstrap",
        "--n-permutation",
        "--n-compare-bootstrap",
        "--seeds",
        "--selection",
        "--features",
        "--count-padding",
        "--video-weights",
        "--quick",
        "--resume",
        "--fusion-run",
        "--xgb-estimators",
        "--run",
        "path/to/file.py:ClassName",
        "--coordinator",
        "--num-processes",
        "--process-id",
        "--cpu-devices",
        "--start-timeout",
        "SLURM_NTASKS",
    ):
        assert flag in text
