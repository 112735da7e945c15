"""The paper's tables from predictions: Table 1 with baselines and video level, Table 2 (SPEC §9, §11).

`table1` / `table2` return JSON-ready dicts (fractions, not percent);
`render_table1` / `render_table2` turn them into Markdown.  Next to every
model row stands the condition-prior baseline ("tingle" on every ASMR
frame), which reaches almost the same pooled numbers, and the within-ASMR
metrics, which that prior cannot game.  `paper_table1` scores the authors'
published predictions the way the paper did.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from restasmr_jax.config import StatsConfig, to_dict
from restasmr_jax.evidence.metrics import scoring_problem
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.evidence.stats import evaluate, paired_bootstrap
from restasmr_jax.evidence.video_level import video_level

TABLE1_ROWS = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "nature_specificity")
WITHIN_ASMR_ROWS = ("asmr_accuracy", "asmr_macro_f1", "asmr_auroc")
LABELS = {
    "accuracy": "Accuracy",
    "macro_f1": "Macro F1",
    "macro_precision": "Macro precision",
    "macro_recall": "Macro recall",
    "nature_specificity": "Nature specificity",
    "asmr_accuracy": "Within-ASMR accuracy",
    "asmr_macro_f1": "Within-ASMR macro F1",
    "asmr_auroc": "Within-ASMR AUROC",
}
# What the paper's Table 1 prints (percent), for side-by-side comparison only.
PAPER_TABLE1 = {
    "accuracy": "75.51 ± 5.63 [69.8, 80.7] d=5.65",
    "macro_f1": "71.86 ± 8.86 [65.0, 79.5] d=5.65",
    "macro_precision": "73.09 ± 8.42 [66.9, 79.3] d=5.65",
    "macro_recall": "81.45 ± 6.34 [79.2, 85.5] d=5.65",
    "nature_specificity": "100.0 ± 0.0 [100.0, 100.0] d=5.34",
}
CONDITION_PRIOR = "condition prior"  # Table 2 column: "tingle" on every ASMR frame
ARTIFACT_FRAMES_NOTE = (
    "all 550 frames of every trial (the paper's convention): the artifact does not record "
    "which video each participant saw first, so the 43 zero-padded frames of the first "
    "trial (507 valid frames) cannot be masked"
)


def frame_level(
    pred: Predictions,
    cfg: StatsConfig = StatsConfig(),
    *,
    resample: bool = True,
    key=None,
) -> dict:
    """Frame metrics of `pred`: per fold, mean ± SD, pooled, bootstrap CI, permutation p, Cohen's d."""
    mask = pred.scoring_mask(cfg.count_padding)
    problem = scoring_problem(pred.truths, pred.preds, mask, pred.is_nature, pred.probs)
    return evaluate(problem, pred.subject, pred.fold, cfg, key, resample=resample)


def model_report(pred: Predictions, cfg: StatsConfig = StatsConfig(), *, resample: bool = True) -> dict:
    return {
        "frame_level": frame_level(pred, cfg, resample=resample),
        "video_level": video_level(pred, cfg, resample=resample),
    }


def table1(
    pred: Predictions,
    stats_cfg: StatsConfig = StatsConfig(),
    *,
    title: str = "Full multimodal fusion",
    frames_note: str | None = None,
    resample: bool = True,
) -> dict:
    """Table 1 of one model, with the condition-prior baseline and the video-level results."""
    count_padding = stats_cfg.count_padding
    if frames_note is None:
        frames_note = (
            (f"all {pred.truths.shape[1]} frames of every trial (count_padding=True, the paper's convention)")
            if count_padding
            else "valid frames only (the mask)"
        )
    return {
        "title": title,
        "frames_scored": frames_note,
        "count_padding": count_padding,
        "n_trials": pred.n_trials,
        "n_participants": int(np.unique(pred.subject).size),
        "n_frames": int(pred.truths.shape[1]),
        "video_min_frames": stats_cfg.video_min_frames(int(pred.truths.shape[1])),
        "folds": np.unique(pred.fold).tolist(),
        "model": model_report(pred, stats_cfg, resample=resample),
        "condition_prior": model_report(pred.condition_prior(), stats_cfg, resample=resample),
        "stats_config": to_dict(stats_cfg),
    }


