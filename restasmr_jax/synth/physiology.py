"""Synthetic PPG: heart rate, beat timing, pulse morphology, Biopac channels, artifacts (SPEC §1.2, §10, §12).

Heart rate (bpm) on a 20-Hz grid = participant baseline (55-100 bpm)
+ respiratory sinus arrhythmia (breathing 0.18-0.30 Hz with slow rate
wander) + a 0.1-Hz Mayer wave + a slow random drift + the rating effect:
during reported tingles the rate drops by `tingle_bpm_per_level` x
intensity, during nature pleasantness it rises by `pleasant_bpm_per_level`
x rating, both through a 2.5-s first-order lag.  The per-participant
coefficients are small beside the rate's own variability (0.1 and 0.05 bpm
per level on average, SD 0.3 and 0.2 over participants, so a third of
them go the other way): the SPEC §10 Spearman r(PR, rating) is weakly
negative for ASMR and weakly positive for Nature on average, as the
paper measured (-0.09 and +0.06, paired t = -2.09).  Integrating the rate gives
beat (systolic peak) times; `synth_ppg` draws a pulse at each.

CH1 (raw, mV) = DC offset + drift + respiratory baseline wander + pulses
(amplitude modulated by breathing) + white noise + 50-Hz hum, quantised to
the ADC step, with a few short artifacts inserted into the raw channel
(where a frozen or saturated sensor really is flat):
- "flatline": samples [start, end) hold the value of sample start-1 (so the
  constant run is [start-1, end));
- "clipping": the input ramps up over 40-60 ms to the ADC rail
  (`CLIP_RAIL_MV` on the ADC grid, ~8 mV, above any normal sample) and stays there for [start, end),
  then ramps back down (the ramps are not part of the reported run);
- "disconnect": samples [start, end) jump to exactly 0.0 mV and back.
CH2 = CH1 band-passed 0.5-35 Hz (2nd-order Butterworth, zero-phase sos),
as the Biopac online filter channel.  Both are rounded to the printed
decimals so the arrays equal what a reader parses back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

from restasmr_jax.config import ProtocolConfig, SynthConfig, condition_of
from restasmr_jax.synth.seeds import stream

GRID_HZ = 20  # heart-rate modulation grid
ADC_STEP_MV = 10.0 / 2**15
CLIP_RAIL_MV = 8.0
ARTIFACT_KINDS = ("flatline", "clipping", "disconnect")
CH2_BAND_HZ = (0.5, 35.0)
MAINS_HZ = 50.0
HR_DRIFT_BPM = 0.8  # SD of the slow (45-s) random drift of the heart rate
TINGLE_BPM_PER_LEVEL = (0.1, 0.3)  # normal mean, SD over participants of the slowing per tingle level
PLEASANT_BPM_PER_LEVEL = (0.05, 0.2)  # the same for the speeding-up per pleasantness level


@dataclass(frozen=True, eq=False)
class Channels:
    """One participant's recording and its ground truth."""

    ch1: np.ndarray  # [sample] raw PPG, mV, as printed
    ch2: np.ndarray  # [sample] band-passed PPG, mV, as printed
    beat_times_s: np.ndarray  # [beat] systolic peak times from t = 0
    artifacts: tuple[tuple[int, int, str], ...]  # (start_sample, end_sample exclusive, kind)
    baseline_bpm: float
    tingle_bpm_per_level: float
    pleasant_bpm_per_level: float
    heart_rate_bpm: np.ndarray  # [grid] the rate the beats integrate, on the GRID_HZ grid from t = 0


def _beat_shape(lag_s: np.ndarray, rr_s: np.ndarray, dicrotic: float | np.ndarray) -> np.ndarray:
    """One beat: a steep systolic upstroke, a slower fall, a dicrotic wave after the notch; peak 1 at lag 0."""
    scale = np.clip(rr_s / 0.85, 0.7, 1.25)  # faster hearts have narrower pulses
    width = np.where(lag_s < 0, 0.06, 0.13) * scale
    systolic = np.exp(-0.5 * (lag_s / width) ** 2)
    diastolic = dicrotic * np.exp(-0.5 * ((lag_s - 0.30 * scale) / (0.06 * scale)) ** 2)
    return systolic + diastolic


