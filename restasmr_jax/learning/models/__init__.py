"""Frame taggers for the training program, and the one place a config becomes a model (SPEC §7)."""

from __future__ import annotations

from restasmr_jax.config import TrainConfig
from restasmr_jax.learning.models.bilstm import BiLSTMTagger, init_params
from restasmr_jax.learning.models.tagger import FrameInputs, Tagger

__all__ = ["FrameInputs", "Tagger", "from_config"]


def from_config(cfg: TrainConfig) -> Tagger:
    """The paper's model: the 2-layer BiLSTM with `cfg`'s width, depth and dropout."""
    module = BiLSTMTagger(hidden=cfg.hidden, layers=cfg.layers, dropout=cfg.dropout)
    return Tagger(module, factorised=True, initializer=init_params)
