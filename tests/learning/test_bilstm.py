"""The BiLSTM tagger (SPEC §7): PyTorch equivalence, custom backward, shared stimulus projection."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from restasmr_jax.learning.models.bilstm import BiLSTMTagger, FrameInputs, dropout_keep, init_params
from restasmr_jax.learning.models.lstm import lstm_recurrence, lstm_recurrence_reference
from tests.fake_tensor import make_tensor

H = 8


def tree_max_abs_diff(a, b):
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_dense_forward_equals_torch_lstm():
    torch = pytest.importorskip("torch")
    batch, time, feat = 3, 12, 10
    x = np.random.default_rng(0).normal(size=(batch, time, feat)).astype(np.float32)
    model = BiLSTMTagger(hidden=H)
    params = init_params(model, jax.random.PRNGKey(1), feat)

    lstm = torch.nn.LSTM(feat, H, num_layers=2, batch_first=True, bidirectional=True)
    head = torch.nn.Linear(2 * H, 2)

    def t(a):
        return torch.from_numpy(np.array(a, np.float32))

    with torch.no_grad():
        for layer in range(2):
            for k, suffix in enumerate(("", "_reverse")):
                getattr(lstm, f"weight_ih_l{layer}{suffix}").copy_(t(params[f"w_ih_{layer}"][:, k, :]).T)
                getattr(lstm, f"weight_hh_l{layer}{suffix}").copy_(t(params[f"w_hh_{layer}"][k]).T)
                getattr(lstm, f"bias_ih_l{layer}{suffix}").copy_(t(params[f"b_{layer}"][k]))
                getattr(lstm, f"bias_hh_l{layer}{suffix}").zero_()
        head.weight.copy_(t(params["w_out"]).reshape(2 * H, 2).T)
        head.bias.copy_(t(params["b_out"]))
        lstm.eval()
        expected = head(lstm(t(x))[0]).numpy()
    got = np.asarray(jax.jit(lambda p, x: model.apply({"params": p}, x))(params, jnp.asarray(x)))
    np.testing.assert_allclose(got, expected, atol=2e-6)


@pytest.mark.parametrize("batch,time", [(1, 1), (3, 7)])
def test_custom_vjp_recurrence_matches_autodiff(batch, time):
    rng = np.random.default_rng(batch)
    gates = jnp.asarray(rng.normal(size=(time, batch, 2, 4 * H)).astype(np.float32))
    w_hh = jnp.asarray(0.4 * rng.normal(size=(2, H, 4 * H)).astype(np.float32))
    cotangent = jnp.asarray(rng.normal(size=(time, batch, 2, H)).astype(np.float32))

    def loss(fn):
        return lambda g, w: jnp.sum(fn(g, w) * cotangent)

    fast = jax.jit(jax.value_and_grad(loss(lambda g, w: lstm_recurrence(g, w, 1)), argnums=(0, 1)))
    slow = jax.jit(jax.value_and_grad(loss(lstm_recurrence_reference), argnums=(0, 1)))
    (v_fast, g_fast), (v_slow, g_slow) = fast(gates, w_hh), slow(gates, w_hh)
    np.testing.assert_allclose(v_fast, v_slow, rtol=1e-5)
    for a, b in zip(g_fast, g_slow):
        np.testing.assert_allclose(a, b, atol=2e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def tensor():
    return make_tensor(n_subjects=4, n_time=16)


def shared_and_dense(tensor, features, rows):
    """The same trials as `FrameInputs` (features per stimulus) and as the tensor's dense X."""
    shared, own = tensor.feature_columns(features)
    assert not tensor.mask[rows].all()
    stim_rows = np.unique(tensor.stim_index[rows])
    lookup = {s: i for i, s in enumerate(stim_rows)}
    inputs = FrameInputs(
        shared=jnp.asarray(shared[stim_rows]),
        stim_pos=jnp.asarray([lookup[s] for s in tensor.stim_index[rows]], jnp.int32),
        own=jnp.asarray(own[rows]),
        mask=jnp.asarray(tensor.mask[rows]),
    )
    dense = jnp.asarray(tensor.X(features)[rows])  # the tensor's own dense construction
    assert dense.shape[-1] == inputs.n_features
    return inputs, dense


ROWS = np.array([0, 3, 9, 17, 30, 31])  # several stimuli, some repeated, some short trials


