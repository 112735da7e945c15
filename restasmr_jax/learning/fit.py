"""All seeds x folds of the BiLSTM protocol trained in one jitted, vmapped program (SPEC §6, §7).

`train_step` is written for ONE fold: class-weighted cross-entropy over
valid frames (weights n_total / (2 n_class) from the fold's training
frames; masked frames and padding trials weigh 0), Adam 5e-4.  The program
vmaps it over a flattened replica axis r = seed * n_folds + fold, jits it
and donates the state.  Results come back as `[seed, fold, ...]`.

Protocol details and the decisions taken where the authors' code is silent
(batching, padding and class weights: see `fold_batches.py`):
- The loss of a step is normalised by the batch's total frame weight
  (PyTorch's weighted mean).  A step whose batch holds only padding leaves
  parameters and Adam state untouched (`jnp.where` on the whole state).
- Randomness is derived, never carried: seed k of the seed axis uses the
  value `cfg.seed + k`; parameters are initialised from
  fold_in(fold_in(PRNGKey(seed value), fold), 0); the dropout key of a step
  is fold_in(fold_in(fold_in(that fold key, 1), epoch), step).  With the
  shuffles seeded by (seed value, fold, epoch), a resumed run replays
  exactly the same batches and masks.
- Validation: macro-F1 over the valid frames of the fold's 2 validation
  participants after every epoch, from confusion counts summed on device
  and divided on the host (classes absent from both truth and prediction
  are left out of the mean, as scikit-learn does).  `selection="best"` keeps
  a real copy of the parameters of the first epoch with the highest score
  (`jnp.where` into a separate buffer); `"last"` reproduces the authors'
  code, which kept a reference to the live weights.
- Sharding: with several devices and a replica count divisible by them,
  the replica axis is sharded over a 1-D mesh (`NamedSharding`); data are
  replicated.  On CPU, `use_cpu_devices()` (call it before JAX starts)
  splits the host into one device per core, so that the sequential
  recurrences of different folds run on different cores.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from restasmr_jax.config import TrainConfig
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.learning.batches import (  # noqa: F401  (PlanError, use_cpu_devices re-exported)
    Batch,
    Placement,
    Plan,
    PlanError,
    epoch_batches,
    eval_batches,
    feature_columns,
    fold_stimuli,
    make_plan,
    placement,
    put,
    replica_keys,
    use_cpu_devices,
)
from restasmr_jax.learning.models.bilstm import BiLSTMTagger, FrameInputs, init_params
from restasmr_jax.learning.splits import FoldSplit

INIT_TAG, DROPOUT_TAG = 0, 1


class TrainError(ValueError):
    """The tensor, splits or config cannot be trained as asked; the message says what is wrong."""


# ----------------------------------------------------------------------------- data on device


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


def make_model(cfg: TrainConfig) -> BiLSTMTagger:
    return BiLSTMTagger(hidden=cfg.hidden, layers=cfg.layers, dropout=cfg.dropout)


def _inputs(data: DeviceData, batch: Batch) -> FrameInputs:
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


# ----------------------------------------------------------------------------- one fold


def train_step(
    state: TrainState,
    batch: Batch,
    key: jax.Array,
    data: DeviceData,
    *,
    model: BiLSTMTagger,
    tx: optax.GradientTransformation,
) -> tuple[TrainState, dict]:
    """One Adam step of ONE fold; `key` is this step's dropout key.  Returns metrics as sums."""
    inputs, y = _inputs(data, batch), data.y[batch.rows]
    weights = frame_weights(batch, y, inputs.mask)

    def loss_fn(params):
        logits = model.apply({"params": params}, inputs, dropout_key=key)
        total, norm = weighted_ce_sums(logits, y, weights)
        return total / jnp.maximum(norm, jnp.finfo(total.dtype).tiny), (total, norm)

    grads, (total, norm) = jax.grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    stepped = TrainState(optax.apply_updates(state.params, updates), opt_state)
    active = norm > 0  # a batch of padding only must not move Adam's moments or count
    state = jax.tree.map(lambda new, old: jnp.where(active, new, old), stepped, state)
    return state, {"loss_sum": total, "weight_sum": norm}


