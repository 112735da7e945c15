"""Trial timeline and dense ZOH labels against hand-computed values and a slow reference (SPEC §2)."""

import dataclasses

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from restasmr_jax.config import ProtocolConfig
from restasmr_jax.ingest.labels import build_timeline, dense_labels
from restasmr_jax.io.presentation import EVENT_SCHEMA, LogFormatError, read_log
from tests.io.test_presentation import CODES, ONSETS, protocol_rows, write_log

WARMUP = 50_000  # 5.0 s in 0.1-ms ticks, written out independently of the config


def labels_from_log(tmp_path, responses):
    events = read_log(write_log(tmp_path, protocol_rows(responses))).events
    timeline = build_timeline(events, source="test")
    return timeline, dense_labels(events, timeline)


def trial(labels, i):
    return labels.filter(pl.col("trial_index") == i)["intensity"].to_numpy()


def test_timeline_durations_and_mapping(tmp_path):
    timeline, _ = labels_from_log(tmp_path, [])
    assert timeline["video"].to_list() == list(CODES)
    assert timeline["trial_index"].to_list() == list(range(8))
    assert timeline["onset_ticks"].to_list() == list(ONSETS)
    durations = (timeline["end_ticks"] - timeline["onset_ticks"]).to_list()
    assert durations == [557_000] + [600_000] * 7  # 55.7 s clamp for the first video
    assert timeline["onset_s"].to_list() == [t / 10_000 for t in ONSETS]
    assert timeline["end_s"][0] == pytest.approx(64.3 + 55.7)
    assert timeline["n_frames"].to_list() == [507] + [550] * 7
    assert timeline["stimulus"].to_list()[:2] == ["ASMR3.avi", "ASMR1.avi"]
    assert timeline["stimulus"].to_list()[4] == "nature3.avi"  # vid7
    assert timeline["condition"].to_list() == ["ASMR"] * 4 + ["Nature"] * 4


def test_hand_computed_labels(tmp_path):
    o = ONSETS
    responses = [
        # trial 0 (onset o0): three warm-up presses, then one exactly at onset+5 s, one later,
        # and one exactly at the trial end (55.7 s), which belongs to no trial.
        (o[0] + 7_000, 2),
        (o[0] + 37_000, 4),
        (o[0] + WARMUP - 1, 3),
        (o[0] + WARMUP, 1),
        (o[0] + WARMUP + 12_345, 4),  # 1.2345 s into the epoch -> visible from t = 1.3
        (o[0] + 557_000, 2),
        # trial 1: nothing at all (the trial-0 state must not carry over)
        # trial 2: warm-up presses only; the last one holds for the whole epoch
        (o[2] + 1_000, 3),
        (o[2] + 40_000, 2),
        # trial 3: two presses in one 100-ms step (last wins), two at the same instant (later line wins)
        (o[3] + WARMUP + 20_100, 2),
        (o[3] + WARMUP + 20_900, 4),
        (o[3] + WARMUP + 30_000, 2),
        (o[3] + WARMUP + 30_000, 3),
        # trial 4: out-of-range keys are clipped to 0..3; a press 50 ms in shows from t = 0.1
        (o[4] + WARMUP + 500, 7),
        (o[4] + WARMUP + 100_000, 0),
        # trial 7: a press just before the end
        (o[7] + 600_000 - 1, 4),
    ]
    timeline, labels = labels_from_log(tmp_path, responses)
    assert labels.height == 507 + 7 * 550
    assert labels.filter(pl.col("trial_index") == 0)["t"].to_list() == [k / 10 for k in range(507)]

    expected0 = np.zeros(507, np.int8)  # the press at onset+5 s (key 1) sets t = 0 to 0
    expected0[13:] = 3
    np.testing.assert_array_equal(trial(labels, 0), expected0)
    np.testing.assert_array_equal(trial(labels, 1), np.zeros(550))
    np.testing.assert_array_equal(trial(labels, 2), np.ones(550))
    expected3 = np.zeros(550)
    expected3[21:30], expected3[30:] = 3, 2
    np.testing.assert_array_equal(trial(labels, 3), expected3)
    expected4 = np.zeros(550)
    expected4[1:100] = 3
    np.testing.assert_array_equal(trial(labels, 4), expected4)
    np.testing.assert_array_equal(trial(labels, 7), np.zeros(550))  # last sample 54.9 s < press at 55.0 s
    assert labels.schema["intensity"] == pl.Int8 and labels.schema["t"] == pl.Float64


