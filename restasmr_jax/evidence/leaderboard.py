"""The benchmark's leaderboard: models on the same folds beside the reference rows, one results table (SPEC §9.1).

`leaderboard(models, cfg)` scores each model's predictions (one
`Predictions` per training seed, all on the same test trials) and the
reference rows of that test set: per metric the 4-fold mean ± SD, per-fold
values and the pooled value of seed 0, the pooled bootstrap CI and
permutation p of the within-ASMR AUROC (and every other metric, in the
JSON), the within-trial AUROC with its trial count, video-level accuracy
under both truths, the paired bootstrap p of "this row beats the BiLSTM"
on per-fold macro F1 and within-ASMR AUROC, the spread over seeds, and
what the caller knows about the model (parameters, training time).
Models are ranked by within-ASMR AUROC (4-fold mean); reference rows are
listed apart and never ranked (the crowd reads test labels).

`results_rows` flattens it to the long format `name, kind, seed, fold,
metric, value` (one row per model x seed x fold x metric; reference rows
have no seed), which is what `results.csv` holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from restasmr_jax.config import StatsConfig, to_dict
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.evidence.references import ReferenceRow, standard_references
from restasmr_jax.evidence.stats import paired_bootstrap
from restasmr_jax.evidence.tables import AUROC_ROWS, REFERENCE_LABELS, frame_level
from restasmr_jax.evidence.video_level import video_level

BASELINE = "bilstm"
# engine name -> leaderboard / results.csv name
METRIC_NAMES = {
    "accuracy": "accuracy",
    "macro_f1": "macro_f1",
    "macro_precision": "macro_precision",
    "macro_recall": "macro_recall",
    "nature_specificity": "nature_specificity",
    "asmr_accuracy": "within_asmr_accuracy",
    "asmr_macro_f1": "within_asmr_macro_f1",
    "asmr_auroc": "within_asmr_auroc",
    "within_trial_auroc": "within_trial_auroc",
}
TRIAL_COUNT = "within_trial_n_trials"  # the trials the within-trial AUROC averages (per fold)
VIDEO_METRICS = {"stimulus": "video_accuracy_stimulus", "experience": "video_accuracy_experience"}
SORT_METRIC = "within_asmr_auroc"
COMPARED = ("macro_f1", "within_asmr_auroc")  # paired bootstrap vs the baseline on these per-fold values
SPREAD = ("macro_f1", "within_asmr_auroc", "within_trial_auroc")


class LeaderboardError(ValueError):
    """Models that cannot share one leaderboard (other test trials, no model at all)."""


@dataclass(frozen=True)
class ModelResult:
    """One model's test predictions, one per training seed, and what is known about it (JSON-ready)."""

    name: str
    per_seed: list[Predictions]
    info: dict = field(default_factory=dict)  # e.g. source, n_params, train_seconds


def _same_trials(a: Predictions, b: Predictions) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("subject", "video", "fold", "truths", "mask"))


def _row_metrics(report: dict, keep=None) -> dict:
    out = {}
    for engine, name in METRIC_NAMES.items():
        if engine in report["metrics"] and (keep is None or engine in keep):
            out[name] = report["metrics"][engine]
    return out


def _per_fold(report: dict, keep=None) -> dict[str, list[float]]:
    values = {name: entry["per_fold"] for name, entry in _row_metrics(report, keep).items()}
    if "within_trial_auroc" in report["metrics"]:
        values[TRIAL_COUNT] = report["metrics"]["within_trial_auroc"]["per_fold_n_trials"]
    return values


def _video(pred: Predictions, cfg: StatsConfig) -> dict:
    out = {}
    for truth, result in video_level(pred, cfg, resample=False).items():
        entry = result["metrics"]["accuracy"]
        out[VIDEO_METRICS[truth]] = {k: entry[k] for k in ("per_fold", "mean", "sd", "observed")}
    return out


def _spread(per_seed: list[dict[str, list[float]]]) -> dict | None:
    if len(per_seed) < 2:
        return None
    out = {}
    for name in SPREAD:
        means = [float(np.mean(seed[name])) for seed in per_seed if name in seed]
        if means:
            out[name] = {"per_seed": means, "mean": float(np.mean(means)), "sd": float(np.std(means))}
    return out