def _pct(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{100 * value:.{digits}f}"


def _value(name: str, value: float) -> str:
    """AUROC as a probability, everything else in percent."""
    if value is None or np.isnan(value):
        return "n/a"
    return f"{value:.3f}" if name.endswith("auroc") else _pct(value)


def _mean_sd(name: str, entry: dict) -> str:
    return f"{_value(name, entry['mean'])} ± {_value(name, entry['sd'])}"


def _ci(name: str, entry: dict) -> str:
    if "ci" not in entry:
        return "—"
    low, high = entry["ci"]
    scale = (lambda v: f"{v:.3f}") if name.endswith("auroc") else (lambda v: f"{100 * v:.1f}")
    return "n/a" if np.isnan(low) else f"[{scale(low)}, {scale(high)}]"


def _d(entry: dict) -> str:
    d = entry.get("cohens_d", float("nan"))
    return "n/a" if np.isnan(d) else f"{d:.2f}"


def _metric_rows(rows, model: dict, prior: dict, paper: dict | None) -> list[str]:
    lines = []
    for name in rows:
        m, b = model["metrics"][name], prior["metrics"][name]
        per_fold = ", ".join(_value(name, v) for v in m["per_fold"])
        cells = [
            LABELS[name],
            _mean_sd(name, m),
            per_fold,
            _value(name, m["observed"]),
            _ci(name, m),
            m.get("p_report", "—"),
            "—" if "p_corrected" not in m else f"{m['p_corrected']:.4g}",
            _d(m),
            _mean_sd(name, b),
            _value(name, b["observed"]),
        ]
        if paper is not None:
            cells.append(paper.get(name, ""))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _video_lines(table: dict) -> list[str]:
    lines = [
        "| Truth | Accuracy (pooled) | Fold mean ± SD | Macro F1 | 95 % CI accuracy | p | Within-ASMR accuracy "
        "| ASMR truth rate | Confusion [[TN, FP], [FN, TP]] | Condition prior accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for truth, result in table["model"]["video_level"].items():
        m = result["metrics"]
        prior = table["condition_prior"]["video_level"][truth]["metrics"]
        (tn, fp), (fn, tp) = result["confusion_matrix"]
        lines.append(
            f"| {truth}: {result['truth']} "
            f"| {_pct(m['accuracy']['observed'])} ({tn + tp}/{result['n_trials']}) "
            f"| {_mean_sd('accuracy', m['accuracy'])} | {_pct(m['macro_f1']['observed'])} "
            f"| {_ci('accuracy', m['accuracy'])} | {m['accuracy'].get('p_report', '—')} "
            f"| {_pct(m['asmr_accuracy']['observed'])} (p {m['asmr_accuracy'].get('p_report', '—')}) "
            f"| {_pct(result['asmr_truth_rate'])} | [[{tn}, {fp}], [{fn}, {tp}]] "
            f"| {_pct(prior['accuracy']['observed'])} |"
        )
    return lines


def render_table1(table: dict, *, paper: dict | None = None) -> str:
    """Markdown of a `table1` dict; `paper` adds a column of the paper's printed values."""
    model, prior = table["model"]["frame_level"], table["condition_prior"]["frame_level"]
    cfg = table["stats_config"]
    header = [
        "Metric",
        f"{len(table['folds'])}-fold mean ± SD",
        "Per fold",
        "Pooled",
        f"{100 * cfg['ci_level']:.0f} % CI (bootstrap)",
        "p (permutation)",
        "p (+1)",
        "Cohen's d",
        "Condition prior mean ± SD",
        "Condition prior pooled",
    ] + (["Paper"] if paper is not None else [])
    head = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines = [
        f"## Table 1 — {table['title']}",
        "",
        f"{table['n_trials']} test trials, {table['n_participants']} participants, folds {table['folds']}. "
        f"Frames scored: {table['frames_scored']}.",
        f"Percent except AUROC. CIs: {cfg['n_bootstrap']} participant-level bootstrap resamples of the pooled "
        f"metric; p and d: {cfg['n_permutation']} sequence-level permutations (within-ASMR rows: permutations "
        f"among ASMR trials); seed {cfg['seed']}.",
        "",
        *head,
        *_metric_rows(TABLE1_ROWS, model, prior, paper),
        "",
        "Within ASMR trials (the condition prior cannot game these):",
        "",
        *head,
        *_metric_rows(WITHIN_ASMR_ROWS, model, prior, paper and {}),
        "",
        render_video_level(table),
    ]
    return "\n".join(lines)


def render_video_level(table: dict) -> str:
    """Markdown of the video-level section of a `table1` dict (both truths, beside the condition prior)."""
    threshold = table["stats_config"]["video_threshold"]
    return "\n".join(
        [
            "## Video-level classification",
            "",
            f'A trial is "ASMR" when >= {100 * threshold:.0f} % of its scored frames '
            f"(int({threshold} x {table['n_frames']}) = {table['video_min_frames']} for a full trial) "
            "are predicted tingle.",
            "",
            *_video_lines(table),
            "",
        ]
    )


def table2(
    models: dict[str, Predictions],
    stats_cfg: StatsConfig = StatsConfig(),
    *,
    reference: str = "fusion",
) -> dict:
    """Several models side by side, plus the condition prior of the reference's test set (SPEC §9);
    paired bootstrap and t-test of `reference` vs each on per-fold macro F1."""
    if reference not in models:
        raise ValueError(f"reference model {reference!r} not among {sorted(models)}")
    models = {**models, CONDITION_PRIOR: models[reference].condition_prior()}
    reports = {name: frame_level(pred, stats_cfg, resample=False) for name, pred in models.items()}
    ref = reports[reference]
    comparisons = {}
    for name, report in reports.items():
        if name == reference:
            continue
        if report["folds"] != ref["folds"]:
            raise ValueError(f"model {name!r} has folds {report['folds']}, {reference!r} has {ref['folds']}")
        comparisons[name] = paired_bootstrap(
            ref["metrics"]["macro_f1"]["per_fold"],
            report["metrics"]["macro_f1"]["per_fold"],
            n_resamples=stats_cfg.n_compare_bootstrap,
            seed=stats_cfg.seed,
        )
    return {"reference": reference, "models": reports, "comparisons": comparisons, "stats_config": to_dict(stats_cfg)}


def render_table2(table: dict) -> str:
    names = list(table["models"])
    lines = [
        "## Table 2 — models compared (fold mean ± SD)",
        "",
        "| Metric | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for metric in TABLE1_ROWS + WITHIN_ASMR_ROWS:
        cells = [_mean_sd(metric, table["models"][n]["metrics"][metric]) for n in names]
        lines.append(f"| {LABELS[metric]} | " + " | ".join(cells) + " |")
    for label, field, fmt in (
        ("Paired bootstrap p (macro F1)", "p_value", "{:.4f}"),
        ("One-sided paired t-test p", "t_p_value", "{:.4f}"),
    ):
        cells = ["(ref)" if n == table["reference"] else fmt.format(table["comparisons"][n][field]) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    n = table["stats_config"]["n_compare_bootstrap"]
    lines += [
        "",
        f"Paired bootstrap: {n} resamples of the per-fold macro-F1 differences vs "
        f"{table['reference']}, shifted to mean 0.",
        "",
    ]
    return "\n".join(lines)


def paper_table1(pred: Predictions, stats_cfg: StatsConfig = StatsConfig()) -> dict:
    """Table 1 of the authors' published predictions, scored on all 550 frames (the artifact has no mask)."""
    stats_cfg = dataclasses.replace(stats_cfg, count_padding=True)
    title = "Full multimodal fusion (authors' published predictions)"
    return table1(pred, stats_cfg, title=title, frames_note=ARTIFACT_FRAMES_NOTE)
