"""Which trials each seed x fold replica trains, validates and tests on, in static-shape batches (SPEC §6, §7).

The run's replica axis is flattened r = seed * n_folds + fold.  Everything
here is host-side numpy and decides *what* the program sees; `program.py`
decides what it computes.

- Training batches: 16 trials, reshuffled every epoch by numpy's generator
  seeded with (seed value, fold, epoch), so a resumed run replays the same
  batches.  A fold with fewer training trials gets zero-weight padding
  trials at the end of its last batch, so every fold runs the same number
  of steps with the same shapes; since the loss is normalised by the
  batch's frame weight (PyTorch's weighted mean), a padded last batch is
  the authors' short last batch.
- Class weights n_total / (2 n_class) from the valid frames of the fold's
  training trials (a class with no frames gets weight 0).
- Stimuli: each fold projects only the stimuli its trials use (6 training
  videos, 2 test videos), padded to a common count; `stim_pos` points each
  trial at its stimulus's row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import numpy as np
from flax import struct

from restasmr_jax.config import TrainConfig
from restasmr_jax.learning.splits import FoldSplit, trial_indices

EVAL_CHUNK = 32  # trials per evaluation call (bounds memory on large validation/test sets)


class PlanError(ValueError):
    """The tensor, splits or config cannot form the requested batches; the message says what is wrong."""


@struct.dataclass
class Batch:
    """One replica's trials for one step (leading replica axis added by the program)."""

    rows: jax.Array  # [batch] int32 trial rows of the tensor
    weight: jax.Array  # [batch] float32, 1 real trial, 0 padding
    stim_pos: jax.Array  # [batch] int32 position of each trial's stimulus in stim_rows
    stim_rows: jax.Array  # [stim] int32 stimuli this fold projects
    class_weight: jax.Array  # [2] float32


@dataclass(frozen=True)
class Plan:
    """Host-side description of a run: which trials each replica trains, validates and tests on."""

    cfg: TrainConfig
    n_folds: int
    train_rows: list[np.ndarray]  # per fold
    val_rows: list[np.ndarray]
    test_rows: list[np.ndarray]
    class_weight: np.ndarray  # [fold, 2]
    n_steps: int
    stim_index: np.ndarray  # [trial]

    @property
    def n_replicas(self) -> int:
        return self.cfg.n_seeds * self.n_folds

    def seed_fold(self, replica: int) -> tuple[int, int]:
        return divmod(replica, self.n_folds)

    def seed_value(self, seed: int) -> int:
        return self.cfg.seed + seed

    @property
    def seed_values(self) -> list[int]:
        """Seed value of each seed axis position: cfg.seed, cfg.seed + 1, ..."""
        return [self.seed_value(k) for k in range(self.cfg.n_seeds)]


def make_plan(tensor, splits: list[FoldSplit], cfg: TrainConfig) -> Plan:
    if cfg.selection not in ("best", "last"):
        raise PlanError(f"selection must be 'best' or 'last', got {cfg.selection!r}")
    if cfg.n_seeds < 1 or cfg.epochs < 0 or cfg.batch_size < 1:
        raise PlanError(
            f"need n_seeds >= 1, epochs >= 0, batch_size >= 1 (got {cfg.n_seeds}, {cfg.epochs}, {cfg.batch_size})"
        )
    sets = [trial_indices(tensor, split) for split in splits]
    y, mask = np.asarray(tensor.y), np.asarray(tensor.mask, bool)
    class_weight = []
    for split, (train, val, test) in zip(splits, sets):
        for name, rows in (("training", train), ("validation", val), ("test", test)):
            if len(rows) == 0:
                raise PlanError(
                    f"fold {split.fold + 1} has no {name} trials in this tensor "
                    f"({tensor.n_trials} trials); check the participants/videos it holds"
                )
        labels = y[train][mask[train]]
        counts = np.bincount(labels, minlength=2)[:2].astype(np.float64)
        weights = np.divide(labels.size, 2 * counts, out=np.zeros(2), where=counts > 0)
        class_weight.append(weights.astype(np.float32))
    n_train_max = max(len(s[0]) for s in sets)
    return Plan(
        cfg=cfg,
        n_folds=len(splits),
        train_rows=[s[0] for s in sets],
        val_rows=[s[1] for s in sets],
        test_rows=[s[2] for s in sets],
        class_weight=np.stack(class_weight),
        n_steps=math.ceil(n_train_max / cfg.batch_size),
        stim_index=np.asarray(tensor.stim_index),
    )


def fold_stimuli(plan: Plan, rows_per_fold: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per fold: the stimuli its rows use, padded to a common count [fold, stim]; and a stimulus->position table."""
    used = [np.unique(plan.stim_index[rows]) for rows in rows_per_fold]
    width = max(len(u) for u in used)
    stim_rows = np.stack([np.pad(u, (0, width - len(u)), mode="edge") for u in used]).astype(np.int32)
    n_stim = int(plan.stim_index.max()) + 1
    lookup = []
    for u in used:
        table = np.zeros(n_stim, np.int32)
        table[u] = np.arange(len(u), dtype=np.int32)
        lookup.append(table)
    return stim_rows, lookup


def make_batches(
    plan: Plan, rows: list[np.ndarray], order: list[np.ndarray], size: int, stim: tuple[np.ndarray, list[np.ndarray]]
) -> Batch:
    """Numpy `Batch` with leading [replica, chunk] axes: each replica's rows in `order`, zero-weight padded."""
    stim_rows, lookup = stim
    n_chunks = max(math.ceil(len(o) / size) for o in order)
    fields = {k: [] for k in ("rows", "weight", "stim_pos", "stim_rows", "class_weight")}
    for replica, ordered in enumerate(order):
        fold = plan.seed_fold(replica)[1]
        picked = rows[fold][ordered]
        n_pad = n_chunks * size - len(picked)
        padded = np.concatenate([picked, np.full(n_pad, rows[fold][0], np.int32)]).astype(np.int32)
        fields["rows"].append(padded.reshape(n_chunks, size))
        fields["weight"].append(np.repeat(np.float32([1, 0]), [len(picked), n_pad]).reshape(n_chunks, size))
        fields["stim_pos"].append(lookup[fold][plan.stim_index[padded]].reshape(n_chunks, size))
        fields["stim_rows"].append(np.broadcast_to(stim_rows[fold], (n_chunks, stim_rows.shape[1])))
        fields["class_weight"].append(np.broadcast_to(plan.class_weight[fold], (n_chunks, 2)))
    return Batch(**{k: np.stack(v) for k, v in fields.items()})


def epoch_batches(plan: Plan, epoch: int, stim) -> Batch:
    """[replica, step, batch] training batches of one epoch, shuffled per (seed value, fold, epoch)."""
    order = []
    for replica in range(plan.n_replicas):
        seed, fold = plan.seed_fold(replica)
        rng = np.random.default_rng((plan.seed_value(seed), fold, epoch))
        order.append(rng.permutation(len(plan.train_rows[fold])))
    return make_batches(plan, plan.train_rows, order, plan.cfg.batch_size, stim)


def eval_batches(plan: Plan, rows: list[np.ndarray]) -> Batch:
    """[replica, chunk, trial] evaluation batches over each fold's `rows` in tensor order."""
    order = [np.arange(len(rows[plan.seed_fold(r)[1]])) for r in range(plan.n_replicas)]
    size = min(EVAL_CHUNK, max(len(o) for o in order))
    return make_batches(plan, rows, order, size, fold_stimuli(plan, rows))
