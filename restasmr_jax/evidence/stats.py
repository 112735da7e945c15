"""Resampling statistics as vmapped JAX programs: bootstrap, permutation, paired bootstrap (SPEC §9, §10).

Every resample is written for ONE index i, whose 32-bit draws are
Threefry-2x32 of the key at counters (i, j) (a counter-based stream like
`fold_in(key, i)` then `bits`, in one hash instead of two); `jax.lax.map(..., batch_size=chunk_size)`
vmaps it over `arange(n)` in chunks, so memory is bounded by the chunk,
there is no Python loop over resamples, and resample i is the same whatever
n or the chunk size (2,000 resamples are a prefix of 5,000).  Several local
devices each map one contiguous block of the indices (`shard_map`) in chunks
of the same size, so the results equal the one-device results exactly.  The draws of
resample i feed its bootstrap and both its permutations, so a whole
evaluation (observed, per-fold, bootstrap, permutations) is ONE small
compiled program; compiling it is most of the engine's wall time, hence
optimisation level 1 (`metrics.FAST_COMPILE`).  `resample_draws` /
`bootstrap_draws` return exactly the engine's draws, so a reference
implementation can be fed the same resamples.

* Subject-level bootstrap: draw the test participants with replacement;
  a trial's weight is its participant's multiplicity (= pooling the trials
  of the drawn participants, duplicates included); recompute every metric.
* Sequence-level permutation: whole truth sequences are reassigned to the
  prediction slots uniformly at random across all pooled trials
  (predictions, their stimulus and their mask stay; masks intersect, see
  `metrics`).  The within-ASMR metrics are tested against permutations
  among the ASMR trials only: a pooled shuffle would hand ASMR slots the
  all-zero Nature label sequences and make even the condition prior look
  significant "within ASMR", which is exactly what those metrics exist to
  rule out.
* p-value: count of null >= observed (scipy's allowance of 100 ulp for
  rounding); p = count / n, reported "< 1/n" when the count is 0, and the
  +1-corrected (count + 1) / (n + 1).  Cohen's d = (observed − mean(null))
  / SD(null), population SD (numpy's default).  Percentile CIs use numpy's
  linear interpolation.  Undefined values (NaN, e.g. an AUROC without
  positives) are left out and counted.  When every frame is scored (the
  paper's convention) pooled accuracy, macro F1, precision and recall
  share one Cohen's d: with predictions and class totals fixed by the
  permutation, each is an increasing affine function of the true-positive
  count (which is why the paper's Table 1 shows d = 5.65 four times).
* Paired bootstrap between two models: the folds' differences in macro F1,
  shifted to mean 0, resampled; p = fraction of means >= the observed mean
  difference; plus scipy's one-sided paired t-test.
* `bootstrap_means` is the same core for the inter-subject agreement
  Fisher-z bootstrap (SPEC §10: 10,000 resamples, seed 42).  JAX's PRNG is
  not numpy's, so the draws differ from the authors' (the statistics agree
  in distribution, not digit for digit).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats
from jax.extend.random import threefry_2x32
from jax.sharding import Mesh, PartitionSpec

from restasmr_jax.config import StatsConfig
from restasmr_jax.evidence.metrics import (
    FAST_COMPILE,
    METRICS,
    ScoringProblem,
    fold_indicator,
    mean_sd,
    resample_sums,
    scores,
    weighted_sums,
)

RESAMPLE_STREAM, MEANS_STREAM = 0, 1  # counter tags of `_bits`: evaluation resamples, bootstrap_means
WITHIN_ASMR = ("asmr_accuracy", "asmr_macro_f1", "asmr_auroc")  # tested by within-ASMR permutation


def as_key(key_or_seed) -> jax.Array:
    """A typed Threefry PRNG key from a key or an integer seed."""
    key = jax.random.key(int(key_or_seed)) if isinstance(key_or_seed, (int, np.integer)) else key_or_seed
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)  # a raw uint32[2] key from jax.random.PRNGKey
    if str(jax.random.key_impl(key)) != "threefry2x32":
        raise ValueError(f"resampling needs a threefry2x32 key, got {jax.random.key_impl(key)}")
    return key


def _bits(key, index, n: int, stream: int):
    """[n] uint32 draws of resample `index` of `stream`: Threefry-2x32(key; counters (index, stream·2²⁴ + j)).

    A counter-based stream like `fold_in` + `bits`, in one hash instead of
    two (compiling the hash is much of the engine's time); the stream tag
    keeps the evaluation's draws apart from `bootstrap_means`'.
    """
    half = (n + 1) // 2
    second = jnp.arange(half, dtype=jnp.uint32) + jnp.uint32(stream << 24)
    counters = jnp.concatenate([jnp.full(half, index, jnp.uint32), second])
    return threefry_2x32(jax.random.key_data(key), counters)[:n]


def _unit_draw(bits, n_units: int):
    # Modulo bias is below n_units / 2**32 (< 1e-8 for 34 participants).
    return (bits % n_units).astype(jnp.int32)


def _draw(key, index, n_units: int, is_nature, condition_order):
    """Resample `index`: [unit] drawn units, [trial] pooled sources, [trial] within-condition sources.

    `is_nature [trial]` 0/1; `condition_order [trial]`: ASMR trials then Nature trials, in index order.
    """
    n_trials = is_nature.shape[0]
    bits = _bits(key, index, n_units + n_trials, RESAMPLE_STREAM)
    shuffle_keys = bits[n_units:]
    # A uniform permutation is the argsort of iid keys (ties: probability < 1e-6 for 68 trials).
    pooled = jnp.argsort(shuffle_keys, stable=True).astype(jnp.int32)
    # Within condition: the condition as the top bit orders ASMR before Nature, and each condition's
    # trials by their 31 remaining random bits; slot k of that order (ASMR slots first, in index
    # order) takes the k-th source.
    grouped = jnp.argsort((shuffle_keys >> 1) | (is_nature.astype(jnp.uint32) << 31), stable=True)
    within = jnp.zeros(n_trials, jnp.int32).at[condition_order].set(grouped.astype(jnp.int32), mode="promise_in_bounds")
    return _unit_draw(bits[:n_units], n_units), pooled, within


@partial(jax.jit, static_argnums=(1, 2))
def _resample_draws(key, n_resamples: int, n_units: int, is_nature, condition_order):
    return jax.vmap(lambda i: _draw(key, i, n_units, is_nature, condition_order))(jnp.arange(n_resamples))


def resample_draws(key, n_resamples: int, n_units: int, is_nature) -> tuple[jax.Array, jax.Array, jax.Array]:
    """What the engine draws: [resample, unit] bootstrap units, [resample, trial] pooled and
    within-condition permutation sources (`is_nature [trial]` 0/1)."""
    is_nature = np.asarray(is_nature, np.int32)
    order = np.argsort(is_nature, kind="stable").astype(np.int32)
    return _resample_draws(as_key(key), n_resamples, n_units, jnp.asarray(is_nature), jnp.asarray(order))


def multiplicities(draws: jax.Array, n_units: int) -> jax.Array:
    """[unit] how often each unit appears in `draws [unit]`."""
    return jnp.zeros(n_units, jnp.int32).at[draws].add(1, mode="promise_in_bounds")


def _chunked(one, n: int, chunk_size: int):
    """`lax.map` of `one` over arange(n) in vmapped chunks, split over the local devices; every device
    gets whole chunks so the body compiles once (lax.map would compile a second copy for a remainder)."""
    chunk, devices = max(1, min(chunk_size, n)), jax.local_devices()
    indices = jnp.arange(-(-n // (chunk * len(devices))) * chunk * len(devices))
    block = partial(jax.lax.map, one, batch_size=chunk)
    if len(devices) > 1:  # one contiguous block of indices per device
        spec = PartitionSpec("resample")
        block = jax.shard_map(block, mesh=Mesh(np.array(devices), ("resample",)), in_specs=spec, out_specs=spec)
    return jax.tree_util.tree_map(lambda x: x[:n], block(indices))


@partial(jax.jit, static_argnames=("n_resamples", "n_units", "chunk_size"), compiler_options=FAST_COMPILE)
def _distributions(problem, trial_units, key, fixed_weights, *, n_resamples, n_units, chunk_size):
    """(Sums [row] of the `fixed_weights [row, trial]` multisets, Sums [resample, 3] of
    (bootstrap, pooled permutation, within-condition permutation)): one program per evaluation."""
    n_trials = problem.n_trials
    identity = jnp.arange(n_trials, dtype=jnp.int32)
    sums = jax.vmap(resample_sums, in_axes=(None, 0, 0))

    def one(index):
        units, pooled, within = _draw(key, index, n_units, problem.groups[1], problem.condition_order)
        weights = multiplicities(units, n_units).at[trial_units].get(mode="promise_in_bounds")
        ones = jnp.ones(n_trials, jnp.int32)
        # [bootstrap, pooled permutation, within-condition permutation]: one vmapped copy of the formula.
        return sums(problem, jnp.stack([weights, ones, ones]), jnp.stack([identity, pooled, within]))

    fixed = sums(problem, fixed_weights, jnp.broadcast_to(identity, fixed_weights.shape))
    return fixed, _chunked(one, n_resamples, chunk_size)


def unit_index(units) -> tuple[np.ndarray, int]:
    """`[trial]` dense unit index 0..U-1 (ascending unit id) and U, from any per-trial ids."""
    ids, index = np.unique(np.asarray(units), return_inverse=True)
    return index.reshape(-1).astype(np.int32), int(ids.size)


def _run(
    problem: ScoringProblem,
    units,
    key,
    n_bootstrap: int,
    n_permutation: int,
    chunk_size: int,
    fixed_weights: np.ndarray,
):
    if np.shape(units) != (problem.n_trials,):
        raise ValueError(
            f"units: expected one participant id per trial, shape ({problem.n_trials},), got {np.shape(units)}"
        )
    trial_units, n_units = unit_index(units)
    fixed, resampled = _distributions(
        problem,
        jnp.asarray(trial_units),
        as_key(key),
        jnp.asarray(fixed_weights, jnp.int32),
        n_resamples=max(n_bootstrap, n_permutation, 1),
        n_units=n_units,
        chunk_size=chunk_size,
    )
    host = lambda sums, index: jax.tree_util.tree_map(lambda x: np.asarray(x[index]), sums)  # noqa: E731
    boot = scores(host(resampled, (slice(n_bootstrap), 0)), problem.has_scores)
    pooled, within = (scores(host(resampled, (slice(n_permutation), k)), problem.has_scores) for k in (1, 2))
    null = {name: within[name] if name in WITHIN_ASMR else pooled[name] for name in pooled}
    return host(fixed, slice(None)), boot, null


def resample_distributions(
    problem: ScoringProblem, units, key, n_bootstrap: int, n_permutation: int, chunk_size: int = StatsConfig.chunk_size
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Bootstrap `[n_bootstrap]` and permutation-null `[n_permutation]` distributions of every metric.

    `units [trial]`: the participant of each trial (the bootstrap unit).
    Resample i uses `resample_draws(key, n, U, is_nature)[·][i]`; the null of
    the within-ASMR metrics uses the within-condition sources.
    """
    ones = np.ones((1, problem.n_trials), np.int32)
    _, boot, null = _run(problem, units, key, n_bootstrap, n_permutation, chunk_size, ones)
    return boot, null


def percentile_ci(values, level: float = StatsConfig.ci_level) -> tuple[float, float]:
    """Percentile interval of the defined (non-NaN) values; NaNs if none is defined."""
    values = np.asarray(values, np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _at_least(null: np.ndarray, observed: float, eps: float) -> np.ndarray:
    # As scipy.stats.permutation_test: equal statistics reached along different float paths
    # must count as "as extreme".
    return null >= observed - abs(observed) * 100 * eps


def permutation_p(null, observed: float) -> dict:
    """p-value of `observed` against its null distribution, plain and +1-corrected."""
    null = np.asarray(null, np.float64)
    defined = null[~np.isnan(null)]
    n = int(defined.size)
    if n == 0 or np.isnan(observed):
        return {"count": None, "n": n, "p_value": float("nan"), "p_corrected": float("nan"), "p_report": "n/a"}
    count = int(_at_least(defined, observed, np.finfo(np.float64).eps).sum())
    report = f"< {1 / n:g}" if count == 0 else f"{count / n:.4g}"
    return {"count": count, "n": n, "p_value": count / n, "p_corrected": (count + 1) / (n + 1), "p_report": report}


def cohens_d(observed: float, null) -> float:
    """(observed − mean(null)) / SD(null), population SD; NaN when the null does not vary."""
    null = np.asarray(null, np.float64)
    null = null[~np.isnan(null)]
    if null.size == 0 or np.ptp(null) == 0 or np.isnan(observed):  # ptp: std of a constant may be 1e-17
        return float("nan")
    return float((observed - null.mean()) / null.std())


def metric_statistics(
    observed: dict[str, float],
    bootstrap: dict[str, np.ndarray],
    null: dict[str, np.ndarray],
    ci_level: float = StatsConfig.ci_level,
) -> dict[str, dict]:
    """Per metric: observed, bootstrap CI, permutation p (both forms), Cohen's d, null mean/SD."""
    out = {}
    for name in METRICS:
        boot, perm = np.asarray(bootstrap[name]), np.asarray(null[name])
        defined = perm[~np.isnan(perm)]
        out[name] = {
            "observed": observed[name],
            "ci": list(percentile_ci(boot, ci_level)),
            "bootstrap_undefined": int(np.isnan(boot).sum()),
            "null": "within-ASMR permutation" if name in WITHIN_ASMR else "pooled permutation",
            **permutation_p(perm, observed[name]),
            "cohens_d": cohens_d(observed[name], perm),
            "null_mean": float(defined.mean()) if defined.size else float("nan"),
            "null_sd": float(defined.std()) if defined.size else float("nan"),
        }
    return out


def resampling_key(cfg: StatsConfig = StatsConfig(), key=None) -> jax.Array:
    """The key of an evaluation's resamples: `key`, else `cfg.seed`."""
    return as_key(cfg.seed if key is None else key)


def evaluate(
    problem: ScoringProblem, units, fold, cfg: StatsConfig = StatsConfig(), key=None, *, resample: bool = True
) -> dict:
    """Everything SPEC §9 reports for one evaluation set, from one compiled program.

    Per metric: per-fold values (ascending fold id), mean ± SD (ddof=0),
    the pooled value over all trials and, with `resample`, its bootstrap CI
    (`cfg.n_bootstrap` participant resamples), permutation p-values and
    Cohen's d (`cfg.n_permutation`).  Also the pooled confusion matrix
    `[[tn, fp], [fn, tp]]` (rows: truth 0/1, as sklearn).
    """
    fold_ids, indicator = fold_indicator(fold)
    weights = np.concatenate([np.ones((1, problem.n_trials), np.int32), indicator])
    if resample:
        sums, boot, null = _run(
            problem, units, resampling_key(cfg, key), cfg.n_bootstrap, cfg.n_permutation, cfg.chunk_size, weights
        )
    else:
        sums = weighted_sums(problem, weights)
    rows = scores(sums, problem.has_scores)
    observed = {name: float(values[0]) for name, values in rows.items()}
    tests = metric_statistics(observed, boot, null, cfg.ci_level) if resample else None
    metrics = {}
    for name in METRICS:
        per_fold = rows[name][1:]
        mean, sd = mean_sd(per_fold)
        metrics[name] = {
            "per_fold": per_fold.tolist(),
            "mean": mean,
            "sd": sd,
            **(tests[name] if tests else {"observed": observed[name]}),
        }
    tn, fp, fn, tp = (int(c) for c in np.asarray(sums.counts)[0, 0])
    return {
        "folds": fold_ids.tolist(),
        "n_trials": problem.n_trials,
        "metrics": metrics,
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }


def _item_draw(key, index, n_items: int):
    return _unit_draw(_bits(key, index, n_items, MEANS_STREAM), n_items)


@partial(jax.jit, static_argnums=(1, 2))
def bootstrap_draws(key, n_resamples: int, n_items: int) -> jax.Array:
    """[resample, item] the items `bootstrap_means(values, key, n_resamples)` averages."""
    return jax.vmap(lambda i: _item_draw(key, i, n_items))(jnp.arange(n_resamples))


@partial(jax.jit, static_argnames=("n_resamples", "chunk_size"), compiler_options=FAST_COMPILE)
def _bootstrap_means(values, key, *, n_resamples, chunk_size):
    return _chunked(
        lambda i: values.at[_item_draw(key, i, values.shape[0])].get(mode="promise_in_bounds").mean(),
        n_resamples,
        chunk_size,
    )


def bootstrap_means(
    values,
    key=None,
    n_resamples: int = StatsConfig.n_isa_bootstrap,
    *,
    seed: int | None = None,
    chunk_size: int = StatsConfig.chunk_size,
) -> np.ndarray:
    """[resample] float32 means of `values [item]` resampled with replacement (`key` or integer `seed`).

    Resample i averages `values[bootstrap_draws(key, n, len(values))[i]]`.
    """
    if (key is None) == (seed is None):
        raise ValueError("bootstrap_means: pass exactly one of key= or seed=")
    values = np.asarray(values, np.float32)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"bootstrap_means: expected a non-empty [item] vector, got shape {values.shape}")
    return np.asarray(
        _bootstrap_means(
            jnp.asarray(values), as_key(seed if key is None else key), n_resamples=n_resamples, chunk_size=chunk_size
        )
    )


def paired_bootstrap(
    reference, other, key=None, n_resamples: int = StatsConfig.n_compare_bootstrap, *, seed: int | None = None
) -> dict:
    """Is `reference` better than `other`?  Per-fold scores `[fold]` of the same folds (SPEC §9).

    Bootstrap: the fold differences shifted to mean 0, resampled with
    replacement; p = fraction of resampled means >= the observed mean
    difference.  t-test: scipy's one-sided paired t-test (reference > other).
    """
    reference, other = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if reference.shape != other.shape or reference.ndim != 1 or reference.size < 2:
        raise ValueError(
            f"paired_bootstrap: expected two [fold] vectors of the same length >= 2, "
            f"got shapes {reference.shape} and {other.shape}"
        )
    diffs = reference - other
    observed = float(diffs.mean())
    null = bootstrap_means(diffs - observed, key, n_resamples, seed=seed).astype(np.float64)
    count = int(_at_least(null, observed, np.finfo(np.float32).eps).sum())  # the null is float32
    test = scipy.stats.ttest_rel(reference, other, alternative="greater")
    return {
        "mean_difference": observed,
        "differences": diffs.tolist(),
        "n_resamples": n_resamples,
        "count": count,
        "p_value": count / n_resamples,
        "p_corrected": (count + 1) / (n_resamples + 1),
        "t_statistic": float(test.statistic),
        "t_p_value": float(test.pvalue),
    }
