"""Frame tagger: bidirectional GRU, hidden 128 per direction, linear head -> 2 logits (SPEC §7, benchmark).

Why it is in the zoo: a GRU has three gates and no separate cell state,
so it asks whether the LSTM's cell memory matters for following a tingle
report, at three quarters of the recurrent work per layer.  One layer is
the default: it keeps an epoch of all four folds within the BiLSTM's
budget on 2 CPU cores while seeing the whole trial in both directions.

Gate equations and order (r, z, n) are PyTorch's `nn.GRU`:
r = sigma(x W_ir + b_ir + h W_hr + b_hr), z likewise, n = tanh(x W_in +
b_in + r * (h W_hn + b_hn)), h' = (1 - z) * n + z * h.  As in the BiLSTM,
both directions advance in one `lax.scan` (step t is frame t forwards and
frame T-1-t backwards, `lstm.natural_to_loop`), the input projection of
all frames is one matmul before the loop (per stimulus for the shared
columns, `layers.project_frames`), and padded frames are zero input rows.
The backward pass is plain autodiff of the scan.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from restasmr_jax.learning.models.layers import dropout, matmul_frames, project_frames
from restasmr_jax.learning.models.lstm import loop_to_natural, natural_to_loop
from restasmr_jax.learning.models.tagger import FrameInputs

N_DIRECTIONS, N_GATES = 2, 3


def gru_recurrence(gates_in: jax.Array, w_hh: jax.Array, b_hh: jax.Array, unroll: int = 1) -> jax.Array:
    """Hidden states [time, batch, K, H] from input contributions `gates_in [time, batch, K, 3H]` (bias included).

    `w_hh [K, H, 3H]`, `b_hh [K, 3H]`; the initial state is zero.
    """
    _, batch, n_dir, three_h = gates_in.shape
    hidden = three_h // N_GATES

    def step(h, x):  # h [K, B, H], x [K, B, 3H]
        recurrent = jnp.einsum("kbh,khg->kbg", h, w_hh) + b_hh[:, None]
        x_r, x_z, x_n = jnp.split(x, N_GATES, axis=-1)
        h_r, h_z, h_n = jnp.split(recurrent, N_GATES, axis=-1)
        r, z = jax.nn.sigmoid(x_r + h_r), jax.nn.sigmoid(x_z + h_z)
        n = jnp.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h
        return h, h

    zeros = jnp.zeros((n_dir, batch, hidden), gates_in.dtype)
    return loop_to_natural(lax.scan(step, zeros, natural_to_loop(gates_in), unroll=unroll)[1])


class BiGRUTagger(nn.Module):
    """Logits [batch, time, n_classes] from `FrameInputs`; dropout between layers and before the head."""

    hidden: int = 128
    layers: int = 1
    dropout: float = 0.3
    n_classes: int = 2
    unroll: int = 2  # lax.scan unroll factor of the recurrence

    @nn.compact
    def __call__(self, inputs: FrameInputs, dropout_key: jax.Array | None = None) -> jax.Array:
        bound = 1.0 / jnp.sqrt(self.hidden)  # PyTorch's U(-1/sqrt(H), 1/sqrt(H)) for every GRU tensor

        def uniform(key, shape, dtype=jnp.float32):
            return jax.random.uniform(key, shape, dtype, -bound, bound)

        three_h = N_GATES * self.hidden
        h = None  # [T, B, K, H]
        for layer in range(self.layers):
            n_in = inputs.n_features if layer == 0 else N_DIRECTIONS * self.hidden
            w_ih = self.param(f"w_ih_{layer}", uniform, (n_in, N_DIRECTIONS, three_h))
            w_hh = self.param(f"w_hh_{layer}", uniform, (N_DIRECTIONS, self.hidden, three_h))
            b_ih = self.param(f"b_ih_{layer}", uniform, (N_DIRECTIONS, three_h))
            b_hh = self.param(f"b_hh_{layer}", uniform, (N_DIRECTIONS, three_h))
            if layer == 0:
                gates = jnp.transpose(project_frames(inputs, w_ih), (1, 0, 2, 3))
            else:
                gates = matmul_frames(h, w_ih)
            h = gru_recurrence(gates + b_ih[None, None], w_hh, b_hh, self.unroll)
            key = None if dropout_key is None else jax.random.fold_in(dropout_key, layer)
            h = dropout(h, self.dropout, key, time_major=True)
        head = nn.Dense(self.n_classes, name="head")
        logits = head(h.reshape(h.shape[:2] + (N_DIRECTIONS * self.hidden,)))  # [T, B, C]
        return jnp.transpose(logits, (1, 0, 2))
