"""Synthetic stimulus pictures: two families of scenes, ASMR close-ups and daylight nature (SPEC §1.3, §12).

Real nature scenes share their low-level statistics with each other far more
than with close-up ASMR scenes, so a clip held out of training must still
look like its family.  Each family here is one scene grammar with one
palette; the clips are its members:

- ASMR close-ups (vid1..vid4): a dimly lit table in front of a dark wall, two
  hands in the middle, one object per clip (a wooden block, a small box, a
  microphone, a soft brush) and a slight per-clip tint.  The scene is still
  except for the trigger events of `scripts.stimulus_script`: a tap is a
  fingertip dipping at the panned position, a brush stroke a brush head
  sweeping across, so the only thing that changes in time is the trigger
  timing that drives the tingles.
- Daylight nature (vid5..vid8): sky with drifting clouds over a swaying tree
  line in the upper half, and a lower half that is the member: a brook
  flowing between grassy banks, waves rolling onto sand, a campfire in a
  grassy clearing, a meadow in the wind.  Everything moves a little, all the
  time, and nothing is locked to a trigger.

Frames are rendered whole-array in batches of `FRAME_BATCH`; everything is
drawn from the (seed, "picture", video) stream, so a clip is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.ndimage

from restasmr_jax.config import SynthConfig, condition_of
from restasmr_jax.synth.scripts import TAP, stimulus_script
from restasmr_jax.synth.seeds import stream

MOTION_TAIL_S = 0.2  # a movement stays visible this long after its sound ends
FRAME_BATCH = 60  # frames rendered per whole-array step
SKIN = np.array([225.0, 185.0, 155.0], np.float32)
ASMR_TINT = np.array([[1.0, 0.92, 0.85], [0.92, 0.92, 1.0], [1.0, 1.0, 0.9], [0.9, 1.0, 0.92]], np.float32)
ASMR_OBJECT = ((120.0, 80.0, 50.0), (150.0, 60.0, 60.0), (110.0, 110.0, 120.0), (90.0, 70.0, 110.0))  # [clip] rgb
HORIZON, GROUND = 0.28, 0.48  # nature: sky above HORIZON, tree line down to GROUND (fractions of the height)


def _rgb(*channels: float) -> np.ndarray:
    return np.array(channels, np.float32)


def _texture(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Smooth random texture `shape` in 0..1 (Gaussian-filtered noise, wrapped at the edges)."""
    field = scipy.ndimage.gaussian_filter(rng.normal(0.0, 1.0, shape), sigma, mode="wrap")
    return ((field - field.min()) / (np.ptp(field) + 1e-12)).astype(np.float32)


