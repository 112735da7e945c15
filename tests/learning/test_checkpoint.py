"""Orbax checkpoints (SPEC §7): reload re-predicts bit-identically; resume reaches the same numbers."""

import dataclasses

import jax
import numpy as np
import pytest

from restasmr_jax.learning import batches as fold_batches
from restasmr_jax.learning import checkpoint
from restasmr_jax.learning import fit as train
from restasmr_jax.learning.splits import make_splits
from tests.fake_tensor import TINY_TRAIN, fit_tensor, make_tensor, predictions

CFG = dataclasses.replace(TINY_TRAIN, epochs=4)


@pytest.fixture(scope="module")
def tensor():
    return make_tensor(n_subjects=8, n_time=16)


@pytest.fixture(scope="module")
def splits(tensor):
    return make_splits(tensor.subject, CFG)


@pytest.fixture(scope="module")
def uninterrupted(tensor, splits, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "checkpoints"
    session, result = fit_tensor(tensor, splits, CFG, folder=run_dir)
    return session, result, run_dir


def assert_same_predictions(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for name in x.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=name)


def assert_same_fit(a, b):
    assert a.history == b.history
    np.testing.assert_array_equal(a.best_epoch, b.best_epoch)
    np.testing.assert_array_equal(a.best_score, b.best_score)
    for x, y in zip(jax.tree.leaves((a.best_params, a.last_params)), jax.tree.leaves((b.best_params, b.last_params))):
        np.testing.assert_array_equal(x, y)


def test_load_run_repredicts_bit_identically(uninterrupted, tensor, splits):
    session, uninterrupted, run_dir = uninterrupted
    loaded = checkpoint.load_run(run_dir)
    cfg, saved_splits, params, model = loaded  # unpacks as (cfg, splits, params, model)
    assert cfg == CFG and saved_splits == splits and model == session.model
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(uninterrupted.best_params)):
        np.testing.assert_array_equal(a, b)
    assert_same_predictions(predictions(session, tensor, params), predictions(session, tensor, uninterrupted.params))


def test_only_the_latest_step_is_kept(uninterrupted):
    run_dir = uninterrupted[2]
    steps = sorted(p.name for p in (run_dir / checkpoint.STATE_DIR).iterdir() if p.is_dir())
    assert steps == [str(CFG.epochs - 1)]
    assert (run_dir / checkpoint.CONFIG_FILE).exists()
    assert list(run_dir.glob("splits-*.json"))


class Interrupted(RuntimeError):
    pass


def test_resume_reaches_the_same_numbers(uninterrupted, tensor, splits, tmp_path, monkeypatch):
    uninterrupted = uninterrupted[1]
    run_dir = tmp_path / "checkpoints"
    real = fold_batches.epoch_batches

    def crash_at_epoch_2(plan, epoch, stim):
        if epoch == 2:
            raise Interrupted("simulated crash")
        return real(plan, epoch, stim)

    monkeypatch.setattr(train, "epoch_batches", crash_at_epoch_2)  # as `train` sees it
    with pytest.raises(Interrupted):
        fit_tensor(tensor, splits, CFG, folder=run_dir)
    monkeypatch.setattr(train, "epoch_batches", real)
    assert checkpoint.RunCheckpoints(run_dir, read_only=True).latest_epoch() == 1

    session, resumed = fit_tensor(tensor, splits, CFG, folder=run_dir, resume=True)
    assert_same_fit(resumed, uninterrupted)
    assert_same_predictions(
        predictions(session, tensor, resumed.params), predictions(session, tensor, checkpoint.load_run(run_dir).params)
    )
    # resuming a finished run trains nothing and gives the same result again
    assert_same_fit(fit_tensor(tensor, splits, CFG, folder=run_dir, resume=True)[1], uninterrupted)


def test_refuses_to_overwrite_or_resume_a_different_run(uninterrupted, tensor, splits):
    run_dir = uninterrupted[2]
    with pytest.raises(checkpoint.CheckpointError, match="already holds checkpoints"):
        fit_tensor(tensor, splits, CFG, folder=run_dir)
    with pytest.raises(checkpoint.CheckpointError, match="cannot resume"):
        fit_tensor(tensor, splits, dataclasses.replace(CFG, seed=1), folder=run_dir, resume=True)


def test_load_run_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="no config.json"):
        checkpoint.load_run(tmp_path)
