"""The technical-validation report: Markdown + JSON + CSV + figures in a run folder (SPEC §10).

`write_report` draws the figures and writes `validation.md`,
`validation.json`, `pulse_rate_windows.csv`, `pulse_rate_correlations.csv`
and `figures/*.png|svg` for a `ValidationResult` (the job that resolves the
archive and writes the manifest is `runs.archive_jobs.validation`).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import polars as pl

from restasmr_jax import storage
from restasmr_jax.config import STIMULUS_FILES, ProtocolConfig, ValidationConfig
from restasmr_jax.evidence import figures as plots
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.validation.analysis import ValidationResult

FIGURES = {
    "protocol": "fig1_protocol_timeline",
    "timecourse": "fig3_rating_timecourse",
    "pulse_rate": "fig4_pulse_rate_correlation",
    "tinglegram": "fig6_tinglegram",
}


def draw_figures(
    result: ValidationResult,
    predictions: Predictions | None,
    cfg: ValidationConfig,
    protocol: ProtocolConfig,
    tinglegram_subject: int | None = None,
) -> dict:
    """Figure objects by key of FIGURES (only those the data allow)."""
    figs = {}
    layout = result.protocol_layout
    if layout:
        names = list(layout)
        n_vid = min(len(layout[n]["videos"]) for n in names)
        figs["protocol"] = plots.protocol_timeline(
            np.stack([layout[n]["onsets_s"][:n_vid] for n in names]),
            np.stack([layout[n]["durations_s"][:n_vid] for n in names]),
            np.stack([layout[n]["videos"][:n_vid] for n in names]),
            [layout[n]["session_seconds"] for n in names],
            [f"{n}\nparticipant {layout[n]['subject']}" for n in names],
            protocol.warmup_seconds,
        )
    if result.timecourses:
        vids = list(result.timecourses)
        courses = [result.timecourses[v] for v in vids]
        titles = [f"Video {v.removeprefix('vid')} ({STIMULUS_FILES[v].removesuffix('.avi')})" for v in vids]
        isa = [result.agreement.get(v, {}) for v in vids]
        notes = [f"LOO-ISA r = {a['mean_r']:.2f} {a['stars']}" if a.get("mean_r") is not None else "" for a in isa]
        figs["timecourse"] = plots.rating_timecourse(
            [c["time"] for c in courses],
            [c["mean"] for c in courses],
            [c["sem"] for c in courses],
            titles,
            [c["n"] for c in courses],
            protocol.max_rating,
            notes,
        )
    corr = result.correlations.filter(pl.col("r").is_not_null())
    if corr.height:
        a, n = (corr.filter(pl.col("condition") == c) for c in ("ASMR", "Nature"))
        test = result.paired_test
        figs["pulse_rate"] = plots.pr_correlation_boxplot(
            a["subject"].to_numpy(),
            a["r"].to_numpy(),
            n["subject"].to_numpy(),
            n["r"].to_numpy(),
            test["t"],
            test["p"],
            test["n_paired"],
        )
    if predictions is not None:
        wanted = cfg.tinglegram_subject if tinglegram_subject is None else tinglegram_subject
        drawn = plots.pick_tinglegram_subject(predictions, wanted)
        if drawn != wanted:
            result.notes.append(
                f"Fig. 6: participant {wanted} has no ASMR and Nature test trial in the predictions; "
                f"drew participant {drawn} (best agreement of P(tingle) with the reported tingle)"
            )
        figs["tinglegram"] = plots.tinglegram(predictions, drawn, cfg)
    return figs


def _fmt(value, digits: int = 3, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}{' %' if pct else ''}"


def _fmt_p(p: float | None, floor: float | None = None) -> str:
    if p is None:
        return "n/a"
    if p == 0 and floor:
        return f"< {floor:g}"
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def render_markdown(
    result: ValidationResult, *, source: str, figures: dict[str, list[Path]], cfg: ValidationConfig
) -> str:
    b, lines = result.behaviour, []
    add = lines.append
    add(f"# Technical validation ({source} data)\n")
    if source == "synthetic":
        add("All numbers below come from the **synthetic** stand-in archive, not from the REST-ASMR recordings.\n")
    add("## Behavioural efficacy\n")
    add("| Condition | Responders | % of participants | Non-responders |\n|---|---|---|---|")
    for cond, row in b["participants"].items():
        add(
            f"| {cond} | {row['n_responders']} / {row['n_participants']} | {_fmt(row['percent'], 2, True)} | "
            f"{', '.join(map(str, row['non_responders'])) or '—'} |"
        )
    add("\n| Video | Stimulus | Condition | Responders | % |\n|---|---|---|---|---|")
    for video, row in b["per_video"].items():
        add(
            f"| {video} | {STIMULUS_FILES[video]} | {row['condition']} | {row['n_responders']} / "
            f"{row['n_participants']} | {_fmt(row['percent'], 2, True)} |"
        )
    add("\nDuration of rating > 0 per responding trial (mean ± SD, population SD):\n")
    for cond, row in b["durations"].items():
        add(f"- {cond}: {_fmt(row['mean_seconds'], 2)} ± {_fmt(row['sd_seconds'], 2)} s over {row['n_trials']} trials")

    add("\n## Leave-one-out inter-subject agreement\n")
    add(
        "| Video | Stimulus | Used / participants | Mean r | 95 % CI | p (one-sided) | |\n|---|---|---|---|---|---|---|"
    )
    for video, row in result.agreement.items():
        ci = f"[{row['ci'][0]:.3f}, {row['ci'][1]:.3f}]" if row["ci"] else "n/a"
        add(
            f"| {video} | {STIMULUS_FILES[video]} | {row['n_used']} / {row['n_participants']} | "
            f"{_fmt(row['mean_r'])} | {ci} | {_fmt_p(row['p'], row['p_floor'])} | {row['stars']} |"
        )
    skipped = {v: r["skipped_constant"] for v, r in result.agreement.items() if r["skipped_constant"]}
    if skipped:
        add(
            "\nSkipped (constant own or leave-one-out mean series): "
            + "; ".join(f"{v}: {', '.join(map(str, s))}" for v, s in skipped.items())
        )

    overall = result.integrity["overall"]
    add("\n## PPG integrity\n")
    add(
        f"Continuity over the valid epochs of all trials: **{_fmt(_pct(overall['integrity']), 3, True)}** "
        f"({overall['lost_samples']:,} of {overall['total_samples']:,} samples lost; by kind: "
        + ", ".join(f"{k} {v:,}" for k, v in overall["lost_by_kind"].items())
        + ").\n"
    )
    add(
        f"Lost = inside a run of at least {cfg.integrity_min_run_seconds} s where |first derivative| <= "
        f"{cfg.integrity_flat_rel_tol:g} x the recording's median |derivative| (CH{cfg.integrity_channel + 1}); "
        f"disconnect = entered with a step > "
        f"{cfg.integrity_jump_rel:g} x median, clipping = other run at the recording's max/min, flatline = the rest.\n"
    )
    add(
        "| Participant | Samples | Lost | Integrity | Clipping | Disconnect | Flatline |\n|---|---|---|---|---|---|---|"
    )
    for subject, row in sorted(result.integrity["per_participant"].items()):
        k = row["lost_by_kind"]
        add(
            f"| {subject} | {row['total_samples']:,} | {row['lost_samples']:,} "
            f"| {_fmt(_pct(row['integrity']), 3, True)} "
            f"| {k['clipping']:,} | {k['disconnect']:,} | {k['flatline']:,} |"
        )

    test, windows = result.paired_test, result.windows
    add("\n## Pulse rate vs rating\n")
    add(
        f"{cfg.pr_window_seconds:g}-s windows every {cfg.pr_step_seconds:g} s inside each valid epoch; "
        f"CH{cfg.pr_channel + 1}, Butterworth order {cfg.pr_filter_order} band-pass {cfg.pr_band_hz[0]:g}–"
        f"{cfg.pr_band_hz[1]:g} Hz (zero-phase); peaks >= {cfg.pr_min_peak_distance_seconds:g} s apart, "
        f"prominence {cfg.pr_peak_prominence:g} ({'SD units' if cfg.pr_normalise_windows else 'mV'}); "
        f"intervals in ({cfg.pr_interval_ms[0]:g}, {cfg.pr_interval_ms[1]:g}) ms, >= {cfg.pr_min_intervals} needed.\n"
    )
    counts = dict(windows.group_by("status").len().iter_rows()) if windows.height else {}
    add(
        f"Windows: {windows.height:,} in all; "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
        + (
            f"; beats found per window {windows['n_peaks'].mean():.2f} on average, intervals rejected "
            f"{windows['n_rejected'].sum():,}"
            if windows.height
            else ""
        )
        + ".\n"
    )
    add("| Condition | Mean r (paired participants) | tanh(mean z) |\n|---|---|---|")
    for cond in ("ASMR", "Nature"):
        add(f"| {cond} | {_fmt(test['mean_r'][cond], 4)} | {_fmt(test['mean_r_from_z'][cond], 4)} |")
    if test["p"] is not None:
        add(
            f"\nPaired t-test on Fisher z (ASMR − Nature): t({test['df']}) = {test['t']:.3f}, p = {_fmt_p(test['p'])}, "
            f"n = {test['n_paired']} participants."
        )
    else:
        add(f"\nPaired t-test: not computed ({test['n_paired']} paired participants).")
    if test["excluded"]:
        add("\nExcluded from the paired test:\n")
        for row in test["excluded"]:
            add(f"- participant {row['subject']}: " + "; ".join(f"{c}: {why}" for c, why in row["missing"].items()))
    add(
        "\nPer-window pulse rates with beats found/rejected: `pulse_rate_windows.csv`; "
        "per-participant r: `pulse_rate_correlations.csv`."
    )

    add("\n## Figures\n")
    for key, paths in figures.items():
        add(f"- {FIGURES[key]}: " + ", ".join(p.name for p in paths))
    if "tinglegram" not in figures:
        add("- fig6_tinglegram: not drawn (no predictions given; pass `--predictions PATH`)")
    if result.notes:
        add("\n## Notes\n")
        lines.extend(f"- {note}" for note in result.notes)
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def result_json(result: ValidationResult, *, source: str, figures: dict[str, list[Path]]) -> dict:
    windows = result.windows
    by_status = dict(windows.group_by("status").len().sort("status").iter_rows()) if windows.height else {}
    return {
        "data_source": source,
        "behaviour": result.behaviour,
        "agreement": {v: {**r, "r": {str(k): x for k, x in r["r"].items()}} for v, r in result.agreement.items()},
        "integrity": {
            "overall": result.integrity["overall"],
            "per_participant": {str(k): v for k, v in result.integrity["per_participant"].items()},
        },
        "pulse_rate": {
            "paired_test": result.paired_test,
            "correlations": result.correlations.to_dicts(),
            "windows": {
                "total": windows.height,
                "by_status": by_status,
                "peaks_found": int(windows["n_peaks"].sum()) if windows.height else 0,
                "intervals_rejected": int(windows["n_rejected"].sum()) if windows.height else 0,
            },
        },
        "timecourses": {
            v: {"n_responders": c["n"], "mean": c["mean"], "sem": c["sem"]} for v, c in result.timecourses.items()
        },
        "figures": {FIGURES[k]: [p.name for p in paths] for k, paths in figures.items()},
        "notes": result.notes,
    }


def write_report(
    result: ValidationResult,
    run_dir: Path,
    *,
    source: str,
    predictions: Predictions | None = None,
    cfg: ValidationConfig = ValidationConfig(),
    protocol: ProtocolConfig = ProtocolConfig(),
    tinglegram_subject: int | None = None,
) -> str:
    """Write every output of a validation run into `run_dir`; returns the Markdown."""
    run_dir = Path(run_dir)
    result = dataclasses.replace(result, notes=list(result.notes))  # figure notes stay in this report
    figures = {
        key: plots.save_figure(fig, run_dir / "figures" / FIGURES[key])
        for key, fig in draw_figures(result, predictions, cfg, protocol, tinglegram_subject).items()
    }
    with storage.atomic_path(run_dir / "pulse_rate_windows.csv") as tmp:
        result.windows.write_csv(tmp)
    with storage.atomic_path(run_dir / "pulse_rate_correlations.csv") as tmp:
        result.correlations.write_csv(tmp)
    markdown = render_markdown(result, source=source, figures=figures, cfg=cfg)
    storage.atomic_write_text(run_dir / "validation.md", markdown)
    storage.write_json(run_dir / "validation.json", result_json(result, source=source, figures=figures))
    return markdown
