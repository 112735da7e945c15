"""How a synthetic participant rates: stimulus-locked tingles, nature pleasantness, keypresses (SPEC §2, §12).

ASMR: each clip's trigger drive (`scripts.trigger_drive`) is seen through
the participant's susceptibility, latency and threshold; a tingle starts
when the drive crosses the threshold and ends (with a tail) when it falls
below `threshold * release`; intensity rises with the drive, capped at the
participant's largest key.  Because everyone shares the drive, ratings
agree across participants.  One participant in the full cohort never
tingles and one never rates nature as pleasant (paper: 33/34 responders).

Nature: an early press (often inside the 5-s warm-up) of a pleasantness
level, then a few slow changes, as the paper's 52-s mean duration implies.

Keypress realism: key k means intensity k-1; a tingle ends with key 1;
habitual "1" presses and corrected slips inside the warm-up window (so the
last warm-up press rule matters), repeated presses of the current key,
long pauses, a "1" pressed after the video already ended, and key tests
during the baseline rest.

Ground truth ("episodes") is not the latent drive but the reported state:
the zero-order hold of the final keypresses inside each trial window,
starting from 0 at the trial onset (a rating never carries over, SPEC §2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from restasmr_jax.config import SUBJECT_IDS, VIDEO_CODES, ProtocolConfig, SynthConfig, condition_of
from restasmr_jax.synth.scripts import Script, trigger_drive
from restasmr_jax.synth.seeds import stream

MIN_RUN_S = 1.5  # a reported level is held at least this long
MIN_PRESS_GAP_S = 0.15  # fastest successive presses
CLIP_MISS_SCALE = (1.0, 0.2, 1.0, 1.3)  # [asmr clip] ASMR2 rarely fails (paper: 94% responders)
LAST_PRESS_MARGIN_S = 0.1  # no press in the last 100 ms of a window (it would straddle the next trial)


@dataclass(frozen=True, eq=False)
class Rater:
    """A participant's rating habits, drawn once per (seed, subject)."""

    tingler: bool
    nature_responder: bool
    threshold: float  # drive level (0..1) at which a tingle starts
    release: float  # a tingle stops when the drive falls below threshold * release
    latency_s: float  # trigger-to-tingle delay
    max_level: int  # highest tingle intensity this participant uses (1..3)
    clip_gain: np.ndarray  # [asmr clip] susceptibility to vid1..vid4
    miss_prob: float  # chance an ASMR clip leaves the participant cold
    keep_prob: float  # chance a triggered tingle is felt and reported at all
    episode_sd_s: float  # how far a reported tingle's onset/offset stray from the trigger-locked timing
    spontaneous_per_s: float  # rate of tingles not locked to any trigger
    pleasantness: float  # typical nature rating (1..3)
    warmup_habit: float  # chance of a "1" press inside the warm-up of a calm trial
    repeat_prob: float  # chance a press is repeated
    reaction_sd_s: float  # timing noise of presses


@dataclass(frozen=True)
class Episode:
    """A stretch of constant reported intensity > 0 inside one trial's analysed window."""

    trial_index: int
    video: str
    start_ticks: int  # absolute log ticks, inclusive
    end_ticks: int  # exclusive: the next press changing the state, or the window end
    intensity: int  # 1..3 (key - 1)


def special_subjects(cfg: SynthConfig) -> tuple[int, int]:
    """(the participant who never tingles, the one who never finds nature pleasant); depend on the seed only."""
    picks = stream(cfg.seed, "cohort").choice(len(SUBJECT_IDS), size=2, replace=False)
    return SUBJECT_IDS[int(picks[0])], SUBJECT_IDS[int(picks[1])]


def draw_rater(cfg: SynthConfig, subject: int) -> Rater:
    rng = stream(cfg.seed, "rater", subject)
    non_tingler, nature_non_responder = special_subjects(cfg)
    return Rater(
        tingler=subject != non_tingler,
        nature_responder=subject != nature_non_responder,
        threshold=float(rng.uniform(0.3, 0.65)),
        release=float(rng.uniform(0.35, 0.75)),
        latency_s=float(rng.uniform(0.5, 4.0)),
        max_level=int(rng.choice([1, 2, 3, 3], p=[0.1, 0.3, 0.3, 0.3])),
        clip_gain=rng.lognormal(0.0, 0.35, 4) * np.array([1.0, 1.4, 1.15, 0.85]),  # ASMR2 the most potent
        miss_prob=float(rng.uniform(0.0, 0.25)),
        keep_prob=float(rng.uniform(0.6, 1.0)),
        episode_sd_s=float(rng.uniform(0.5, 2.5)),
        spontaneous_per_s=float(rng.uniform(0.0, 0.03)),
        pleasantness=float(rng.uniform(1.3, 2.9)),
        warmup_habit=float(rng.uniform(0.1, 0.6)),
        repeat_prob=float(rng.uniform(0.05, 0.3)),
        reaction_sd_s=float(rng.uniform(0.1, 0.35)),
    )


