"""One participant's BIDS events table: a row per video and a row per rating change (SPEC §2; BIDS events).

Video rows carry the trial as the timeline has it: onset, the protocol's duration
(55.7 s for the first video, 60.0 s otherwise), `trial_type` ASMR | Nature, the log
code as `stim_id`, `trial_index` and the 5.0-s warm-up.  Rating rows are the
keypresses that change the held rating inside a trial, in the order SPEC §2 reads
them: the trial starts at 0, presses at one log time collapse to the file's last,
a press counts from its own time (so one in the warm-up sets the state at the
epoch start), and a press that repeats the held value is not a change.  `value`
is the 0..3 rating the zero-order hold carries from that row, `response_key` the
key pressed, `duration` the time until the next change or the trial end.  The
zero-order hold of these rows on the 10-Hz grid is exactly `ingest.labels.dense_labels`
(a test checks it), and `io.bids.read_events` turns them back into the log's events.

Times are whole 0.1-ms log ticks printed in seconds as their shortest decimal
(at most 4 places), so they read back to the same ticks.
"""

from __future__ import annotations

import polars as pl

from restasmr_jax.config import ProtocolConfig
from restasmr_jax.ingest.labels import seconds
from restasmr_jax.io.bids import EVENT_COLUMNS, RATING, participant_label

_TICKS = {"onset": "onset_ticks", "duration": "duration_ticks"}


def _video_rows(timeline: pl.DataFrame, cfg: ProtocolConfig) -> pl.DataFrame:
    return timeline.select(
        "onset_ticks",
        (pl.col("end_ticks") - pl.col("onset_ticks")).alias("duration_ticks"),
        pl.col("condition").alias("trial_type"),
        pl.lit(None, pl.Int8).alias("value"),
        pl.lit(None, pl.Utf8).alias("response_key"),
        pl.col("video").alias("stim_id"),
        pl.col("stimulus").alias("stim_file"),
        "trial_index",
        pl.lit(cfg.warmup_seconds, pl.Float64).alias("warmup_s"),
        pl.lit(0, pl.Int8).alias("order"),  # a video before a rating at the same tick
    )


def rating_changes(
    events: pl.DataFrame, timeline: pl.DataFrame, cfg: ProtocolConfig = ProtocolConfig()
) -> pl.DataFrame:
    """The rating-change rows of every trial in `timeline` (see the module docstring).

    `events`: `presentation.EVENT_SCHEMA` rows; non-integer Codes are skipped as
    `dense_labels` skips them.  Columns: subject, trial_index, onset_ticks,
    duration_ticks, value (Int8), response_key (the Code as logged).
    """
    presses = (
        events.lazy()
        .filter(pl.col("event_type") == "Response")
        .select("subject", "time_ticks", "line", "code", pl.col("code").str.to_integer(strict=False).alias("key"))
        .drop_nulls("key")
    )
    trial = ["subject", "trial_index"]
    return (
        timeline.lazy()
        .select("subject", "trial_index", "onset_ticks", "end_ticks")
        .join(presses, on="subject")
        .filter(pl.col("time_ticks") >= pl.col("onset_ticks"), pl.col("time_ticks") < pl.col("end_ticks"))
        .sort("subject", "trial_index", "time_ticks", "line")
        .unique([*trial, "time_ticks"], keep="last", maintain_order=True)
        .with_columns((pl.col("key") - 1).clip(0, cfg.max_rating).cast(pl.Int8).alias("value"))
        .filter(pl.col("value") != pl.col("value").shift(1, fill_value=0).over(trial))
        .with_columns(
            (pl.col("time_ticks").shift(-1).over(trial).fill_null(pl.col("end_ticks")) - pl.col("time_ticks")).alias(
                "duration_ticks"
            )
        )
        .select(
            *trial,
            pl.col("time_ticks").alias("onset_ticks"),
            "duration_ticks",
            "value",
            pl.col("code").alias("response_key"),
        )
        .collect()
    )


def events_table(
    events: pl.DataFrame, timeline: pl.DataFrame, cfg: ProtocolConfig = ProtocolConfig(), *, stim_file: bool = True
) -> pl.DataFrame:
    """One participant's events file, sorted by onset (nulls are written as n/a).

    `timeline`: that participant's rows of `TIMELINE_SCHEMA`; `events`: their log events.
    """
    ratings = rating_changes(events, timeline, cfg).select(
        "onset_ticks",
        "duration_ticks",
        pl.lit(RATING).alias("trial_type"),
        "value",
        "response_key",
        pl.lit(None, pl.Utf8).alias("stim_id"),
        pl.lit(None, pl.Utf8).alias("stim_file"),
        "trial_index",
        pl.lit(None, pl.Float64).alias("warmup_s"),
        pl.lit(1, pl.Int8).alias("order"),
    )
    rows = pl.concat([_video_rows(timeline, cfg), ratings]).sort("onset_ticks", "order", "trial_index")
    per_second = cfg.log_ticks_per_second
    return rows.with_columns(*(seconds(rows[ticks], per_second, name) for name, ticks in _TICKS.items())).select(
        [c for c in EVENT_COLUMNS if stim_file or c != "stim_file"]
    )


def participants_table(timeline: pl.DataFrame) -> pl.DataFrame:
    """participants.tsv rows: `sub-001` .., the block shown first and the counterbalancing sequence (SPEC §1).

    Read from what each participant was shown (the condition of trial 0), not from the
    log's file name: sequence 1 = ASMR block first, 2 = Nature block first.
    """
    first = timeline.filter(pl.col("trial_index") == 0).sort("subject")
    asmr_first = pl.col("condition") == "ASMR"
    return first.select(
        pl.col("subject").map_elements(participant_label, return_dtype=pl.Utf8).alias("participant_id"),
        pl.when(asmr_first).then(pl.lit("ASMR-first")).otherwise(pl.lit("Nature-first")).alias("block_order"),
        pl.when(asmr_first).then(1).otherwise(2).cast(pl.Int8).alias("sequence"),
    )
