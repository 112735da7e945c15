"""Every seed x fold of the protocol trained in one program, then its test sets predicted (SPEC §6, §7).

A `Session` is one run's plan (which trials each replica sees), its data
placed on the devices and its compiled program; `fit(session)` runs the
epochs, `predict(session, params)` scores the test sets.  The model is a
parameter of the session (`models.Tagger`, default: the paper's BiLSTM).

- Validation: after every epoch the confusion counts of each replica's 2
  inner-validation participants come back from the device and `score`
  turns them into the selection metric on the host (the pipeline passes
  macro F1).  `selection="best"` keeps a real copy of the parameters of
  the first epoch with the highest score (`jnp.where` into a separate
  buffer); `"last"` reproduces the authors' code, which kept a reference to
  the live weights.
- Checkpoints (`checkpoint.RunCheckpoints`, opened by the caller): every
  epoch is saved; a session whose checkpoints hold epochs continues from the
  latest and ends with the numbers an uninterrupted run gives, since
  shuffles and dropout keys are derived from (seed, fold, epoch, step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from restasmr_jax.config import TrainConfig
from restasmr_jax.learning import models
from restasmr_jax.learning.batches import Batch, Plan, epoch_batches, eval_batches, fold_stimuli, make_plan
from restasmr_jax.learning.checkpoint import RunCheckpoints
from restasmr_jax.learning.outputs import TestOutputs
from restasmr_jax.learning.program import DeviceData, Program, TrainState, build_program
from restasmr_jax.learning.replicas import Placement, flatten_replicas, placement, replica_keys, unflatten_replicas
from restasmr_jax.learning.splits import FoldSplit


class TrainError(ValueError):
    """The tensor, splits or config cannot be trained as asked; the message says what is wrong."""


@dataclass(frozen=True)
class FitResult:
    """Parameters and history of every seed x fold; parameter leaves are numpy `[seed, fold, ...]`."""

    best_params: Any
    last_params: Any
    best_epoch: np.ndarray  # [seed, fold] 0-based epoch of the kept best parameters
    best_score: np.ndarray  # [seed, fold] its validation score
    history: dict  # train_loss, val_f1: [epoch][seed][fold]; val_confusion [epoch][seed][fold][truth][pred]
    cfg: TrainConfig

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

    cfg: TrainConfig
    model: models.Tagger
    splits: tuple[FoldSplit, ...]
    plan: Plan
    place: Placement
    data: DeviceData
    program: Program
    keys: jax.Array  # [replica]
    train_stimuli: tuple
    val_batches: Batch  # numpy [replica, chunk, trial]

    @property
    def n_features(self) -> int:
        return int(self.data.shared.shape[-1] + self.data.own.shape[-1])

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
        sums, confusion = self.place.gather((sums, confusion))
        loss = np.sum([m["loss_sum"] for m in sums], axis=0) / np.maximum(
            np.sum([m["weight_sum"] for m in sums], axis=0), np.finfo(np.float32).tiny
        )
        return state, loss, np.asarray(confusion)

    def chunk(self, batches: Batch, chunk: int) -> Batch:
        """Chunk `chunk` of numpy batches [replica, chunk, ...], placed like the replicas (padding: weight 0)."""
        return self.place.replicas(jax.tree.map(lambda x: x[:, chunk], batches))


def make_session(tensor, splits: list[FoldSplit], cfg: TrainConfig, model: models.Tagger | None = None) -> Session:
    """The session of `model` (default: `models.from_config(cfg)`) on `tensor`'s `cfg.features` columns."""
    model = model if model is not None else models.from_config(cfg)
    plan = make_plan(tensor, splits, cfg)
    shared, own = tensor.feature_columns(cfg.features)
    models.check_tagger(model, model.name, shared.shape[-1], own.shape[-1])
    place = placement(plan.n_replicas)
    data = place.everywhere(
        DeviceData(shared=shared, own=own, y=np.asarray(tensor.y, np.int32), mask=np.asarray(tensor.mask, bool))
    )
    return Session(
        cfg=cfg,
        model=model,
        splits=tuple(splits),
        plan=plan,
        place=place,
        data=data,
        program=build_program(model, cfg.learning_rate, shared.shape[-1], own.shape[-1]),
        keys=place.replicas(replica_keys(plan.seed_values, plan.n_folds)),
        train_stimuli=fold_stimuli(plan, plan.train_rows),
        val_batches=eval_batches(plan, plan.val_rows),
    )


def host_state(place: Placement, state: TrainState, best, best_score: np.ndarray, best_epoch: np.ndarray) -> dict:
    """What a checkpoint holds, as numpy on every process: the real replicas only (inert padding dropped)."""
    arrays = place.gather({"params": state.params, "opt_state": state.opt_state, "best_params": best})
    return {**arrays, "best_score": best_score, "best_epoch": best_epoch}


