"""A run's report files: Tables 1 and 2, leaderboard, video level, seed spread, results table, summary (SPEC §9).

Thin layer over `evidence.tables` and `evidence.leaderboard`: it picks seed
0 for the tables, adds the spread over training seeds when there are
several, labels every file with the data source (a synthetic run says so in
bold at the top), and writes atomically into the run folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from restasmr_jax import storage
from restasmr_jax.evidence import leaderboard as boards
from restasmr_jax.evidence import tables
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.runs import layout

RESULTS_SCHEMA = {
    "name": pl.Utf8,
    "kind": pl.Utf8,
    "seed": pl.Int32,
    "fold": pl.Int32,
    "metric": pl.Utf8,
    "value": pl.Float64,
}


def data_banner(source: str) -> str:
    if source == "real":
        return "> Data: the real REST-ASMR archive.\n\n"
    return (
        f"> Data: **{source.upper()}** — not the REST-ASMR recordings; numbers describe the "
        "pipeline on the seeded stand-in archive (SPEC §12), not the paper's findings.\n\n"
    )


def _headline(frame_level: dict) -> dict:
    """Per metric: fold mean, SD, pooled value, CI, permutation p and Cohen's d, for the summary."""
    keep = ("mean", "sd", "observed", "ci", "p_report", "cohens_d")
    return {name: {k: entry[k] for k in keep if k in entry} for name, entry in frame_level["metrics"].items()}


def seed_spread(per_seed: list[Predictions], stats_cfg) -> dict:
    """Mean ± SD over seeds of each metric's 4-fold mean (no resampling)."""
    fold_means = [
        {name: m["mean"] for name, m in tables.frame_level(p, stats_cfg, resample=False)["metrics"].items()}
        for p in per_seed
    ]
    return {
        name: {
            "per_seed": [f[name] for f in fold_means],
            "mean": float(np.mean([f[name] for f in fold_means])),
            "sd": float(np.std([f[name] for f in fold_means])),
        }
        for name in fold_means[0]
    }


SPREAD_HEADING = "## Run-to-run spread over training seeds\n\nMean ± SD over seeds of each metric's 4-fold mean"


def _render_seed_spread(spread: dict) -> str:
    lines = ["| Metric | mean ± SD over seeds | per seed |", "|---|---|---|"]
    for name, entry in spread.items():

        def show(value, name=name):
            return f"{value:.3f}" if name.endswith("auroc") else f"{100 * value:.2f}"

        lines.append(
            f"| {name} | {show(entry['mean'])} ± {show(entry['sd'])} | "
            + ", ".join(show(v) for v in entry["per_seed"])
            + " |"
        )
    return "\n".join(lines) + "\n"


def fusion_report(
    per_seed: list[Predictions], train_cfg, stats_cfg, run_dir: Path, source: str, *, references=None
) -> dict:
    """Table 1 (condition prior, within-ASMR rows, reference rows, video level) of seed 0, + the seed spread.

    `references`: the reference rows beside the model (default: `evidence.references.standard_references`).
    """
    title = f"BiLSTM, {train_cfg.features} features ({source} data)"
    table = tables.table1(per_seed[0], stats_cfg, title=title, references=references)
    markdown = data_banner(source) + tables.render_table1(table)
    spread = seed_spread(per_seed, stats_cfg) if len(per_seed) > 1 else None
    if spread is not None:
        markdown += f"\n{SPREAD_HEADING} (the table above is seed 0).\n\n" + _render_seed_spread(spread)
    storage.atomic_write_text(run_dir / f"{layout.TABLE1}.md", markdown)
    storage.write_json(run_dir / f"{layout.TABLE1}.json", {**table, "data_source": source, "seed_spread": spread})
    video = {
        "data_source": source,
        "model": table["model"]["video_level"],
        "condition_prior": table["condition_prior"]["video_level"],
    }
    storage.write_json(run_dir / f"{layout.VIDEO_LEVEL}.json", video)
    section = markdown[markdown.index("## Video-level classification") :]
    section = section.split("\n## ", 1)[0]  # up to the next section, if any
    storage.atomic_write_text(run_dir / f"{layout.VIDEO_LEVEL}.md", data_banner(source) + section)
    model, prior = table["model"], table["condition_prior"]
    summary = {
        "data_source": source,
        "model": _headline(model["frame_level"]),
        "condition_prior": _headline(prior["frame_level"]),
        "video_level_accuracy": {
            truth: r["metrics"]["accuracy"]["observed"] for truth, r in model["video_level"].items()
        },
        "seed_spread": spread,
    }
    return {"summary": summary, "markdown": markdown}