def synth_ppg(
    beat_times_s: np.ndarray,
    rate_hz: float,
    n_samples: int,
    amplitudes: float | np.ndarray = 1.0,
    dicrotic: float = 0.45,
) -> np.ndarray:
    """Clean pulse wave `[sample]` at `rate_hz` with systolic peaks of height `amplitudes` at `beat_times_s`.

    Each beat has a systolic peak exactly at its beat time (to within one
    sample), a dicrotic notch ~0.2 s later and a diastolic wave of relative
    height `dicrotic`; the foot between beats is 0.  Pure and deterministic:
    add noise yourself for a known-answer test of a peak detector.
    """
    beats = np.sort(np.asarray(beat_times_s, dtype=np.float64))
    out = np.zeros(n_samples)
    if beats.shape[0] == 0:
        return out
    amps = np.broadcast_to(np.asarray(amplitudes, dtype=np.float64), beats.shape)
    rr = np.diff(beats, append=beats[-1] + (beats[-1] - beats[-2] if beats.shape[0] > 1 else 1.0))
    t = np.arange(n_samples) / rate_hz
    following = np.searchsorted(beats, t)  # beats[following - 1] <= t < beats[following]
    for offset in (-2, -1, 0):  # the only beats whose waves reach a sample: two before it and the next one
        index = following + offset
        valid = (index >= 0) & (index < beats.shape[0])
        index = np.clip(index, 0, beats.shape[0] - 1)
        out += np.where(valid, amps[index] * _beat_shape(t - beats[index], rr[index], dicrotic), 0.0)
    return out


def _smooth_noise(rng: np.random.Generator, n: int, tau_s: float, sd: float) -> np.ndarray:
    """Ornstein-Uhlenbeck process `[grid]` with correlation time `tau_s` and stationary SD `sd`."""
    a = np.exp(-1.0 / (tau_s * GRID_HZ))
    drive = rng.normal(0.0, sd * np.sqrt(1 - a * a), n)
    start = rng.normal(0.0, sd)
    out, _ = scipy.signal.lfilter([1.0], [1.0, -a], drive, zi=[a * start])
    return out


def rating_effect(
    session, episodes, n_grid: int, tingle_bpm: float, pleasant_bpm: float, protocol: ProtocolConfig = ProtocolConfig()
) -> np.ndarray:
    """Heart-rate change `[grid]` (bpm) from the reported state, before the physiological lag."""
    effect = np.zeros(n_grid)
    per_tick = GRID_HZ / protocol.log_ticks_per_second
    for ep in episodes:  # a few dozen per participant
        sign = -tingle_bpm if condition_of(ep.video) == "ASMR" else pleasant_bpm
        effect[round(ep.start_ticks * per_tick) : round(ep.end_ticks * per_tick)] += sign * ep.intensity
    return effect