def _score_model(result: ModelResult, cfg: StatsConfig) -> dict:
    first = frame_level(result.per_seed[0], cfg)
    per_seed = [_per_fold(first)] + [_per_fold(frame_level(p, cfg, resample=False)) for p in result.per_seed[1:]]
    video = [_video(p, cfg) for p in result.per_seed]
    for seed, entry in zip(per_seed, video):
        seed.update({name: v["per_fold"] for name, v in entry.items()})
    return {
        "name": result.name,
        "kind": "model",
        "info": result.info,
        "n_seeds": len(result.per_seed),
        "metrics": {**_row_metrics(first), **video[0]},
        "per_seed": per_seed,
        "seed_spread": _spread(per_seed),
    }


def _score_reference(row: ReferenceRow, cfg: StatsConfig) -> dict:
    keep = AUROC_ROWS if row.auroc_only else None
    report = frame_level(row.pred, cfg)
    values = _per_fold(report, keep)
    metrics = _row_metrics(report, keep)
    if not row.auroc_only:
        video = _video(row.pred, cfg)
        metrics.update(video)
        values.update({name: v["per_fold"] for name, v in video.items()})
    return {
        "name": row.name,
        "kind": "reference",
        "info": {"description": row.description, "auroc_only": row.auroc_only},
        "n_seeds": None,
        "metrics": metrics,
        "per_seed": [values],
        "seed_spread": None,
    }


def _compare(row: dict, baseline: dict, cfg: StatsConfig) -> dict:
    out = {}
    for name in COMPARED:
        if name in row["metrics"] and name in baseline["metrics"]:
            out[name] = paired_bootstrap(
                row["metrics"][name]["per_fold"],
                baseline["metrics"][name]["per_fold"],
                n_resamples=cfg.n_compare_bootstrap,
                seed=cfg.seed,
            )
    return out


def _sort_key(row: dict) -> float:
    value = row["metrics"].get(SORT_METRIC, {}).get("mean", float("nan"))
    return -value if not np.isnan(value) else np.inf


def leaderboard(
    models: list[ModelResult],
    cfg: StatsConfig = StatsConfig(),
    *,
    references: list[ReferenceRow] | None = None,
    baseline: str = BASELINE,
    title: str = "REST-ASMR benchmark",
    data_source: str = "unknown",
) -> dict:
    """Score every model and reference row (default: `standard_references` of the first model's test set)."""
    if not models:
        raise LeaderboardError("a leaderboard needs at least one model")
    first = models[0].per_seed[0]
    for result in models:
        for seed, pred in enumerate(result.per_seed):
            if not _same_trials(pred, first):
                raise LeaderboardError(
                    f"model {result.name!r} (seed {seed}) was tested on other trials than {models[0].name!r}; "
                    "a leaderboard compares models on the same folds"
                )
    rows = [_score_model(m, cfg) for m in models]
    refs = [_score_reference(r, cfg) for r in (standard_references(first) if references is None else references)]
    base = next((r for r in rows if r["name"] == baseline), None)
    for row in rows + refs:
        row["vs_baseline"] = None if base is None or row is base else _compare(row, base, cfg)
    rows.sort(key=_sort_key)
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return {
        "title": title,
        "data_source": data_source,
        "baseline": baseline if base is not None else None,
        "sorted_by": f"{SORT_METRIC} (4-fold mean of seed 0)",
        "n_trials": first.n_trials,
        "n_participants": int(np.unique(first.subject).size),
        "folds": np.unique(first.fold).tolist(),
        "count_padding": cfg.count_padding,
        "metrics": [*METRIC_NAMES.values(), TRIAL_COUNT, *VIDEO_METRICS.values()],
        "rows": rows + refs,
        "stats_config": to_dict(cfg),
    }


def results_rows(board: dict) -> list[dict]:
    """The long results table: one dict per (row, seed, fold, metric): name, kind, seed, fold, metric, value."""
    out = []
    for row in board["rows"]:
        for seed, values in enumerate(row["per_seed"]):
            for metric, per_fold in values.items():
                for fold, value in zip(board["folds"], per_fold):
                    out.append(
                        {
                            "name": row["name"],
                            "kind": row["kind"],
                            "seed": seed if row["kind"] == "model" else None,
                            "fold": int(fold),
                            "metric": metric,
                            "value": float(value),
                        }
                    )
    return out


# ----------------------------------------------------------------------------- Markdown


def _fmt(name: str, value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:.3f}" if name.endswith("auroc") else f"{100 * value:.1f}"


def _cell(row: dict, name: str) -> str:
    entry = row["metrics"].get(name)
    return "—" if entry is None else f"{_fmt(name, entry['mean'])} ± {_fmt(name, entry['sd'])}"


