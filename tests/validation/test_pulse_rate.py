"""Pulse rate vs rating (SPEC §10): windows, beat detection against known beats, per-participant statistics."""

from decimal import Decimal

import numpy as np
import polars as pl
import pytest
import scipy.signal
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from restasmr_jax.config import SynthConfig, ValidationConfig
from restasmr_jax.ingest.ppg import sample_window
from restasmr_jax.synth.physiology import synth_ppg
from restasmr_jax.synth.subject import simulate_subject
from restasmr_jax.validation import pulse_rate as pr

FS = 2000.0
CFG = ValidationConfig()


def clean_ppg(beats: np.ndarray, fs: float, seconds: float, noise: float = 0.01, seed: int = 0):
    """(CH1 raw, CH2 0.5-35 Hz) of the generator's clean pulse wave with systolic peaks exactly at `beats` (s)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * fs)
    t = np.arange(n) / fs
    raw = synth_ppg(beats, fs, n) + 0.2 * np.sin(2 * np.pi * 0.1 * t) + 2.5 + rng.normal(0, noise, n)
    sos = scipy.signal.butter(2, [0.5, 35.0], btype="bandpass", fs=fs, output="sos")
    return raw, scipy.signal.sosfiltfilt(sos, raw)


def resting_beats(seconds: float, bpm: float = 68.0, seed: int = 1) -> np.ndarray:
    """Beat times with mild respiratory variability (2 %) and jitter, as at rest."""
    rng = np.random.default_rng(seed)
    beats, t = [], 0.4
    while t < seconds - 0.2:
        beats.append(t)
        t += 60.0 / bpm * (1 + 0.02 * np.sin(2 * np.pi * 0.25 * t)) + rng.normal(0, 0.004)
    return np.array(beats)


def test_window_count_matches_a_decimal_loop():
    for epoch in (55.0, 50.7, 5.0, 5.05, 4.9, 60.0, 0.0):
        count, start = 0, Decimal(0)
        while start + Decimal("5.0") < Decimal(str(epoch)):
            count, start = count + 1, start + Decimal("1.0")
        assert pr.n_windows(epoch, CFG) == count, epoch
    assert pr.n_windows(55.0) == 50 and pr.n_windows(50.7) == 46


def test_peak_detection_finds_known_beats_and_resting_pulse_rate():
    seconds = 55.0
    beats = resting_beats(seconds)
    _, ch2 = clean_ppg(beats, FS, seconds)
    count = pr.n_windows(seconds)
    windows = pr.stacked_windows(ch2, FS, count)
    result = pr.detect_beats(windows, FS)
    length, step = pr.window_geometry(FS)
    found = np.concatenate([result.peaks[k][result.peaks[k] >= 0] + k * step for k in range(count)]) / FS
    # Every beat of the epoch that some window covers is found within 20 ms.
    covered = beats[beats < (count - 1) * step / FS + length / FS]
    errors = np.abs(found[None, :] - covered[:, None]).min(axis=1)
    assert (errors <= 0.020).mean() >= 0.99
    for k in range(count):
        t0, t1 = k * step / FS, (k * step + length) / FS
        inside = beats[(beats >= t0) & (beats < t1)]
        truth_bpm = 60_000.0 / (np.diff(inside).mean() * 1000.0)
        assert abs(result.pulse_rate[k] - truth_bpm) < 1.0, k
        # Beats away from the window edges are each found (an edge beat lacks a prominent flank).
        peaks_s = result.peaks[k][result.peaks[k] >= 0] / FS + t0
        for b in inside[(inside > t0 + 0.6) & (inside < t1 - 0.6)]:
            assert np.abs(peaks_s - b).min() <= 0.020


def test_pulse_rate_tracks_the_generators_beats_in_a_full_synthetic_recording():
    """CH2 of a simulated participant (respiratory variability, drift, hum, artifacts): PR within 1 bpm."""
    sim = simulate_subject(SynthConfig(seed=7, n_subjects=4), 3)
    fs = 1000.0 / sim.interval_ms
    errors, offsets = [], []
    for trial in range(2):
        first, stop = sample_window(sim.interval_ms, sim.onset_ticks[trial], sim.end_ticks[trial])
        count = pr.n_windows((stop - first) / fs)
        beats = pr.detect_beats(pr.stacked_windows(sim.ch2[first:stop], fs, count), fs)
        for k in range(count):
            t0 = (first + k * fs) / fs
            inside = sim.beat_times_s[(sim.beat_times_s >= t0) & (sim.beat_times_s < t0 + 5.0)]
            errors.append(beats.pulse_rate[k] - 60.0 / np.diff(inside).mean())
            found = beats.peaks[k][beats.peaks[k] >= 0] / fs + t0
            offsets += [np.abs(found - b).min() for b in inside[(inside > t0 + 0.3) & (inside < t0 + 4.7)]]
    assert np.max(np.abs(errors)) < 1.0
    assert np.mean(np.array(offsets) <= 0.020) >= 0.99


def test_stacked_detection_equals_a_per_window_scipy_loop():
    beats = resting_beats(30.0, bpm=75.0, seed=3)
    _, ch2 = clean_ppg(beats, FS, 30.0, noise=0.05, seed=3)
    cfg = ValidationConfig(pr_peak_refine_seconds=0.0)
    count = pr.n_windows(30.0, cfg)
    result = pr.detect_beats(pr.stacked_windows(ch2, FS, count, cfg), FS, cfg)
    sos = scipy.signal.butter(2, [0.5, 4.0], btype="bandpass", fs=FS, output="sos")
    for k in range(count):
        chunk = ch2[k * 2000 : k * 2000 + 10_000]
        peaks, _ = scipy.signal.find_peaks(scipy.signal.sosfiltfilt(sos, chunk), distance=700, prominence=0.5)
        rr = np.diff(peaks) / FS * 1000.0
        valid = rr[(rr > 300) & (rr < 1300)]
        np.testing.assert_array_equal(result.peaks[k][: peaks.size], peaks)
        assert result.n_peaks[k] == peaks.size and result.n_kept[k] == valid.size
        assert result.n_rejected[k] == rr.size - valid.size
        expected = 60000.0 / valid.mean() if valid.size >= 3 else np.nan
        np.testing.assert_allclose(result.pulse_rate[k], expected, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 8000), max_size=9), min_size=1, max_size=6))
def test_interval_bookkeeping_equals_a_slow_loop(rows):
    rows = [sorted(set(r)) for r in rows]
    n = np.array([len(r) for r in rows])
    peaks = np.full((len(rows), max(1, n.max())), -1)
    for i, r in enumerate(rows):
        peaks[i, : len(r)] = r
    fs = 1000.0
    beats = pr.beats_from_peaks(peaks, n, fs, CFG)
    for i, r in enumerate(rows):
        iv = [b - a for a, b in zip(r, r[1:])]  # ms at 1000 Hz
        kept = [x for x in iv if 300 < x < 1300]
        assert beats.n_kept[i] == len(kept) and beats.n_rejected[i] == len(iv) - len(kept)
        if len(kept) >= 3:
            assert beats.pulse_rate[i] == pytest.approx(60000.0 / (sum(kept) / len(kept)))
        else:
            assert np.isnan(beats.pulse_rate[i])


def test_window_ratings_are_label_means():
    labels = np.random.default_rng(0).integers(0, 4, 550)
    got = pr.window_ratings(labels, 50, CFG)
    expected = [labels[k * 10 : k * 10 + 50].mean() for k in range(50)]
    np.testing.assert_allclose(got, expected)
    short = pr.window_ratings(labels[:507], 50, CFG)
    assert np.isnan(short[46:]).all() and np.isfinite(short[:46]).all()


def test_flat_trial_windows_are_skipped_and_counted():
    epoch = np.zeros(round(55.0 * FS))
    out = pr.trial_windows(epoch, FS, 55.0, np.ones(550), CFG)
    assert out["window"].size == 50
    assert (out["status"] == "too_few_beats").all() and np.isnan(out["pulse_rate"]).all()
    assert (out["n_peaks"] == 0).all()


def test_recording_that_ends_early_marks_missing_windows():
    beats = resting_beats(55.0)
    _, ch2 = clean_ppg(beats, FS, 55.0)
    out = pr.trial_windows(ch2[: round(20.0 * FS)], FS, 55.0, np.zeros(550), CFG)
    assert out["window"].size == 50
    assert (out["status"][:16] == "ok").all() and (out["status"][16:] == "missing_ppg").all()


def _windows(subject, condition, pulse, rating, status="ok"):
    n = len(pulse)
    return {
        "subject": subject,
        "video": "vid1" if condition == "ASMR" else "vid5",
        "trial_index": 0,
        "condition": condition,
        "window": np.arange(n),
        "start_s": np.arange(n, dtype=float),
        "pulse_rate": np.asarray(pulse, float),
        "rating": np.asarray(rating, float),
        "n_peaks": np.full(n, 6),
        "n_kept": np.full(n, 5),
        "n_rejected": np.zeros(n, int),
        "status": np.full(n, status),
    }


def test_participant_correlations_and_paired_test_against_scipy():
    rng = np.random.default_rng(4)
    rows, expected = [], {}
    for subject in (1, 3, 4, 5):
        for condition, sign in (("ASMR", -1), ("Nature", 1)):
            rating = rng.integers(0, 4, 40).astype(float)
            pulse = 70 + sign * rating + rng.normal(0, 2, 40)
            rows.append(_windows(subject, condition, pulse, rating))
            expected[(subject, condition)] = scipy.stats.spearmanr(pulse, rating).statistic
    rows.append(_windows(6, "ASMR", 70 + rng.normal(0, 1, 40), rng.integers(0, 4, 40)))  # no Nature trials
    rows.append(_windows(6, "Nature", 70 + rng.normal(0, 1, 40), np.zeros(40)))  # constant rating
    rows.append(_windows(7, "ASMR", 70 + rng.normal(0, 1, 10), np.arange(10)))  # only 10 windows
    rows.append(_windows(7, "Nature", 70 + rng.normal(0, 1, 30), np.arange(30), status="too_few_beats"))
    corr = pr.participant_correlations(pr.windows_frame(rows), CFG)
    for (subject, condition), r in expected.items():
        got = corr.filter((pl.col("subject") == subject) & (pl.col("condition") == condition))["r"][0]
        assert got == pytest.approx(r)
    reasons = {(r["subject"], r["condition"]): r["reason"] for r in corr.to_dicts() if r["r"] is None}
    assert reasons[(6, "Nature")] == "constant rating"
    assert reasons[(7, "ASMR")].startswith("10 valid windows") and reasons[(7, "Nature")].startswith("0 valid")
    test = pr.paired_condition_test(corr)
    a = np.array([expected[(s, "ASMR")] for s in (1, 3, 4, 5)])
    n = np.array([expected[(s, "Nature")] for s in (1, 3, 4, 5)])
    ref = scipy.stats.ttest_rel(np.arctanh(a), np.arctanh(n))
    assert test["n_paired"] == 4 and test["subjects"] == [1, 3, 4, 5]
    assert test["t"] == pytest.approx(ref.statistic) and test["p"] == pytest.approx(ref.pvalue)
    assert test["mean_r"]["ASMR"] == pytest.approx(a.mean()) and test["mean_r"]["Nature"] == pytest.approx(n.mean())
    assert test["mean_r"]["ASMR"] < 0 < test["mean_r"]["Nature"]
    excluded = {row["subject"]: row["missing"] for row in test["excluded"]}
    assert set(excluded) == {6, 7} and excluded[6] == {"Nature": "constant rating"}
