"""The paper's figures as pure functions: arrays in, `matplotlib.figure.Figure` out (SPEC §10).

Fig. 1 protocol timeline, Fig. 3 group rating time course, Fig. 4 r(PR,
rating) by condition, Fig. 6 tinglegram, and the benchmark's forest plot
of within-ASMR AUROC (SPEC §9.1).  Figures are built on
`matplotlib.figure.Figure` with an explicit Agg canvas, never through
pyplot and without `matplotlib.use`, so no global figure registry, backend
or rcParams change leaks out of a call.
`save_figure` writes PNG and SVG atomically and byte-reproducibly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy.ndimage import gaussian_filter1d

from restasmr_jax import storage
from restasmr_jax.config import STIMULUS_FILES, ValidationConfig
from restasmr_jax.evidence.predictions import Predictions

COLORS = {
    "ASMR": "#3b6fb6",
    "Nature": "#4a9a5b",
    "rest": "#d9d9d9",
    "threshold": "#c0392b",
    "prob_asmr": "#1f4fd1",
    "prob_nature": "#e67e22",
    "reported": "#bdbdbd",
}
FONT = {"title": 13, "label": 11, "tick": 10, "note": 9}
PNG_DPI = 150


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=FONT["tick"])


def _condition(video: str) -> str:
    return "ASMR" if STIMULUS_FILES[video].startswith("ASMR") else "Nature"


def protocol_timeline(
    onsets_s: np.ndarray,
    durations_s: np.ndarray,
    videos: np.ndarray,
    session_seconds: Sequence[float],
    names: Sequence[str],
    warmup_seconds: float = 5.0,
) -> Figure:
    """Fig. 1: one row per sequence; videos coloured by condition, rests labelled with their length.

    `onsets_s [sequence, video]` seconds from session start, `durations_s
    [sequence, video]`, `videos [sequence, video]` codes vid1..vid8,
    `session_seconds [sequence]` end of the recording.
    """
    n_seq = len(names)
    fig = _figure(11.0, 1.2 + 1.35 * n_seq)
    ax = fig.add_subplot()
    for row in range(n_seq):
        y = n_seq - 1 - row
        order = np.argsort(onsets_s[row])
        on, dur, vids = onsets_s[row][order], durations_s[row][order], np.asarray(videos[row])[order]
        ends = on + dur
        gaps = list(zip(np.concatenate([[0.0], ends]), np.concatenate([on, [session_seconds[row]]])))
        for i, (g0, g1) in enumerate(gaps):
            if g1 - g0 <= 0:
                continue
            ax.barh(y, g1 - g0, left=g0, height=0.55, color=COLORS["rest"], edgecolor="white")
            if g1 - g0 >= 15.0:  # short inter-video gaps stay unlabelled
                name = "Baseline\nrest" if i == 0 else "Final\nrest" if i == len(gaps) - 1 else "Washout\nrest"
                ax.text(
                    (g0 + g1) / 2,
                    y,
                    f"{name}\n{g1 - g0:.0f} s",
                    ha="center",
                    va="center",
                    fontsize=FONT["note"],
                    color="#444444",
                )
        for start, length, vid in zip(on, dur, vids):
            cond = _condition(str(vid))
            ax.barh(y, length, left=start, height=0.55, color=COLORS[cond], edgecolor="white", linewidth=1.5)
            ax.barh(
                y,
                min(warmup_seconds, length),
                left=start,
                height=0.55,
                color="white",
                alpha=0.45,
                hatch="///",
                edgecolor=COLORS[cond],
                linewidth=0,
            )
            ax.text(
                start + length / 2,
                y,
                STIMULUS_FILES[str(vid)].removesuffix(".avi"),
                ha="center",
                va="center",
                fontsize=FONT["note"],
                color="white",
                fontweight="bold",
                rotation=90,
            )
        for cond in ("ASMR", "Nature"):
            block = [(s, e) for s, e, v in zip(on, ends, vids) if _condition(str(v)) == cond]
            if block:
                b0, b1 = min(s for s, _ in block), max(e for _, e in block)
                ax.annotate(
                    "",
                    xy=(b0, y + 0.36),
                    xytext=(b1, y + 0.36),
                    arrowprops={"arrowstyle": "<->", "color": COLORS[cond], "lw": 1.2},
                )
                ax.text(
                    (b0 + b1) / 2,
                    y + 0.42,
                    f"{cond} block ({b1 - b0:.0f} s)",
                    ha="center",
                    va="bottom",
                    fontsize=FONT["note"],
                    color=COLORS[cond],
                    fontweight="bold",
                )
    ax.set_yticks(range(n_seq), list(reversed(names)), fontsize=FONT["label"])
    ax.set_ylim(-0.5, n_seq - 0.1)
    xmax = float(max(session_seconds))
    ticks = np.arange(0, xmax + 1, 60)
    ax.set_xticks(ticks, [f"{t / 60:.0f}" for t in ticks])
    ax.set_xlim(0, xmax)
    ax.set_xlabel("Session time (min)", fontsize=FONT["label"])
    ax.set_title("Protocol timeline: counterbalanced block design", fontsize=FONT["title"], fontweight="bold")
    _style(ax)
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    handles = [
        Patch(color=COLORS["ASMR"], label="ASMR video"),
        Patch(color=COLORS["Nature"], label="Nature video"),
        Patch(
            facecolor="white", edgecolor="#666666", hatch="///", label=f"{warmup_seconds:.0f}-s warm-up (not analysed)"
        ),
        Patch(color=COLORS["rest"], label="Rest (blank screen)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=FONT["note"], frameon=False)
    return fig


def rating_timecourse(
    times: Sequence[np.ndarray],
    means: Sequence[np.ndarray],
    sems: Sequence[np.ndarray],
    titles: Sequence[str],
    n_responders: Sequence[int],
    max_rating: int = 3,
    notes: Sequence[str] | None = None,
) -> Figure:
    """Fig. 3: group mean rating +- SEM over time, one panel per video (responders only).

    `notes [panel]`: optional text after the responder count (e.g. the video's ISA).
    """
    fig = _figure(6.0 * len(titles), 4.4)
    axes = fig.subplots(1, len(titles), sharey=True, squeeze=False)[0]
    notes = notes or [""] * len(titles)
    for i, (ax, t, m, s, title, n, note) in enumerate(zip(axes, times, means, sems, titles, n_responders, notes)):
        ax.fill_between(t, np.maximum(0.0, m - s), m + s, color=COLORS["ASMR"], alpha=0.25, linewidth=0, label="± SEM")
        ax.plot(t, m, color=COLORS["ASMR"], linewidth=2.0, label="Mean rating")
        ax.set_title(f"{chr(65 + i)}. {title}", fontsize=FONT["title"], fontweight="bold", loc="left")
        ax.set_title(f"n = {n} responders" + (f", {note}" if note else ""), fontsize=FONT["note"], loc="right")
        ax.set_xlabel("Time in analysed epoch (s)", fontsize=FONT["label"])
        ax.set_xlim(0, t[-1] if len(t) else 1)
        ax.grid(axis="y", color="#eeeeee")
        _style(ax)
    axes[0].set_ylim(0, max_rating)
    axes[0].set_ylabel(f"Tingle intensity (0–{max_rating})", fontsize=FONT["label"])
    axes[0].legend(loc="upper left", fontsize=FONT["note"], frameon=False)
    return fig


def pr_correlation_boxplot(
    subjects_asmr: np.ndarray,
    r_asmr: np.ndarray,
    subjects_nature: np.ndarray,
    r_nature: np.ndarray,
    t: float | None = None,
    p: float | None = None,
    n_paired: int | None = None,
) -> Figure:
    """Fig. 4: per-participant Spearman r(PR, rating) by condition: box + points, paired participants joined."""
    fig = _figure(5.6, 5.2)
    ax = fig.add_subplot()
    data = {
        "ASMR": (np.asarray(subjects_asmr), np.asarray(r_asmr, dtype=float)),
        "Nature": (np.asarray(subjects_nature), np.asarray(r_nature, dtype=float)),
    }
    rng = np.random.default_rng(0)  # fixed jitter: the same inputs draw the same picture
    positions = {}
    for x, (cond, (subj, r)) in enumerate(data.items()):
        keep = np.isfinite(r)
        subj, r = subj[keep], r[keep]
        if r.size:
            box = ax.boxplot(
                [r],
                positions=[x],
                widths=0.5,
                patch_artist=True,
                showfliers=False,
                medianprops={"color": "black", "linewidth": 1.5},
            )
            box["boxes"][0].set(facecolor=COLORS[cond], alpha=0.35, edgecolor=COLORS[cond])
        xs = x + rng.uniform(-0.12, 0.12, size=r.size)
        ax.scatter(xs, r, s=26, color=COLORS[cond], edgecolor="black", linewidth=0.5, zorder=3)
        if r.size:
            ax.plot([x - 0.3, x + 0.3], [r.mean()] * 2, color=COLORS[cond], linewidth=2.5, zorder=4)
            ax.text(
                x + 0.32,
                r.mean(),
                f"mean {r.mean():+.3f}",
                va="center",
                fontsize=FONT["note"],
                color=COLORS[cond],
                fontweight="bold",
            )
        positions[cond] = {int(s): (float(px), float(pr)) for s, px, pr in zip(subj, xs, r)}
    for s in sorted(set(positions["ASMR"]) & set(positions["Nature"])):
        (x0, y0), (x1, y1) = positions["ASMR"][s], positions["Nature"][s]
        ax.plot([x0, x1], [y0, y1], color="#999999", linewidth=0.6, alpha=0.6, zorder=2)
    ax.axhline(0.0, color=COLORS["threshold"], linestyle="--", linewidth=1)
    ax.set_xticks(
        [0, 1],
        [f"ASMR\n(n = {np.isfinite(data['ASMR'][1]).sum()})", f"Nature\n(n = {np.isfinite(data['Nature'][1]).sum()})"],
        fontsize=FONT["label"],
    )
    ax.set_xlim(-0.6, 1.9)
    ax.set_ylabel("Spearman r (pulse rate, rating)", fontsize=FONT["label"])
    test = "paired t-test on Fisher z"
    if p is not None:
        p_text = f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"
        test += f": t = {t:.2f}, p = {p_text}" + (f" (n = {n_paired})" if n_paired is not None else "")
    else:
        test += ": not enough paired participants"
    fig.suptitle("Pulse rate vs rating by condition", fontsize=FONT["title"], fontweight="bold")
    ax.set_title(test, fontsize=FONT["note"])
    _style(ax)
    return fig


def pick_tinglegram_subject(pred: Predictions, preferred: int | None) -> int:
    """`preferred` when it has an ASMR and a Nature trial; else the participant whose smoothed ASMR
    probabilities correlate best with their reported tingle (the paper shows a well-aligned one)."""
    both = [
        int(s)
        for s in np.unique(pred.subject)
        if (~pred.is_nature[pred.subject == s]).any() and pred.is_nature[pred.subject == s].any()
    ]
    if not both:
        raise ValueError("no participant in the predictions has both an ASMR and a Nature trial to draw")
    if preferred in both:
        return int(preferred)
    scores = []
    for s in both:
        row = np.flatnonzero((pred.subject == s) & ~pred.is_nature)[0]
        m = pred.mask[row].astype(bool)
        truth, prob = pred.truths[row][m].astype(float), pred.probs[row][m].astype(float)
        ok = truth.std() > 0 and prob.std() > 0
        scores.append(np.corrcoef(truth, prob)[0, 1] if ok else -np.inf)
    return both[int(np.argmax(scores))]


def tinglegram(
    pred: Predictions,
    subject: int | None = None,
    cfg: ValidationConfig = ValidationConfig(),
    label_rate_hz: int = 10,
    title: str | None = None,
) -> Figure:
    """Fig. 6: smoothed P(tingle) vs reported state for one participant, ASMR (top) and Nature (bottom).

    ASMR panel: reported tingle (rating > 0) as a grey area; Nature panel:
    the pleasantness rating scaled to 0..1 as grey steps.  Probabilities are
    Gaussian-smoothed (sigma in frames) over the trial's valid frames only.
    """
    subject = pick_tinglegram_subject(pred, cfg.tinglegram_subject if subject is None else subject)
    fig = _figure(10.0, 6.4)
    axes = fig.subplots(2, 1, sharex=True)
    for ax, nature in zip(axes, (False, True)):
        row = np.flatnonzero((pred.subject == subject) & (pred.is_nature == nature))[0]
        n = int(pred.mask[row].sum()) if pred.mask[row].any() else pred.mask.shape[1]
        valid = slice(0, n)
        time = np.arange(n) / label_rate_hz
        prob = gaussian_filter1d(pred.probs[row][valid].astype(np.float64), sigma=cfg.tinglegram_sigma_frames)
        raw = pred.raw_truths[row][valid].astype(np.float64)
        reported = raw / 3.0 if nature else (raw > 0).astype(np.float64)
        label = "Reported pleasantness (rating / 3)" if nature else "Reported tingle (rating > 0)"
        ax.fill_between(time, 0, reported, step="post", color=COLORS["reported"], alpha=0.8, linewidth=0, label=label)
        color = COLORS["prob_nature" if nature else "prob_asmr"]
        ax.plot(
            time,
            prob,
            color=color,
            linewidth=2.2,
            label=f"Predicted P(tingle), {'Nature' if nature else 'ASMR'} trial (smoothed)",
        )
        ax.axhline(
            cfg.tinglegram_threshold,
            color=COLORS["threshold"],
            linestyle="--",
            linewidth=1.2,
            label=f"Threshold P = {cfg.tinglegram_threshold:g}" if nature else None,
        )
        video = str(pred.video[row])
        cond = "Nature (control)" if nature else "ASMR"
        ax.set_title(
            f"{cond}: {STIMULUS_FILES.get(video, video).removesuffix('.avi')} ({video})",
            fontsize=FONT["title"],
            fontweight="bold",
            loc="left",
        )
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlim(0, time[-1] if n else 1)
        ax.set_ylabel("Probability / state", fontsize=FONT["label"])
        _style(ax)
    axes[1].set_xlabel("Time in analysed epoch (s)", fontsize=FONT["label"])
    handles = [h for ax in axes for h in ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=FONT["note"], frameon=False)
    fig.suptitle(title or f"Tinglegram: participant {subject}", fontsize=FONT["title"] + 1, fontweight="bold")
    return fig


REFERENCE_COLORS = ("#7f7f7f", "#c0392b", "#8e44ad", "#16a085", "#d35400")


def leaderboard_forest(board: dict, metric: str = "within_asmr_auroc") -> Figure:
    """Forest plot of a leaderboard (`evidence.leaderboard`) on `metric`: per model the 4-fold mean (dot), the
    pooled value (diamond) and its bootstrap CI (bar); each reference row a vertical band over its pooled CI
    with a line at its pooled value."""
    models = [r for r in board["rows"] if r["kind"] == "model" and metric in r["metrics"]]
    references = [r for r in board["rows"] if r["kind"] == "reference" and metric in r["metrics"]]
    fig = _figure(8.0, 2.0 + 0.45 * max(len(models), 1))
    ax = fig.add_subplot()
    for i, row in enumerate(references):
        entry, color = row["metrics"][metric], REFERENCE_COLORS[i % len(REFERENCE_COLORS)]
        low, high = entry.get("ci", (np.nan, np.nan))
        if np.isfinite(low) and high > low:
            ax.axvspan(low, high, color=color, alpha=0.10, linewidth=0)
        name = row["name"].replace("_", " ")
        ax.axvline(
            entry["observed"], color=color, linestyle="--", linewidth=1.2, label=f"{name} {entry['observed']:.3f}"
        )
    for y, row in enumerate(reversed(models)):
        entry = row["metrics"][metric]
        low, high = entry.get("ci", (np.nan, np.nan))
        if np.isfinite(low):
            ax.plot([low, high], [y, y], color=COLORS["ASMR"], linewidth=2.0, solid_capstyle="butt")
        ax.plot(entry["observed"], y, "D", color="white", markeredgecolor=COLORS["ASMR"], markersize=6, zorder=3)
        ax.plot(entry["mean"], y, "o", color=COLORS["ASMR"], markersize=7, zorder=4)
        right = np.nanmax([high, entry["mean"], entry["observed"]])
        ax.text(right + 0.01, y, f"{entry['mean']:.3f}", va="center", fontsize=FONT["note"])
    ax.set_yticks(range(len(models)), [r["name"] for r in reversed(models)], fontsize=FONT["label"])
    ax.set_ylim(-0.7, max(len(models), 1) - 0.3)
    label = f"{metric.replace('_', ' ')}: dot 4-fold mean, diamond pooled, bar its 95 % bootstrap CI"
    ax.set_xlabel(f"{label}\nreference rows: dashed line pooled, band its CI", fontsize=FONT["note"])
    ax.set_title(board["title"], fontsize=FONT["title"], fontweight="bold")
    ax.grid(axis="x", color="#eeeeee")
    _style(ax)
    if references:
        fig.legend(loc="outside lower center", ncols=3, fontsize=FONT["note"], frameon=False)
    return fig


def save_figure(fig: Figure, path_stem: str | os.PathLike) -> list[Path]:
    """Write `<stem>.png` and `<stem>.svg` atomically; same figure -> same bytes (no timestamps)."""
    stem = Path(path_stem)
    written = []
    with matplotlib.rc_context({"svg.hashsalt": "restasmr-jax", "svg.fonttype": "path"}):
        for fmt, kwargs in (
            ("png", {"dpi": PNG_DPI, "metadata": {"Software": None}}),
            ("svg", {"metadata": {"Date": None, "Creator": None}}),
        ):
            target = stem.parent / f"{stem.name}.{fmt}"
            with storage.atomic_path(target) as tmp:
                fig.savefig(tmp, format=fmt, facecolor="white", **kwargs)
            written.append(target)
    return written
