"""Building blocks every built-in tagger shares: the per-stimulus input projection and hashed dropout (SPEC §7).

- `project_frames`: the first layer's input contribution `[batch, time, *out]`
  from `FrameInputs`.  The audio-visual columns are identical for every
  trial of a stimulus, so they are projected once per stimulus (one
  `[stimulus * time, Ds] x [Ds, out]` matmul) and gathered per trial; the
  trial's own columns (PPG) are added as a broadcast product; padded frames
  get exactly 0, what a zero input row gives.  A step of 16 trials over 6
  stimuli does a third of the dense projection's work, and no data gradient
  is ever formed.
- `FrameDense`: that projection with a bias, as a Flax layer.
- `dropout_keep` / `dropout`: inverted dropout whose mask is a counter-based
  hash of the step key (cheaper than threefry on XLA CPU) drawn with the
  batch axis leading, so a trial's mask does not depend on how many trials
  share its batch.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from restasmr_jax.learning.models.tagger import FrameInputs


def matmul_frames(x: jax.Array, w: jax.Array) -> jax.Array:
    """[A, B, *in] x [*in', *out] -> [A, B, *out] as ONE row-major [A*B, in] x [in, out] matmul.

    `w`'s leading axes *in' hold the same number of values as `x`'s *in (e.g. [2H] for [K, H]).
    """
    n_in = math.prod(x.shape[2:])
    split = next(i for i in range(1, w.ndim + 1) if math.prod(w.shape[:i]) == n_in)
    out_shape = w.shape[split:]
    flat = x.reshape(x.shape[0] * x.shape[1], n_in) @ w.reshape(n_in, -1)
    return flat.reshape(x.shape[:2] + out_shape)


def project_frames(inputs: FrameInputs, w: jax.Array) -> jax.Array:
    """Input contribution [batch, time, *out] (no bias) of `w [n_in, *out]`; exactly 0 on padded frames."""
    n_shared, n_out = inputs.shared.shape[-1], w.ndim - 1
    out = None
    if n_shared:
        out = matmul_frames(inputs.shared, w[:n_shared])[inputs.stim_pos]  # [B, T, *out]
    for d in range(inputs.own.shape[-1]):
        # A broadcast product, not a matmul: with one column (PPG) XLA would lower the weight
        # gradient of a K=1 matmul to a transposed copy of the whole output gradient.
        own = inputs.own[(slice(None), slice(None), d) + (None,) * n_out] * w[n_shared + d][None, None]
        out = own if out is None else out + own
    return jnp.where(inputs.mask[(...,) + (None,) * n_out], out, jnp.zeros((), out.dtype))


class FrameDense(nn.Module):
    """`Dense(features)` of every frame of `FrameInputs` -> [batch, time, features]; padded frames get the bias."""

    features: int

    @nn.compact
    def __call__(self, inputs: FrameInputs) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (inputs.n_features, self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return project_frames(inputs, kernel) + bias[None, None]


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


def dropout(x: jax.Array, rate: float, key: jax.Array | None, *, time_major: bool = False) -> jax.Array:
    """Inverted dropout on `x [batch, ...]` (`[time, batch, ...]` when `time_major`); identity without a key.

    The mask is always drawn with the batch axis leading (`dropout_keep`).
    """
    if key is None or rate <= 0:
        return x
    shape = (x.shape[1], x.shape[0]) + x.shape[2:] if time_major else x.shape
    keep = dropout_keep(key, shape, rate)
    if time_major:
        keep = jnp.swapaxes(keep, 0, 1)
    return jnp.where(keep, x * (1.0 / dropout_keep_probability(rate)), jnp.zeros((), x.dtype))
