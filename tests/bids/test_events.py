"""Events rows: a row per video and per rating change, whose zero-order hold is the dense labels (SPEC §2)."""

import csv

import polars as pl
import pytest

from restasmr_jax.bids.events import events_table, participants_table, rating_changes
from restasmr_jax.config import ProtocolConfig
from restasmr_jax.ingest.labels import TIMELINE_SCHEMA
from restasmr_jax.io import bids
from restasmr_jax.io.presentation import EVENT_SCHEMA


def timeline_of(onsets: list[int]) -> pl.DataFrame:
    cfg = ProtocolConfig()
    rows = []
    for i, onset in enumerate(onsets):
        end = onset + round(cfg.trial_seconds_for(i) * cfg.log_ticks_per_second)
        video = ("vid2", "vid6")[i]
        rows.append(
            (
                9,
                video,
                i,
                ("ASMR", "Nature")[i],
                ("ASMR2.avi", "nature2.avi")[i],
                onset,
                end,
                onset / 1e4,
                end / 1e4,
                cfg.n_frames_for(i),
            )
        )
    return pl.DataFrame(rows, schema=TIMELINE_SCHEMA, orient="row")


def presses(rows: list[tuple[str, int]]) -> pl.DataFrame:
    """Response events (code, time) in file order."""
    return pl.DataFrame(
        [(9, 1, "Response", code, time, line) for line, (code, time) in enumerate(rows, start=10)],
        schema=EVENT_SCHEMA,
        orient="row",
    )


@pytest.fixture
def case():
    timeline = timeline_of([100_000, 700_000])  # trial 0 ends at 657_000, trial 1 at 1_300_000
    events = presses(
        [
            ("4", 90_000),  # before the first video: no trial
            ("2", 100_000),  # at the onset (warm-up): 0 -> 1
            ("2", 120_000),  # repeats the held 1
            ("3", 140_000),  # two presses at one tick: the later line wins ...
            ("1", 140_000),  # ... 1 -> 0
            ("5", 150_000),  # out of range, clipped: 0 -> 3
            ("4", 160_000),  # 3 again: not a change although another key
            ("x", 170_000),  # not a number: skipped
            ("2", 657_000),  # exactly at trial 0's end, before trial 1: nowhere
            ("1", 710_000),  # trial 1 starts at 0: pressing 1 is no change
            ("3", 750_000),  # 0 -> 2 until the trial end
        ]
    )
    return events, timeline


def test_rating_changes_by_hand(case):
    events, timeline = case
    rows = rating_changes(events, timeline).select(
        "trial_index", "onset_ticks", "duration_ticks", "value", "response_key"
    )
    assert rows.rows() == [
        (0, 100_000, 40_000, 1, "2"),
        (0, 140_000, 10_000, 0, "1"),
        (0, 150_000, 507_000, 3, "5"),
        (1, 750_000, 550_000, 2, "3"),
    ]


def test_events_table_interleaves_videos_and_ratings_in_seconds(case):
    events, timeline = case
    table = events_table(events, timeline)
    assert table.columns == [
        "onset",
        "duration",
        "trial_type",
        "value",
        "response_key",
        "stim_id",
        "stim_file",
        "trial_index",
        "warmup_s",
    ]
    assert table.select("onset", "duration", "trial_type", "value", "stim_id", "trial_index").rows() == [
        (10.0, 55.7, "ASMR", None, "vid2", 0),  # a video before a rating at the same time
        (10.0, 4.0, "rating", 1, None, 0),
        (14.0, 1.0, "rating", 0, None, 0),
        (15.0, 50.7, "rating", 3, None, 0),
        (70.0, 60.0, "Nature", None, "vid6", 1),
        (75.0, 55.0, "rating", 2, None, 1),
    ]
    assert table["warmup_s"].to_list() == [5.0, None, None, None, 5.0, None]
    assert "stim_file" not in events_table(events, timeline, stim_file=False).columns


def zero_order_hold(rows: list[dict], onset: int, n_frames: int) -> list[int]:
    """Slow reference: the value of the last rating row at or before each 10-Hz epoch tick, else 0."""
    changes = sorted((round(float(r["onset"]) * 1e4), int(r["value"])) for r in rows)
    held = []
    for k in range(n_frames):
        tick = onset + 50_000 + k * 1_000
        held.append(next((v for t, v in reversed(changes) if t <= tick), 0))
    return held


def test_exported_rating_rows_hold_to_the_dense_labels(tiny_bids, tiny_ingested):
    for subject in tiny_bids.participants:
        with open(bids.events_path(tiny_bids.root, subject), newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        trials = tiny_ingested.timeline.filter(pl.col("subject") == subject)
        for trial in trials.iter_rows(named=True):
            video = [r for r in rows if r["trial_type"] != "rating" and r["trial_index"] == str(trial["trial_index"])]
            assert [(round(float(video[0]["onset"]) * 1e4), video[0]["stim_id"])] == [
                (trial["onset_ticks"], trial["video"])
            ]
            ratings = [r for r in rows if r["trial_type"] == "rating" and r["trial_index"] == str(trial["trial_index"])]
            labels = tiny_ingested.labels.filter(
                pl.col("subject") == subject, pl.col("trial_index") == trial["trial_index"]
            )["intensity"].to_list()
            assert zero_order_hold(ratings, trial["onset_ticks"], trial["n_frames"]) == labels


def test_participants_block_order_follows_the_generators_rule(tiny_ingested):
    table = participants_table(tiny_ingested.timeline)
    # the stand-in shows odd IDs the ASMR block first (sequence 1), even IDs the Nature block (sequence 2)
    assert table.rows() == [
        ("sub-001", "ASMR-first", 1),
        ("sub-003", "ASMR-first", 1),
        ("sub-004", "Nature-first", 2),
        ("sub-005", "ASMR-first", 1),
    ]