@pytest.mark.parametrize("features", ["fusion", "video", "ppg"])
def test_shared_projection_equals_dense_formulation(tensor, features):
    """Same logits and parameter gradients as the dense zero-padded X (both column groups, shared only,
    own only)."""
    inputs, dense = shared_and_dense(tensor, features, ROWS)
    rows = ROWS
    model = BiLSTMTagger(hidden=H)
    params = init_params(model, jax.random.PRNGKey(2), dense.shape[-1])
    weights = jnp.asarray(np.random.default_rng(3).normal(size=(len(rows), tensor.ppg.shape[1], 2)), jnp.float32)

    def loss(p, x):
        return jnp.sum(model.apply({"params": p}, x) * weights)

    grad = jax.jit(jax.value_and_grad(loss))
    (val_shared, grad_shared), (val_dense, grad_dense) = grad(params, inputs), grad(params, dense)
    np.testing.assert_allclose(val_shared, val_dense, rtol=1e-5)
    assert tree_max_abs_diff(grad_shared, grad_dense) < 1e-4


def test_audio_only_shared_projection_forward(tensor):
    inputs, dense = shared_and_dense(tensor, "audio", ROWS)
    assert inputs.shared.shape[-1] == 31 and inputs.own.shape[-1] == 0
    model = BiLSTMTagger(hidden=H)
    params = init_params(model, jax.random.PRNGKey(5), 31)
    apply = jax.jit(lambda p, x: model.apply({"params": p}, x))
    np.testing.assert_allclose(apply(params, inputs), apply(params, dense), atol=1e-5)


def test_padded_frames_carry_only_the_bias(tensor):
    """Whatever the stimulus holds after a short trial's end, its padded frames see a zero input row."""
    shared, own = tensor.feature_columns("fusion")
    row = int(np.flatnonzero(~tensor.mask.all(1))[0])
    model = BiLSTMTagger(hidden=H)

    def inputs(fill):
        sh = shared[tensor.stim_index[row]][None].copy()
        sh[0, tensor.n_valid[row] :] = fill
        return FrameInputs(
            jnp.asarray(sh), jnp.zeros(1, jnp.int32), jnp.asarray(own[row][None]), jnp.asarray(tensor.mask[row][None])
        )

    params = init_params(model, jax.random.PRNGKey(0), inputs(0.0).n_features)
    apply = jax.jit(lambda p, x: model.apply({"params": p}, x))
    a, b = apply(params, inputs(0.0)), apply(params, inputs(1e3))
    np.testing.assert_array_equal(a, b)


def test_dropout_masks_depend_on_slot_not_batch_size():
    key = jax.random.PRNGKey(7)
    big, small = dropout_keep(key, (16, 30, 2, 8), 0.3), dropout_keep(key, (4, 30, 2, 8), 0.3)
    np.testing.assert_array_equal(big[:4], small)
    rate = 1 - float(dropout_keep(key, (64, 100, 2, 64), 0.3).mean())
    assert abs(rate - 0.3) < 0.005


def test_dropout_only_in_training_mode():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 9, 5)), jnp.float32)
    model = BiLSTMTagger(hidden=H)
    params = init_params(model, jax.random.PRNGKey(0), x.shape[-1])
    apply = jax.jit(lambda p, key: model.apply({"params": p}, x, dropout_key=key))
    plain = jax.jit(lambda p: model.apply({"params": p}, x))(params)
    dropped, again = apply(params, jax.random.PRNGKey(1)), apply(params, jax.random.PRNGKey(1))
    assert not np.allclose(plain, dropped)
    np.testing.assert_array_equal(dropped, again)


def test_init_params_shapes_and_pytorch_bounds():
    model = BiLSTMTagger(hidden=H)
    reference = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 1, 544)))["params"]
    params = init_params(model, jax.random.PRNGKey(1), 544)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(lambda s: s.shape, reference)
    lstm, head = 1 / np.sqrt(H), 1 / np.sqrt(2 * H)
    assert float(jnp.max(jnp.abs(params["w_ih_0"]))) <= lstm and float(jnp.std(params["w_ih_0"])) > 0.5 * lstm
    assert lstm < float(jnp.max(jnp.abs(params["b_0"]))) <= 2 * lstm  # b_ih + b_hh
    assert float(jnp.max(jnp.abs(params["w_out"]))) <= head