def eval_outputs(params, batch: Batch, data: DeviceData, *, model: BiLSTMTagger) -> dict:
    """Eval-mode forward of ONE fold: confusion counts [truth, pred] over valid frames, P(tingle), argmax."""
    inputs, y = _inputs(data, batch), data.y[batch.rows]
    logits = model.apply({"params": params}, inputs)
    pred = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    counted = inputs.mask & (batch.weight[:, None] > 0)
    confusion = jnp.stack([jnp.stack([jnp.sum(counted & (y == t) & (pred == p)) for p in (0, 1)]) for t in (0, 1)])
    return {"confusion": confusion, "probs": jax.nn.softmax(logits, axis=-1)[..., 1], "preds": pred}


def macro_f1(confusion: np.ndarray) -> np.ndarray:
    """Macro-F1 from confusion counts [..., truth, pred] (2 classes), scikit-learn semantics, zero_division=0."""
    confusion = np.asarray(confusion, np.float64)
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    n_true, n_pred = confusion.sum(-1), confusion.sum(-2)
    denom = n_true + n_pred
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    present = denom > 0
    n_present = present.sum(-1)
    return np.divide((f1 * present).sum(-1), n_present, out=np.zeros(f1.shape[:-1]), where=n_present > 0)


# ----------------------------------------------------------------------------- the program


class Program(NamedTuple):
    """The jitted, replica-vmapped functions of one model configuration."""

    init: Any  # keys [replica] -> TrainState
    step: Any  # (state, batch, keys, epoch, step, data) -> (state, metrics); state donated
    confusion: Any  # (params, batch, data) -> [replica, 2, 2]
    outputs: Any  # (params, batch, data) -> {"probs", "preds"} [replica, batch, time]
    keep_best: Any  # (best, params, improved [replica]) -> best; best donated


def build_program(cfg: TrainConfig, n_shared: int, n_own: int) -> Program:
    """The program for `cfg`'s model and optimiser (cached: fits with the same model reuse compilations)."""
    return _build_program(cfg.hidden, cfg.layers, cfg.dropout, cfg.learning_rate, n_shared, n_own)


@functools.lru_cache(maxsize=8)
def _build_program(
    hidden: int, layers: int, dropout: float, learning_rate: float, n_shared: int, n_own: int
) -> Program:
    cfg = TrainConfig(hidden=hidden, layers=layers, dropout=dropout, learning_rate=learning_rate)
    model, tx = make_model(cfg), optax.adam(cfg.learning_rate)

    def init(key):
        params = init_params(model, jax.random.fold_in(key, INIT_TAG), n_shared + n_own)
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


def checkpoint_template(cfg: TrainConfig, n_folds: int, n_features: int) -> dict:
    """Zero arrays shaped like a checkpointed state (leading replica axis), for restoring."""
    model, tx = make_model(cfg), optax.adam(cfg.learning_rate)
    dummy = jnp.zeros((1, 1, n_features))

    def init():
        params = model.init(jax.random.PRNGKey(0), dummy)["params"]
        return TrainState(params, tx.init(params))

    shapes = jax.eval_shape(init)
    n_replicas = cfg.n_seeds * n_folds
    stacked = jax.tree.map(lambda s: np.zeros((n_replicas,) + s.shape, s.dtype), shapes)
    return {
        "params": stacked.params,
        "opt_state": stacked.opt_state,
        "best_params": stacked.params,
        "best_score": np.zeros(n_replicas, np.float64),
        "best_epoch": np.zeros(n_replicas, np.int64),
    }