def _hold_short_runs(levels: np.ndarray, min_run: int) -> np.ndarray:
    """Runs shorter than `min_run` frames take the previous run's level (nobody presses that fast)."""
    change = np.flatnonzero(np.diff(levels)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [levels.shape[0]]])
    values = levels[starts].copy()
    for i in range(1, values.shape[0]):  # one step per run, a handful per trial
        if ends[i] - starts[i] < min_run and ends[i] != levels.shape[0]:
            values[i] = values[i - 1]
    return np.repeat(values, ends - starts)


def tingle_levels(script: Script, rater: Rater, n_frames: int, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """Reported tingle intensity `[frame]` (0..3) on a `rate_hz` grid of clip time."""
    clip = VIDEO_CODES.index(script.video)
    if not rater.tingler or rng.uniform() < rater.miss_prob * CLIP_MISS_SCALE[clip]:
        return np.zeros(n_frames, np.int64)
    t = np.arange(n_frames) / rate_hz - rater.latency_s
    drive = 1.0 - np.exp(-rater.clip_gain[clip] * trigger_drive(script, t))  # [frame] in 0..1
    above, below = drive > rater.threshold, drive < rater.threshold * rater.release
    last = np.maximum.accumulate(np.where(above | below, np.arange(n_frames), -1))  # hysteresis as a ZOH
    tingling = (last >= 0) & above[np.maximum(last, 0)]
    headroom = 1.0 - rater.threshold
    level = 1 + (drive > rater.threshold + 0.35 * headroom) + (drive > rater.threshold + 0.65 * headroom)
    level = np.where(tingling, np.minimum(level, rater.max_level), 0).astype(np.int64)
    return _hold_short_runs(_individualise(level, rater, rate_hz, rng), round(MIN_RUN_S * rate_hz))


def _individualise(level: np.ndarray, rater: Rater, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """Drop some trigger-locked tingles, shift the others' edges, add a few unlocked ones (`[frame]`)."""
    n = level.shape[0]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (level > 0).astype(np.int64), [0]])))
    out = np.zeros_like(level)
    for start, stop in zip(edges[::2], edges[1::2]):  # a handful of episodes per clip
        if rng.uniform() >= rater.keep_prob:
            continue
        shift = round(rng.normal(0.0, rater.episode_sd_s) * rate_hz)
        linger = round(abs(rng.normal(0.0, rater.episode_sd_s)) * rate_hz)
        lo, hi = max(0, start + shift), min(n, stop + shift + linger)
        if hi > lo:
            out[lo:hi] = np.maximum(level[np.clip(np.arange(lo, hi) - shift, start, stop - 1)], 1)
    for _ in range(rng.poisson(rater.spontaneous_per_s * n / rate_hz)):
        lo = int(rng.integers(0, n))
        hi = lo + round(rng.uniform(3.0, 8.0) * rate_hz)
        out[lo:hi] = np.maximum(out[lo:hi], 1)
    return out


def pleasantness_changes(rater: Rater, video: str, window_s: float, rng: np.random.Generator):
    """Nature rating as (times_s, levels) of its changes: an early rating, then a few slow drifts."""
    if not rater.nature_responder:
        return np.zeros(0), np.zeros(0, np.int64)
    clip_effect = (0.3, 0.4, -0.3, -0.2)[VIDEO_CODES.index(video) - 4]
    level = int(np.clip(np.rint(rater.pleasantness + clip_effect + rng.normal(0, 0.35)), 1, 3))
    times = [rng.uniform(0.4, 9.0)]
    levels = [level]
    n_changes = rng.poisson(0.8)
    for t in np.sort(rng.uniform(times[0] + 3.0, window_s - 3.0, n_changes)):
        step = 0 if rng.uniform() < 0.06 else int(np.clip(levels[-1] + rng.choice([-1, 1]), 1, 3))
        if step != levels[-1]:
            times.append(t)
            levels.append(step)
    return np.array(times), np.array(levels, np.int64)


def level_changes(levels: np.ndarray, rate_hz: int, rater: Rater, rng: np.random.Generator):
    """(times_s, levels) where a `[frame]` level series changes, with human timing noise."""
    frames = np.flatnonzero(np.diff(np.concatenate([[0], levels])))
    times = (frames + rng.uniform(0, 1, frames.shape[0])) / rate_hz + rng.normal(
        0, rater.reaction_sd_s, frames.shape[0]
    )
    return np.maximum(times, 0.2), levels[frames]


