"""Frame metrics as masked confusion sums, so every resample is just another weight vector (SPEC §9).

A `ScoringProblem` holds everything that does not change between resamples
of one evaluation set `[trial, time]`: confusion counts for every (truth
row, prediction row) pair and rank tables of the ASMR frames' scores.  A
resample is a weight and a truth source per prediction slot
(`resample_sums`):

* a bootstrap: per-trial multiplicities `w [trial]` (how often the trial's
  participant was drawn) over the identity pairing — `bootstrap_sums`;
* a permutation: weights 1 and a source row `src [trial]` per slot (slot j
  is scored against the truth sequence of trial src[j]) — `permutation_sums`.

Both return `Sums` (integer counts per group, AUROC numerators); the host
divides once, in float64, in `scores` (sklearn definitions).  Observed
values are the identity resample, and per-fold values the fold's indicator
as weights, so observed, per-fold and resampled numbers come from one
formula.

Definitions (all over the frames where the mask is set):

* accuracy, macro precision / recall / F1: sklearn's, `zero_division=0`,
  macro-averaged over the labels present in y_true ∪ y_pred (a single-class
  set averages over that one class; an empty set is NaN);
* Nature specificity: accuracy on the Nature trials (SPEC §9);
* within-ASMR accuracy, macro F1 and AUROC: ASMR trials only; AUROC is the
  Mann–Whitney probability P(score_pos > score_neg) + ½ P(tie), which is
  what sklearn's `roc_auc_score` computes, NaN when one class is absent.

Masks in a permutation: slot j's frame t is scored only where BOTH the
moved truth row and the slot's prediction are valid (`mask[src[j]] &
mask[j]`).  Letting the truth carry its mask would score predictions made
from zero padding; keeping the slot's mask would score the zero padding of
a shorter label sequence as "no tingle".  Neither is a label or a
prediction, so the intersection is the only choice that scores real
observations only.  With all-True masks (the paper's convention) the three
coincide.

Tables are built once per evaluation set on the host in exact integer
numpy (one-off work: no float32 rounding and no XLA compile for it);
everything that runs per resample is JAX.  The AUROC of a resample needs no
sort: with frame weights w (a frame weighs what its slot does) and d(k) =
2·w(valid frames scored below frame k) + w(valid frames tied with k, itself
included), the doubled Mann–Whitney numerator is Σ_{positive k} w_k·d(k) −
W_pos² (W_pos: the positives' total weight), and d decomposes over the
slots the other frames belong to (int32-exact up to ~3,500 trials).
So any resample reads one `[source, slot, slot, mask pattern]` table
(`rank_pairs`, over ASMR slots): O(trials²) work instead of O(frames).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

GROUPS = ("all", "nature", "asmr")  # rows of `Sums.counts`
METRICS = (
    "accuracy",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "nature_specificity",
    "asmr_accuracy",
    "asmr_macro_f1",
    "asmr_auroc",
)
_INT32_MAX = np.iinfo(np.int32).max


class MetricsInputError(ValueError):
    """Arrays that cannot be scored (shape, dtype or value range), named in the message."""


class Sums(NamedTuple):
    """Everything a metric needs from one resample; leading axes are free (`[resample]`, `[fold]`)."""

    counts: jax.Array  # [..., group, 4] int32: (tn, fp, fn, tp) for GROUPS
    auc_numer2: jax.Array  # [...] float32: 2·#(pos > neg) + #(pos == neg) over weighted ASMR frame pairs
    auc_pos: jax.Array  # [...] int32: weighted positive ASMR frames
    auc_neg: jax.Array  # [...] int32: weighted negative ASMR frames


@dataclass(frozen=True)
class ScoringProblem:
    """Resample-invariant tables of one evaluation set (build with `scoring_problem`).

    Axes: `trial` any trial (a truth source), `slot` a prediction row,
    `aslot` an ASMR slot, `pattern` a distinct mask row.
    """

    pair_counts: jax.Array  # [trial, slot, 4] int32 (tn, fp, fn, tp), truth row x prediction row
    groups: jax.Array  # [group, slot] int32 membership by the slot's stimulus
    asmr_slots: jax.Array  # [aslot] int32 slot index of each ASMR slot
    condition_order: jax.Array  # [slot] int32 ASMR slots then Nature slots, each in index order
    pattern: jax.Array  # [trial] int32 mask pattern of each truth row
    rank_pairs: jax.Array  # [trial, aslot, aslot, pattern] int32 Σ_t pos(trial on aslot) · d-part of column aslot
    moved_pos: jax.Array  # [trial, aslot] int32 positives of a truth row on an ASMR slot, masks intersected
    pattern_valid: jax.Array  # [pattern, aslot] int32 valid frames of an ASMR slot under a source pattern
    has_scores: bool = field(default=True, metadata=dict(static=True))

    @property
    def n_trials(self) -> int:
        return int(self.pair_counts.shape[0])


jax.tree_util.register_dataclass(
    ScoringProblem,
    data_fields=[f for f in ScoringProblem.__dataclass_fields__ if f != "has_scores"],
    meta_fields=["has_scores"],
)


def _binary(name: str, array, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(array)
    if array.shape != shape:
        raise MetricsInputError(f"{name}: expected shape {shape}, got {array.shape}")
    if array.dtype.kind not in "biuf" or not np.isin(array, (0, 1)).all():
        bad = np.argwhere(~np.isin(array, (0, 1)))[:1].tolist() if array.dtype.kind in "biuf" else "?"
        raise MetricsInputError(f"{name}: expected 0/1 values, got dtype {array.dtype} (first offending index: {bad})")
    return array.astype(np.int64)


def check_inputs(truths, preds, mask, is_nature, probs=None):
    """Validated host arrays `[trial, time]` (int64 0/1) and `[trial]`; a clear error otherwise."""
    truths = np.asarray(truths)
    if truths.ndim != 2 or truths.shape[0] == 0:
        raise MetricsInputError(f"truths: expected [trial, time] with at least one trial, got shape {truths.shape}")
    shape = truths.shape
    truths, preds, mask = (_binary(n, a, shape) for n, a in (("truths", truths), ("preds", preds), ("mask", mask)))
    is_nature = _binary("is_nature", is_nature, shape[:1])
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float32)
        if probs.shape != shape:
            raise MetricsInputError(f"probs: expected shape {shape}, got {probs.shape}")
        if not np.isfinite(probs).all():
            raise MetricsInputError(
                f"probs: non-finite value at [trial, time] {np.argwhere(~np.isfinite(probs))[0].tolist()}"
            )
    return truths, preds, mask, is_nature, probs


def _doubled_ranks(scores: np.ndarray, members: np.ndarray) -> np.ndarray:
    """[frame, column]: 2·#(column members scored below the frame) + #(members tied with it).

    `scores [frame]`; `members [column, frame]` 0/1.
    """
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    below = np.searchsorted(ordered, scores, side="left")
    up_to_tie = np.searchsorted(ordered, scores, side="right")
    cumulative = np.zeros((members.shape[0], scores.size + 1), np.int32)  # counts <= frames < 2**31
    np.cumsum(members[:, order], axis=1, dtype=np.int32, out=cumulative[:, 1:])
    return (cumulative[:, below] + cumulative[:, up_to_tie]).T.astype(np.int64)


def _int32(name: str, table: np.ndarray) -> jax.Array:
    if table.size and np.abs(table).max() > _INT32_MAX:
        raise MetricsInputError(f"{name}: counts exceed int32; split the evaluation set")
    return jnp.asarray(table.astype(np.int32))


def _auc_tables(truths, mask, scores, asmr):
    """`pattern`, `rank_pairs`, `moved_pos`, `pattern_valid` of `ScoringProblem` (module docstring)."""
    n_time = truths.shape[1]
    patterns, pattern = np.unique(mask, axis=0, return_inverse=True)
    slot_mask = mask[asmr]
    n_slots, n_patterns = asmr.size, patterns.shape[0]
    # Column (j', pattern): the frames of ASMR slot j' that are valid under that source pattern.
    own = np.eye(n_slots, dtype=np.int32)[:, None, :, None]  # [column slot, 1, aslot, 1]
    columns = own * (slot_mask[None] * patterns[:, None])[None]  # [column slot, pattern, aslot, time]
    ranks = _doubled_ranks(scores[asmr].reshape(-1), columns.reshape(n_slots * n_patterns, n_slots * n_time))
    # rank_pairs[i, j, c] = Σ_t truth_i(t)·mask_i(t) · mask_j(t)·ranks[(j, t), c]: one exact float64 GEMM.
    n_columns = n_slots * n_patterns
    slot_ranks = (slot_mask[:, :, None] * ranks.reshape(n_slots, n_time, n_columns)).transpose(1, 0, 2)
    source_pos = truths * mask
    rank_pairs = np.rint(source_pos.astype(np.float64) @ slot_ranks.reshape(n_time, n_slots * n_columns))
    return dict(
        pattern=pattern.reshape(-1),
        rank_pairs=rank_pairs.astype(np.int64).reshape(len(truths), n_slots, n_slots, n_patterns),
        moved_pos=source_pos @ slot_mask.T,
        pattern_valid=patterns @ slot_mask.T,
    )


def scoring_problem(truths, preds, mask, is_nature, probs=None) -> ScoringProblem:
    """Precompute the resample-invariant tables of `[trial, time]` truths/preds/mask.

    `is_nature [trial]` sets the groups (by the slot's stimulus); `probs`
    (P(tingle), `[trial, time]`) enables the within-ASMR AUROC.
    """
    truths, preds, mask, is_nature, probs = check_inputs(truths, preds, mask, is_nature, probs)
    by_truth = np.stack([(1 - truths) * mask, truths * mask])  # [truth class, trial, time]
    by_pred = np.stack([(1 - preds) * mask, preds * mask])
    # [truth trial, slot, truth class, predicted class] -> (tn, fp, fn, tp), in exact integers.
    pair_counts = np.einsum("ait,bjt->ijab", by_truth, by_pred).reshape(len(truths), len(truths), 4)
    asmr = np.flatnonzero(is_nature == 0)
    has_scores = probs is not None
    scores = probs if has_scores else np.zeros(truths.shape, np.float32)
    tables = _auc_tables(truths, mask, scores, asmr)
    groups = np.stack([np.ones_like(is_nature), is_nature, 1 - is_nature])
    return ScoringProblem(
        pair_counts=_int32("pair_counts", pair_counts),
        groups=_int32("groups", groups),
        asmr_slots=_int32("asmr_slots", asmr),
        condition_order=_int32("condition_order", np.argsort(is_nature, kind="stable")),
        **{name: _int32(name, table) for name, table in tables.items()},
        has_scores=has_scores,
    )


def _take(table, index):
    """table[index] along axis 0; the indices are in range by construction, and saying so spares the
    XLA program the bounds checks (a fifth of its size)."""
    return table.at[index].get(mode="promise_in_bounds")


def resample_sums(problem: ScoringProblem, weights: jax.Array, sources: jax.Array) -> Sums:
    """Sums for ONE resample: slot j counted `weights[j]` times against the truth row `sources[j]`.

    A bootstrap is (multiplicities, identity), a permutation (ones,
    permutation): one formula, so one compiled copy serves both.
    """
    # Flat 1-D takes and integer dots: the same arithmetic as fancy indexing and sums, in a much
    # smaller XLA program (the CPU backend rewrites integer reductions into windowed trees).
    n_trials, n_asmr = problem.n_trials, problem.asmr_slots.shape[0]
    n_patterns = problem.pattern_valid.shape[0]
    weights, slots = weights.astype(jnp.int32), jnp.arange(n_asmr)
    moved = _take(problem.pair_counts.reshape(n_trials * n_trials, 4), sources * n_trials + jnp.arange(n_trials))
    counts = jnp.dot(problem.groups, weights[:, None] * moved, preferred_element_type=jnp.int32)
    asmr_sources, asmr_weights = _take(sources, problem.asmr_slots), _take(weights, problem.asmr_slots)
    source_pattern = _take(problem.pattern, asmr_sources)
    rows = _take(
        problem.rank_pairs.reshape(n_trials * n_asmr, n_asmr * n_patterns), asmr_sources * n_asmr + slots
    )  # [aslot, (column aslot, pattern)]
    # Column j' counts with its slot's weight under the mask pattern of its own source; exact int32.
    column_weights = jax.nn.one_hot(source_pattern, n_patterns, dtype=jnp.int32) * asmr_weights[:, None]
    row_sums = jnp.dot(rows, column_weights.reshape(-1), preferred_element_type=jnp.int32)
    n_pos = jnp.dot(
        asmr_weights,
        _take(problem.moved_pos.reshape(-1), asmr_sources * n_asmr + slots),
        preferred_element_type=jnp.int32,
    )
    n_valid = jnp.dot(
        asmr_weights,
        _take(problem.pattern_valid.reshape(-1), source_pattern * n_asmr + slots),
        preferred_element_type=jnp.int32,
    )
    # Σ_pos w·d − W_pos²: float32 of exact integers, ~1e-7 relative rounding.
    numer2 = jnp.dot(asmr_weights.astype(jnp.float32), row_sums.astype(jnp.float32)) - n_pos.astype(jnp.float32) ** 2
    return Sums(counts, numer2, n_pos, n_valid - n_pos)


def bootstrap_sums(problem: ScoringProblem, weights: jax.Array) -> Sums:
    """Sums for ONE bootstrap: `weights [trial]` multiplicities (ones: the observed set)."""
    return resample_sums(problem, weights, jnp.arange(problem.n_trials))


def permutation_sums(problem: ScoringProblem, sources: jax.Array) -> Sums:
    """Sums for ONE permutation: slot j is scored against the truth row `sources[j]`."""
    return resample_sums(problem, jnp.ones(problem.n_trials, jnp.int32), sources)


def _ratio(numer, denom):
    numer, denom = np.asarray(numer, np.float64), np.asarray(denom, np.float64)
    return np.divide(numer, denom, out=np.zeros(np.broadcast_shapes(numer.shape, denom.shape)), where=denom > 0)


def confusion_scores(counts) -> dict[str, np.ndarray]:
    """sklearn accuracy and macro precision/recall/F1 (`zero_division=0`) from `[..., 4]` counts."""
    counts = np.asarray(counts, np.int64)
    tn, fp, fn, tp = np.moveaxis(counts, -1, 0)
    total = tn + fp + fn + tp
    present = np.stack([tn + fp + fn > 0, tp + fn + fp > 0]).astype(np.float64)
    n_present = present.sum(axis=0)
    per_class = {
        "macro_precision": (_ratio(tn, tn + fn), _ratio(tp, tp + fp)),
        "macro_recall": (_ratio(tn, tn + fp), _ratio(tp, tp + fn)),
        "macro_f1": (_ratio(2 * tn, 2 * tn + fn + fp), _ratio(2 * tp, 2 * tp + fp + fn)),
    }
    out = {"accuracy": np.where(total > 0, _ratio(tp + tn, total), np.nan)}
    for name, (class0, class1) in per_class.items():
        summed = present[0] * class0 + present[1] * class1
        out[name] = np.where(n_present > 0, _ratio(summed, n_present), np.nan)
    return out


def selection_macro_f1(confusion) -> np.ndarray:
    """Macro F1 of confusion counts `[..., truth, pred]` (2 x 2), as `confusion_scores`; 0 for an empty set.

    The training program's model-selection score (SPEC §7): an empty
    validation set scores 0, so it never looks better than a real epoch.
    """
    confusion = np.asarray(confusion, np.int64)
    macro_f1 = confusion_scores(confusion.reshape(confusion.shape[:-2] + (4,)))["macro_f1"]
    return np.nan_to_num(macro_f1, nan=0.0)


def scores(sums: Sums, has_scores: bool = True) -> dict[str, np.ndarray]:
    """Every metric in METRICS from `Sums` (any leading shape), float64, on the host."""
    counts = np.asarray(sums.counts)
    pooled = confusion_scores(counts[..., 0, :])
    nature = confusion_scores(counts[..., 1, :])
    asmr = confusion_scores(counts[..., 2, :])
    pos, neg = np.asarray(sums.auc_pos, np.float64), np.asarray(sums.auc_neg, np.float64)
    defined = (pos > 0) & (neg > 0) & has_scores
    auroc = np.where(defined, _ratio(np.asarray(sums.auc_numer2, np.float64), 2 * pos * neg), np.nan)
    return {
        **pooled,
        "nature_specificity": nature["accuracy"],
        "asmr_accuracy": asmr["accuracy"],
        "asmr_macro_f1": asmr["macro_f1"],
        "asmr_auroc": auroc,
    }


# Optimisation level 1: ~40 % less compile time than the default, the same run time for these small programs.
FAST_COMPILE = {"xla_backend_optimization_level": 1}
_weighted_sums = jax.jit(jax.vmap(bootstrap_sums, in_axes=(None, 0)), compiler_options=FAST_COMPILE)


def weighted_sums(problem: ScoringProblem, weights) -> Sums:
    """`Sums [row]` of the trial multisets `weights [row, trial]` (a row of ones: the set itself)."""
    return _weighted_sums(problem, jnp.asarray(weights, jnp.int32))


def weighted_scores(problem: ScoringProblem, weights) -> dict[str, np.ndarray]:
    """Metrics `[row]` of the trial multisets `weights [row, trial]`."""
    return scores(weighted_sums(problem, weights), problem.has_scores)


def fold_indicator(fold) -> tuple[np.ndarray, np.ndarray]:
    """Fold ids (ascending) and their `[fold, trial]` 0/1 indicator rows."""
    fold = np.asarray(fold)
    ids = np.unique(fold)
    return ids, (ids[:, None] == fold[None, :]).astype(np.int32)


def observed_scores(problem: ScoringProblem) -> dict[str, float]:
    """The metrics of the evaluation set itself (every trial once)."""
    rows = weighted_scores(problem, np.ones((1, problem.n_trials), np.int32))
    return {k: float(v[0]) for k, v in rows.items()}


def frame_metrics(truths, preds, mask, is_nature, probs=None) -> dict[str, float]:
    """Metrics of ONE evaluation set `[trial, time]` (see the module docstring for definitions)."""
    return observed_scores(scoring_problem(truths, preds, mask, is_nature, probs))


def fold_scores(problem: ScoringProblem, fold) -> dict[str, np.ndarray]:
    """Per-fold metrics `[fold]` (folds in ascending id order): the fold indicator as weights."""
    if np.shape(fold) != (problem.n_trials,):
        raise MetricsInputError(f"fold: expected shape ({problem.n_trials},), got {np.shape(fold)}")
    return weighted_scores(problem, fold_indicator(fold)[1])


def fold_metrics(truths, preds, mask, is_nature, fold, probs=None) -> dict[str, np.ndarray]:
    """Per-fold metrics `[fold]` of `[trial, time]` arrays whose trials carry `fold [trial]`."""
    return fold_scores(scoring_problem(truths, preds, mask, is_nature, probs), fold)


def mean_sd(per_fold) -> tuple[float, float]:
    """Mean ± population SD (ddof=0) over folds, as the paper reports (SPEC §9)."""
    per_fold = np.asarray(per_fold, np.float64)
    return float(per_fold.mean()), float(per_fold.std(ddof=0))
