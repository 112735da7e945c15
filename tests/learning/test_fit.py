"""Training all folds in one vmapped program (SPEC §6, §7): equivalence, padding, masking, selection."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from restasmr_jax.evidence.metrics import selection_macro_f1
from restasmr_jax.learning import batches, models, program
from restasmr_jax.learning.replicas import replica_keys
from restasmr_jax.learning.splits import make_splits, trial_indices
from tests.fake_tensor import TINY_TRAIN, fit_tensor, make_tensor, predictions

CFG = TINY_TRAIN


@pytest.fixture(scope="module")
def tensor():
    return make_tensor(n_subjects=8, n_time=16)


@pytest.fixture(scope="module")
def splits(tensor):
    return make_splits(tensor.subject, CFG)


@pytest.fixture(scope="module")
def setup(tensor, splits):
    plan = batches.make_plan(tensor, splits, CFG)
    shared, own = tensor.feature_columns(CFG.features)
    data = program.DeviceData(jnp.asarray(shared), jnp.asarray(own), jnp.asarray(tensor.y), jnp.asarray(tensor.mask))
    model = models.from_config(CFG)
    compiled = program.build_program(model, CFG.learning_rate, shared.shape[-1], own.shape[-1])
    keys = replica_keys(plan.seed_values, plan.n_folds)
    epoch = batches.epoch_batches(plan, 0, batches.fold_stimuli(plan, plan.train_rows))
    single = jax.jit(functools.partial(program.train_step, model=model, tx=optax.adam(CFG.learning_rate)))
    return dict(plan=plan, data=data, program=compiled, keys=keys, batches=epoch, single=single, model=model)


def replica(tree, r):
    return jax.tree.map(lambda x: x[r], tree)


def step_key(key, epoch, step):
    return jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, program.DROPOUT_TAG), epoch), step)


def fresh_state(setup):
    return setup["program"].init(setup["keys"])


def test_vmapped_step_equals_separate_single_fold_steps(setup):
    program, keys, data = setup["program"], setup["keys"], setup["data"]
    batch = jax.tree.map(lambda x: jnp.asarray(x[:, 1]), setup["batches"])
    state = fresh_state(setup)
    separate = [setup["single"](replica(state, r), replica(batch, r), step_key(keys[r], 3, 1), data) for r in range(4)]
    stepped, metrics = program.step(state, batch, keys, 3, 1, data)  # donates `state`
    for r, (state_r, metrics_r) in enumerate(separate):
        for a, b in zip(jax.tree.leaves(replica(stepped, r)), jax.tree.leaves(state_r)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(metrics["loss_sum"][r], metrics_r["loss_sum"], rtol=1e-5)


def test_fold_loss_has_no_gradient_wrt_other_folds(setup):
    model = setup["model"]
    batch = jax.tree.map(lambda x: jnp.asarray(x[:, 0]), setup["batches"])
    params = fresh_state(setup).params

    def fold_loss(p, b):
        inputs, y = program.model_inputs(setup["data"], b), setup["data"].y[b.rows]
        total, norm = program.weighted_ce_sums(model.logits(p, inputs), y, program.frame_weights(b, y, inputs.mask))
        return total / norm

    losses = jax.vmap(fold_loss)
    grads = jax.jit(jax.grad(lambda p, i: losses(p, batch)[i]), static_argnums=1)
    for i in (0, 2):
        g = grads(params, i)
        for leaf in jax.tree.leaves(g):
            others = np.delete(np.asarray(leaf), i, axis=0)
            assert np.all(others == 0) and np.any(np.asarray(leaf[i]) != 0)


def _one_fold_batch(setup, rows, weight):
    plan, fold = setup["plan"], 0
    stim_rows, lookup = batches.fold_stimuli(plan, plan.train_rows)
    rows = np.asarray(rows, np.int32)
    return batches.Batch(
        rows=jnp.asarray(rows),
        weight=jnp.asarray(weight, jnp.float32),
        stim_pos=jnp.asarray(lookup[fold][plan.stim_index[rows]]),
        stim_rows=jnp.asarray(stim_rows[fold]),
        class_weight=jnp.asarray(plan.class_weight[fold]),
    )


def test_step_moves_params_and_padding_trials_change_nothing(setup):
    plan, single, data = setup["plan"], setup["single"], setup["data"]
    train_rows, other = plan.train_rows[0], plan.test_rows[0]
    state = replica(fresh_state(setup), 0)
    key = jax.random.PRNGKey(11)
    real = [train_rows[3], train_rows[7]]
    a, metrics_a = single(state, _one_fold_batch(setup, real + [train_rows[0], train_rows[1]], [1, 1, 0, 0]), key, data)
    b, metrics_b = single(state, _one_fold_batch(setup, real + [other[0], other[1]], [1, 1, 0, 0]), key, data)
    assert any(
        np.any(np.asarray(x) != np.asarray(y)) for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(state.params))
    )
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)
    assert metrics_a["loss_sum"] == metrics_b["loss_sum"] and metrics_a["weight_sum"] == metrics_b["weight_sum"]

    only_padding, metrics = single(state, _one_fold_batch(setup, train_rows[:4], [0, 0, 0, 0]), key, data)
    assert float(metrics["weight_sum"]) == 0
    for x, y in zip(jax.tree.leaves(only_padding), jax.tree.leaves(state)):  # Adam count included
        np.testing.assert_array_equal(x, y)


def test_masked_frames_do_not_affect_the_loss(setup, tensor):
    plan, single = setup["plan"], setup["single"]
    short = [r for r in plan.train_rows[0] if not tensor.mask[r].all()][:2]
    full = [r for r in plan.train_rows[0] if tensor.mask[r].all()][:2]
    batch = _one_fold_batch(setup, short + full, [1, 1, 1, 1])
    state = replica(fresh_state(setup), 0)
    key = jax.random.PRNGKey(5)
    base, metrics = single(state, batch, key, setup["data"])

    padded = ~np.asarray(tensor.mask)
    shared, own = tensor.feature_columns(CFG.features)
    own = own.copy()
    own[padded] = 9.0  # garbage PPG and labels on padded frames
    y = np.where(padded, 1, tensor.y)
    # garbage in the stimulus rows after each short trial's end is covered by test_bilstm
    data = program.DeviceData(jnp.asarray(shared), jnp.asarray(own), jnp.asarray(y), jnp.asarray(tensor.mask))
    changed, metrics_changed = single(state, batch, key, data)
    assert metrics["loss_sum"] == metrics_changed["loss_sum"]
    for x, y_ in zip(jax.tree.leaves(base), jax.tree.leaves(changed)):
        np.testing.assert_array_equal(x, y_)


def test_class_weights_from_valid_training_frames(tensor, splits):
    plan = batches.make_plan(tensor, splits, CFG)
    for split, weights in zip(splits, plan.class_weight):
        rows = trial_indices(tensor, split)[0]
        labels = np.concatenate([tensor.y[r][: tensor.n_valid[r]] for r in rows])
        n_pos = labels.sum()
        expected = [labels.size / (2 * (labels.size - n_pos)), labels.size / (2 * n_pos)]
        np.testing.assert_allclose(weights, expected, rtol=1e-6)


def test_selection_score_is_sklearn_macro_f1():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    for truth_p, pred_p in [(0.3, 0.5), (0.0, 0.2), (0.0, 0.0), (1.0, 0.9)]:
        truth, pred = rng.random(200) < truth_p, rng.random(200) < pred_p
        confusion = np.array(
            [[np.sum(~truth & ~pred), np.sum(~truth & pred)], [np.sum(truth & ~pred), np.sum(truth & pred)]]
        )
        expected = f1_score(truth, pred, average="macro", zero_division=0)
        assert selection_macro_f1(confusion) == pytest.approx(expected)


def test_epoch_batches_pad_short_folds_with_zero_weight(tensor, splits):
    plan = batches.make_plan(tensor, splits, CFG)
    epoch = batches.epoch_batches(plan, 0, batches.fold_stimuli(plan, plan.train_rows))
    for r in range(plan.n_replicas):
        fold = plan.seed_fold(r)[1]
        rows, weight = epoch.rows[r].ravel(), epoch.weight[r].ravel()
        n = len(plan.train_rows[fold])
        assert sorted(rows[weight == 1]) == sorted(plan.train_rows[fold]) and weight[:n].all() and not weight[n:].any()
    again = batches.epoch_batches(plan, 0, batches.fold_stimuli(plan, plan.train_rows))
    later = batches.epoch_batches(plan, 1, batches.fold_stimuli(plan, plan.train_rows))
    np.testing.assert_array_equal(epoch.rows, again.rows)
    assert not np.array_equal(epoch.rows, later.rows)


@pytest.fixture(scope="module")
def session_and_fit(tensor, splits):
    return fit_tensor(tensor, splits, CFG)


@pytest.fixture(scope="module")
def fitted(session_and_fit):
    return session_and_fit[1]


def test_learns_a_learnable_task(fitted):
    chance_like = 0.6
    assert np.all(fitted.best_score > 0.85), fitted.best_score
    assert np.all(np.asarray(fitted.history["val_f1"])[0] < np.asarray(fitted.history["val_f1"])[-1] + 1e-9)
    assert np.all(np.asarray(fitted.history["val_f1"]).max(0) > chance_like)
    assert np.asarray(fitted.history["train_loss"]).shape == (CFG.epochs, 1, 4)


def test_best_params_are_a_real_copy_of_the_best_epoch(fitted, tensor, splits):
    """A run stopped right after fold f's best epoch ends with exactly the params `fit` kept as best."""
    epochs = fitted.best_epoch[0]
    assert np.any(epochs < CFG.epochs - 1), "every fold peaked at the last epoch; the test would be vacuous"
    fold = int(np.argmin(epochs))
    _, short = fit_tensor(tensor, splits, dataclasses.replace(CFG, epochs=int(epochs[fold]) + 1))
    for best, last_short, last in zip(
        jax.tree.leaves(fitted.best_params), jax.tree.leaves(short.last_params), jax.tree.leaves(fitted.last_params)
    ):
        np.testing.assert_array_equal(best[0, fold], last_short[0, fold])
        assert not np.array_equal(best[0, fold], last[0, fold])
    assert fitted.params is fitted.best_params
    assert dataclasses.replace(fitted, cfg=dataclasses.replace(CFG, selection="last")).params is fitted.last_params
    # the shorter run replays the same epochs: determinism of the history prefix
    n = int(epochs[fold]) + 1
    assert short.history["val_f1"] == fitted.history["val_f1"][:n]


