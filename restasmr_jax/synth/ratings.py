"""How a synthetic participant rates: sampled tingle states, nature pleasantness, keypresses (SPEC §2, §12).

ASMR: the tingle state and intensity of every trial come from the latent
model of `synth.tingles` (shared trigger drive, personal threshold,
latency and susceptibility, sampled with correlated noise); this module
turns them into keypresses.  One participant in the full cohort never
tingles and one never rates nature as pleasant (paper: 33/34 responders).

Nature: an early press (usually inside the 5-s warm-up) of a pleasantness
level, then a few slow changes; now and then the rating starts late or
stops early, and a responder leaves an occasional clip unrated, as the
paper's 52.1 ± 8.6-s mean duration and the authors' test truths imply.

Keypress realism: key k means intensity k-1; a tingle ends with key 1;
habitual "1" presses and corrected slips inside the warm-up window (so the
last warm-up press rule matters), repeated presses of the current key,
long pauses, a "1" pressed after the video already ended, and key tests
during the baseline rest.  Levels held for less than `MIN_RUN_S` are
merged into the previous one (nobody presses that fast), and presses carry
human timing noise: the reported state follows the sampled one to within
a few hundred milliseconds.

Ground truth ("episodes") is the reported state: the zero-order hold of
the final keypresses inside each trial window, starting from 0 at the
trial onset (a rating never carries over, SPEC §2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from restasmr_jax.config import SUBJECT_IDS, VIDEO_CODES, ProtocolConfig, SynthConfig, condition_of
from restasmr_jax.synth import tingles
from restasmr_jax.synth.scripts import Script
from restasmr_jax.synth.seeds import stream

MIN_RUN_S = 1.5  # a reported level is held at least this long
MIN_PRESS_GAP_S = 0.15  # fastest successive presses
LAST_PRESS_MARGIN_S = 0.1  # no press in the last 100 ms of a window (it would straddle the next trial)
NATURE_RATED = 0.88  # chance a pleasantness responder rates a given nature clip at all
NATURE_LATE_START = (0.07, 6.0, 52.0)  # chance the first rating comes late, and its time range (s)
NATURE_EARLY_STOP = (0.05, 8.0)  # chance the rating drops to 0 before the end, earliest time (s)


@dataclass(frozen=True, eq=False)
class Rater:
    """A participant's rating habits and tingle traits, drawn once per (seed, subject)."""

    tingle: tingles.TingleTraits
    nature_responder: bool
    pleasantness: float  # typical nature rating (1..3)
    warmup_habit: float  # chance of a "1" press inside the warm-up of a calm trial
    repeat_prob: float  # chance a press is repeated
    reaction_sd_s: float  # timing noise of presses

    @property
    def tingler(self) -> bool:
        return self.tingle.tingler


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
    non_tingler, nature_non_responder = special_subjects(cfg)
    rng = stream(cfg.seed, "rater", subject)
    return Rater(
        tingle=tingles.draw_traits(stream(cfg.seed, "tingle-traits", subject), tingler=subject != non_tingler),
        nature_responder=subject != nature_non_responder,
        pleasantness=float(rng.uniform(1.3, 2.9)),
        warmup_habit=float(rng.uniform(0.1, 0.6)),
        repeat_prob=float(rng.uniform(0.05, 0.3)),
        reaction_sd_s=float(rng.uniform(0.1, 0.3)),
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


def nature_rated(rater: Rater, rng: np.random.Generator) -> np.ndarray:
    """[nature clip] bool: which nature clips a responder rates at all (at least one); none for a non-responder."""
    if not rater.nature_responder:
        return np.zeros(4, bool)
    for _ in range(tingles.MAX_ENGAGE_DRAWS):
        rated = rng.uniform(size=4) < NATURE_RATED
        if rated.any():
            return rated
    raise RuntimeError("no rated nature clip drawn")


def pleasantness_changes(rater: Rater, video: str, rated: bool, window_s: float, rng: np.random.Generator):
    """Nature rating as (times_s, levels) of its changes: an early rating, a few slow drifts, maybe an early stop."""
    if not rated:
        return np.zeros(0), np.zeros(0, np.int64)
    clip_effect = (0.3, 0.4, -0.3, -0.2)[VIDEO_CODES.index(video) - 4]
    level = int(np.clip(np.rint(rater.pleasantness + clip_effect + rng.normal(0, 0.35)), 1, 3))
    late, late_from, late_to = NATURE_LATE_START
    first = rng.uniform(late_from, late_to) if rng.uniform() < late else rng.uniform(0.4, late_from)
    times, levels = [first], [level]
    changes = np.zeros(0)
    if first + 3.0 < window_s - 3.0:  # room for a slow drift after the first rating
        changes = np.sort(rng.uniform(first + 3.0, window_s - 3.0, rng.poisson(0.8)))
    for t in changes:
        step = int(np.clip(levels[-1] + rng.choice([-1, 1]), 1, 3))
        if step != levels[-1]:
            times.append(t)
            levels.append(step)
    stop_prob, stop_from = NATURE_EARLY_STOP
    earliest = max(stop_from, times[-1] + 3.0)
    if rng.uniform() < stop_prob and earliest < window_s - 3.0:
        times.append(rng.uniform(earliest, window_s - 3.0))
        levels.append(0)
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
) -> tuple[np.ndarray, np.ndarray, dict[int, tingles.TingleTrial]]:
    """All Response events of the session, `(ticks [press], keys [press])` sorted with distinct ticks, and the
    latent tingle truth of each ASMR trial by trial index."""
    rng = stream(cfg.seed, "presses", session.subject)
    engaged = tingles.draw_engagement(rater.tingle, stream(cfg.seed, "engagement", session.subject))
    rated = nature_rated(rater, stream(cfg.seed, "nature-rated", session.subject))
    tps, rate_hz = protocol.log_ticks_per_second, protocol.label_rate_hz
    per_trial, truths = [], {}
    for trial, video in enumerate(session.video_order):
        window_s = session.window_ticks[trial] / tps
        clip = VIDEO_CODES.index(video)
        if condition_of(video) == "ASMR":
            n_frames = int(session.window_ticks[trial] * rate_hz // tps)
            noise = stream(cfg.seed, "tingle-noise", session.subject, video)
            truth = tingles.tingle_trial(rater.tingle, clip, scripts[video], engaged[clip], n_frames, rate_hz, noise)
            truths[trial] = truth
            levels = _hold_short_runs(truth.level, round(MIN_RUN_S * rate_hz))
            change_s, change_level = level_changes(levels, rate_hz, rater, rng)
        else:
            change_s, change_level = pleasantness_changes(rater, video, rated[clip - 4], window_s, rng)
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
    return ticks[distinct], keys[distinct], truths


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