def _mix(low: np.ndarray, high: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Colour `[..., 3]` between two rgb values by `amount [...]` in 0..1."""
    return low + amount[..., None] * (high - low)


def _gauss(coords: np.ndarray, centre: np.ndarray, sd) -> np.ndarray:
    """Gaussian profiles `[item, coord]` of items centred at `centre [item]`."""
    return np.exp(-0.5 * ((coords[None, :] - centre[:, None]) / np.asarray(sd, np.float32).reshape(-1, 1)) ** 2)


def _ellipse(xs, ys, cx, cy, rx, ry) -> np.ndarray:
    """Soft-edged filled ellipse `[height, width]` in 0..1."""
    r = np.sqrt(((xs[None, :] - cx) / rx) ** 2 + ((ys[:, None] - cy) / ry) ** 2)
    return np.clip((1.15 - r) / 0.3, 0.0, 1.0).astype(np.float32)


def _scroll(texture: np.ndarray, shifts: np.ndarray, width: int) -> np.ndarray:
    """`[frame, rows, width]` windows of a wide texture, each starting `shifts [frame]` columns in (wrapping)."""
    columns = (shifts[:, None] + np.arange(width)[None, :]) % texture.shape[1]
    return texture[:, columns].transpose(1, 0, 2)


def _batches(cfg: SynthConfig) -> Iterator[np.ndarray]:
    """Frame indices of the clip in batches `[frame]` (whole-array rendering, bounded memory)."""
    n_frames = round(cfg.video_seconds * cfg.video_fps)
    for start in range(0, n_frames, FRAME_BATCH):
        yield np.arange(start, min(n_frames, start + FRAME_BATCH))


def asmr_scene(cfg: SynthConfig, video: str, rng: np.random.Generator) -> np.ndarray:
    """The still close-up `[height, width, rgb]` float32 of an ASMR clip, before any trigger movement."""
    width, height = cfg.video_size
    xs, ys = np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    clip = int(video.removeprefix("vid")) - 1
    table = round(0.62 * height)
    wall = _mix(_rgb(22, 18, 16), _rgb(62, 50, 42), (ys / table)[:, None] * np.ones((1, width), np.float32))
    wood = _texture(rng, (height - table, 3 * width), 1.5)[:, ::3] ** 1.5
    scene = np.concatenate([wall[:table], _mix(_rgb(70, 48, 34), _rgb(110, 78, 55), wood)], axis=0)
    lamp = _ellipse(xs, ys, width * 0.5, height * 0.35, width * 0.45, height * 0.5)
    scene = scene * (0.7 + 0.45 * lamp[..., None])
    props = _ellipse(xs, ys, width * 0.5, height * 0.6, width * 0.09, height * 0.12)
    scene += props[..., None] * (_rgb(*ASMR_OBJECT[clip]) - scene)
    for side in (-1, 1):  # two hands resting either side of the object
        hand = _ellipse(xs, ys, width * (0.5 + side * 0.26), height * 0.78, width * 0.11, height * 0.13)
        scene += hand[..., None] * (SKIN * (0.85 + 0.1 * side) - scene)
    grain = 4.0 * rng.normal(0.0, 1.0, (height, width, 1)).astype(np.float32)  # a fixed sensor pattern
    return scene * ASMR_TINT[clip] + grain


def asmr_frames(cfg: SynthConfig, video: str, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Still scene; each trigger event moves a bright fingertip (tap) or brush head (brush) on screen."""
    width, height = cfg.video_size
    xs, ys = np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    scene = asmr_scene(cfg, video, rng)
    towards_skin = SKIN + 20.0 - scene  # [height, width, rgb]
    script = stimulus_script(cfg, video)
    ends = script.times_s + script.durations_s + MOTION_TAIL_S
    first = np.ceil(script.times_s * cfg.video_fps).astype(np.int64)
    last = np.ceil(ends * cfg.video_fps).astype(np.int64)  # exclusive
    for frames in _batches(cfg):
        # (frame, event) pairs where the event's movement is on screen
        lo, hi = np.maximum(first, frames[0]), np.minimum(last, frames[-1] + 1)
        counts = np.maximum(hi - lo, 0)
        event = np.repeat(np.arange(counts.shape[0]), counts)
        frame = np.arange(event.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts) + lo[event]
        u = (frame / cfg.video_fps - script.times_s[event]) / (ends[event] - script.times_s[event])  # 0..1
        tap = script.kinds[event] == TAP
        x0 = width / 2 + script.pans[event] * width * 0.35 + np.where(tap, 0.0, (u - 0.5) * width * 0.4)
        y0 = np.where(tap, height * 0.55 - 0.15 * height * np.sin(np.pi * u), height * 0.5)
        gy = _gauss(ys, y0, np.where(tap, 5.0, 14.0)) * script.gains[event, None]  # [pair, height]
        gx = _gauss(xs, x0, np.where(tap, 5.0, 4.0))  # [pair, width]
        onehot = (frame[:, None] == frames[None, :]).astype(np.float32)  # [pair, frame]
        rows = (onehot[:, :, None] * gy[:, None, :].astype(np.float32)).reshape(
            event.shape[0], frames.shape[0] * height
        )  # [pair, frame*h]
        alpha = (rows.T @ gx.astype(np.float32)).reshape(frames.shape[0], height, width)  # sum over pairs
        images = scene + np.minimum(alpha, 1.0)[..., None] * towards_skin
        yield from np.clip(images, 0, 255).astype(np.uint8)


def _grass(texture: np.ndarray, xs: np.ndarray, bend: np.ndarray) -> np.ndarray:
    """Grass blades `[frame, rows, width]` in 0..1: fine vertical stripes bent sideways by `bend [frame, rows]`."""
    phase = 2 * np.pi * xs / 5.0
    stripes = 0.5 + 0.5 * (np.sin(phase) * np.cos(bend)[..., None] + np.cos(phase) * np.sin(bend)[..., None])
    return 0.55 * stripes + 0.45 * texture[None, :, : xs.shape[0]]


def nature_frames(cfg: SynthConfig, video: str, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Daylight scene: clouds and a swaying tree line above, the clip's own ground below."""
    width, height = cfg.video_size
    xs, ys = np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    horizon, ground = round(HORIZON * height), round(GROUND * height)
    n_low = height - ground
    low_ys = (ys[ground:] - ground) / n_low  # 0 at the tree line, 1 at the bottom
    sky = _mix(_rgb(120, 170, 225), _rgb(200, 215, 230), (ys[:horizon] / horizon)[:, None] * np.ones(width, np.float32))
    clouds = _texture(rng, (horizon, 4 * width), 4.0) ** 2
    leaves = _texture(rng, (ground - horizon, 2 * width), 1.0)
    canopy = np.clip(1.2 - (ys[horizon:ground, None] - horizon) / (ground - horizon) * 0.4, 0, 1)
    lows = _texture(rng, (n_low, 4 * width), 1.2)
    phase = rng.uniform(0, 2 * np.pi)
    for frames in _batches(cfg):
        t = (frames / cfg.video_fps).astype(np.float32)  # [frame]
        drift = (t * 3.0).astype(np.int64)  # clouds: 3 px/s
        sway = np.rint(1.5 * np.sin(2 * np.pi * 0.15 * t + phase)).astype(np.int64)
        top = sky + 45.0 * _scroll(clouds, drift, width)[..., None]
        trees = _mix(_rgb(30, 70, 28), _rgb(100, 150, 60), _scroll(leaves, sway + width, width) * canopy)
        if video == "vid5":  # brook: water flowing right between grassy banks
            banks = _mix(_rgb(50, 100, 35), _rgb(110, 150, 60), lows[None, :, :width])
            water = _mix(_rgb(70, 105, 130), _rgb(175, 200, 215), _scroll(lows, -(t * 20).astype(np.int64), width))
            in_water = ((low_ys > 0.3) & (low_ys < 0.75))[None, :, None, None]
            low = np.where(in_water, water, banks)
        elif video == "vid6":  # waves: bands rolling in towards a sandy beach
            rows = low_ys[None, :] * 14.0 - 2 * np.pi * t[:, None] / 9.0  # [frame, row]
            crest = (0.5 + 0.5 * np.sin(rows)) ** 6 * (0.6 + 0.4 * np.sin(2 * np.pi * t / 9.0))[:, None]
            sea = _mix(_rgb(40, 95, 125), _rgb(80, 140, 160), lows[None, :, :width])
            sea = sea + crest[..., None, None] * (_rgb(225, 235, 235) - sea)
            sand = _mix(_rgb(170, 150, 110), _rgb(210, 190, 150), lows[None, :, width : 2 * width])
            low = np.where((low_ys > 0.7)[None, :, None, None], sand, sea)
        elif video == "vid7":  # campfire: flickering flames over logs in a grassy clearing
            clearing = _mix(_rgb(55, 100, 35), _rgb(115, 150, 65), lows[None, :, :width])
            flicker = 1 + 0.25 * np.sin(2 * np.pi * 3.1 * t + phase) * np.sin(2 * np.pi * 0.7 * t)
            tongues = _scroll(lows, (t * 60).astype(np.int64), width)
            flame = np.exp(-0.5 * ((xs - width / 2) / (width * 0.08 * flicker[:, None, None])) ** 2) * np.exp(
                -0.5 * ((low_ys[None, :, None] - 0.72) / (0.18 * flicker[:, None, None])) ** 2
            )
            flame = np.clip(flame * (0.7 + 0.6 * tongues), 0, 1)
            logs = _ellipse(xs, low_ys * n_low, width / 2, 0.85 * n_low, width * 0.14, n_low * 0.07)
            low = clearing + logs[..., None] * (_rgb(85, 55, 35) - clearing)
            low = low + flame[..., None] * (_rgb(255, 165, 60) - low)
        else:  # meadow: grass blades bending in gusts
            gust = np.sin(2 * np.pi * 0.05 * t + phase) * np.sin(2 * np.pi * 0.4 * t)  # [frame]
            bend = 2 * np.pi / 5.0 * gust[:, None] * 3.0 * (1.0 - low_ys[None, :])  # [frame, row]
            low = _mix(_rgb(45, 95, 30), _rgb(125, 165, 60), _grass(lows, xs, bend))
        low = np.broadcast_to(low, (frames.shape[0], n_low, width, 3))
        images = np.concatenate([np.broadcast_to(top, (frames.shape[0], horizon, width, 3)), trees, low], axis=1)
        yield from np.clip(images, 0, 255).astype(np.uint8)


def render_frames(cfg: SynthConfig, video: str) -> Iterator[np.ndarray]:
    """The clip's RGB frames `[height, width, 3]` uint8, `video_seconds * video_fps` of them."""
    rng = stream(cfg.seed, "picture", video)
    return asmr_frames(cfg, video, rng) if condition_of(video) == "ASMR" else nature_frames(cfg, video, rng)
