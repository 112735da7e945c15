"""Latent tingles of a synthetic participant: shared trigger drive -> personal probability -> sampled state (SPEC §12).

Everyone watching ASMR clip v sees the same trigger drive D_v(t) in [0, 1)
(`clip_drive`: 1 - exp(-trigger drive), frames of clip time at 10 Hz).  A
participant i turns it into a tingle probability through their traits:

    p_engaged(t) = sigmoid(slope_i * (gain_iv * D_v(t - latency_i) - threshold_i))
    p_tingle(t)  = P(clip v works for i in this trial) * p_engaged(t)

The threshold is the main difference between people: a low threshold
tingles through most of a clip, a high one only at its strongest triggers
(the published durations, 38.5 ± 15.6 s per responding trial, and a
leave-one-out crowd AUROC of only 0.54 pooled over trials but 0.70 inside
them, need exactly that: people differ a lot in how much they tingle but
agree on when).  Whether a clip works at all in a trial is drawn per trial
(`engaged`), per clip at `CLIP_ENGAGE`, conditioned on at least one of the
four working for a tingler, so that 33 of 34 participants respond.

The reported state is sampled from that probability with temporally
correlated noise (a Gaussian copula):

    z(t)     = sqrt(TRIAL_SHARE) * e + sqrt(1 - TRIAL_SHARE) * u(t)
    state(t) = engaged and Phi(z(t)) < p_engaged(t),

with e ~ N(0, 1) once per trial (a good or a flat day) and u a stationary
Ornstein-Uhlenbeck process of unit variance and correlation time tau_i.
z(t) is N(0, 1) at every t, so P(state(t) = 1) = p_tingle(t) exactly, while
a stretch of low z is a tingle of the participant's own (an idiosyncratic
episode) and a stretch of high z a trigger they ignore.  The intensity of a
tingle (1..3) rises with the participant's margin above threshold plus an
offset drawn per episode, capped at the highest key they use.  `population_probability` averages p_tingle over the trait
distribution the cohort is drawn from: the best any stimulus-only model can
predict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal
import scipy.special

from restasmr_jax.config import SUBJECT_IDS, VIDEO_CODES
from restasmr_jax.synth.scripts import Script, trigger_drive

ASMR_CLIPS = VIDEO_CODES[:4]
CLIP_POTENCY = np.array([1.0, 0.9, 1.15, 0.85])  # [asmr clip] drive gain shared by everyone
CLIP_ENGAGE = np.array([0.72, 0.68, 0.9, 0.45])  # [asmr clip] chance the clip works in a trial
LATENCY_FRAMES = (5, 40)  # trigger-to-tingle delay, whole 10-Hz frames (0.5-4.0 s)
THRESHOLD = (0.25, 0.6)  # normal mean, SD of the drive level where p_engaged = 1/2
THRESHOLD_MAX = 0.5  # above it a strong trigger would leave the participant cold: nobody is that hard to reach
SLOPE = (2.3, 4.3)  # uniform range of the logit slope per unit of drive
GAIN_SD = 0.3  # lognormal SD of a participant's susceptibility to one clip
NOISE_TAU_S = (4.0, 15.0)  # correlation time of the idiosyncratic fluctuations
TRIAL_SHARE = 0.4  # share of the noise variance that holds for a whole trial (a good or a flat day)
LEVEL_MARGINS = (1.5, 3.0)  # logit margins above which a tingle is felt at intensity 2, 3
LEVEL_SD = 2.0  # SD of a per-episode offset to the margin: how strongly one tingle feels is partly its own
NON_TINGLER_RATE = 1.0 / len(SUBJECT_IDS)  # one of the 34 never tingles
N_POPULATION = 4000  # trait draws behind `population_probability`
MAX_ENGAGE_DRAWS = 1000


@dataclass(frozen=True, eq=False)
class TingleTraits:
    """How one participant tingles; drawn once per (seed, subject)."""

    tingler: bool
    threshold: float  # drive level (after the clip gain) where p_engaged = 1/2; below 0: tingles without triggers
    slope: float  # logit per unit of drive: how sharply the probability follows the drive
    latency_frames: int  # trigger-to-tingle delay in 10-Hz frames
    clip_gain: np.ndarray  # [asmr clip] susceptibility to vid1..vid4 (times CLIP_POTENCY)
    noise_tau_s: float  # correlation time of the participant's own fluctuations
    max_level: int  # highest intensity (1..3) this participant reports

    def engage_probability(self) -> np.ndarray:
        """[asmr clip] P(the clip works in its trial), given at least one of the four works for a tingler."""
        if not self.tingler:
            return np.zeros(len(ASMR_CLIPS))
        return CLIP_ENGAGE / (1.0 - np.prod(1.0 - CLIP_ENGAGE))


@dataclass(frozen=True, eq=False)
class TingleTrial:
    """One ASMR trial's latent truth on the 10-Hz grid of clip time (`[frame]` arrays, frame k at k/10 s)."""

    drive: np.ndarray  # D_v at clip time, the same for everyone
    p_tingle: np.ndarray  # this participant's probability of reporting tingle
    state: np.ndarray  # bool: the sampled report
    level: np.ndarray  # int 0..3: the reported intensity (0 where state is False)


