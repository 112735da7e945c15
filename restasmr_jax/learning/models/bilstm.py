"""Frame tagger: 2-layer bidirectional LSTM, hidden 128, dropout 0.3, linear head -> 2 logits (SPEC §7).

Linen, not NNX: training vmaps one pure step over a stacked [seed x fold]
axis of parameters, donates them, selects best-epoch copies with
`jnp.where` and hands them to Orbax.  Linen's `apply(params, ...)` on a
plain dict pytree is exactly that shape; NNX modules would have to be
split into graph + state and merged back at every one of those boundaries
(`nnx.vmap`/`nnx.split`) for no gain, since this model has no mutable state
besides its parameters.

Architecture as the authors' `torch.nn.LSTM(544, 128, num_layers=2,
bidirectional=True, dropout=0.3)` + `Linear(256, 2)`: dropout only between
the LSTM layers, none before the head; the LSTM runs over all 550 frames
including zero padding (no packing), so a padded frame is an input row of
zeros.  Initialisation follows PyTorch's defaults (uniform +-1/sqrt(hidden);
the two PyTorch biases are summed into one).

Shared stimulus projection (the performance design): the audio-visual
columns are identical for every participant who watched the same stimulus,
so `FrameInputs` carries them once per stimulus (`shared [stimulus, time,
Ds]`) and the first layer projects each stimulus once, gathers the result
per trial (`stim_pos`), adds the trial's own columns' contribution (the PPG
column) and zeroes padded frames so they carry only the bias -- exactly what
a zero input row gives.  Autodiff turns the gather into a scatter-add and
the weight gradient into one [stimulus*time]-row matmul; the inputs are
never differentiated (they are not arguments of the gradient), so no data
gradient is computed.  Passing a dense `x [batch, time, D]` instead runs the
plain formulation (tests compare them).  Column order is [shared | own],
matching `TrialTensor.X`.

Inside, activations are time-major `[time, batch, direction, ...]` and every
matmul is a plain row-major `[time*batch, in] x [in, out]` (see
`models/lstm.py` for why the minor axes stay minor).  Dropout masks come
from a counter-based hash seeded by the step's key (`layers.dropout_keep`).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from restasmr_jax.learning.models.layers import dropout, dropout_keep, matmul_frames, project_frames
from restasmr_jax.learning.models.lstm import N_GATES, lstm_recurrence, lstm_recurrence_reference
from restasmr_jax.learning.models.tagger import FrameInputs

__all__ = ["BiLSTMTagger", "FrameInputs", "dropout_keep", "first_layer_gates", "init_params"]

N_DIRECTIONS = 2


def _uniform_sum(bound: float, terms: int):
    """A sum of `terms` independent U(-bound, bound) draws (PyTorch's b_ih + b_hh for terms=2)."""

    def init(key, shape, dtype=jnp.float32):
        return jnp.sum(jax.random.uniform(key, (terms,) + tuple(shape), dtype, -bound, bound), axis=0)

    return init


class BiLSTMTagger(nn.Module):
    """Logits [batch, time, n_classes] from `FrameInputs` or a dense `x [batch, time, D]`."""

    hidden: int = 128
    layers: int = 2
    dropout: float = 0.3
    n_classes: int = 2
    fast_backward: bool = True  # custom-VJP recurrence; False = plain autodiff reference
    unroll: int = 1  # lax.scan unroll factor of the recurrence

    def init_spec(self) -> dict[str, tuple[float, int]]:
        """name -> (bound, terms): each parameter is a sum of `terms` U(-bound, bound) draws (PyTorch's defaults)."""
        lstm, head = 1.0 / math.sqrt(self.hidden), 1.0 / math.sqrt(N_DIRECTIONS * self.hidden)
        spec = {}
        for layer in range(self.layers):
            spec.update({f"w_ih_{layer}": (lstm, 1), f"w_hh_{layer}": (lstm, 1), f"b_{layer}": (lstm, 2)})
        return spec | {"w_out": (head, 1), "b_out": (head, 1)}

    def _param(self, name: str, shape: tuple[int, ...]) -> jax.Array:
        return self.param(name, _uniform_sum(*self.init_spec()[name]), shape)

    @nn.compact
    def __call__(self, inputs: FrameInputs | jax.Array, dropout_key: jax.Array | None = None) -> jax.Array:
        hidden, four_h = self.hidden, N_GATES * self.hidden
        n_in = inputs.n_features if isinstance(inputs, FrameInputs) else inputs.shape[-1]
        h = None  # [T, B, K, H]
        for layer in range(self.layers):
            w_ih = self._param(f"w_ih_{layer}", (n_in if layer == 0 else N_DIRECTIONS * hidden, N_DIRECTIONS, four_h))
            w_hh = self._param(f"w_hh_{layer}", (N_DIRECTIONS, hidden, four_h))
            bias = self._param(f"b_{layer}", (N_DIRECTIONS, four_h))
            if layer == 0:
                gates = first_layer_gates(inputs, w_ih)
            else:
                if dropout_key is not None and self.dropout > 0:
                    h = dropout(h, self.dropout, jax.random.fold_in(dropout_key, layer), time_major=True)
                gates = matmul_frames(h, w_ih)
            gates = gates + bias[None, None]
            if self.fast_backward:
                h = lstm_recurrence(gates, w_hh, self.unroll)
            else:
                h = lstm_recurrence_reference(gates, w_hh)
        w_out = self._param("w_out", (N_DIRECTIONS, hidden, self.n_classes))
        b_out = self._param("b_out", (self.n_classes,))
        logits = matmul_frames(h, w_out) + b_out[None, None]  # [T, B, C]
        return jnp.transpose(logits, (1, 0, 2))


def first_layer_gates(inputs: FrameInputs | jax.Array, w_ih: jax.Array) -> jax.Array:
    """Input contribution [T, B, K, 4H] (no bias) of all frames, computed before the recurrence.

    Dense input `x [B, T, D]`: one matmul.  `FrameInputs`: the shared
    columns are projected once per stimulus and gathered per trial; padded
    frames get exactly 0 (`layers.project_frames`).
    """
    if not isinstance(inputs, FrameInputs):
        return matmul_frames(jnp.transpose(inputs, (1, 0, 2)), w_ih)
    return jnp.transpose(project_frames(inputs, w_ih), (1, 0, 2, 3))


def init_params(model: BiLSTMTagger, key: jax.Array, n_features: int) -> dict:
    """Parameters with `model.init`'s distributions, drawn in ONE random call.

    Same shapes and distributions as `model.init(...)["params"]` (different
    draws).  One `uniform` over all parameters compiles one random kernel
    instead of one per parameter, which on CPU cuts the XLA compile of the
    initialisation from seconds to a fraction.
    """
    dummy = jnp.zeros((1, 1, n_features), jnp.float32)
    shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), dummy))["params"]
    spec = model.init_spec()
    names = sorted(shapes)
    sizes = [math.prod(shapes[n].shape) * spec[n][1] for n in names]
    draws = jax.random.uniform(key, (sum(sizes),), jnp.float32, -1.0, 1.0)
    params, start = {}, 0
    for name, size in zip(names, sizes):
        bound, terms = spec[name]
        block = draws[start : start + size].reshape((terms,) + shapes[name].shape)
        params[name] = bound * jnp.sum(block, axis=0)
        start += size
    return params
