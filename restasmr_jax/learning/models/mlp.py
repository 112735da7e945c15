"""Frame tagger: per-frame MLP 544 -> 256 -> 128 -> 2, no temporal context (SPEC §7-§8, benchmark).

Why it is in the zoo: the deep non-temporal baseline beside XGBoost.  It
sees one 100-ms frame at a time, as XGBoost does, but trains in the same
program as the sequence models (same loss, class weights, epochs and
model selection), so the gap between it and the BiLSTM is the value of
temporal context alone, and the gap to XGBoost the difference between
the two learners.

Dense -> LayerNorm -> ReLU -> Dropout per hidden layer; the first layer
projects each stimulus once (`layers.FrameDense`), and the LayerNorm puts
the raw feature scales on one footing.  A frame's logits depend on that
frame only, so padded frames cannot affect valid ones.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from restasmr_jax.learning.models.layers import FrameDense, dropout
from restasmr_jax.learning.models.tagger import FrameInputs


class MLPTagger(nn.Module):
    """Logits [batch, time, n_classes] from `FrameInputs`, every frame on its own."""

    hidden: tuple[int, ...] = (256, 128)
    dropout: float = 0.3
    n_classes: int = 2

    @nn.compact
    def __call__(self, inputs: FrameInputs, dropout_key: jax.Array | None = None) -> jax.Array:
        if not self.hidden:
            return FrameDense(self.n_classes)(inputs)
        h = None
        for layer, width in enumerate(self.hidden):
            h = FrameDense(width)(inputs) if layer == 0 else nn.Dense(width)(h)
            h = nn.relu(nn.LayerNorm()(h))
            h = dropout(h, self.dropout, None if dropout_key is None else jax.random.fold_in(dropout_key, layer))
        return nn.Dense(self.n_classes)(h)
