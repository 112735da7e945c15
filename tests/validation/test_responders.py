"""Behavioural efficacy and the group rating time course (SPEC §10) on hand-made labels."""

import numpy as np
import polars as pl
import pytest

from restasmr_jax.validation import responders

# subject -> video -> (n frames, [(first frame, stop frame, intensity)])
TRIALS = {
    1: {"vid1": (507, [(100, 300, 2)]), "vid2": (550, []), "vid5": (550, [(0, 550, 1)])},
    3: {"vid1": (550, [(0, 50, 1), (60, 70, 3)]), "vid2": (550, [(500, 550, 1)]), "vid5": (550, [])},
    4: {"vid1": (550, []), "vid2": (550, []), "vid5": (507, [])},  # never responds
}


def labels_frame(trials=TRIALS) -> pl.DataFrame:
    rows = []
    for subject, videos in trials.items():
        for index, (video, (n, spans)) in enumerate(videos.items()):
            intensity = np.zeros(n, np.int8)
            for a, b, level in spans:
                intensity[a:b] = level
            rows.append(
                pl.DataFrame(
                    {
                        "subject": np.full(n, subject, np.int32),
                        "trial_index": np.full(n, index, np.int32),
                        "video": [video] * n,
                        "stimulus": ["x.avi"] * n,
                        "condition": ["ASMR" if video in ("vid1", "vid2") else "Nature"] * n,
                        "t": np.arange(n) / 10,
                        "intensity": intensity,
                    }
                )
            )
    return pl.concat(rows)


def test_rates_and_durations_by_hand():
    out = responders.behavioural_efficacy(labels_frame())
    asmr, nature = out["participants"]["ASMR"], out["participants"]["Nature"]
    assert (asmr["n_responders"], asmr["n_participants"], asmr["non_responders"]) == (2, 3, [4])
    assert asmr["percent"] == pytest.approx(200 / 3)
    assert (nature["n_responders"], nature["non_responders"]) == (1, [3, 4])
    assert out["per_video"]["vid1"]["n_responders"] == 2 and out["per_video"]["vid2"]["n_responders"] == 1
    assert out["per_video"]["vid5"]["percent"] == pytest.approx(100 / 3)
    assert set(out["per_video"]) == {"vid1", "vid2", "vid5"}
    asmr_seconds = np.array([20.0, 6.0, 5.0])  # subject 1 vid1; subject 3 vid1 (50 + 10 frames); subject 3 vid2
    assert out["durations"]["ASMR"]["n_trials"] == 3
    assert out["durations"]["ASMR"]["mean_seconds"] == pytest.approx(asmr_seconds.mean())
    assert out["durations"]["ASMR"]["sd_seconds"] == pytest.approx(asmr_seconds.std())
    assert out["durations"]["Nature"] == {"n_trials": 1, "mean_seconds": 55.0, "sd_seconds": 0.0}


def test_rating_matrix_truncates_to_the_shortest_trial():
    subjects, series = responders.rating_matrix(labels_frame(), "vid1")
    assert subjects.tolist() == [1, 3, 4] and series.shape == (3, 507)
    assert series[0, 100:300].tolist() == [2.0] * 200 and series[2].sum() == 0


def test_group_timecourse_uses_responders_only():
    series = np.array([[0, 1, 2, 3], [2, 2, 2, 2], [0, 0, 0, 0.0]])
    out = responders.group_timecourse(series)
    np.testing.assert_allclose(out["mean"], [1, 1.5, 2, 2.5])
    np.testing.assert_allclose(out["sem"], series[:2].std(axis=0, ddof=1) / np.sqrt(2))
    assert out["n"] == 2 and out["time"].tolist() == [0.0, 0.1, 0.2, 0.3]
    nobody = responders.group_timecourse(np.zeros((3, 4)))
    assert nobody["n"] == 0 and np.isnan(nobody["mean"]).all()
