"""Pulse-rate windows of one participant: stacked arrays vs a pandas slice per window (SPEC §10).

Baseline: what a researcher would write (and the authors' notebook does):
keep the recording as a DataFrame with a seconds column, and for every
5-s window select rows by a boolean time mask, band-pass that chunk and
find its peaks.  Ours: one strided `[window, sample]` view per trial, one
`sosfiltfilt` call along the sample axis, peaks per row, interval
bookkeeping on padded arrays.  Both run on the same simulated participant
(~400 windows); peak refinement is switched off so both compute the same
thing, and the pulse rates are compared.

    python -m bench.pulse_rate [--subject N] [--repeat R]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import scipy.signal

from restasmr_jax.config import SynthConfig, ValidationConfig
from restasmr_jax.ingest.ppg import sample_window
from restasmr_jax.synth import simulate_subject
from restasmr_jax.validation import pulse_rate as pr


def pandas_per_window(frame: pd.DataFrame, onsets_s, ends_s, fs: float) -> list[float]:
    sos = scipy.signal.butter(2, [0.5, 4.0], btype="bandpass", fs=fs, output="sos")
    rates = []
    for onset, end in zip(onsets_s, ends_s):
        start = onset + 5.0
        while start + 5.0 < end:
            chunk = frame.loc[(frame["t"] >= start) & (frame["t"] < start + 5.0), "ch2"].to_numpy()
            peaks, _ = scipy.signal.find_peaks(
                scipy.signal.sosfiltfilt(sos, chunk), distance=int(fs * 0.35), prominence=0.5
            )
            rr = np.diff(peaks) / fs * 1000.0
            valid = rr[(rr > 300) & (rr < 1300)]
            rates.append(60000.0 / valid.mean() if valid.size >= 3 else np.nan)
            start += 1.0
    return rates


def stacked(
    ch2: np.ndarray, windows: list[tuple[int, int]], seconds: list[float], fs: float, cfg: ValidationConfig
) -> list[float]:
    rates = []
    for (first, stop), epoch_s in zip(windows, seconds):
        count = pr.n_windows(epoch_s, cfg)
        rates.extend(pr.detect_beats(pr.stacked_windows(ch2[first:stop], fs, count, cfg), fs, cfg).pulse_rate)
    return rates


def best_of(repeat: int, fn, *args) -> tuple[float, list[float]]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pulse_rate", description=__doc__.splitlines()[0])
    parser.add_argument("--subject", type=int, default=3, help="synthetic participant to use (default 3)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions; the best is reported (default 3)")
    args = parser.parse_args()

    sim = simulate_subject(SynthConfig(seed=0), args.subject)
    fs = 1000.0 / sim.interval_ms
    cfg = ValidationConfig(pr_peak_refine_seconds=0.0)
    windows = [sample_window(sim.interval_ms, on, end) for on, end in zip(sim.onset_ticks, sim.end_ticks)]
    seconds = [(end - on - 50_000) / 10_000 for on, end in zip(sim.onset_ticks, sim.end_ticks)]
    frame = pd.DataFrame({"t": np.arange(sim.ch2.shape[0]) / fs, "ch2": sim.ch2})

    t_pandas, ref = best_of(args.repeat, pandas_per_window, frame, sim.onset_ticks / 1e4, sim.end_ticks / 1e4, fs)
    t_ours, ours = best_of(args.repeat, stacked, sim.ch2, windows, seconds, fs, cfg)
    ref, ours = np.asarray(ref), np.asarray(ours)
    both = np.isfinite(ref) & np.isfinite(ours)
    print(f"participant {args.subject}: {ours.size} windows of {cfg.pr_window_seconds:g} s at {fs:g} Hz")
    print(f"pandas slice per window : {t_pandas * 1000:8.1f} ms")
    print(f"stacked [window, sample]: {t_ours * 1000:8.1f} ms")
    print(f"speed-up                : {t_pandas / t_ours:8.1f} x")
    print(
        f"same windows: {ref.size == ours.size}; max |PR difference| over {both.sum()} windows: "
        f"{np.abs(ref[both] - ours[both]).max():.3f} bpm (float time masks can shift a window by a sample)"
    )


if __name__ == "__main__":
    main()