def _auroc_cell(row: dict) -> str:
    entry = row["metrics"].get(SORT_METRIC)
    if entry is None:
        return "—"
    low, high = entry.get("ci", (float("nan"), float("nan")))
    return (
        f"{_fmt(SORT_METRIC, entry['mean'])} ± {_fmt(SORT_METRIC, entry['sd'])}; pooled "
        f"{_fmt(SORT_METRIC, entry['observed'])} [{_fmt(SORT_METRIC, low)}, {_fmt(SORT_METRIC, high)}] "
        f"p {entry.get('p_report', 'n/a')}"
    )


def _within_trial_cell(row: dict) -> str:
    entry = row["metrics"].get("within_trial_auroc")
    if entry is None:
        return "—"
    pooled = _fmt("within_trial_auroc", entry["observed"])
    return f"{_cell(row, 'within_trial_auroc')}; pooled {pooled} ({entry['n_trials']} trials)"


def _video_cell(row: dict) -> str:
    values = [row["metrics"].get(name) for name in VIDEO_METRICS.values()]
    return "—" if None in values else " / ".join(_fmt("accuracy", v["observed"]) for v in values)


def _p_cell(row: dict) -> str:
    if row["vs_baseline"] is None:
        return "(baseline)" if row["kind"] == "model" else "—"
    return " / ".join(f"{row['vs_baseline'][n]['p_value']:.3f}" if n in row["vs_baseline"] else "—" for n in COMPARED)


def _spread_cell(row: dict) -> str:
    spread = row["seed_spread"]
    if not spread:
        return "—"
    return " / ".join(
        f"{_fmt(n, spread[n]['mean'])} ± {_fmt(n, spread[n]['sd'])}" for n in ("macro_f1", SORT_METRIC) if n in spread
    )


def _info_cells(row: dict) -> list[str]:
    info = row["info"]
    params = info.get("n_params")
    seconds = info.get("train_seconds")
    return [
        "—" if params is None else f"{params:,}",
        "—" if seconds is None else f"{seconds / 60:.1f} min",
    ]


def render_leaderboard(board: dict) -> str:
    """Markdown of a `leaderboard` dict: ranked models, then the reference rows, then how to read it."""
    cfg = board["stats_config"]
    header = [
        "#",
        "Row",
        "Accuracy",
        "Macro F1",
        "Nature spec.",
        "Within-ASMR macro F1",
        "Within-ASMR AUROC (fold mean ± SD; pooled [CI] p)",
        "Within-trial AUROC",
        "Video acc. stimulus / experience",
        f"p > {board['baseline'] or 'baseline'} (F1 / AUROC)",
        "Seed spread (F1 / AUROC)",
        "Params",
        "Train time",
    ]
    lines = [
        f"## {board['title']}",
        "",
        f"{board['n_trials']} test trials, {board['n_participants']} participants, folds {board['folds']}; "
        f"every model trained on the same folds in the same program. Sorted by {board['sorted_by']}. "
        "Percent except AUROC; fold mean ± SD (population SD) of seed 0.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in board["rows"]:
        label = row["name"] if row["kind"] == "model" else f"*{REFERENCE_LABELS.get(row['name'], row['name'])}*"
        cells = [
            str(row["rank"]) if row["kind"] == "model" else "ref.",
            label,
            *(_cell(row, n) for n in ("accuracy", "macro_f1", "nature_specificity", "within_asmr_macro_f1")),
            _auroc_cell(row),
            _within_trial_cell(row),
            _video_cell(row),
            _p_cell(row),
            _spread_cell(row),
            *_info_cells(row),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    references = [r for r in board["rows"] if r["kind"] == "reference"]
    lines += [
        "",
        f"Statistics: pooled within-ASMR AUROC with {cfg['n_bootstrap']} participant-level bootstrap resamples "
        f"(95 % CI) and {cfg['n_permutation']} within-ASMR sequence permutations (p); "
        f"'p > {board['baseline'] or 'baseline'}': paired bootstrap ({cfg['n_compare_bootstrap']} resamples) "
        "of the per-fold differences, shifted to mean 0, that this row beats the baseline. Within-trial AUROC: "
        "mean over the ASMR trials with both classes of the AUROC inside the trial (timing, the participant's "
        "level factored out), pooled over folds, with the number of such trials. Video level: a trial is ASMR "
        f"when >= {100 * cfg['video_threshold']:.0f} % of its frames are predicted tingle, scored against the "
        "stimulus and against the participant's reported tingle.",
        "",
        "Reference rows (not models, never ranked): "
        + "; ".join(f"*{REFERENCE_LABELS.get(r['name'], r['name'])}*: {r['info']['description']}" for r in references)
        + ".",
        "",
    ]
    return "\n".join(lines)