def trial_presses(
    change_s: np.ndarray,
    change_level: np.ndarray,
    window_s: float,
    warmup_s: float,
    rater: Rater,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Keypresses `(times_s [press], keys [press])` of one trial: the changes plus habits."""
    times, keys = list(change_s), list(change_level + 1)
    first = change_s[0] if change_s.shape[0] else window_s
    calm_until = min(first, warmup_s) - 0.2
    if calm_until > 0.5 and rng.uniform() < 0.08:  # a slip corrected at once
        slip = rng.uniform(0.3, calm_until - 0.2)
        times += [slip, min(slip + rng.uniform(0.3, 1.2), calm_until)]
        keys += [int(rng.integers(2, 5)), 1]
    elif calm_until > 0.5 and rng.uniform() < rater.warmup_habit:  # "nothing yet"
        times.append(rng.uniform(0.3, calm_until))
        keys.append(1)
    for t, k, t_next in zip(change_s, change_level + 1, np.concatenate([change_s[1:], [window_s]])):
        if k > 1 and rng.uniform() < rater.repeat_prob and t_next - t > 2.0:
            times.append(t + rng.uniform(0.4, min(1.5, t_next - t - 0.5)))
            keys.append(int(k))
    order = np.argsort(times, kind="stable")
    times, keys = np.asarray(times, float)[order], np.asarray(keys, np.int64)[order]
    index = np.arange(times.shape[0])
    times = np.maximum.accumulate(times - MIN_PRESS_GAP_S * index) + MIN_PRESS_GAP_S * index
    keep = times < window_s - LAST_PRESS_MARGIN_S
    return times[keep], keys[keep]


def session_presses(
    cfg: SynthConfig, session, scripts: dict[str, Script], rater: Rater, protocol: ProtocolConfig = ProtocolConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """All Response events of the session: `(ticks [press], keys [press])`, sorted, distinct ticks."""
    rng = stream(cfg.seed, "presses", session.subject)
    tps = protocol.log_ticks_per_second
    per_trial = []
    for trial, video in enumerate(session.video_order):
        window_s = session.window_ticks[trial] / tps
        if condition_of(video) == "ASMR":
            n_frames = int(session.window_ticks[trial] * protocol.label_rate_hz // tps)
            levels = tingle_levels(scripts[video], rater, n_frames, protocol.label_rate_hz, rng)
            change_s, change_level = level_changes(levels, protocol.label_rate_hz, rater, rng)
        else:
            change_s, change_level = pleasantness_changes(rater, video, window_s, rng)
        times, keys = trial_presses(change_s, change_level, window_s, protocol.warmup_seconds, rater, rng)
        per_trial.append((int(session.onset_ticks[trial]) + np.rint(times * tps).astype(np.int64), keys))

    extra_ticks, extra_keys = [], []
    if rng.uniform() < 0.3:  # trying the keys during the baseline rest
        t = int(session.segment_start_ticks[0]) + round(rng.uniform(10.0, 45.0) * tps)
        extra_ticks += [t, t + round(rng.uniform(0.5, 2.0) * tps)]
        extra_keys += [int(rng.integers(2, 5)), 1]
    for trial, (_, keys) in enumerate(per_trial):
        if not (keys.shape[0] and keys[-1] > 1 and rng.uniform() < 0.7):
            continue
        late = int(session.video_end_ticks[trial]) + round(rng.uniform(0.3, 2.5) * tps)  # "1" once the video is over
        following = per_trial[trial + 1][0] if trial + 1 < len(per_trial) else np.zeros(0, np.int64)
        if not np.any(following <= late + round(0.5 * tps)):  # never overwrite or crowd the next trial's presses
            extra_ticks.append(late)
            extra_keys.append(1)

    ticks = np.concatenate([t for t, _ in per_trial] + [np.asarray(extra_ticks, np.int64)])
    keys = np.concatenate([k for _, k in per_trial] + [np.asarray(extra_keys, np.int64)])
    order = np.argsort(ticks, kind="stable")
    ticks, keys = ticks[order], keys[order]
    distinct = np.concatenate([[True], np.diff(ticks) > 0])
    return ticks[distinct], keys[distinct]


def reported_episodes(
    session, press_ticks: np.ndarray, press_keys: np.ndarray, max_rating: int = ProtocolConfig().max_rating
) -> tuple[Episode, ...]:
    """Zero-order hold of the presses inside each trial window, as episodes of intensity > 0."""
    episodes = []
    for trial, video in enumerate(session.video_order):
        start, stop = int(session.onset_ticks[trial]), int(session.video_end_ticks[trial])
        inside = (press_ticks >= start) & (press_ticks < stop)
        t = np.concatenate([[start], press_ticks[inside], [stop]])
        level = np.concatenate([[0], np.clip(press_keys[inside] - 1, 0, max_rating)])
        keep = np.concatenate([[True], np.diff(level) != 0])  # repeats do not start a new episode
        t_keep = np.concatenate([t[:-1][keep], [stop]])
        level = level[keep]
        episodes += [
            Episode(trial, video, int(a), int(b), int(v))
            for a, b, v in zip(t_keep[:-1], t_keep[1:], level)
            if v > 0 and b > a
        ]
    return tuple(episodes)
