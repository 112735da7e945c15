"""The paper's tables from predictions: Table 1 with baselines and video level, Table 2 (SPEC §9, §11).

`table1` / `table2` return JSON-ready dicts (fractions, not percent);
`render_table1` / `render_table2` turn them into Markdown.  Next to every
model stand the reference rows (`references.standard_references`): the
condition prior ("tingle" on every ASMR frame), which reaches almost the
same pooled numbers; the crowd (other viewers' reports of the same video),
which bounds how much of a report is stimulus-locked; and elapsed time.
Beside the pooled metrics stand the within-ASMR metrics, which the prior
cannot game, and the within-trial AUROC (`within_trial`), which asks only
*when* a participant tingles.  `paper_table1` scores the authors' published
predictions the way the paper did.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from restasmr_jax.config import StatsConfig, to_dict
from restasmr_jax.evidence.metrics import scoring_problem
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.evidence.references import CONDITION_PRIOR, ReferenceRow, standard_references
from restasmr_jax.evidence.stats import evaluate, paired_bootstrap
from restasmr_jax.evidence.video_level import video_level
from restasmr_jax.evidence.within_trial import evaluate_within_trial

TABLE1_ROWS = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "nature_specificity")
WITHIN_ASMR_ROWS = ("asmr_accuracy", "asmr_macro_f1", "asmr_auroc", "within_trial_auroc")
AUROC_ROWS = ("asmr_auroc", "within_trial_auroc")  # what a score without classes (elapsed time) has
LABELS = {
    "accuracy": "Accuracy",
    "macro_f1": "Macro F1",
    "macro_precision": "Macro precision",
    "macro_recall": "Macro recall",
    "nature_specificity": "Nature specificity",
    "asmr_accuracy": "Within-ASMR accuracy",
    "asmr_macro_f1": "Within-ASMR macro F1",
    "asmr_auroc": "Within-ASMR AUROC",
    "within_trial_auroc": "Within-trial AUROC",
}
REFERENCE_LABELS = {
    CONDITION_PRIOR: "condition prior",
    "crowd": "crowd (other viewers, test labels)",
    "elapsed_time": "elapsed time",
    "stimulus_oracle": "stimulus-only oracle (synthetic truth)",
    "participant_oracle": "participant oracle (synthetic truth)",
}
# What the paper's Table 1 prints (percent), for side-by-side comparison only.
PAPER_TABLE1 = {
    "accuracy": "75.51 ± 5.63 [69.8, 80.7] d=5.65",
    "macro_f1": "71.86 ± 8.86 [65.0, 79.5] d=5.65",
    "macro_precision": "73.09 ± 8.42 [66.9, 79.3] d=5.65",
    "macro_recall": "81.45 ± 6.34 [79.2, 85.5] d=5.65",
    "nature_specificity": "100.0 ± 0.0 [100.0, 100.0] d=5.34",
}
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
    """Frame metrics of `pred`: per fold, mean ± SD, pooled, bootstrap CI, permutation p, Cohen's d.

    The within-trial AUROC comes with the same resamples (`within_trial`) and its trial counts.
    """
    mask = pred.scoring_mask(cfg.count_padding)
    problem = scoring_problem(pred.truths, pred.preds, mask, pred.is_nature, pred.probs)
    result = evaluate(problem, pred.subject, pred.fold, cfg, key, resample=resample)
    result["metrics"]["within_trial_auroc"] = evaluate_within_trial(pred, cfg, key, resample=resample)
    return result


def reference_report(row: ReferenceRow, cfg: StatsConfig = StatsConfig(), *, resample: bool = True) -> dict:
    """A reference row scored like a model; a row without classes keeps its AUROC metrics only."""
    report = frame_level(row.pred, cfg, resample=resample)
    if row.auroc_only:
        report["metrics"] = {name: report["metrics"][name] for name in AUROC_ROWS}
        report.pop("confusion_matrix", None)
    return {"description": row.description, "auroc_only": row.auroc_only, "frame_level": report}


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
    references: list[ReferenceRow] | None = None,
) -> dict:
    """Table 1 of one model, with the condition-prior baseline, the reference rows and the video-level results.

    `references`: the rows beside the model (default `standard_references(pred)`; the condition prior is
    always scored in full, with its video level, under "condition_prior").
    """
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
        "references": {
            row.name: reference_report(row, stats_cfg, resample=resample)
            for row in (standard_references(pred) if references is None else references)
            if row.name != CONDITION_PRIOR  # scored in full above, with its video level
        },
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


def _pooled(name: str, entry: dict) -> str:
    value = _value(name, entry["observed"])
    return f"{value} ({entry['n_trials']} trials)" if "n_trials" in entry else value


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
            _pooled(name, m),
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
        "Within ASMR trials (the condition prior cannot game these; within-trial AUROC: the mean over ASMR "
        "trials with both classes of the AUROC inside the trial, i.e. timing with the participant's level "
        "factored out):",
        "",
        *head,
        *_metric_rows(WITHIN_ASMR_ROWS, model, prior, paper and {}),
        "",
        render_reference_rows(table),
        render_video_level(table),
    ]
    return "\n".join(lines)


def render_reference_rows(table: dict) -> str:
    """Markdown of the AUROC columns of the model beside every reference row of a `table1` dict."""
    rows = {
        "model": (table["model"]["frame_level"], "this table's model"),
        REFERENCE_LABELS[CONDITION_PRIOR]: (table["condition_prior"]["frame_level"], "'tingle' on every ASMR frame"),
    }
    for name, ref in table.get("references", {}).items():
        rows[REFERENCE_LABELS.get(name, name)] = (ref["frame_level"], ref["description"])
    lines = [
        "## Reference rows (not models)",
        "",
        "| Row | Within-ASMR AUROC (pooled) [CI] | Within-trial AUROC (pooled) [CI] | Within-trial fold mean ± SD "
        "| What it is |",
        "|---|---|---|---|---|",
    ]
    for label, (report, what) in rows.items():
        pooled, within = report["metrics"]["asmr_auroc"], report["metrics"]["within_trial_auroc"]
        lines.append(
            f"| {label} | {_value('asmr_auroc', pooled['observed'])} {_ci('asmr_auroc', pooled)} "
            f"| {_pooled('within_trial_auroc', within)} {_ci('within_trial_auroc', within)} "
            f"| {_mean_sd('within_trial_auroc', within)} | {what} |"
        )
    crowd = table.get("references", {}).get("crowd")
    if crowd is not None:
        mine = table["model"]["frame_level"]["metrics"]["within_trial_auroc"]["observed"]
        theirs = crowd["frame_level"]["metrics"]["within_trial_auroc"]["observed"]
        if not (np.isnan(mine) or np.isnan(theirs)):
            verdict = "better" if mine > theirs else "no better"
            lines += [
                "",
                f"Reading: within trials the model's AUROC is {mine:.3f} against the crowd's {theirs:.3f}, so it "
                f"tracks *when* a participant tingles {verdict} than the other viewers' reports of the same video do.",
            ]
    return "\n".join(lines + [""]) + "\n"


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
    references: list[ReferenceRow] | None = None,
) -> dict:
    """Several models side by side, beside the reference rows of the reference model's test set (SPEC §9, §9.1);
    paired bootstrap and t-test of `reference` vs each model and each reference with classes, on per-fold macro F1.

    `references`: the reference rows (default `standard_references` of `models[reference]`).
    """
    if reference not in models:
        raise ValueError(f"reference model {reference!r} not among {sorted(models)}")
    rows = standard_references(models[reference]) if references is None else references
    reports = {name: frame_level(pred, stats_cfg, resample=False) for name, pred in models.items()}
    refs = {row.name: reference_report(row, stats_cfg, resample=False) for row in rows}
    ref = reports[reference]
    comparisons = {}
    scored = {**reports, **{name: r["frame_level"] for name, r in refs.items() if not r["auroc_only"]}}
    for name, report in scored.items():
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
    return {
        "reference": reference,
        "models": reports,
        "references": refs,
        "comparisons": comparisons,
        "stats_config": to_dict(stats_cfg),
    }


def render_table2(table: dict) -> str:
    columns = {name: report for name, report in table["models"].items()}
    columns.update(
        {f"{REFERENCE_LABELS.get(n, n)} (ref. row)": r["frame_level"] for n, r in table.get("references", {}).items()}
    )
    keys = list(table["models"]) + list(table.get("references", {}))
    lines = [
        "## Table 2 — models compared (fold mean ± SD)",
        "",
        "| Metric | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for metric in TABLE1_ROWS + WITHIN_ASMR_ROWS:
        cells = [_mean_sd(metric, c["metrics"][metric]) if metric in c["metrics"] else "—" for c in columns.values()]
        lines.append(f"| {LABELS[metric]} | " + " | ".join(cells) + " |")
    for label, field, fmt in (
        ("Paired bootstrap p (macro F1)", "p_value", "{:.4f}"),
        ("One-sided paired t-test p", "t_p_value", "{:.4f}"),
    ):
        cells = [
            "(ref)"
            if n == table["reference"]
            else fmt.format(table["comparisons"][n][field])
            if n in table["comparisons"]
            else "—"
            for n in keys
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    n = table["stats_config"]["n_compare_bootstrap"]
    lines += [
        "",
        f"Paired bootstrap: {n} resamples of the per-fold macro-F1 differences vs "
        f"{table['reference']}, shifted to mean 0.  Reference rows are not models: "
        + "; ".join(f"{REFERENCE_LABELS.get(k, k)}: {r['description']}" for k, r in table.get("references", {}).items())
        + ".",
        "",
    ]
    return "\n".join(lines)


def paper_table1(pred: Predictions, stats_cfg: StatsConfig = StatsConfig()) -> dict:
    """Table 1 of the authors' published predictions, scored on all 550 frames (the artifact has no mask)."""
    stats_cfg = dataclasses.replace(stats_cfg, count_padding=True)
    title = "Full multimodal fusion (authors' published predictions)"
    return table1(pred, stats_cfg, title=title, frames_note=ARTIFACT_FRAMES_NOTE)
