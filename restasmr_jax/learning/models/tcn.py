"""Frame tagger: dilated temporal convolution network, 48 channels, 7 residual blocks (SPEC §7, benchmark).

Why it is in the zoo: a recurrence must walk the 550 frames one after
another; a convolution computes every frame at once, so on CPU an epoch
costs a fraction of the BiLSTM's.  Dilations 1, 2, 4, ..., 64 with kernel
3 give each frame a two-sided context of 255 frames (25.5 s), enough for
the build-up and decay of a tingle report, with far fewer parameters than
the BiLSTM.  Non-causal, like the BiLSTM: the report is labelled offline.

Block b: h <- h + Dropout(ReLU(DilatedConv_b(LayerNorm(h)))), a pre-norm
residual (without the norm the residual stream grows block by block; on
the test suite's small task training then stalled in most folds), then a
LayerNorm before the head.  Padded frames are zeroed before every convolution, so they act as
the zero padding beyond the trial's end and whatever they hold never
reaches a valid frame.  The first layer projects each stimulus once
(`layers.FrameDense`); its LayerNorm puts the raw feature scales (ResNet
activations, MFCCs, z-scored PPG) on one footing.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from restasmr_jax.learning.models.layers import FrameDense, dropout
from restasmr_jax.learning.models.tagger import FrameInputs


def shift_frames(x: jax.Array, offset: int) -> jax.Array:
    """[batch, time, C] with frame t holding frame t + offset of `x` (zeros beyond either end)."""
    n_time = x.shape[1]
    if abs(offset) >= n_time:
        return jnp.zeros_like(x)
    if offset > 0:
        return jnp.pad(x[:, offset:], ((0, 0), (0, offset), (0, 0)))
    if offset < 0:
        return jnp.pad(x[:, :offset], ((0, 0), (-offset, 0), (0, 0)))
    return x


class DilatedConv(nn.Module):
    """'Same' 1-d convolution over time with dilation: the kernel's taps as shifted copies, one matmul."""

    features: int
    kernel: int
    dilation: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        half = self.kernel // 2
        taps = [shift_frames(x, (j - half) * self.dilation) for j in range(self.kernel)]
        return nn.Dense(self.features)(jnp.concatenate(taps, axis=-1))


class TCNTagger(nn.Module):
    """Logits [batch, time, n_classes] from `FrameInputs`."""

    channels: int = 48
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    dropout: float = 0.1
    n_classes: int = 2

    @nn.compact
    def __call__(self, inputs: FrameInputs, dropout_key: jax.Array | None = None) -> jax.Array:
        valid = inputs.mask[..., None]
        h = nn.LayerNorm()(FrameDense(self.channels)(inputs))
        for block, dilation in enumerate(self.dilations):
            y = jnp.where(valid, nn.LayerNorm()(h), jnp.zeros((), h.dtype))
            y = nn.relu(DilatedConv(self.channels, self.kernel, dilation)(y))
            key = None if dropout_key is None else jax.random.fold_in(dropout_key, block)
            h = h + dropout(y, self.dropout, key)
        return nn.Dense(self.n_classes)(nn.LayerNorm()(h))