def test_same_seed_gives_identical_metrics_and_params(fitted, tensor, splits):
    _, again = fit_tensor(tensor, splits, CFG)
    assert again.history == fitted.history
    for a, b in zip(jax.tree.leaves(again.best_params), jax.tree.leaves(fitted.best_params)):
        np.testing.assert_array_equal(a, b)


def test_predict_uses_each_trials_test_fold(session_and_fit, tensor, splits):
    session, fitted = session_and_fit
    (pred,) = predictions(session, tensor, fitted.params)
    module = session.model.module
    apply = jax.jit(lambda p, x: jax.nn.softmax(module.apply({"params": p}, x), axis=-1)[..., 1])
    dense = tensor.X(CFG.features)
    start = 0
    for split in splits:
        rows = trial_indices(tensor, split)[2]
        part = slice(start, start + len(rows))
        start += len(rows)
        assert np.all(pred.fold[part] == split.fold)
        np.testing.assert_array_equal(pred.subject[part], tensor.subject[rows])
        np.testing.assert_array_equal(pred.mask[part], tensor.mask[rows])
        np.testing.assert_array_equal(pred.truths[part], tensor.y[rows])
        fold_params = jax.tree.map(lambda x, f=split.fold: x[0, f], fitted.best_params)
        expected = apply(fold_params, jnp.asarray(dense[rows]))
        np.testing.assert_allclose(pred.probs[part], expected, atol=1e-5)
        np.testing.assert_array_equal(pred.preds[part], (pred.probs[part] > 0.5).astype(int))
    assert start == pred.n_trials


