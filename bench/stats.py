"""Table 1 statistics on the 68 published trials: the JAX engine vs a numpy/sklearn loop (SPEC §9).

    python -m bench.stats [--artifact PATH] [--n-bootstrap N] [--n-permutation N] [--baseline-fraction F]

Both sides compute the same thing: every metric (accuracy, macro
precision/recall/F1, Nature specificity, within-ASMR accuracy, macro F1,
AUROC) pooled and per fold, N participant-level bootstrap resamples and N
sequence-level permutations (within-ASMR metrics: permutations among ASMR
trials), then CIs, p-values and Cohen's d.

  engine  `stats.evaluate(metrics.scoring_problem(...), ...)`, timed from the
          arrays to the finished table: the first call in this process
          (tables + XLA compilation + run), then a second call with another
          seed (compiled).
  loop    what a researcher would write: numpy draws, pool the frames of the
          drawn trials, call sklearn's metrics once per resample.
          `--baseline-fraction F` (default 0.1; 1 = all) times that fraction
          of its resamples and scales the time up (printed as such): the
          whole loop takes minutes, and its cost per resample is constant.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from dataclasses import replace

import numpy as np

from restasmr_jax.config import StatsConfig
from restasmr_jax.evidence import artifact as paper_artifact
from restasmr_jax.evidence import metrics, stats


def engine(pred, cfg: StatsConfig) -> dict:
    problem = metrics.scoring_problem(pred.truths, pred.preds, pred.mask, pred.is_nature, pred.probs)
    return stats.evaluate(problem, pred.subject, pred.fold, cfg)


def _sklearn_metrics(truths, preds, probs, mask, is_nature, slots, sources) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support, roc_auc_score

    def pooled(rows):
        y, p, s = [], [], []
        for slot, source in rows:
            keep = mask[slot] & mask[source]
            y.append(truths[source][keep])
            p.append(preds[slot][keep])
            s.append(probs[slot][keep])
        return np.concatenate(y), np.concatenate(p), np.concatenate(s)

    pairs = list(zip(slots, sources))
    y, p, _ = pooled(pairs)
    precision, recall, f1, _ = precision_recall_fscore_support(y, p, average="macro", zero_division=0)
    y_nature, p_nature, _ = pooled([(a, b) for a, b in pairs if is_nature[a]])
    y_asmr, p_asmr, s_asmr = pooled([(a, b) for a, b in pairs if not is_nature[a]])
    return {
        "accuracy": accuracy_score(y, p),
        "macro_f1": f1,
        "macro_precision": precision,
        "macro_recall": recall,
        "nature_specificity": accuracy_score(y_nature, p_nature),
        "asmr_accuracy": accuracy_score(y_asmr, p_asmr),
        "asmr_macro_f1": f1_score(y_asmr, p_asmr, average="macro", zero_division=0),
        "asmr_auroc": roc_auc_score(y_asmr, s_asmr) if np.unique(y_asmr).size == 2 else np.nan,
    }


def researcher_loop(pred, cfg: StatsConfig, fraction: float = 1.0) -> dict:
    """The same table with a Python loop over resamples, numpy draws and sklearn metrics."""
    rng = np.random.default_rng(cfg.seed)
    mask, nature = pred.mask.astype(bool), pred.is_nature.astype(bool)
    args = (pred.truths, pred.preds, pred.probs, mask, nature)
    trials = np.arange(pred.n_trials)
    observed = _sklearn_metrics(*args, trials, trials)
    per_fold = [_sklearn_metrics(*args, trials[pred.fold == f], trials[pred.fold == f]) for f in np.unique(pred.fold)]
    subjects = np.unique(pred.subject)
    boot, null = [], []
    for _ in range(int(round(fraction * cfg.n_bootstrap))):
        drawn = rng.choice(subjects, size=subjects.size, replace=True)
        rows = np.concatenate([trials[pred.subject == s] for s in drawn])
        boot.append(_sklearn_metrics(*args, rows, rows))
    asmr = trials[~nature]
    for _ in range(int(round(fraction * cfg.n_permutation))):
        result = _sklearn_metrics(*args, trials, rng.permutation(trials))
        within_sources = trials.copy()
        within_sources[asmr] = rng.permutation(asmr)
        within = _sklearn_metrics(*args, trials, within_sources)
        result.update({k: within[k] for k in stats.WITHIN_ASMR})
        null.append(result)
    out = {}
    for name in metrics.METRICS:
        b, n = np.array([r[name] for r in boot]), np.array([r[name] for r in null])
        out[name] = {
            "per_fold": [r[name] for r in per_fold],
            "observed": observed[name],
            "ci": list(stats.percentile_ci(b, cfg.ci_level)),
            **stats.permutation_p(n, observed[name]),
            "cohens_d": stats.cohens_d(observed[name], n),
        }
    return out


def _timed(fn):
    """(wall seconds, CPU seconds of this process, result): on a shared machine the CPU time is the
    better estimate of what the work costs (XLA compilation is mostly single-threaded)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main(argv: list[str] | None = None) -> None:
    s = StatsConfig()
    parser = argparse.ArgumentParser(prog="python -m bench.stats", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--artifact",
        default=None,
        help=f"the authors' paper_fusion_results_4_fold.pkl (default {paper_artifact.default_artifact_path()})",
    )
    parser.add_argument("--n-bootstrap", type=int, default=s.n_bootstrap, help=f"bootstrap resamples ({s.n_bootstrap})")
    parser.add_argument("--n-permutation", type=int, default=s.n_permutation, help=f"permutations ({s.n_permutation})")
    parser.add_argument(
        "--baseline-fraction",
        type=float,
        default=0.1,
        help="time this fraction of the loop's resamples and scale the time up (default 0.1: "
        "the whole loop takes minutes; 1 runs all of it)",
    )
    args = parser.parse_args(argv)
    cfg = replace(s, n_bootstrap=args.n_bootstrap, n_permutation=args.n_permutation)
    try:
        pred = paper_artifact.load_artifact(args.artifact)
    except paper_artifact.ArtifactNotFoundError as err:
        sys.exit(f"bench.stats needs the artifact: {err}")

    import jax.numpy as jnp

    jnp.zeros(1).block_until_ready()  # start the JAX runtime outside the timings (not our code)
    print(
        f"{pred.n_trials} trials, {np.unique(pred.subject).size} participants, {pred.truths.shape[1]} frames; "
        f"{cfg.n_bootstrap} bootstraps + {cfg.n_permutation} permutations; {len(metrics.METRICS)} metrics; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other jobs slow every contender)"
    )
    cold, cold_cpu, table = _timed(lambda: engine(pred, cfg))
    warm, warm_cpu, _ = _timed(lambda: engine(pred, replace(cfg, seed=cfg.seed + 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loop, loop_cpu, reference = _timed(lambda: researcher_loop(pred, cfg, args.baseline_fraction))
    scale = 1 / args.baseline_fraction
    note = "" if args.baseline_fraction == 1 else f"   (timed {args.baseline_fraction:g} of its resamples, x{scale:g})"
    print(f"{'':49s}{'wall':>9s}{'CPU':>9s}")
    print(f"JAX engine, first call (tables + compile + run): {cold:8.3f}s {cold_cpu:7.3f}s")
    print(f"JAX engine, compiled (another seed):             {warm:8.3f}s {warm_cpu:7.3f}s")
    print(f"numpy/sklearn loop:                              {loop * scale:8.3f}s {loop_cpu * scale:7.3f}s{note}")
    print(
        f"speed-up, first call: {loop * scale / cold:.0f}x wall, {loop_cpu / cold_cpu * scale:.0f}x CPU; "
        f"compiled: {loop * scale / warm:.0f}x wall, {loop_cpu / warm_cpu * scale:.0f}x CPU"
    )
    for name in ("macro_f1", "asmr_auroc"):
        ours, theirs = table["metrics"][name], reference[name]
        print(
            f"{name}: pooled {ours['observed']:.4f} vs {theirs['observed']:.4f}; 95 % CI "
            f"[{ours['ci'][0]:.4f}, {ours['ci'][1]:.4f}] vs [{theirs['ci'][0]:.4f}, {theirs['ci'][1]:.4f}]; "
            f"p {ours['p_report']} vs {theirs['p_report']}; d {ours['cohens_d']:.2f} vs {theirs['cohens_d']:.2f} "
            f"(different random draws: agreement in distribution)"
        )


if __name__ == "__main__":
    main()
