"""A frame tagger as the training program sees it: one contract for every model (SPEC §7).

A model is a `flax.linen.Module`.  The dense contract, for any module:
`__call__(self, x, mask, *, train: bool)` with `x [batch, time, feat]`
float32 (zero on padded frames) and `mask [batch, time]` bool, returning
logits `[batch, time, 2]` and drawing dropout from the `"dropout"` rng
stream.  A factorised module instead takes `FrameInputs` (the stimulus
columns once per stimulus, gathered per trial inside the model) and an
explicit `dropout_key`, which lets the BiLSTM project each stimulus once
per step.  `Tagger` hides the difference: the program only calls
`init(key, n_features)` and `logits(params, inputs, dropout_key)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class FrameInputs:
    """A batch in factorised form; any of the two column groups may have width 0."""

    shared: jax.Array  # [stimulus, time, Ds] columns shared by every trial of a stimulus
    stim_pos: jax.Array  # [batch] int32 row of `shared` for each trial
    own: jax.Array  # [batch, time, Do] per-trial columns (PPG)
    mask: jax.Array  # [batch, time] bool, True on valid frames

    @property
    def n_features(self) -> int:
        return self.shared.shape[-1] + self.own.shape[-1]

    def dense(self) -> jax.Array:
        """[batch, time, Ds + Do] the equivalent zero-padded dense input."""
        x = jnp.concatenate([self.shared[self.stim_pos], self.own], axis=-1)
        return jnp.where(self.mask[..., None], x, jnp.zeros((), x.dtype))


@dataclass(frozen=True)
class Tagger:
    """A module, whether it takes `FrameInputs`, and how its parameters are drawn.

    `initializer(module, key, n_features) -> params` replaces `module.init`
    when given (the BiLSTM draws all its parameters in one random call).
    Hashable, so compiled programs are shared between fits of the same model.
    """

    module: nn.Module
    factorised: bool = False
    initializer: Callable | None = None

    @property
    def name(self) -> str:
        return type(self.module).__name__

    def init(self, key: jax.Array, n_features: int):
        if self.initializer is not None:
            return self.initializer(self.module, key, n_features)
        x = jnp.zeros((1, 1, n_features), jnp.float32)
        if self.factorised:
            inputs = FrameInputs(x, jnp.zeros(1, jnp.int32), x[..., :0], jnp.ones((1, 1), bool))
            return self.module.init({"params": key}, inputs)["params"]
        return self.module.init({"params": key}, x, jnp.ones((1, 1), bool), train=False)["params"]

    def logits(self, params, inputs: FrameInputs, dropout_key: jax.Array | None = None) -> jax.Array:
        """[batch, time, 2] logits; training mode (dropout) exactly when `dropout_key` is given."""
        if self.factorised:
            return self.module.apply({"params": params}, inputs, dropout_key=dropout_key)
        rngs = None if dropout_key is None else {"dropout": dropout_key}
        return self.module.apply(
            {"params": params}, inputs.dense(), inputs.mask, train=dropout_key is not None, rngs=rngs
        )
