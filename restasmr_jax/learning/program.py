"""The training program: state, one fold's step and evaluation, vmapped over the replica axis (SPEC §7).

`train_step` is written for ONE fold and ONE model: class-weighted
cross-entropy over valid frames (weights n_total / (2 n_class) from the
fold's training frames; masked frames and padding trials weigh 0), Adam.
`build_program` vmaps it over the flattened replica axis
r = seed * n_folds + fold, jits it and donates the state.  The model is a
parameter (`models.Tagger`); nothing here knows which network it is.

- The loss of a step is normalised by the batch's total frame weight
  (PyTorch's weighted mean).  A step whose batch holds only padding leaves
  parameters and Adam state untouched (`jnp.where` on the whole state).
- Randomness is derived, never carried: a replica's parameters come from
  fold_in(replica key, 0) and the dropout key of a step is
  fold_in(fold_in(fold_in(replica key, 1), epoch), step), so a resumed
  run replays exactly the same masks (replica keys: `replicas.replica_keys`).
- Evaluation returns confusion counts `[truth, pred]` summed on device
  (divided on the host, once), P(tingle) and the argmax class.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from restasmr_jax.learning.batches import Batch
from restasmr_jax.learning.models import FrameInputs, Tagger

INIT_TAG, DROPOUT_TAG = 0, 1


@struct.dataclass
class DeviceData:
    """The whole tensor in factorised form, replicated on every device."""

    shared: jax.Array  # [stimulus, time, Ds] feature columns shared per stimulus
    own: jax.Array  # [trial, time, Do] per-trial columns (PPG)
    y: jax.Array  # [trial, time] int32
    mask: jax.Array  # [trial, time] bool


@struct.dataclass
class TrainState:
    params: Any
    opt_state: Any


def model_inputs(data: DeviceData, batch: Batch) -> FrameInputs:
    return FrameInputs(
        shared=data.shared[batch.stim_rows],
        stim_pos=batch.stim_pos,
        own=data.own[batch.rows],
        mask=data.mask[batch.rows],
    )


def frame_weights(batch: Batch, y: jax.Array, mask: jax.Array) -> jax.Array:
    """[batch, time] class weight of each valid frame of a real trial, 0 elsewhere."""
    class_w = jnp.where(y == 1, batch.class_weight[1], batch.class_weight[0])
    return class_w * mask * batch.weight[:, None]


def weighted_ce_sums(logits: jax.Array, y: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(sum of weight x cross-entropy, sum of weights) over frames; logits [batch, time, 2]."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    nll = -jnp.where(y == 1, logp[..., 1], logp[..., 0])
    return jnp.sum(weights * nll), jnp.sum(weights)


def train_step(
    state: TrainState,
    batch: Batch,
    key: jax.Array,
    data: DeviceData,
    *,
    model: Tagger,
    tx: optax.GradientTransformation,
) -> tuple[TrainState, dict]:
    """One Adam step of ONE fold; `key` is this step's dropout key.  Returns metrics as sums."""
    inputs, y = model_inputs(data, batch), data.y[batch.rows]
    weights = frame_weights(batch, y, inputs.mask)

    def loss_fn(params):
        logits = model.logits(params, inputs, dropout_key=key)
        total, norm = weighted_ce_sums(logits, y, weights)
        return total / jnp.maximum(norm, jnp.finfo(total.dtype).tiny), (total, norm)

    grads, (total, norm) = jax.grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    stepped = TrainState(optax.apply_updates(state.params, updates), opt_state)
    active = norm > 0  # a batch of padding only must not move Adam's moments or count
    state = jax.tree.map(lambda new, old: jnp.where(active, new, old), stepped, state)
    return state, {"loss_sum": total, "weight_sum": norm}


def eval_outputs(params, batch: Batch, data: DeviceData, *, model: Tagger) -> dict:
    """Eval-mode forward of ONE fold: confusion counts [truth, pred] over valid frames, P(tingle), argmax."""
    inputs, y = model_inputs(data, batch), data.y[batch.rows]
    logits = model.logits(params, inputs)
    pred = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    counted = inputs.mask & (batch.weight[:, None] > 0)
    confusion = jnp.stack([jnp.stack([jnp.sum(counted & (y == t) & (pred == p)) for p in (0, 1)]) for t in (0, 1)])
    return {"confusion": confusion, "probs": jax.nn.softmax(logits, axis=-1)[..., 1], "preds": pred}


class Program(NamedTuple):
    """The jitted, replica-vmapped functions of one model and optimiser."""

    init: Any  # keys [replica] -> TrainState
    step: Any  # (state, batch, keys, epoch, step, data) -> (state, metrics); state donated
    confusion: Any  # (params, batch, data) -> [replica, 2, 2]
    outputs: Any  # (params, batch, data) -> {"probs", "preds"} [replica, batch, time]
    keep_best: Any  # (best, params, improved [replica]) -> best; best donated


@functools.lru_cache(maxsize=8)
def build_program(model: Tagger, learning_rate: float, n_shared: int, n_own: int) -> Program:
    """The program of `model` with Adam at `learning_rate` (cached: fits of the same model share compilations)."""
    tx = optax.adam(learning_rate)

    def init(key):
        params = model.init(jax.random.fold_in(key, INIT_TAG), n_shared + n_own)
        return TrainState(params, tx.init(params))

    def step(state, batch, key, epoch, step_index, data):
        key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, DROPOUT_TAG), epoch), step_index)
        return train_step(state, batch, key, data, model=model, tx=tx)

    def confusion(params, batch, data):
        return eval_outputs(params, batch, data, model=model)["confusion"]

    def outputs(params, batch, data):
        out = eval_outputs(params, batch, data, model=model)
        return {"probs": out["probs"], "preds": out["preds"]}

    def keep_best(best, params, improved):
        def pick(b, p):
            return jnp.where(improved.reshape((-1,) + (1,) * (p.ndim - 1)), p, b)

        return jax.tree.map(pick, best, params)

    over_replicas = dict(in_axes=(0, 0, None))
    return Program(
        init=jax.jit(jax.vmap(init)),
        step=jax.jit(jax.vmap(step, in_axes=(0, 0, 0, None, None, None)), donate_argnums=0),
        confusion=jax.jit(jax.vmap(confusion, **over_replicas)),
        outputs=jax.jit(jax.vmap(outputs, **over_replicas)),
        keep_best=jax.jit(keep_best, donate_argnums=0),
    )


def state_template(model: Tagger, learning_rate: float, n_replicas: int, n_features: int) -> dict:
    """Zero arrays shaped like a checkpointed state (leading replica axis), for restoring."""
    tx = optax.adam(learning_rate)

    def init():
        params = model.init(jax.random.PRNGKey(0), n_features)
        return TrainState(params, tx.init(params))

    stacked = jax.tree.map(lambda s: np.zeros((n_replicas,) + s.shape, s.dtype), jax.eval_shape(init))
    return {
        "params": stacked.params,
        "opt_state": stacked.opt_state,
        "best_params": stacked.params,
        "best_score": np.zeros(n_replicas, np.float64),
        "best_epoch": np.zeros(n_replicas, np.int64),
    }
