"""The calibration statistics of an archive, computed by the project's own analyses (SPEC §10, §12).

`measure` runs the SPEC §10 analyses of `validation.analysis.validate` on an
archive's ingested tables and parsed Biopac exports (the job that reads an
archive is `runs.archive_jobs.calibrate`) and adds the two artifact-based statistics from the labels: the
tingle fraction of ASMR frames and the crowd agreement (`references`) in the
published test groups (`splits.make_splits`).  `measure_generator` computes
the same from `simulate_subject` without writing a file (what the PPG
analyses would parse back is exactly what the generator holds), which is
how `spread` measures the statistics over many cohorts.

Which rows need what: the responder, duration, ISA, fraction and crowd
rows need only the labels (the logs); pulse rate and PPG integrity need the
2000-Hz PPG exports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from restasmr_jax.config import STIMULUS_FILES, VIDEO_CODES, ProtocolConfig, SynthConfig, condition_of
from restasmr_jax.evidence import references
from restasmr_jax.learning.splits import make_splits
from restasmr_jax.synth import simulate_subject, subjects_of
from restasmr_jax.validation.analysis import ValidationResult, validate

ASMR_VIDEOS = VIDEO_CODES[:4]


@dataclass(frozen=True)
class Recording:
    """What `validate` reads of a participant's export: samples `[sample, channel]` (CH1, CH2) and the interval."""

    samples: np.ndarray
    interval_ms: float


def _trial_arrays(labels: pl.DataFrame, pairs: list[tuple[int, int, str]], protocol: ProtocolConfig):
    """Binary truths and masks `[trial, time]` (padded to 550) of (fold, subject, video) trials."""
    series = {
        (int(s), str(v)): frame["intensity"].to_numpy()
        for (s, v), frame in labels.sort("t").partition_by(["subject", "video"], as_dict=True).items()
    }
    truths = np.zeros((len(pairs), protocol.padded_frames), np.int32)
    mask = np.zeros_like(truths, bool)
    for row, (_, subject, video) in enumerate(pairs):
        rated = series[(subject, video)]
        truths[row, : rated.shape[0]] = rated > 0
        mask[row, : rated.shape[0]] = True
    return truths, mask


def crowd_agreement(labels: pl.DataFrame, protocol: ProtocolConfig = ProtocolConfig()) -> dict[str, float]:
    """Crowd AUROC within ASMR (pooled, mean within-trial) in the published test groups.

    Rotation r gives fold f's test participants the ASMR video (f + r) mod 4;
    r = 0 is the published arrangement (`*_published`), and the mean over the
    four rotations (`crowd_pooled`, `crowd_within`) is the same statistic
    from every ASMR trial of the cohort.
    """
    subjects = labels["subject"].unique().to_list()
    rotations = []
    for rotation in range(len(ASMR_VIDEOS)):
        pairs = [
            (split.fold, int(s), ASMR_VIDEOS[(split.fold + rotation) % len(ASMR_VIDEOS)])
            for split in make_splits(subjects)
            for s in split.test_subjects
        ]
        truths, mask = _trial_arrays(labels, pairs, protocol)
        fold, subject, video = (np.array(column) for column in zip(*pairs))
        crowd = references.crowd_scores(truths, mask, subject, video, fold)
        asmr = np.zeros(len(pairs), bool)
        scored = mask & ~np.isnan(crowd)  # a frame no peer covers is not the crowd's to score
        pooled = references.pooled_auroc(crowd, truths, scored, asmr)
        within, _ = references.within_trial_auroc(crowd, truths, scored, asmr)
        rotations.append((pooled, within))
    values = np.array(rotations)
    return {
        "crowd_pooled": float(values[:, 0].mean()),
        "crowd_within": float(values[:, 1].mean()),
        "crowd_pooled_published": float(values[0, 0]),
        "crowd_within_published": float(values[0, 1]),
    }


def tingle_fractions(labels: pl.DataFrame) -> dict[str, float]:
    """Fraction of ASMR label frames rated > 0, overall and per ASMR video; `*_published`: over the published
    test trials only (each fold's test participants x its ASMR test video), the artifact's sample."""
    asmr = labels.filter(pl.col("condition") == "ASMR").with_columns((pl.col("intensity") > 0).alias("tingle"))
    tests = pl.DataFrame(
        [
            (int(s), split.test_videos[0])
            for split in make_splits(asmr["subject"].unique().to_list())
            for s in split.test_subjects
        ],
        schema={"subject": pl.Int32, "video": pl.Utf8},
        orient="row",
    )
    published = asmr.join(tests, on=["subject", "video"])
    out = {
        "tingle_fraction": float(asmr["tingle"].mean()),
        "tingle_fraction_published": float(published["tingle"].mean()),
    }
    for video in ASMR_VIDEOS:
        out[f"tingle_fraction_{video}"] = float(asmr.filter(pl.col("video") == video)["tingle"].mean())
        out[f"tingle_fraction_{video}_published"] = float(published.filter(pl.col("video") == video)["tingle"].mean())
    return out


