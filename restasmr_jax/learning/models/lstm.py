"""The bidirectional LSTM recurrence as ONE `lax.scan` with a hand-written backward pass (SPEC §7).

Both directions advance in the same loop: step t of the loop is frame t of
the forward direction and frame T-1-t of the backward one, so the two
small recurrent matmuls become one batched matmul over a direction axis.
The input projection (the large matmul) is done by the caller for all
frames at once, so the loop holds only the recurrence.

Layouts.  Callers use natural time order with the minor axes kept minor:
    gates_in  [time, batch, direction, 4*hidden]  input contribution incl. bias, gate order i, f, g, o
    w_hh      [direction, hidden, 4*hidden]        recurrent weights (PyTorch's gate order)
    returns   [time, batch, direction, hidden]     hidden states
so that `[time * batch, direction * ...]` is a plain row-major matrix for
the caller's matmuls.  Inside, arrays are in loop order
`[step, direction, batch, ...]` (the backward direction reversed in time),
so each step reads and writes contiguous blocks; converting between the two
orders is one copy of contiguous rows.  (Layouts that move the hidden/gate
axis away from the minor position make XLA insert element-wise transposes
of the largest tensors, which on CPU cost as much as the matmuls; reading
the two directions' frames with dynamic indices inside the loop makes the
per-step fusion several times slower than the copy it saves.)

`lstm_recurrence` (custom VJP) and `lstm_recurrence_reference` (plain
autodiff, flips instead of indexing) compute the same function; tests check
forward values and gradients against each other and the model against
`torch.nn.LSTM`.

Why a custom VJP: autodiff of the scan accumulates the recurrent-weight
gradient with a small [hidden, batch] x [batch, 4*hidden] matmul inside
every backward step.  Here the backward loop only carries (dh, dc) and emits
the gate gradients; the weight gradient is one large matmul over all
frames after the loop.  All four gate activations also go through one
`tanh` (sigmoid(x) = 0.5 * tanh(x / 2) + 0.5), which halves the
transcendental work in the loop.  Initial states are zero and not
differentiated, as in the model.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

N_GATES = 4  # i, f, g, o


def loop_to_natural(x: jax.Array) -> jax.Array:
    """[step, K=2, batch, F] in loop order -> [time, batch, K, F] in natural time order."""
    return jnp.stack([x[:, 0], jnp.flip(x[:, 1], axis=0)], axis=2)


def natural_to_loop(x: jax.Array) -> jax.Array:
    """[time, batch, K=2, F] -> [step, K, batch, F] (the backward direction reversed in time)."""
    return jnp.stack([x[:, :, 0], jnp.flip(x[:, :, 1], axis=0)], axis=1)


def _gate_affine(hidden: int, ndim: int, dtype) -> jax.Array:
    """[1, .., 4*hidden] 0.5 for the sigmoid gates i, f, o and 1 for the cell candidate g."""
    per_gate = jnp.array([0.5, 0.5, 1.0, 0.5], dtype)
    return jnp.repeat(per_gate, hidden).reshape((1,) * (ndim - 1) + (N_GATES * hidden,))


def _activate(z: jax.Array) -> jax.Array:
    """sigmoid on i, f, o and tanh on g, through a single tanh."""
    scale = _gate_affine(z.shape[-1] // N_GATES, z.ndim, z.dtype)
    return jnp.tanh(z * scale) * scale + (1 - scale)


def _recurrent(h: jax.Array, w_hh: jax.Array) -> jax.Array:
    return jnp.einsum("kbh,khg->kbg", h, w_hh)


def _forward_scan(gates_in, w_hh, unroll):
    """Hidden states, gate activations and previous cells in loop order [step, K, B, .], and the last cell."""
    n_time, batch, n_dir, four_h = gates_in.shape
    zeros = jnp.zeros((n_dir, batch, four_h // N_GATES), gates_in.dtype)

    def step(carry, x):
        h, c = carry
        act = _activate(x + _recurrent(h, w_hh))
        i, f, g, o = jnp.split(act, N_GATES, axis=-1)
        c_new = f * c + i * g
        h_new = o * jnp.tanh(c_new)
        return (h_new, c_new), (h_new, act, c)

    # One copy into loop order keeps every per-step read a contiguous block.
    (_, c_last), (hs, acts, c_prev) = lax.scan(step, (zeros, zeros), natural_to_loop(gates_in), unroll=unroll)
    return hs, acts, c_prev, c_last


def _lstm_recurrence(gates_in: jax.Array, w_hh: jax.Array, unroll: int = 1) -> jax.Array:
    return loop_to_natural(_forward_scan(gates_in, w_hh, unroll)[0])


lstm_recurrence = jax.custom_vjp(_lstm_recurrence, nondiff_argnums=(2,))
lstm_recurrence.__doc__ = (
    """Hidden states [T, B, K, H] from input gates [T, B, K, 4H] and w_hh [K, H, 4H] (custom VJP)."""
)


def _fwd(gates_in, w_hh, unroll):
    hs, acts, c_prev, c_last = _forward_scan(gates_in, w_hh, unroll)
    return loop_to_natural(hs), (hs, acts, c_prev, c_last, w_hh)


def _bwd(unroll, residuals, d_out):
    hs, acts, c_prev, c_last, w_hh = residuals
    w_hh_t = jnp.swapaxes(w_hh, 1, 2)  # [K, 4H, H], transposed once outside the loop

    def step(carry, xs):
        dh_next, dc_next, c = carry  # c: this step's cell state, carried down from step t+1
        d_h, act, c_before = xs
        i, f, g, o = jnp.split(act, N_GATES, axis=-1)
        dh = d_h + dh_next
        tc = jnp.tanh(c)
        dc = dc_next + dh * o * (1 - tc * tc)
        dz = jnp.concatenate(
            [dc * g * i * (1 - i), dc * c_before * f * (1 - f), dc * i * (1 - g * g), dh * tc * o * (1 - o)], axis=-1
        )
        dh_prev = jnp.einsum("kbg,kgh->kbh", dz, w_hh_t)
        return (dh_prev, dc * f, c_before), dz

    zeros = jnp.zeros_like(c_last)
    _, d_gates = lax.scan(
        step, (zeros, zeros, c_last), (natural_to_loop(d_out), acts, c_prev), reverse=True, unroll=unroll
    )
    # h_{t-1} is zero at t = 0, so the weight gradient pairs h[:-1] with dz[1:].
    d_w_hh = jnp.einsum("tkbh,tkbg->khg", hs[:-1], d_gates[1:])
    return loop_to_natural(d_gates), d_w_hh


lstm_recurrence.defvjp(_fwd, _bwd)


def lstm_recurrence_reference(gates_in: jax.Array, w_hh: jax.Array) -> jax.Array:
    """The same recurrence written plainly (separate sigmoid/tanh, autodiff backward), for tests."""
    n_time, batch, n_dir, four_h = gates_in.shape
    zeros = jnp.zeros((n_dir, batch, four_h // N_GATES), gates_in.dtype)

    def step(carry, x):
        h, c = carry
        i, f, g, o = jnp.split(x + _recurrent(h, w_hh), N_GATES, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    return loop_to_natural(lax.scan(step, (zeros, zeros), natural_to_loop(gates_in))[1])
