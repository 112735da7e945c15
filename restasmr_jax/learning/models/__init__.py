"""Frame taggers for the training program: the contract, the zoo, the paper's BiLSTM from a config (SPEC §7)."""

from __future__ import annotations

from restasmr_jax.config import TrainConfig
from restasmr_jax.learning.models.registry import (
    BUILTINS,
    DEFAULT_MODELS,
    XGBOOST,
    ModelError,
    ModelSpec,
    check_tagger,
    parse_model,
    parse_models,
)
from restasmr_jax.learning.models.registry import bilstm as _bilstm
from restasmr_jax.learning.models.tagger import FrameInputs, Tagger

__all__ = [
    "BUILTINS",
    "DEFAULT_MODELS",
    "XGBOOST",
    "FrameInputs",
    "ModelError",
    "ModelSpec",
    "Tagger",
    "check_tagger",
    "from_config",
    "parse_model",
    "parse_models",
]


def from_config(cfg: TrainConfig) -> Tagger:
    """The paper's model: the 2-layer BiLSTM with `cfg`'s width, depth and dropout."""
    return _bilstm(cfg)