def test_warmup_state_without_epoch_press_and_without_warmup(tmp_path):
    o = ONSETS
    _, labels = labels_from_log(tmp_path, [(o[5] + 20_000, 4), (o[6] + WARMUP + 1, 2)])
    np.testing.assert_array_equal(trial(labels, 5), np.full(550, 3))
    expected = np.ones(550)
    expected[0] = 0  # 0.1 ms after the epoch start is after sample 0
    np.testing.assert_array_equal(trial(labels, 6), expected)


def test_non_numeric_response_never_becomes_a_zero_rating(tmp_path):
    o = ONSETS
    _, labels = labels_from_log(tmp_path, [(o[1] + WARMUP + 10_000, 4), (o[1] + WARMUP + 20_000, "x")])
    expected = np.zeros(550)
    expected[10:] = 3  # the unreadable press at 2.0 s changes nothing
    np.testing.assert_array_equal(trial(labels, 1), expected)


def test_several_subjects_at_once_equal_one_by_one(tmp_path):
    a = read_log(write_log(tmp_path, protocol_rows([(ONSETS[1] + 60_000, 3)]), name="001-1.log")).events
    b = read_log(write_log(tmp_path, protocol_rows([(ONSETS[1] + 61_000, 2)]), name="004-2.log")).events
    both = pl.concat([b, a])
    timeline = build_timeline(both, source="test")
    assert timeline["subject"].to_list() == [1] * 8 + [4] * 8
    labels = dense_labels(both, timeline)
    for events in (a, b):
        t = build_timeline(events, source="test")
        alone = dense_labels(events, t)
        assert labels.filter(pl.col("subject") == events["subject"][0]).equals(alone)


def test_timeline_refuses_wrong_video_count():
    events = pl.DataFrame(
        {
            "subject": [3, 3],
            "trial": [1, 2],
            "event_type": ["Video", "Video"],
            "code": ["vid1", "vid2"],
            "time_ticks": [10, 20],
            "line": [5, 6],
        },
        schema=EVENT_SCHEMA,
    )
    with pytest.raises(LogFormatError, match="subject 003 has 2 Video events, expected 8"):
        build_timeline(events, source="x.log")


# ---- property: the Polars implementation equals a slow, obvious one --------------------------

CFG = dataclasses.replace(ProtocolConfig(), n_trials=3)


def reference_labels(onsets, responses, cfg=CFG):
    """Per trial, per sample: the latest in-window press at or before the sample instant (pure Python)."""
    out = []
    for i, onset in enumerate(onsets):
        end = onset + (557_000 if i == 0 else 600_000)
        n = 507 if i == 0 else 550
        window = [(time, line, key) for line, (time, key) in enumerate(responses) if onset <= time < end]
        series = []
        for k in range(n):
            instant = onset + WARMUP + k * 1_000
            seen = [(time, line, key) for time, line, key in window if time <= instant]
            series.append(min(max(max(seen)[2] - 1, 0), 3) if seen else 0)
        out.append(series)
    return out


def events_frame(onsets, responses):
    rows = [("Video", f"vid{i + 1}", t) for i, t in enumerate(onsets)]
    rows += [("Response", str(key), t) for t, key in responses]
    return pl.DataFrame(
        {
            "subject": [9] * len(rows),
            "trial": list(range(len(rows))),
            "event_type": [r[0] for r in rows],
            "code": [r[1] for r in rows],
            "time_ticks": [r[2] for r in rows],
            "line": list(range(1, len(rows) + 1)),
        },
        schema=EVENT_SCHEMA,
    )


@st.composite
def sessions(draw):
    gaps = draw(st.lists(st.integers(550_000, 700_000), min_size=2, max_size=2))  # may overlap a trial
    onsets = list(np.cumsum([draw(st.integers(0, 100_000))] + gaps).tolist())
    # Times snap to the interesting boundaries often, and sometimes fall anywhere.
    anchors = [o + d for o in onsets for d in (-1, 0, WARMUP - 1, WARMUP, WARMUP + 1_000, 556_999, 557_000, 600_000)]
    time = st.one_of(
        st.sampled_from(anchors),
        st.builds(lambda a, d: a + d, st.sampled_from(anchors), st.integers(-1_500, 1_500)),
        st.integers(0, onsets[-1] + 700_000),
    )
    responses = draw(st.lists(st.tuples(time, st.integers(0, 6)), max_size=25))
    return onsets, sorted(responses, key=lambda r: r[0])  # a log lists events in time order


@settings(max_examples=60, deadline=None)
@given(sessions())
def test_zoh_equals_slow_reference(session):
    onsets, responses = session
    events = events_frame(onsets, responses)
    timeline = build_timeline(events, source="hypothesis", cfg=CFG)
    labels = dense_labels(events, timeline, CFG)
    got = [labels.filter(pl.col("trial_index") == i)["intensity"].to_list() for i in range(len(onsets))]
    assert got == reference_labels(onsets, responses)
