"""The model zoo (SPEC §7): every built-in keeps the contract, ignores padding, learns, trains in the one program."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from restasmr_jax.evidence.metrics import selection_macro_f1
from restasmr_jax.learning import batches, fit, models, program
from restasmr_jax.learning.models import FrameInputs, parse_model
from restasmr_jax.learning.models.layers import FrameDense, project_frames
from restasmr_jax.learning.replicas import replica_keys
from restasmr_jax.learning.splits import make_splits
from tests.fake_tensor import TINY_TRAIN, make_tensor

ZOO = ("bigru", "tcn", "transformer", "mlp")
CFG = dataclasses.replace(TINY_TRAIN, epochs=4)


@pytest.fixture(scope="module")
def tensor():
    return make_tensor(n_subjects=8, n_time=16, seed=1)


@pytest.fixture(scope="module")
def splits(tensor):
    return make_splits(tensor.subject, CFG)


def trial_inputs(tensor, rows, shared=None):
    """Trials `rows` as `FrameInputs`, each on its own stimulus row (`shared` overrides the stimulus columns)."""
    sh, own = tensor.feature_columns("fusion")
    sh = sh[tensor.stim_index[rows]] if shared is None else shared
    return FrameInputs(
        jnp.asarray(sh), jnp.arange(len(rows), dtype=jnp.int32), jnp.asarray(own[rows]), jnp.asarray(tensor.mask[rows])
    )


@pytest.mark.parametrize("name", ZOO)
def test_shapes_and_padded_frames_are_inert(name, tensor):
    tagger = parse_model(name).tagger(CFG)
    rows = np.flatnonzero(~tensor.mask.all(axis=1))[:3]  # trials whose last frames are padding
    clean = trial_inputs(tensor, rows)
    garbage, own = np.asarray(clean.shared).copy(), np.asarray(clean.own).copy()
    padded = ~np.asarray(clean.mask)
    garbage[padded], own[padded] = 1e3, -7.0
    # the clean trials and their garbage-padded copies in one batch: trials never see each other
    both = FrameInputs(
        jnp.concatenate([clean.shared, jnp.asarray(garbage)]),
        jnp.arange(2 * len(rows), dtype=jnp.int32),
        jnp.concatenate([clean.own, jnp.asarray(own)]),
        jnp.concatenate([clean.mask, clean.mask]),
    )
    params = tagger.init(jax.random.PRNGKey(0), clean.n_features)
    logits = jax.jit(tagger.logits)
    out = np.asarray(logits(params, both))
    assert out.shape == (2 * len(rows), tensor.mask.shape[1], 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out[: len(rows)], out[len(rows) :])  # what a padded frame holds reaches nothing
    assert not np.allclose(logits(params, both, jax.random.PRNGKey(3)), out)  # training mode draws dropout


def test_frame_projection_equals_the_dense_matmul(tensor):
    rows = np.array([0, 5, 9, 12])
    inputs = trial_inputs(tensor, rows)
    w = jnp.asarray(np.random.default_rng(0).normal(size=(inputs.n_features, 3)), jnp.float32)
    dense = np.asarray(tensor.X("fusion")[rows]) @ np.asarray(w)
    np.testing.assert_allclose(project_frames(inputs, w), dense, rtol=1e-4, atol=1e-4)
    params = FrameDense(3).init(jax.random.PRNGKey(1), inputs)
    bias = np.asarray(params["params"]["bias"])
    out = np.asarray(FrameDense(3).apply(params, inputs))
    padded = ~np.asarray(inputs.mask)
    np.testing.assert_array_equal(out[padded], np.broadcast_to(bias, out[padded].shape))


@pytest.mark.parametrize("name", ZOO)
def test_each_model_learns_the_tiny_task(name, tensor, splits):
    """On held-out participants of the training videos the label follows stimulus column 0: every fold's
    selected epoch is far above the chance-level macro F1 of ~0.45 (all one class)."""
    session = fit.make_session(tensor, splits, CFG, model=parse_model(name).tagger(CFG))
    result = fit.fit(session, score=selection_macro_f1, progress=False)
    assert np.all(result.best_score > 0.8), f"{name}: validation macro F1 {result.best_score}"


def test_vmapped_four_fold_step_equals_four_single_fold_steps(tensor, splits):
    tagger = parse_model("tcn").tagger(CFG)
    plan = batches.make_plan(tensor, splits, CFG)
    shared, own = tensor.feature_columns("fusion")
    data = program.DeviceData(jnp.asarray(shared), jnp.asarray(own), jnp.asarray(tensor.y), jnp.asarray(tensor.mask))
    compiled = program.build_program(tagger, CFG.learning_rate, shared.shape[-1], own.shape[-1])
    keys = replica_keys(plan.seed_values, plan.n_folds)
    epoch = batches.epoch_batches(plan, 2, batches.fold_stimuli(plan, plan.train_rows))
    batch = jax.tree.map(lambda x: jnp.asarray(x[:, 0]), epoch)
    single = jax.jit(functools.partial(program.train_step, model=tagger, tx=optax.adam(CFG.learning_rate)))
    state = compiled.init(keys)

    def pick(tree, r):
        return jax.tree.map(lambda x: x[r], tree)

    def step_key(key):
        return jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, program.DROPOUT_TAG), 2), 0)

    separate = [single(pick(state, r), pick(batch, r), step_key(keys[r]), data) for r in range(plan.n_folds)]
    stepped, metrics = compiled.step(state, batch, keys, 2, 0, data)
    # The gradients (Adam's first and second moments) agree to rounding, and so do the parameters wherever the
    # gradient is not ~0: Adam's first step lr * g / (|g| + eps) turns the rounding of a gradient that LayerNorm
    # makes vanish (e.g. of a bias before it) into an arbitrary fraction of lr, in either program.
    for r, (state_r, metrics_r) in enumerate(separate):
        for a, b in zip(jax.tree.leaves(pick(stepped.opt_state, r)), jax.tree.leaves(state_r.opt_state)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * max(1.0, float(np.abs(b).max())))
        first_moment = jax.tree.leaves(state_r.opt_state[0].mu)
        for a, b, mu in zip(jax.tree.leaves(pick(stepped.params, r)), jax.tree.leaves(state_r.params), first_moment):
            clear = np.abs(np.asarray(mu)) > 1e-6
            np.testing.assert_allclose(np.asarray(a)[clear], np.asarray(b)[clear], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(metrics["loss_sum"][r], metrics_r["loss_sum"], rtol=1e-5)


def test_padding_trials_of_a_batch_change_nothing(tensor, splits):
    tagger = parse_model("transformer").tagger(CFG)
    plan = batches.make_plan(tensor, splits, CFG)
    shared, own = tensor.feature_columns("fusion")
    data = program.DeviceData(jnp.asarray(shared), jnp.asarray(own), jnp.asarray(tensor.y), jnp.asarray(tensor.mask))
    stim_rows, lookup = batches.fold_stimuli(plan, plan.train_rows)
    single = jax.jit(functools.partial(program.train_step, model=tagger, tx=optax.adam(CFG.learning_rate)))
    params = tagger.init(jax.random.PRNGKey(0), shared.shape[-1] + own.shape[-1])
    state = program.TrainState(params, optax.adam(CFG.learning_rate).init(params))
    train = plan.train_rows[0]

    def batch(rows):
        rows = np.asarray(rows, np.int32)
        return batches.Batch(
            rows=jnp.asarray(rows),
            weight=jnp.asarray([1, 1, 0, 0], jnp.float32),
            stim_pos=jnp.asarray(lookup[0][plan.stim_index[rows]]),
            stim_rows=jnp.asarray(stim_rows[0]),
            class_weight=jnp.asarray(plan.class_weight[0]),
        )

    key = jax.random.PRNGKey(4)
    a, _ = single(state, batch([train[1], train[2], train[3], train[4]]), key, data)
    b, _ = single(state, batch([train[1], train[2], train[9], train[0]]), key, data)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)


def test_bilstm_through_the_registry_is_the_paper_model(tensor, splits):
    assert parse_model("bilstm").tagger(CFG) == models.from_config(CFG)
    cfg = dataclasses.replace(CFG, epochs=1)
    default = fit.make_session(tensor, splits, cfg)
    named = fit.make_session(tensor, splits, cfg, model=parse_model("bilstm").tagger(cfg))
    a = fit.fit(default, score=selection_macro_f1, progress=False)
    b = fit.fit(named, score=selection_macro_f1, progress=False)
    for x, y in zip(jax.tree.leaves(a.best_params), jax.tree.leaves(b.best_params)):
        np.testing.assert_array_equal(x, y)