def beat_times_from_rate(hr_bpm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Systolic peak times `[beat]` (s) where the integrated rate `[grid]` crosses whole beats."""
    phase = np.concatenate([[0.0], np.cumsum(hr_bpm / 60.0 / GRID_HZ)])
    t_grid = np.arange(phase.shape[0]) / GRID_HZ
    whole = np.arange(np.ceil(phase[0] + rng.uniform()), phase[-1])
    beats = np.interp(whole, phase, t_grid)
    return np.sort(beats + rng.normal(0.0, 0.002, beats.shape[0]))


def _insert_artifacts(ch1: np.ndarray, rate_hz: int, rng: np.random.Generator) -> tuple[tuple[int, int, str], ...]:
    """Write a few short artifacts into the ADC-quantised `ch1` in place; return their runs, sorted.

    Each run is exactly as long as reported: the samples around it are made
    to differ from the run's value (by one ADC step at most).
    """
    n_art = int(rng.choice(4, p=[0.3, 0.35, 0.25, 0.1]))
    margin = 5 * rate_hz
    starts = np.sort(rng.integers(margin, ch1.shape[0] - margin, n_art))
    lengths = rng.integers(round(0.08 * rate_hz), round(0.4 * rate_hz), n_art)
    kinds = rng.integers(0, len(ARTIFACT_KINDS), n_art)
    ramps = rng.integers(round(0.04 * rate_hz), round(0.06 * rate_hz), n_art)
    rail = np.rint(CLIP_RAIL_MV / ADC_STEP_MV) * ADC_STEP_MV
    runs, free_from = [], 0
    for start, length, kind, ramp in zip(starts, lengths, kinds, ramps):
        start, end = int(start), int(start + length)
        if start - ramp < free_from + 2 * rate_hz:  # keep artifacts apart
            continue
        name = ARTIFACT_KINDS[kind]
        if name == "flatline":  # the sensor freezes at its last reading
            held = ch1[start - 1]
            if ch1[start - 2] == held:
                ch1[start - 2] -= ADC_STEP_MV
            ch1[start:end] = held
            first = start - 1
        elif name == "disconnect":
            ch1[start:end] = 0.0
            first = start
        else:  # a movement drives the input into the rail
            up, down = np.linspace(0, 1, ramp + 1)[1:-1], np.linspace(1, 0, ramp + 1)[1:-1]
            ch1[start - ramp + 1 : start] += up * (rail - ch1[start - ramp + 1 : start])
            ch1[end : end + ramp - 1] += down * (rail - ch1[end : end + ramp - 1])
            ch1[start - ramp + 1 : end + ramp - 1] = np.minimum(
                np.rint(ch1[start - ramp + 1 : end + ramp - 1] / ADC_STEP_MV) * ADC_STEP_MV, rail - ADC_STEP_MV
            )
            ch1[start:end] = rail
            first = start
        if ch1[end] == ch1[first]:
            ch1[end] += ADC_STEP_MV
        runs.append((start, end, name))
        free_from = end + ramp
    return tuple(runs)


def quantise(x: np.ndarray, decimals: int) -> np.ndarray:
    """Round to the printed decimals exactly as a reader will parse them back (no -0.0)."""
    scale = 10.0**decimals
    return np.rint(x * scale) / scale + 0.0


def simulate_channels(cfg: SynthConfig, session, episodes, protocol: ProtocolConfig = ProtocolConfig()) -> Channels:
    """CH1, CH2 and the beat/artifact truth of one participant's whole recording."""
    rng = stream(cfg.seed, "ppg", session.subject)
    fs = cfg.ppg_rate_hz
    n = session.n_samples
    n_grid = int(np.ceil(n / fs * GRID_HZ)) + 2 * GRID_HZ
    t_grid = np.arange(n_grid) / GRID_HZ

    baseline = float(rng.uniform(55.0, 100.0))
    # Individual responses vary (some participants even speed up); the cohort means set the sign.
    tingle_bpm = float(rng.normal(*TINGLE_BPM_PER_LEVEL))
    pleasant_bpm = float(rng.normal(*PLEASANT_BPM_PER_LEVEL))
    breath_hz = rng.uniform(0.18, 0.30) * (1.0 + _smooth_noise(rng, n_grid, 20.0, 0.08))
    breath_phase = 2 * np.pi * np.cumsum(breath_hz) / GRID_HZ + rng.uniform(0, 2 * np.pi)
    lag = np.exp(-1.0 / (2.5 * GRID_HZ))
    effect = scipy.signal.lfilter(
        [1 - lag], [1.0, -lag], rating_effect(session, episodes, n_grid, tingle_bpm, pleasant_bpm, protocol)
    )
    hr = (
        baseline
        + rng.uniform(1.0, 3.5) * np.sin(breath_phase)
        + rng.uniform(0.4, 1.2) * np.sin(2 * np.pi * 0.1 * t_grid + rng.uniform(0, 2 * np.pi))
        + _smooth_noise(rng, n_grid, 45.0, HR_DRIFT_BPM)
        + effect
    )
    beats = beat_times_from_rate(hr, rng)
    beats = beats[beats < n / fs]

    amplitude = rng.uniform(1.0, 2.2)
    breath_at_beat = np.sin(np.interp(beats, t_grid, breath_phase))
    beat_amps = amplitude * (1 + 0.06 * breath_at_beat) * (1 + rng.normal(0, 0.03, beats.shape[0]))
    pulse = synth_ppg(beats, fs, n, beat_amps, dicrotic=float(rng.uniform(0.3, 0.55)))

    t = np.arange(n) / fs
    slow = _smooth_noise(rng, n_grid, 30.0, 0.15) + 0.05 * np.sin(breath_phase)  # drift + respiratory wander
    ch1 = (
        rng.uniform(2.0, 3.0)
        + np.interp(t, t_grid, slow)
        + pulse
        - amplitude / 3
        + rng.normal(0.0, rng.uniform(0.002, 0.004), n)
        + 0.002 * np.sin(2 * np.pi * MAINS_HZ * t + rng.uniform(0, 2 * np.pi))
    )
    ch1 = np.rint(ch1 / ADC_STEP_MV) * ADC_STEP_MV
    artifacts = _insert_artifacts(ch1, fs, rng)
    ch1 = quantise(ch1, cfg.ppg_decimals)
    sos = scipy.signal.butter(2, CH2_BAND_HZ, btype="bandpass", fs=fs, output="sos")
    ch2 = quantise(scipy.signal.sosfiltfilt(sos, ch1), cfg.ppg_decimals)
    return Channels(ch1, ch2, beats, artifacts, baseline, tingle_bpm, pleasant_bpm, hr)
