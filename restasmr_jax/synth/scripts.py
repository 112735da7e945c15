"""What happens in each synthetic stimulus, and how strongly it drives tingles (SPEC §12).

An ASMR clip is a script of trigger events (taps and brush strokes) at
known clip times.  The same script renders the clip's audio track and its
visual motion (`synth.media`) and drives every participant's tingles
(`synth.ratings`), which is what gives the synthetic archive inter-subject
agreement and makes audio/visual features informative.  Nature clips have
no trigger events.

The four ASMR clips have distinct temporal architectures, after the
paper's Fig. 3: ASMR1 tapping bursts, ASMR2 multi-phasic episodes (the most
potent clip), ASMR3 a steady accumulative build-up, ASMR4 sparse slow
brushing.  Scripts depend on (seed, video) only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from restasmr_jax.config import SynthConfig, condition_of
from restasmr_jax.synth.seeds import stream

TAP, BRUSH = 0, 1
KIND_NAMES = ("tap", "brush")
DRIVE_WEIGHT = np.array([0.35, 0.8])  # [kind] contribution of one event to the tingle drive
DRIVE_TAU_S = 1.5  # how long one event keeps driving (exponential memory)
MIN_GAP_S = 0.12  # two events never closer than this


@dataclass(frozen=True, eq=False)
class Script:
    """Trigger events of one clip; every array is `[event]`, sorted by time."""

    video: str
    times_s: np.ndarray  # clip time of the event's onset
    kinds: np.ndarray  # TAP or BRUSH
    durations_s: np.ndarray  # how long the sound/motion lasts
    pans: np.ndarray  # -1 (left) .. +1 (right)
    gains: np.ndarray  # relative loudness 0.5..1


def _poisson_times(rng: np.random.Generator, rate_fn, start: float, stop: float, peak_rate: float) -> np.ndarray:
    """Inhomogeneous Poisson process on [start, stop) by thinning a homogeneous one."""
    n = rng.poisson(peak_rate * max(stop - start, 0.0))
    candidates = np.sort(rng.uniform(start, stop, n))
    keep = rng.uniform(0, peak_rate, n) < rate_fn(candidates)
    return candidates[keep]


def _clusters(rng, starts, lengths, rate) -> np.ndarray:
    return np.concatenate(
        [_poisson_times(rng, lambda t: np.full_like(t, rate), s, s + n, rate) for s, n in zip(starts, lengths)]
    )


def _event_times(video: str, rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Onset times and kinds of one clip's trigger events, before spacing and clipping.

    Positions and lengths are written for a 60-s clip and scale with `seconds`.
    """
    scale = seconds / 60.0

    def starts(centres, sd):
        return (np.asarray(centres, float) + rng.normal(0, sd, len(centres))) * scale

    if video == "vid1":  # tapping bursts
        times = _clusters(rng, starts([6, 20, 33, 46], 1.0), rng.uniform(5, 8, 4) * scale, 4.5)
        return times, np.full(times.shape, TAP)
    if video == "vid2":  # multi-phasic: short mixed episodes with quiet gaps
        times = _clusters(rng, starts([7, 17, 27, 37, 48], 0.7), rng.uniform(4, 6, 5) * scale, 3.5)
        return times, (rng.uniform(size=times.shape) < 0.45).astype(np.int64)
    if video == "vid3":  # accumulative build-up of brushing
        times = _poisson_times(rng, lambda t: 0.4 + 1.6 * (t / seconds) ** 1.5, 3.0 * scale, 59.0 * scale, 2.0)
        return times, np.where(rng.uniform(size=times.shape) < 0.85, BRUSH, TAP)
    if video == "vid4":  # sparse slow brushing
        times = _clusters(rng, starts([8, 26, 43], 1.0), rng.uniform(8, 12, 3) * scale, 1.2)
        return times, np.full(times.shape, BRUSH)
    return np.zeros(0), np.zeros(0, np.int64)


def stimulus_script(cfg: SynthConfig, video: str) -> Script:
    """The clip's trigger events (empty for nature clips vid5..vid8)."""
    rng = stream(cfg.seed, "script", video)
    times, kinds = _event_times(video, rng, cfg.video_seconds)
    order = np.argsort(times, kind="stable")
    times, kinds = times[order], kinds[order].astype(np.int64)
    # Enforce a minimum spacing without a loop: shift each event by the running shortfall.
    index = np.arange(times.shape[0])
    times = np.maximum.accumulate(times - MIN_GAP_S * index) + MIN_GAP_S * index
    inside = (times >= 0.5 * cfg.video_seconds / 60) & (times < cfg.video_seconds * 59 / 60)
    times, kinds = np.round(times[inside], 4), kinds[inside]
    n = times.shape[0]
    durations = np.where(kinds == TAP, rng.uniform(0.025, 0.06, n), rng.uniform(0.25, 0.7, n))
    return Script(video, times, kinds, durations, rng.uniform(-0.9, 0.9, n), rng.uniform(0.5, 1.0, n))


def stimulus_events(cfg: SynthConfig, video: str) -> np.ndarray:
    """Trigger times `[event]` in seconds of clip time for vid1..vid4; empty for nature clips."""
    if condition_of(video) != "ASMR":
        return np.zeros(0)
    return stimulus_script(cfg, video).times_s


def trigger_drive(script: Script, t_s: np.ndarray) -> np.ndarray:
    """Raw tingle drive at clip times `t_s [time]`: exponentially fading sum of recent events' weights."""
    if script.times_s.shape[0] == 0:
        return np.zeros_like(t_s, dtype=np.float64)
    lag = t_s[:, None] - script.times_s[None, :]  # [time, event]
    weight = DRIVE_WEIGHT[script.kinds][None, :] * script.gains[None, :] / 0.75
    contribution = np.where(lag >= 0, weight * np.exp(-np.maximum(lag, 0) / DRIVE_TAU_S), 0.0)
    return contribution.sum(axis=1)
