"""Trial timeline and dense 10-Hz labels from a log's events (SPEC §2).

All boundaries are integer log ticks (0.1 ms), never floats:
- trial i spans [onset, onset + duration), duration 55.7 s for trial 0 and
  60.0 s otherwise; its valid epoch starts 5.0 s after the onset;
- sample k of the epoch sits at tick onset + 5.0 s + k * 100 ms, with
  t = k / 10 s (507 samples for trial 0, 550 otherwise);
- the label at sample k is the intensity of the latest Response with
  onset <= Time <= that tick; responses in the warm-up [onset, onset+5 s)
  therefore set the state at t = 0 (the last one wins), one at exactly
  onset + 5 s belongs to t = 0, and one at or after the trial end is never
  seen.  No response at all gives 0: a rating never carries over from the
  previous video.  Equal Times: the later line of the file wins.

A Response can lie in two windows only if two trials overlap; it then
counts in both, as a per-trial window filter (the authors' method) does.
"""

from __future__ import annotations

import polars as pl

from restasmr_jax.config import STIMULUS_FILES, VIDEO_CODES, ProtocolConfig, condition_of
from restasmr_jax.io.presentation import LogFormatError

TIMELINE_SCHEMA = {
    "subject": pl.Int32,
    "video": pl.Utf8,
    "trial_index": pl.Int32,
    "condition": pl.Utf8,
    "stimulus": pl.Utf8,
    "onset_ticks": pl.Int64,  # 0.1-ms log units
    "end_ticks": pl.Int64,
    "onset_s": pl.Float64,
    "end_s": pl.Float64,
    "n_frames": pl.Int32,  # valid 10-Hz samples: 507 for trial 0, else 550
}
LABELS_SCHEMA = {
    "subject": pl.Int32,
    "trial_index": pl.Int32,
    "video": pl.Utf8,
    "stimulus": pl.Utf8,
    "condition": pl.Utf8,
    "t": pl.Float64,  # seconds from the epoch start, k / 10
    "intensity": pl.Int8,  # 0..3
}


def ticks(seconds: float, cfg: ProtocolConfig = ProtocolConfig()) -> int:
    """A protocol duration in whole log ticks; refuses one that is not a whole tick."""
    value = seconds * cfg.log_ticks_per_second
    if abs(value - round(value)) > 1e-6:
        raise ValueError(f"{seconds} s is not a whole number of log ticks (1/{cfg.log_ticks_per_second} s)")
    return round(value)


def label_step_ticks(cfg: ProtocolConfig = ProtocolConfig()) -> int:
    """Log ticks per label sample (1000 for 10 Hz)."""
    step, rest = divmod(cfg.log_ticks_per_second, cfg.label_rate_hz)
    if rest:
        raise ValueError(f"{cfg.label_rate_hz} Hz labels are not a whole number of log ticks")
    return step


def seconds(values: pl.Series, per_second: int, name: str) -> pl.Series:
    """values / per_second, correctly rounded.

    Polars evaluates `col / 10` as `col * 0.1`, which puts 0.30000000000000004
    on the 10-Hz grid; numpy divides exactly.
    """
    return pl.Series(name, values.to_numpy() / per_second, dtype=pl.Float64)


