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
from a counter-based hash seeded by the step's key (`dropout_keep`).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from restasmr_jax.learning.models.lstm import N_GATES, lstm_recurrence, lstm_recurrence_reference
from restasmr_jax.learning.models.tagger import FrameInputs

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
                    h = _dropout(h, self.dropout, jax.random.fold_in(dropout_key, layer))
                gates = _matmul_frames(h, w_ih)
            gates = gates + bias[None, None]
            if self.fast_backward:
                h = lstm_recurrence(gates, w_hh, self.unroll)
            else:
                h = lstm_recurrence_reference(gates, w_hh)
        w_out = self._param("w_out", (N_DIRECTIONS, hidden, self.n_classes))
        b_out = self._param("b_out", (self.n_classes,))
        logits = _matmul_frames(h, w_out) + b_out[None, None]  # [T, B, C]
        return jnp.transpose(logits, (1, 0, 2))


def _matmul_frames(x: jax.Array, w: jax.Array) -> jax.Array:
    """[T, B, *in] x [*in', *out] -> [T, B, *out] as ONE row-major [T*B, in] x [in, out] matmul.

    `w`'s leading axes *in' hold the same number of values as `x`'s *in (e.g. [2H] for [K, H]).
    """
    n_in = math.prod(x.shape[2:])
    split = next(i for i in range(1, w.ndim + 1) if math.prod(w.shape[:i]) == n_in)
    out_shape = w.shape[split:]
    flat = x.reshape(x.shape[0] * x.shape[1], n_in) @ w.reshape(n_in, -1)
    return flat.reshape(x.shape[:2] + out_shape)


def first_layer_gates(inputs: FrameInputs | jax.Array, w_ih: jax.Array) -> jax.Array:
    """Input contribution [T, B, K, 4H] (no bias) of all frames, computed before the recurrence.

    Dense input `x [B, T, D]`: one matmul.  `FrameInputs`: the shared
    columns are projected once per stimulus and gathered per trial; padded
    frames get exactly 0.
    """
    if not isinstance(inputs, FrameInputs):
        return _matmul_frames(jnp.transpose(inputs, (1, 0, 2)), w_ih)
    n_shared = inputs.shared.shape[-1]
    gates = None
    if n_shared:
        per_stimulus = _matmul_frames(inputs.shared, w_ih[:n_shared])  # [S, T, K, 4H]
        gates = per_stimulus[inputs.stim_pos]
    for d in range(inputs.own.shape[-1]):
        # A broadcast product, not a matmul: with one column (PPG) XLA would lower the weight
        # gradient of a K=1 matmul to a transposed copy of the whole gate gradient.
        own = inputs.own[:, :, d, None, None] * w_ih[n_shared + d][None, None]
        gates = own if gates is None else gates + own
    gates = jnp.where(inputs.mask[:, :, None, None], gates, jnp.zeros((), gates.dtype))
    return jnp.transpose(gates, (1, 0, 2, 3))


def dropout_keep_probability(rate: float) -> float:
    """Keep probability quantised to 1/65536 (rate 0.3 -> keep 0.69999695), see `dropout_keep`."""
    return round((1.0 - rate) * 65536) / 65536


def _mix32(x: jax.Array) -> jax.Array:
    """MurmurHash3's 32-bit finaliser: a bijection that spreads every input bit over the word."""
    x = (x ^ (x >> 16)) * jnp.uint32(0x85EBCA6B)
    x = (x ^ (x >> 13)) * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def dropout_keep(key: jax.Array, shape: tuple[int, ...], rate: float) -> jax.Array:
    """Bernoulli keep-mask of `shape` with probability `dropout_keep_probability(rate)`.

    Why not `jax.random.bernoulli`: on XLA CPU, threefry for the ~9 M mask
    entries of a 4-fold step costs ~10 % of the step (and seconds of compile
    time).  Here 64 bits drawn from `key` with threefry seed a counter-based
    hash (two MurmurHash3 finalisers over the word's index, SplitMix-style),
    each 32-bit word giving two 16-bit uniforms.  Word indices run over
    `shape` with its leading axis outermost, so the mask of slot b does not
    depend on how many slots follow it.  Rescaling uses the same quantised
    probability, so the layer stays unbiased.
    """
    threshold = round(dropout_keep_probability(rate) * 65536)
    seed = jax.random.bits(key, (2,), jnp.uint32)
    n = shape[-1]
    words_shape = shape[:-1] + ((n + 1) // 2,)
    index = jnp.arange(math.prod(words_shape), dtype=jnp.uint32).reshape(words_shape)
    words = _mix32(_mix32(index * jnp.uint32(0x9E3779B9) ^ seed[0]) + seed[1])
    halves = jnp.concatenate([words & 0xFFFF, words >> 16], axis=-1)[..., :n]
    return halves < jnp.uint32(threshold)


def _dropout(h: jax.Array, rate: float, key: jax.Array) -> jax.Array:
    """Inverted dropout on h [T, B, K, H].

    The mask is drawn with the batch axis leading, so a trial's mask does not
    depend on how many trials share the batch (see `dropout_keep`).
    """
    n_time, batch, n_dir, hidden = h.shape
    keep = jnp.transpose(dropout_keep(key, (batch, n_time, n_dir, hidden), rate), (1, 0, 2, 3))
    scale = 1.0 / dropout_keep_probability(rate)
    return jnp.where(keep, h * scale, jnp.zeros((), h.dtype))


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
