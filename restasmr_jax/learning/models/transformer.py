"""Frame tagger: small Transformer encoder over the 550 frames in 0.5-s patches, d 64, 2 layers, 4 heads (SPEC §7).

Why it is in the zoo: self-attention relates any two moments of a trial
directly, whatever their distance, where the BiLSTM has to carry the
information through every frame in between; and every position is
computed at once, so an epoch on CPU is several times cheaper than the
BiLSTM's.  Kept small (about 0.1 M parameters) for 272 trials.

Tokens are patches of 5 frames (0.5 s; a tingle report changes on a scale
of seconds): the mean of each patch's projected valid frames, so attention
runs over 110 tokens instead of 550 frames, 25 times fewer scores (with
`patch=1`, attention between single frames, an epoch costs more than the
BiLSTM's on 2 cores).  Pre-norm encoder over the tokens: x <- x +
Dropout(Attention(LN(x))), x <- x + Dropout(FF(LN(x))), GELU feed-forward
of width 128; positions are sinusoidal over the token index of the
analysed epoch (token 0 starts 5 s after video onset in every trial);
attention has a key-padding mask, so no token attends to a patch without a
valid frame.  Each frame then adds its token's context to its own
projection (a skip connection that keeps frame resolution) before a
LayerNorm and the linear head.  Padded frames are left out of the patch
means and never attended to, so what they hold never reaches a valid
frame.  The first layer projects each stimulus once (`layers.FrameDense`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from restasmr_jax.learning.models.layers import FrameDense, dropout
from restasmr_jax.learning.models.tagger import FrameInputs

MASKED_SCORE = -1e9  # a key outside the mask: exp underflows to exactly 0 after the max is subtracted


def sinusoidal_positions(n_time: int, width: int) -> np.ndarray:
    """[time, width] float32: sin on even columns, cos on odd ones, wavelengths 2 pi .. 10000 * 2 pi."""
    position = np.arange(n_time, dtype=np.float64)[:, None]
    rate = np.exp(-np.log(10_000.0) * np.arange(0, width, 2) / width)
    table = np.zeros((n_time, width))
    table[:, 0::2] = np.sin(position * rate)
    table[:, 1::2] = np.cos(position * rate[: width // 2])
    return table.astype(np.float32)


class SelfAttention(nn.Module):
    """Multi-head self-attention over time with a key-padding mask: [batch, time, d] -> [batch, time, d]."""

    heads: int

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        batch, n_time, width = x.shape
        head_width = width // self.heads
        qkv = nn.Dense(3 * width)(x).reshape(batch, n_time, 3, self.heads, head_width)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # [B, T, heads, dh]
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(head_width).astype(np.float32)
        scores = jnp.where(mask[:, None, None, :], scores, jnp.float32(MASKED_SCORE))
        attended = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(scores, axis=-1), v)
        return nn.Dense(width)(attended.reshape(batch, n_time, width))


def pool_patches(h: jax.Array, mask: jax.Array, patch: int) -> tuple[jax.Array, jax.Array]:
    """Mean of the valid frames of each run of `patch` frames: tokens [batch, token, d] and their mask [batch, token].

    `h [batch, time, d]`, `mask [batch, time]`; the last patch may be short.  A patch without a valid
    frame is a padded token (zero, masked out).
    """
    batch, n_time, width = h.shape
    n_tokens = -(-n_time // patch)
    pad = n_tokens * patch - n_time
    valid = jnp.pad(mask, ((0, 0), (0, pad))).reshape(batch, n_tokens, patch)
    h = jnp.pad(jnp.where(mask[..., None], h, jnp.zeros((), h.dtype)), ((0, 0), (0, pad), (0, 0)))
    counts = valid.sum(axis=-1)
    sums = h.reshape(batch, n_tokens, patch, width).sum(axis=2)
    return sums / jnp.maximum(counts, 1)[..., None].astype(h.dtype), counts > 0


class TransformerTagger(nn.Module):
    """Logits [batch, time, n_classes] from `FrameInputs`."""

    width: int = 64
    heads: int = 4
    layers: int = 2
    ff_width: int = 128
    dropout: float = 0.1
    patch: int = 5  # frames per token; 1 = attention between single frames (several times slower on CPU)
    n_classes: int = 2

    @nn.compact
    def __call__(self, inputs: FrameInputs, dropout_key: jax.Array | None = None) -> jax.Array:
        if self.width % self.heads or self.width % 2:
            raise ValueError(f"width {self.width} must be even and divisible by heads {self.heads}")
        n_time = inputs.mask.shape[1]
        frames = FrameDense(self.width)(inputs)  # [B, T, d]
        x, token_mask = pool_patches(frames, inputs.mask, self.patch)  # [B, N, d]
        x = x + sinusoidal_positions(x.shape[1], self.width)[None]
        for layer in range(self.layers):
            keys = (
                [None, None]
                if dropout_key is None
                else [jax.random.fold_in(dropout_key, 2 * layer + i) for i in (0, 1)]
            )
            x = x + dropout(SelfAttention(self.heads)(nn.LayerNorm()(x), token_mask), self.dropout, keys[0])
            y = nn.Dense(self.width)(nn.gelu(nn.Dense(self.ff_width)(nn.LayerNorm()(x))))
            x = x + dropout(y, self.dropout, keys[1])
        context = jnp.repeat(x, self.patch, axis=1)[:, :n_time]  # each frame gets its token's context
        return nn.Dense(self.n_classes)(nn.LayerNorm()(frames + context))