SHARDED_SCRIPT = """
import json, sys
sys.path.insert(0, {root!r})
from restasmr_jax.learning.replicas import placement, use_cpu_devices
assert use_cpu_devices(3) == 3
import dataclasses, jax, numpy as np
from tests.fake_tensor import TINY_TRAIN, fit_tensor, make_tensor
from restasmr_jax.learning.splits import make_splits
tensor = make_tensor(n_subjects=8, n_time=16)
cfg = dataclasses.replace(TINY_TRAIN, epochs=2)
session, fit = fit_tensor(tensor, make_splits(tensor.subject, cfg), cfg, folder={folder!r})
print(json.dumps({{"loss": fit.history["train_loss"], "place": session.place.describe()}}))
"""


@pytest.mark.slow
def test_replicas_sharded_over_three_cpu_devices_with_inert_padding_train_the_same(tensor, splits, tmp_path):
    """4 replicas on 3 devices: padded to 6, two inert; the real ones train as on one device, and the
    checkpoint holds only them (a 1-device process reloads it)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from restasmr_jax.learning.checkpoint import load_run

    root, folder = str(Path(__file__).parents[2]), tmp_path / "checkpoints"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    script = SHARDED_SCRIPT.format(root=root, folder=str(folder))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    sharded = json.loads(out.stdout.strip().splitlines()[-1])
    assert sharded["place"] == {
        "axis": "replica",
        "devices": 3,
        "processes": 1,
        "platform": "cpu",
        "replicas": 4,
        "padded_to": 6,
        "inert_padding": 2,
    }
    cfg = dataclasses.replace(CFG, epochs=2)
    _, local = fit_tensor(tensor, splits, cfg)
    np.testing.assert_allclose(sharded["loss"], local.history["train_loss"], rtol=1e-5)
    restored = load_run(folder)
    assert restored.cfg == cfg
    for a, b in zip(jax.tree.leaves(restored.params), jax.tree.leaves(local.params)):
        assert a.shape == b.shape  # [seed, fold, ...]: the padding is not saved
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # float32 rounding of other batch shapes
