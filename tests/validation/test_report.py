"""All validation analyses end to end on a small hand-built dataset with bad inputs, then the written report."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.signal

from restasmr_jax.config import STIMULUS_FILES, StatsConfig, condition_of
from restasmr_jax.synth.physiology import synth_ppg
from restasmr_jax.validation import analysis, report

FS = 500.0  # a coarser rate than the archive keeps the fake recordings small; the code reads it from the header
ASMR_FIRST = ["vid2", "vid1", "vid3", "vid4", "vid6", "vid5", "vid8", "vid7"]
NATURE_FIRST = ASMR_FIRST[4:] + ASMR_FIRST[:4]
ONSETS_S = [64.3, 120.0, 180.0, 240.0, 420.0, 480.0, 540.0, 600.0]
SESSION_S = 720.0


@dataclass
class Recording:
    samples: np.ndarray
    interval_ms: float
    path: Path = Path("fake_csv.txt")


def rating_of(subject: int, video: str, n: int) -> np.ndarray:
    """Participant 4 never responds; others tingle in stimulus-locked episodes and like nature steadily."""
    out = np.zeros(n, np.int8)
    if subject == 4:
        return out
    shift = {1: 0, 3: 20, 5: 40, 6: 10}[subject]
    if condition_of(video) == "ASMR":
        for start in (40, 200, 380):
            out[start + shift : start + shift + 90] = 1 + (start // 200)
    else:
        out[30:] = 1
        out[150 + shift : 300 + shift] = 2
    return out


def fake_dataset(subjects=(1, 3, 4, 5, 6)):
    timeline, labels = [], []
    for subject in subjects:
        order = ASMR_FIRST if subject % 2 else NATURE_FIRST
        for index, (video, onset) in enumerate(zip(order, ONSETS_S)):
            seconds = 55.7 if index == 0 else 60.0
            n = 507 if index == 0 else 550
            on, end = round(onset * 10_000), round((onset + seconds) * 10_000)
            timeline.append(
                {
                    "subject": subject,
                    "video": video,
                    "trial_index": index,
                    "condition": condition_of(video),
                    "stimulus": STIMULUS_FILES[video],
                    "onset_ticks": on,
                    "end_ticks": end,
                    "onset_s": on / 1e4,
                    "end_s": end / 1e4,
                    "n_frames": n,
                }
            )
            labels.append(
                pl.DataFrame(
                    {
                        "subject": np.full(n, subject, np.int32),
                        "trial_index": np.full(n, index, np.int32),
                        "video": [video] * n,
                        "stimulus": [STIMULUS_FILES[video]] * n,
                        "condition": [condition_of(video)] * n,
                        "t": np.arange(n) / 10,
                        "intensity": rating_of(subject, video, n),
                    }
                )
            )
    schema = {
        "subject": pl.Int32,
        "video": pl.Utf8,
        "trial_index": pl.Int32,
        "condition": pl.Utf8,
        "stimulus": pl.Utf8,
        "onset_ticks": pl.Int64,
        "end_ticks": pl.Int64,
        "onset_s": pl.Float64,
        "end_s": pl.Float64,
        "n_frames": pl.Int32,
    }
    return pl.concat(labels), pl.DataFrame(timeline, schema=schema)


def fake_recording(subject, labels, timeline, flat_nature=False, seed=0):
    """Heart rate 70 bpm, 4 bpm slower per tingle level, 3 bpm faster per pleasantness level."""
    rng = np.random.default_rng(seed + subject)
    n = round(SESSION_S * FS)
    grid = np.arange(n) / FS
    hr = np.full(n, 70.0)
    for trial in timeline.filter(pl.col("subject") == subject).iter_rows(named=True):
        rating = labels.filter((pl.col("subject") == subject) & (pl.col("video") == trial["video"]))["intensity"]
        start = trial["onset_s"] + 5.0
        inside = (grid >= start) & (grid < start + rating.len() / 10)
        level = rating.to_numpy()[((grid[inside] - start) * 10).astype(int).clip(0, rating.len() - 1)]
        hr[inside] += (-4.0 if trial["condition"] == "ASMR" else 3.0) * level
    phase = np.cumsum(hr / 60.0 / FS)
    beats = np.interp(np.arange(1, phase[-1]), phase, grid)
    raw = 2.5 + synth_ppg(beats, FS, n) + rng.normal(0, 0.003, n)
    if flat_nature:  # a sensor off the finger during every nature video: nothing to detect
        for trial in timeline.filter((pl.col("subject") == subject) & (pl.col("condition") == "Nature")).iter_rows(
            named=True
        ):
            raw[round(trial["onset_s"] * FS) : round(trial["end_s"] * FS)] = raw[round(trial["onset_s"] * FS) - 1]
    sos = scipy.signal.butter(2, [0.5, 35.0], btype="bandpass", fs=FS, output="sos")
    return Recording(np.stack([raw, scipy.signal.sosfiltfilt(sos, raw)], axis=-1), 1000.0 / FS)


def numpy_bootstrap(values, seed, n_resamples):
    rng = np.random.default_rng(seed)
    return values[rng.integers(0, values.size, (n_resamples, values.size))].mean(axis=1)


@pytest.fixture(scope="module")
def validated():
    labels, timeline = fake_dataset()
    recordings = {s: fake_recording(s, labels, timeline, flat_nature=(s == 5)) for s in (1, 3, 4, 5)}
    result = analysis.validate(
        labels,
        timeline,
        recordings.get,
        stats_cfg=StatsConfig(n_isa_bootstrap=500),
        bootstrap_means=numpy_bootstrap,
        progress=False,
    )
    return labels, timeline, result


def test_bad_inputs_are_reported_not_fatal(validated):
    _, _, result = validated
    # Participant 4 never responds: no ISA contribution, counted as a non-responder.
    assert all(4 in row["skipped_constant"] for row in result.agreement.values())
    assert result.behaviour["participants"]["ASMR"]["non_responders"] == [4]
    # Participant 5's nature PPG is flat: every such window is skipped and counted.
    flat = result.windows.filter((pl.col("subject") == 5) & (pl.col("condition") == "Nature"))
    assert flat.height == 4 * 50  # odd ID: ASMR first, so all four nature trials are 55-s epochs
    assert (flat["status"] == "too_few_beats").all() and (flat["n_peaks"] == 0).all()
    # ... so participant 5 misses a condition; 6 has no recording at all; 4 has constant ratings.
    excluded = {row["subject"]: row["missing"] for row in result.paired_test["excluded"]}
    assert set(excluded) == {4, 5, 6}
    assert excluded[5] == {"Nature": "0 valid windows (need > 10)"}
    assert excluded[6]["ASMR"] == "no PPG recording"
    assert excluded[4] == {"ASMR": "constant rating", "Nature": "constant rating"}
    assert result.paired_test["subjects"] == [1, 3]
    assert any("participant 6: no PPG recording" in note for note in result.notes)
    assert set(result.integrity["per_participant"]) == {1, 3, 4, 5}


def test_recovers_the_built_in_pulse_rate_effect(validated):
    _, _, result = validated
    test = result.paired_test
    assert max(test["r_asmr"]) < 0 < min(test["r_nature"])
    ok = result.windows.filter(pl.col("status") == "ok")
    assert ok["pulse_rate"].is_between(55, 85).all()


def test_integrity_counts_the_flat_nature_videos(validated):
    _, timeline, result = validated
    five = result.integrity["per_participant"][5]
    nature = timeline.filter((pl.col("subject") == 5) & (pl.col("condition") == "Nature"))
    epoch_samples = ((nature["end_ticks"] - nature["onset_ticks"] - 50_000) / 20).sum()  # 2-ms samples
    assert five["lost_samples"] == pytest.approx(epoch_samples, abs=4)
    assert result.integrity["per_participant"][1]["lost_samples"] == 0


def test_report_is_written_and_printed(validated, tmp_path):
    _, _, result = validated
    markdown = report.write_report(result, tmp_path, source="synthetic")
    data = json.loads((tmp_path / "validation.json").read_text())
    assert data["data_source"] == "synthetic" and "synthetic" in markdown
    assert data["pulse_rate"]["paired_test"]["subjects"] == [1, 3]
    assert data["pulse_rate"]["windows"]["by_status"]["too_few_beats"] == 200
    windows = pl.read_csv(tmp_path / "pulse_rate_windows.csv")
    assert windows.height == result.windows.height and {"n_peaks", "n_rejected", "status"} <= set(windows.columns)
    for stem in ("fig1_protocol_timeline", "fig3_rating_timecourse", "fig4_pulse_rate_correlation"):
        for suffix in (".png", ".svg"):
            assert (tmp_path / "figures" / f"{stem}{suffix}").stat().st_size > 10_000
    assert not (tmp_path / "figures" / "fig6_tinglegram.png").exists()
    assert "not drawn (no predictions given" in markdown
    assert "participant 5: Nature: 0 valid windows" in markdown


def test_tinglegram_falls_back_and_says_so(validated, tmp_path):
    from restasmr_jax.evidence.predictions import Predictions

    _, _, result = validated
    raw = np.zeros((2, 550), np.int32)
    raw[0, 100:200] = 2
    probs = np.where(raw > 0, 0.9, 0.1).astype(np.float32)
    pred = Predictions(
        np.where(raw > 0, 1, 0),
        (probs > 0.5).astype(np.int32),
        probs,
        raw,
        np.ones((2, 550), bool),
        np.array([False, True]),
        np.array([8, 8], np.int32),
        np.array(["vid2", "vid6"]),
        np.zeros(2, np.int32),
    )
    markdown = report.write_report(result, tmp_path, source="synthetic", predictions=pred)
    assert (tmp_path / "figures" / "fig6_tinglegram.png").stat().st_size > 10_000
    assert "Fig. 6: participant 27 has no ASMR and Nature test trial" in markdown and "drew participant 8" in markdown