def statistics(result: ValidationResult, labels: pl.DataFrame, protocol: ProtocolConfig = ProtocolConfig()) -> dict:
    """key -> value of every calibration row (None where an analysis had nothing to say)."""
    people, durations = result.behaviour["participants"], result.behaviour["durations"]
    isa, paired = result.agreement, result.paired_test
    integrity = result.integrity["overall"]["integrity"]
    p_values = [isa[v]["p"] for v in ASMR_VIDEOS if v in isa]
    return {
        "asmr_responders": people["ASMR"]["n_responders"],
        "nature_responders": people["Nature"]["n_responders"],
        "tingle_seconds_mean": durations["ASMR"]["mean_seconds"],
        "tingle_seconds_sd": durations["ASMR"]["sd_seconds"],
        "pleasant_seconds_mean": durations["Nature"]["mean_seconds"],
        "pleasant_seconds_sd": durations["Nature"]["sd_seconds"],
        **{f"isa_{v}": isa[v]["mean_r"] for v in ASMR_VIDEOS if v in isa},
        "isa_max_p": max(p_values) if len(p_values) == len(ASMR_VIDEOS) and None not in p_values else None,
        **tingle_fractions(labels),
        **crowd_agreement(labels, protocol),
        "pr_r_asmr": paired["mean_r"]["ASMR"],
        "pr_r_nature": paired["mean_r"]["Nature"],
        "pr_t": paired["t"],
        "ppg_integrity": None if integrity is None else 100.0 * integrity,
    }


def measure(
    labels: pl.DataFrame,
    timeline: pl.DataFrame,
    load_recording: Callable[[int], object],
    *,
    protocol: ProtocolConfig = ProtocolConfig(),
    progress: bool = True,
) -> dict:
    result = validate(labels, timeline, load_recording, protocol=protocol, progress=progress)
    return statistics(result, labels, protocol)


def _generator_tables(cfg: SynthConfig, protocol: ProtocolConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(labels, timeline) as ingestion would build them from the logs `generate_archive(cfg)` writes."""
    labels, timeline = [], []
    for subject in subjects_of(cfg):
        sim = simulate_subject(cfg, subject, protocol)
        for trial, video in enumerate(sim.video_order):
            rated = sim.dense_labels(trial, protocol)
            n, onset, end = rated.shape[0], int(sim.onset_ticks[trial]), int(sim.end_ticks[trial])
            common = {"subject": subject, "trial_index": trial, "video": video, "stimulus": STIMULUS_FILES[video]}
            labels.append(
                pl.DataFrame(
                    {**{k: [v] * n for k, v in common.items()}, "condition": [condition_of(video)] * n}
                ).with_columns(pl.Series("t", np.arange(n) / protocol.label_rate_hz), pl.Series("intensity", rated))
            )
            tps = protocol.log_ticks_per_second
            timeline.append(
                {**common, "condition": condition_of(video), "onset_ticks": onset, "end_ticks": end}
                | {"onset_s": onset / tps, "end_s": end / tps, "n_frames": n}
            )
    labels_frame = pl.concat(labels).cast({"subject": pl.Int32, "trial_index": pl.Int32, "intensity": pl.Int8})
    timeline_frame = pl.DataFrame(timeline).cast({"subject": pl.Int32, "trial_index": pl.Int32, "n_frames": pl.Int32})
    return labels_frame, timeline_frame


def measure_generator(cfg: SynthConfig, *, progress: bool = False) -> dict:
    """The calibration values of the archive `cfg` would write, computed without writing it."""
    protocol = ProtocolConfig()
    labels, timeline = _generator_tables(cfg, protocol)

    def load_recording(subject: int) -> Recording:
        sim = simulate_subject(cfg, subject, protocol)  # the exact samples a reader parses back
        return Recording(np.stack([sim.ch1, sim.ch2], axis=1).astype(np.float32), sim.interval_ms)

    return measure(labels, timeline, load_recording, protocol=protocol, progress=progress)


def spread(seeds, *, progress: bool = True) -> dict[str, tuple[float, float]]:
    """key -> (mean, SD) of every calibration value over default-size cohorts with these seeds."""
    rows = [measure_generator(SynthConfig(seed=int(s))) for s in tqdm(seeds, desc="cohorts", disable=not progress)]
    keys = [k for k in rows[0] if all(r.get(k) is not None for r in rows)]
    return {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows]))) for k in keys}