def build_timeline(events: pl.DataFrame, *, source: str, cfg: ProtocolConfig = ProtocolConfig()) -> pl.DataFrame:
    """One row per (subject, trial): the Video events in file order are trials 0..n-1.

    `events` may hold several subjects (schema `presentation.EVENT_SCHEMA`);
    `source` names them in errors.  Output schema: `TIMELINE_SCHEMA`,
    sorted by subject then trial_index.
    """
    videos = events.filter(pl.col("event_type") == "Video").sort("subject", "line")
    counts = videos.group_by("subject").len().filter(pl.col("len") != cfg.n_trials)
    if counts.height:
        subject, n = counts.sort("subject").row(0)
        raise LogFormatError(f"{source}: subject {subject:03d} has {n} Video events, expected {cfg.n_trials}")
    unknown = videos.filter(~pl.col("code").is_in(VIDEO_CODES))
    if unknown.height:
        raise LogFormatError(f"{source}: line {unknown['line'][0]}: unknown video code {unknown['code'][0]!r}")

    trial_index = pl.int_range(pl.len(), dtype=pl.Int32).over("subject")
    first = trial_index == 0
    duration = pl.when(first).then(ticks(cfg.trial_seconds_for(0), cfg)).otherwise(ticks(cfg.trial_seconds_for(1), cfg))
    frames = pl.when(first).then(cfg.n_frames_for(0)).otherwise(cfg.n_frames_for(1))
    per_second = cfg.log_ticks_per_second
    timeline = (
        videos.lazy()
        .select(
            "subject",
            pl.col("code").alias("video"),
            trial_index.alias("trial_index"),
            pl.col("code").replace_strict({v: condition_of(v) for v in VIDEO_CODES}).alias("condition"),
            pl.col("code").replace_strict(STIMULUS_FILES).alias("stimulus"),
            pl.col("time_ticks").alias("onset_ticks"),
            (pl.col("time_ticks") + duration).alias("end_ticks"),
            frames.alias("n_frames"),
        )
        .sort("subject", "trial_index")
        .collect()
    )
    return (
        timeline.with_columns(
            seconds(timeline["onset_ticks"], per_second, "onset_s"),
            seconds(timeline["end_ticks"], per_second, "end_s"),
        )
        .select(list(TIMELINE_SCHEMA))
        .cast(TIMELINE_SCHEMA)
    )


def dense_labels(events: pl.DataFrame, timeline: pl.DataFrame, cfg: ProtocolConfig = ProtocolConfig()) -> pl.DataFrame:
    """Zero-order-hold intensity on the 10-Hz grid of every valid epoch (SPEC §2).

    Returns `LABELS_SCHEMA` rows, sorted by subject, trial_index, t.
    Responses whose Code is not an integer must already be gone (`read_log`
    drops and counts them); here they would simply be skipped.
    """
    warmup = ticks(cfg.warmup_seconds, cfg)
    step = label_step_ticks(cfg)
    windows = timeline.lazy().select(
        "subject", "trial_index", "video", "stimulus", "condition", "onset_ticks", "end_ticks", "n_frames"
    )
    responses = (
        events.lazy()
        .filter(pl.col("event_type") == "Response")
        .select("subject", "time_ticks", "line", pl.col("code").str.to_integer(strict=False).alias("key"))
        .drop_nulls("key")
    )
    rated = (
        windows.join(responses, on="subject")
        .filter(pl.col("time_ticks") >= pl.col("onset_ticks"), pl.col("time_ticks") < pl.col("end_ticks"))
        .sort("subject", "trial_index", "time_ticks", "line")
        .unique(["subject", "trial_index", "time_ticks"], keep="last", maintain_order=True)
        .select(
            "subject",
            "trial_index",
            "time_ticks",
            (pl.col("key") - 1).clip(0, cfg.max_rating).cast(pl.Int8).alias("intensity"),
        )
        .sort("time_ticks")
    )
    grid = (
        windows.with_columns(pl.int_ranges(0, pl.col("n_frames"), dtype=pl.Int64).alias("k"))
        .explode("k")
        .with_columns((pl.col("onset_ticks") + warmup + pl.col("k") * step).alias("grid_ticks"))
        .sort("grid_ticks")
    )
    labels = (
        grid.join_asof(
            rated,
            left_on="grid_ticks",
            right_on="time_ticks",
            by=["subject", "trial_index"],
            strategy="backward",
            check_sortedness=False,  # both sides are sorted on the whole key, hence within groups
        )
        .with_columns(pl.col("intensity").fill_null(0))
        .sort("subject", "trial_index", "k")
        .collect()
    )
    return (
        labels.with_columns(seconds(labels["k"], cfg.label_rate_hz, "t"))
        .select(list(LABELS_SCHEMA))
        .cast(LABELS_SCHEMA)
    )