def draw_traits(rng: np.random.Generator, *, tingler: bool = True) -> TingleTraits:
    """One participant's tingle traits from the population distribution."""
    return TingleTraits(
        tingler=tingler,
        threshold=float(min(rng.normal(*THRESHOLD), THRESHOLD_MAX)),
        slope=float(rng.uniform(*SLOPE)),
        latency_frames=int(rng.integers(LATENCY_FRAMES[0], LATENCY_FRAMES[1] + 1)),
        clip_gain=CLIP_POTENCY * rng.lognormal(0.0, GAIN_SD, len(ASMR_CLIPS)),
        noise_tau_s=float(rng.uniform(*NOISE_TAU_S)),
        max_level=int(rng.choice([1, 2, 3, 3], p=[0.1, 0.3, 0.3, 0.3])),
    )


def draw_engagement(traits: TingleTraits, rng: np.random.Generator) -> np.ndarray:
    """[asmr clip] bool: which clips work in their trial (at least one for a tingler; none otherwise)."""
    if not traits.tingler:
        return np.zeros(len(ASMR_CLIPS), bool)
    for _ in range(MAX_ENGAGE_DRAWS):  # rejection sampling: all four fail with probability < 1 %
        engaged = rng.uniform(size=len(ASMR_CLIPS)) < CLIP_ENGAGE
        if engaged.any():
            return engaged
    raise RuntimeError(f"no engaged clip in {MAX_ENGAGE_DRAWS} draws; CLIP_ENGAGE={CLIP_ENGAGE} is too small")


def clip_drive(script: Script, n_frames: int, rate_hz: int) -> np.ndarray:
    """D_v `[frame]` in [0, 1) at clip times k / rate_hz."""
    return 1.0 - np.exp(-trigger_drive(script, np.arange(n_frames) / rate_hz))


def _delayed(drive: np.ndarray, frames: np.ndarray | int) -> np.ndarray:
    """drive delayed by `frames` (scalar, or `[draw]` giving `[draw, frame]`); no drive before clip time 0."""
    frames = np.asarray(frames)
    index = np.arange(drive.shape[-1]) - frames[..., None]
    return np.where(index >= 0, drive[np.maximum(index, 0)], 0.0)


def logit_engaged(traits: TingleTraits, clip: int, drive: np.ndarray) -> np.ndarray:
    """slope * (gain * D(t - latency) - threshold), `[frame]`: the participant's margin above threshold."""
    felt = traits.clip_gain[clip] * _delayed(drive, traits.latency_frames)
    return traits.slope * (felt - traits.threshold)


def tingle_probability(traits: TingleTraits, clip: int, drive: np.ndarray) -> np.ndarray:
    """p_tingle `[frame]`: P(state = 1) at every frame, over the trial's engagement and noise draws."""
    return traits.engage_probability()[clip] * scipy.special.expit(logit_engaged(traits, clip, drive))


def correlated_uniform(rng: np.random.Generator, n: int, tau_s: float, rate_hz: int) -> np.ndarray:
    """Phi(z) `[frame]` for a stationary unit-variance OU process z: uniform at every frame, smooth in time."""
    a = np.exp(-1.0 / (tau_s * rate_hz))
    shocks = rng.normal(size=n)  # shocks[0] is the stationary start of the fluctuation
    rest, _ = scipy.signal.lfilter([np.sqrt(1.0 - a * a)], [1.0, -a], shocks[1:], zi=[a * shocks[0]])
    fluctuation = np.concatenate([shocks[:1], rest])
    z = np.sqrt(TRIAL_SHARE) * rng.normal() + np.sqrt(1.0 - TRIAL_SHARE) * fluctuation  # still N(0, 1) at each t
    return scipy.special.ndtr(z)


def tingle_trial(
    traits: TingleTraits, clip: int, script: Script, engaged: bool, n_frames: int, rate_hz: int, rng
) -> TingleTrial:
    """Sample one trial's tingle state and intensity from the participant's probability."""
    drive = clip_drive(script, n_frames, rate_hz)
    margin = logit_engaged(traits, clip, drive)
    p = tingle_probability(traits, clip, drive)
    uniform = correlated_uniform(rng, n_frames, traits.noise_tau_s, rate_hz)
    state = engaged & (uniform < scipy.special.expit(margin))
    starts = np.flatnonzero(np.diff(np.concatenate([[0], state.astype(np.int64)])) == 1)
    episode = np.cumsum(np.isin(np.arange(n_frames), starts))  # [frame] 1-based episode number
    felt = margin + np.concatenate([[0.0], rng.normal(0.0, LEVEL_SD, starts.shape[0])])[episode]
    level = 1 + (felt > LEVEL_MARGINS[0]).astype(np.int64) + (felt > LEVEL_MARGINS[1])
    level = np.where(state, np.minimum(level, traits.max_level), 0).astype(np.int64)
    return TingleTrial(drive, p, state, level)


def population_probability(
    script: Script, clip: int, n_frames: int, rate_hz: int, rng: np.random.Generator, n_draws: int = N_POPULATION
) -> np.ndarray:
    """E[p_tingle] `[frame]` over `n_draws` trait draws, non-tinglers included at NON_TINGLER_RATE."""
    drive = clip_drive(script, n_frames, rate_hz)
    traits = [draw_traits(rng) for _ in range(n_draws)]
    gain = np.array([t.clip_gain[clip] for t in traits])[:, None]
    threshold = np.array([t.threshold for t in traits])[:, None]
    slope = np.array([t.slope for t in traits])[:, None]
    felt = gain * _delayed(drive, np.array([t.latency_frames for t in traits]))  # [draw, frame]
    engaged = traits[0].engage_probability()[clip]  # the same for every tingler
    return (1.0 - NON_TINGLER_RATE) * engaged * scipy.special.expit(slope * (felt - threshold)).mean(axis=0)