def unflatten_replicas(tree, n_seeds: int):
    """Leaves [replica, ...] -> [seed, fold, ...] (numpy)."""
    return jax.tree.map(lambda x: np.asarray(x).reshape((n_seeds, -1) + np.shape(x)[1:]), tree)


def flatten_replicas(tree):
    """Leaves [seed, fold, ...] -> [replica, ...]."""
    return jax.tree.map(lambda x: np.asarray(x).reshape((-1,) + np.shape(x)[2:]), tree)


# ----------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class FitResult:
    """Parameters and history of every seed x fold; parameter leaves are numpy `[seed, fold, ...]`."""

    best_params: Any
    last_params: Any
    best_epoch: np.ndarray  # [seed, fold] 0-based epoch of the kept best parameters
    best_score: np.ndarray  # [seed, fold] its validation macro-F1
    history: dict  # train_loss, val_f1: [epoch][seed][fold]; val_confusion [epoch][seed][fold][truth][pred]
    cfg: TrainConfig
    splits: list[FoldSplit]
    run_dir: Path | None = None

    @property
    def params(self):
        """The parameters `cfg.selection` asks for ("best" or "last")."""
        return self.best_params if self.cfg.selection == "best" else self.last_params


def _history_arrays(history: dict, n_seeds: int) -> dict:
    out = {}
    for name, per_epoch in history.items():
        if not per_epoch:
            out[name] = []
            continue
        values = np.asarray(per_epoch, np.float64)
        out[name] = values.reshape((len(per_epoch), n_seeds, -1) + values.shape[2:]).tolist()
    return out


@dataclass(frozen=True)
class Session:
    """Everything one run's epochs need, placed on the devices; `run_epoch` is one epoch of every replica."""

    plan: Plan
    place: Placement
    data: DeviceData
    program: Program
    keys: jax.Array  # [replica]
    train_stimuli: tuple
    val_batches: Batch  # numpy [replica, chunk, trial]

    def init_state(self) -> TrainState:
        return self.program.init(self.keys)

    def run_epoch(self, state: TrainState, epoch: int) -> tuple[TrainState, np.ndarray, np.ndarray]:
        """Train one epoch and validate: (state, train loss [replica], val confusion [replica, truth, pred])."""
        batches = epoch_batches(self.plan, epoch, self.train_stimuli)
        sums = []
        for step_index in range(self.plan.n_steps):
            batch = self.chunk(batches, step_index)
            state, metrics = self.program.step(state, batch, self.keys, epoch, step_index, self.data)
            sums.append(metrics)
        confusion = sum(
            self.program.confusion(state.params, self.chunk(self.val_batches, c), self.data)
            for c in range(self.val_batches.rows.shape[1])
        )
        sums, confusion = jax.device_get((sums, confusion))
        loss = np.sum([m["loss_sum"] for m in sums], axis=0) / np.maximum(
            np.sum([m["weight_sum"] for m in sums], axis=0), np.finfo(np.float32).tiny
        )
        return state, loss, np.asarray(confusion)

    def chunk(self, batches: Batch, chunk: int) -> Batch:
        """Chunk `chunk` of numpy batches [replica, chunk, ...], placed like the replicas."""
        return put(jax.tree.map(lambda x: x[:, chunk], batches), self.place.replica)


def make_session(tensor, splits: list[FoldSplit], cfg: TrainConfig) -> Session:
    plan = make_plan(tensor, splits, cfg)
    shared, own = feature_columns(tensor, cfg.features)
    place = placement(plan.n_replicas)
    data = put(
        DeviceData(shared=shared, own=own, y=np.asarray(tensor.y, np.int32), mask=np.asarray(tensor.mask, bool)),
        place.replicated,
    )
    return Session(
        plan=plan,
        place=place,
        data=data,
        program=build_program(cfg, shared.shape[-1], own.shape[-1]),
        keys=put(replica_keys(plan), place.replica),
        train_stimuli=fold_stimuli(plan, plan.train_rows),
        val_batches=eval_batches(plan, plan.val_rows),
    )