def fit(
    session: Session,
    *,
    score: Callable[[np.ndarray], np.ndarray],
    checkpoints: RunCheckpoints | None = None,
    progress: bool = True,
) -> FitResult:
    """Train every replica of `session` for `cfg.epochs` epochs, selecting on `score(val confusion [replica, 2, 2])`.

    With `checkpoints`, every epoch is saved there, and a folder that
    already holds epochs is continued from its latest one.
    """
    cfg, plan, place, program = session.cfg, session.plan, session.place, session.program
    n_replicas, n_seeds = plan.n_replicas, cfg.n_seeds
    state = session.init_state()
    best = jax.tree.map(jnp.copy, state.params)
    best_score, best_epoch = np.full(n_replicas, -np.inf), np.full(n_replicas, -1, np.int64)
    history = {"train_loss": [], "val_f1": [], "val_confusion": []}
    start = 0
    if checkpoints is not None and checkpoints.latest_epoch() is not None:
        epoch, restored, history = checkpoints.restore(host_state(place, state, best, best_score, best_epoch))
        state = place.replicas(TrainState(restored["params"], restored["opt_state"]))
        best = place.replicas(restored["best_params"])
        best_score, best_epoch = restored["best_score"], restored["best_epoch"]
        start = epoch + 1

    bar = tqdm(
        range(start, cfg.epochs),
        desc=f"train [{session.model.name}, {cfg.features}] {n_seeds}x{plan.n_folds}",
        unit="epoch",
        disable=not progress,
        initial=start,
        total=cfg.epochs,
    )
    try:
        for epoch in bar:
            state, loss, confusion = session.run_epoch(state, epoch)
            value = score(confusion)
            improved = value > best_score
            best = program.keep_best(best, state.params, place.replicas(improved))
            for replica in np.flatnonzero(improved):
                if progress and best_epoch[replica] >= 0:
                    seed, fold = plan.seed_fold(replica)
                    bar.write(
                        f"  fold {fold + 1} seed {plan.seed_value(seed)}: best val score "
                        f"{value[replica]:.4f} at epoch {epoch + 1} (was {best_score[replica]:.4f} "
                        f"at epoch {best_epoch[replica] + 1})"
                    )
            best_score = np.where(improved, value, best_score)
            best_epoch = np.where(improved, epoch, best_epoch)
            history["train_loss"].append(loss.tolist())
            history["val_f1"].append(value.tolist())
            history["val_confusion"].append(confusion.tolist())
            if progress:

                def per_fold(v):
                    return " ".join(f"{x:.3f}" for x in v.reshape(n_seeds, -1).mean(0))

                bar.set_postfix_str(f"loss {per_fold(loss)} | val {per_fold(value)}")
            if checkpoints is not None:
                checkpoints.save(epoch, host_state(place, state, best, best_score, best_epoch), history)
    finally:
        bar.close()
        if checkpoints is not None:
            checkpoints.wait()

    return FitResult(
        best_params=unflatten_replicas(place.gather(best), n_seeds),
        last_params=unflatten_replicas(place.gather(state.params), n_seeds),
        best_epoch=best_epoch.reshape(n_seeds, -1),
        best_score=best_score.reshape(n_seeds, -1),
        history=_history_arrays(history, n_seeds),
        cfg=cfg,
    )


def predict(session: Session, params) -> list[TestOutputs]:
    """Test-set outputs of every seed (parameter leaves `[seed, fold, ...]`); each trial by the fold that held it out.

    Rows are fold-major (fold 1's test trials in tensor order, then fold 2's, ...);
    probs = softmax P(tingle), preds = argmax (ties -> 0, as torch.argmax).
    """
    cfg, plan = session.cfg, session.plan
    flat = flatten_replicas(params)
    n_replicas = jax.tree.leaves(flat)[0].shape[0]
    if n_replicas != plan.n_replicas:
        raise TrainError(
            f"parameters hold {n_replicas} seed x fold replicas, but the session has "
            f"{cfg.n_seeds} seeds x {plan.n_folds} folds"
        )
    flat = session.place.replicas(flat)
    batches = eval_batches(plan, plan.test_rows)
    chunks = session.place.gather(
        [session.program.outputs(flat, session.chunk(batches, c), session.data) for c in range(batches.rows.shape[1])]
    )
    probs = np.concatenate([c["probs"] for c in chunks], axis=1)  # [replica, trial slot, time]
    preds = np.concatenate([c["preds"] for c in chunks], axis=1)
    rows = np.concatenate(plan.test_rows)
    fold = np.concatenate([np.full(len(r), f) for f, r in enumerate(plan.test_rows)]).astype(np.int32)
    out = []
    for seed in range(cfg.n_seeds):
        replicas = [seed * plan.n_folds + f for f in range(plan.n_folds)]
        out.append(
            TestOutputs(
                rows=rows,
                fold=fold,
                probs=np.concatenate([probs[r, : len(t)] for r, t in zip(replicas, plan.test_rows)]).astype(np.float32),
                preds=np.concatenate([preds[r, : len(t)] for r, t in zip(replicas, plan.test_rows)]).astype(np.int32),
            )
        )
    return out