def ablation_report(
    models: dict[str, list[Predictions]], stats_cfg, run_dir: Path, source: str, *, references=None
) -> dict:
    """Table 2: every model's 4-fold mean ± SD, the reference rows, paired bootstrap p of fusion vs each."""
    first = {name: per_seed[0] for name, per_seed in models.items()}
    table = tables.table2(first, stats_cfg, reference="fusion", references=references)
    markdown = data_banner(source) + tables.render_table2(table)
    markdown += (
        "\nModels: BiLSTM with the named feature set (fusion 544, video 512, audio 31, ppg 1 columns); "
        "xgboost = non-temporal XGBoost on the fusion features, every valid frame one row (SPEC §8).\n"
    )
    spread = {name: seed_spread(per_seed, stats_cfg) for name, per_seed in models.items() if len(per_seed) > 1}
    if spread:
        markdown += f"\n{SPREAD_HEADING} (the table above is seed 0).\n"
    for name, entry in spread.items():
        markdown += f"\n### {name}\n\n" + _render_seed_spread(entry)
    storage.atomic_write_text(run_dir / f"{layout.TABLE2}.md", markdown)
    storage.write_json(run_dir / f"{layout.TABLE2}.json", {**table, "data_source": source, "seed_spread": spread})
    summary = {
        "data_source": source,
        "macro_f1": {
            name: {k: r["metrics"]["macro_f1"][k] for k in ("mean", "sd")} for name, r in table["models"].items()
        },
        "paired_bootstrap_p": {name: c["p_value"] for name, c in table["comparisons"].items()},
    }
    return {"summary": summary, "markdown": markdown}


def write_results(rows: list[dict], run_dir: Path, source: str) -> list[Path]:
    """`results.csv` and `results.parquet` (long format; the Parquet file labelled with the data source)."""
    frame = pl.DataFrame(rows, schema=RESULTS_SCHEMA, orient="row") if rows else pl.DataFrame(schema=RESULTS_SCHEMA)
    csv, parquet = (Path(run_dir) / f"{layout.RESULTS}.{ext}" for ext in ("csv", "parquet"))
    with storage.atomic_path(csv) as tmp:
        frame.write_csv(tmp)
    with storage.atomic_path(parquet) as tmp:
        frame.write_parquet(tmp, metadata={"data_source": source, "producer": "restasmr_jax.runs.benchmark"})
    return [csv, parquet]


def benchmark_report(
    results: list[boards.ModelResult], stats_cfg, run_dir: Path, source: str, *, references=None
) -> dict:
    """The leaderboard of every model beside the reference rows, and the long results table."""
    board = boards.leaderboard(
        results,
        stats_cfg,
        references=references,
        title=f"REST-ASMR benchmark ({source} data)",
        data_source=source,
    )
    markdown = data_banner(source) + boards.render_leaderboard(board)
    storage.atomic_write_text(Path(run_dir) / f"{layout.LEADERBOARD}.md", markdown)
    storage.write_json(Path(run_dir) / f"{layout.LEADERBOARD}.json", board)
    write_results(boards.results_rows(board), run_dir, source)
    headline = ("macro_f1", "within_asmr_auroc", "within_trial_auroc")
    summary = {
        "data_source": source,
        "ranking": [r["name"] for r in board["rows"] if r["kind"] == "model"],
        "rows": {
            r["name"]: {m: {k: r["metrics"][m][k] for k in ("mean", "sd")} for m in headline if m in r["metrics"]}
            for r in board["rows"]
        },
    }
    return {"summary": summary, "markdown": markdown, "board": board}


def print_summary(run_dir: Path, source: str, report: dict, stage_seconds: dict) -> None:
    total = sum(stage_seconds.values())
    stages = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in stage_seconds.items())
    print()
    print(report["markdown"])
    print(f"Data source: {source.upper()}")
    print(f"Run folder: {run_dir}")
    print(f"Wall time of this invocation: {total:.0f} s ({stages})")