def fit(
    tensor,
    splits: list[FoldSplit],
    cfg: TrainConfig = TrainConfig(),
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> FitResult:
    """Train every seed x fold of `splits` on `tensor` in one program; checkpoint to `run_dir` each epoch.

    `resume=True` continues from `run_dir`'s latest checkpoint (or starts
    fresh if it has none) and ends with the numbers an uninterrupted run
    gives; `resume=False` refuses a folder that already holds checkpoints.
    """
    from tqdm import tqdm

    from restasmr_jax.learning import checkpoint
    from restasmr_jax.learning.splits import dataset_key, save_splits

    session = make_session(tensor, splits, cfg)
    plan, place, program = session.plan, session.place, session.program
    n_replicas, n_seeds = plan.n_replicas, cfg.n_seeds
    state = session.init_state()
    best = jax.tree.map(jnp.copy, state.params)
    best_score, best_epoch = np.full(n_replicas, -np.inf), np.full(n_replicas, -1, np.int64)
    history = {"train_loss": [], "val_f1": [], "val_confusion": []}
    start = 0

    manager = None
    if run_dir is not None:
        run_dir = Path(run_dir)
        key = dataset_key(tensor)
        manager = checkpoint.RunCheckpoints(run_dir)
        latest = manager.latest_epoch()
        if latest is not None and not resume:
            manager.close()
            raise TrainError(
                f"{run_dir} already holds checkpoints (epoch {latest + 1}); pass resume=True "
                "to continue that run or choose a new folder"
            )
        if latest is not None:
            saved_cfg, saved_key, _ = checkpoint.read_config(run_dir)
            if saved_cfg != cfg or saved_key != key:
                manager.close()
                raise TrainError(
                    f"{run_dir}: cannot resume, the saved run used "
                    f"{'another dataset' if saved_key != key else f'config {saved_cfg}'}"
                )
            template = {
                "params": state.params,
                "opt_state": state.opt_state,
                "best_params": best,
                "best_score": best_score,
                "best_epoch": best_epoch,
            }
            epoch, restored, history = manager.restore(template)
            state = put(TrainState(restored["params"], restored["opt_state"]), place.replica)
            best = put(restored["best_params"], place.replica)
            best_score, best_epoch = restored["best_score"], restored["best_epoch"]
            start = epoch + 1
        else:
            n_features = session.data.shared.shape[-1] + session.data.own.shape[-1]
            checkpoint.write_config(run_dir, cfg, key, n_features)
            save_splits(run_dir, tensor, splits)

    bar = tqdm(
        range(start, cfg.epochs),
        desc=f"train [{cfg.features}] {n_seeds}x{plan.n_folds}",
        unit="epoch",
        disable=not progress,
        initial=start,
        total=cfg.epochs,
    )
    try:
        for epoch in bar:
            state, loss, confusion = session.run_epoch(state, epoch)
            score = macro_f1(confusion)
            improved = score > best_score
            best = program.keep_best(best, state.params, put(improved, place.replica))
            for replica in np.flatnonzero(improved):
                if progress and best_epoch[replica] >= 0:
                    seed, fold = plan.seed_fold(replica)
                    bar.write(
                        f"  fold {fold + 1} seed {plan.seed_value(seed)}: best val macro-F1 "
                        f"{score[replica]:.4f} at epoch {epoch + 1} (was {best_score[replica]:.4f} "
                        f"at epoch {best_epoch[replica] + 1})"
                    )
            best_score = np.where(improved, score, best_score)
            best_epoch = np.where(improved, epoch, best_epoch)
            history["train_loss"].append(loss.tolist())
            history["val_f1"].append(score.tolist())
            history["val_confusion"].append(confusion.tolist())
            if progress:
                per_fold = lambda v: " ".join(f"{x:.3f}" for x in v.reshape(n_seeds, -1).mean(0))  # noqa: E731
                bar.set_postfix_str(f"loss {per_fold(loss)} | val F1 {per_fold(score)}")
            if manager is not None:
                manager.save(
                    epoch,
                    {
                        "params": state.params,
                        "opt_state": state.opt_state,
                        "best_params": best,
                        "best_score": best_score,
                        "best_epoch": best_epoch,
                    },
                    history,
                )
    finally:
        bar.close()
        if manager is not None:
            manager.wait()
            manager.close()

    return FitResult(
        best_params=unflatten_replicas(jax.device_get(best), n_seeds),
        last_params=unflatten_replicas(jax.device_get(state.params), n_seeds),
        best_epoch=best_epoch.reshape(n_seeds, -1),
        best_score=best_score.reshape(n_seeds, -1),
        history=_history_arrays(history, n_seeds),
        cfg=cfg,
        splits=list(splits),
        run_dir=run_dir,
    )


# ----------------------------------------------------------------------------- predict


def _selected_params(params_or_fit, cfg: TrainConfig):
    if isinstance(params_or_fit, FitResult):
        return params_or_fit.params
    from restasmr_jax.learning.checkpoint import LoadedRun

    if isinstance(params_or_fit, LoadedRun):
        return params_or_fit.params
    return params_or_fit


def predict(params_or_fit, tensor, splits: list[FoldSplit], cfg: TrainConfig = TrainConfig()) -> list[Predictions]:
    """Test-set predictions, one `Predictions` per seed; each trial by the fold whose test set holds it.

    Rows are fold-major (fold 1's test trials in tensor order, then fold 2's, ...);
    `fold` is the 0-based `FoldSplit.fold`; probs = softmax P(tingle),
    preds = argmax (ties -> 0, as torch.argmax), mask = the tensor's valid-frame mask.
    """
    params = flatten_replicas(_selected_params(params_or_fit, cfg))
    n_replicas = jax.tree.leaves(params)[0].shape[0]
    n_seeds = n_replicas // len(splits)
    if n_seeds * len(splits) != n_replicas or n_seeds != cfg.n_seeds:
        raise TrainError(
            f"parameters hold {n_replicas} seed x fold replicas, but cfg asks for "
            f"{cfg.n_seeds} seeds x {len(splits)} folds"
        )
    session = make_session(tensor, splits, cfg)
    plan = session.plan
    params = put(params, session.place.replica)
    batches = eval_batches(plan, plan.test_rows)
    chunks = jax.device_get(
        [session.program.outputs(params, session.chunk(batches, c), session.data) for c in range(batches.rows.shape[1])]
    )
    probs = np.concatenate([c["probs"] for c in chunks], axis=1)  # [replica, trial slot, time]
    preds = np.concatenate([c["preds"] for c in chunks], axis=1)

    out = []
    for seed in range(n_seeds):
        parts = []
        for fold, rows in enumerate(plan.test_rows):
            replica = seed * plan.n_folds + fold
            parts.append((rows, probs[replica, : len(rows)], preds[replica, : len(rows)], np.full(len(rows), fold)))
        rows = np.concatenate([p[0] for p in parts])
        out.append(
            Predictions(
                truths=np.asarray(tensor.y)[rows].astype(np.int32),
                preds=np.concatenate([p[2] for p in parts]).astype(np.int32),
                probs=np.concatenate([p[1] for p in parts]).astype(np.float32),
                raw_truths=np.asarray(tensor.intensity)[rows].astype(np.int32),
                mask=np.asarray(tensor.mask, bool)[rows],
                is_nature=np.asarray(tensor.is_nature)[rows],
                subject=np.asarray(tensor.subject)[rows].astype(np.int32),
                video=np.asarray(tensor.video)[rows],
                fold=np.concatenate([p[3] for p in parts]).astype(np.int32),
            )
        )
    return out
