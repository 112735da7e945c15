"""Synthetic stimulus clips: audio and picture rendered from the trigger scripts, written as AVI (SPEC §1.3, §12).

ASMR clips: every trigger event of `scripts.stimulus_script` is a sound
(tap: a short damped resonant knock; brush: a band-passed noise swish)
panned in stereo, and a visible movement at the same moment (tap: a bright
fingertip dipping at the panned position; brush: a brush head sweeping
across), over a quiet room tone and a still scene.  Nature clips are
textures with slow change and no triggers: nature1 a brook (babbling
band noise, scrolling water), nature2 waves (swelling surf, moving
bands), nature3 a bonfire (rumble and crackles, flickering flame), nature4
wind (gusty noise, swaying grass).

Container: AVI with an MPEG-4 Part 2 video stream (`cfg.video_size`,
`cfg.video_fps`) and a stereo IMA-ADPCM audio stream at
`cfg.audio_rate_hz` (4-bit ADPCM keeps 8 clips < 40 MB where 16-bit PCM
alone would exceed it; it has no encoder delay, so audio sample 0 is clip
time 0; the decoder returns up to one block of padding at the end).
Encoders run single-threaded so the bytes are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import scipy.signal

from restasmr_jax import storage
from restasmr_jax.config import SynthConfig, condition_of
from restasmr_jax.synth.scripts import TAP, Script, stimulus_script
from restasmr_jax.synth.seeds import stream

VIDEO_CODEC = "mpeg4"
VIDEO_BIT_RATE = 200_000
AUDIO_CODEC = "adpcm_ima_wav"
AUDIO_CHUNK = 4096
MOTION_TAIL_S = 0.2  # a movement stays visible this long after its sound ends
PEAK_LEVEL = 0.6  # audio peak, full scale = 1
FRAME_BATCH = 60  # frames rendered per whole-array step


def _band_noise(rng, shape, sr, band, order=4) -> np.ndarray:
    """Gaussian noise `shape` filtered to `band` (low, high) Hz; None = open; edges capped below Nyquist."""
    band = tuple(None if edge is None else min(edge, 0.45 * sr) for edge in band)
    kind = "lowpass" if band[0] is None else "highpass" if band[1] is None else "bandpass"
    edges = band[1] if kind == "lowpass" else band[0] if kind == "highpass" else band
    sos = scipy.signal.butter(order, edges, btype=kind, fs=sr, output="sos")
    return scipy.signal.sosfilt(sos, rng.normal(0.0, 1.0, shape), axis=-1)


def _slow_envelope(rng, n, sr, rate_hz, seconds) -> np.ndarray:
    """Smooth random positive envelope `[sample]` varying at about `rate_hz`."""
    knots = max(4, int(seconds * rate_hz) + 2)
    values = np.abs(rng.normal(0.0, 1.0, knots)) + 0.3
    return np.interp(np.arange(n) / sr, np.linspace(0.0, seconds, knots), values)


def _pan(pans: np.ndarray) -> np.ndarray:
    """Constant-power stereo gains `[channel, event]` for pans in -1..1."""
    angle = (pans + 1.0) * np.pi / 4
    return np.stack([np.cos(angle), np.sin(angle)])


def _asmr_audio(script: Script, rng, n: int, sr: int) -> np.ndarray:
    out = 0.004 * _band_noise(rng, (2, n), sr, (None, 3000.0))  # room tone
    swish = _band_noise(rng, (2, n), sr, (2500.0, 9000.0))
    gains = _pan(script.pans) * script.gains
    for i, (t, kind, dur) in enumerate(zip(script.times_s, script.kinds, script.durations_s)):
        start = round(t * sr)
        if kind == TAP:
            u = np.arange(round(5 * dur * sr)) / sr
            pitch = rng.uniform(500.0, 2500.0)
            knock = np.exp(-u / (dur / 2)) * (np.sin(2 * np.pi * pitch * u) + 0.4 * np.sin(2 * np.pi * 2.7 * pitch * u))
            sound = (knock + 0.5 * rng.normal(0, 1, u.shape[0]) * np.exp(-u / 0.002))[None, :]
        else:
            u = np.arange(round(dur * sr)) / sr
            sound = 0.6 * swish[:, start : start + u.shape[0]] * np.sin(np.pi * u / dur) ** 2
        stop = min(n, start + sound.shape[1])
        out[:, start:stop] += gains[:, i : i + 1] * sound[:, : stop - start]
    return out


def _nature_audio(video: str, rng, n: int, sr: int, seconds: float) -> np.ndarray:
    if video == "vid5":  # brook: babbling mid-band noise
        return _band_noise(rng, (2, n), sr, (300.0, 3000.0)) * _slow_envelope(rng, n, sr, 8.0, seconds)
    if video == "vid6":  # waves: low roar and crest hiss swelling every ~9 s
        phase = 2 * np.pi * np.cumsum(1.0 / rng.uniform(8.0, 10.0) * _slow_envelope(rng, n, sr, 0.05, seconds)) / sr
        swell = 0.15 + (0.5 + 0.5 * np.sin(phase)) ** 3
        return (
            _band_noise(rng, (2, n), sr, (None, 600.0)) + 0.3 * _band_noise(rng, (2, n), sr, (3000.0, None))
        ) * swell
    if video == "vid7":  # bonfire: rumble plus sparse crackles
        out = 0.6 * _band_noise(rng, (2, n), sr, (None, 250.0))
        crackles = np.zeros((2, n))
        at = rng.integers(0, n, rng.poisson(5.0 * seconds))
        crackles[:, at] = rng.normal(0, 8.0, (2, at.shape[0])) * rng.uniform(0.2, 1.0, at.shape[0])
        return out + scipy.signal.lfilter([1.0], [1.0, -0.9], crackles, axis=-1)
    # wind: gusts of low and mid noise
    gust = _slow_envelope(rng, n, sr, 0.2, seconds)
    return (
        _band_noise(rng, (2, n), sr, (None, 500.0)) * (0.4 + gust)
        + _band_noise(rng, (2, n), sr, (800.0, 2000.0)) * gust**2
    )


def render_audio(cfg: SynthConfig, video: str) -> np.ndarray:
    """Stereo track `[channel, sample]` int16 of the clip, `round(video_seconds * audio_rate_hz)` samples."""
    rng = stream(cfg.seed, "audio", video)
    sr = cfg.audio_rate_hz
    n = round(cfg.video_seconds * sr)
    if condition_of(video) == "ASMR":
        audio = _asmr_audio(stimulus_script(cfg, video), rng, n, sr)
    else:
        audio = _nature_audio(video, rng, n, sr, cfg.video_seconds)
    audio = audio * (PEAK_LEVEL / max(np.abs(audio).max(), 1e-12))
    return np.rint(audio * 32767).astype(np.int16)


def _gauss(coords: np.ndarray, centre: np.ndarray, sd) -> np.ndarray:
    """Gaussian profiles `[item, coord]` of items centred at `centre [item]`."""
    return np.exp(-0.5 * ((coords[None, :] - centre[:, None]) / np.asarray(sd, np.float32).reshape(-1, 1)) ** 2)


def _batches(cfg: SynthConfig) -> Iterator[np.ndarray]:
    """Frame indices of the clip in batches `[frame]` (whole-array rendering, bounded memory)."""
    n_frames = round(cfg.video_seconds * cfg.video_fps)
    for start in range(0, n_frames, FRAME_BATCH):
        yield np.arange(start, min(n_frames, start + FRAME_BATCH))


def _asmr_frames(cfg: SynthConfig, video: str, rng) -> Iterator[np.ndarray]:
    """Still scene; each trigger event moves a bright fingertip (tap) or brush head (brush) on screen."""
    width, height = cfg.video_size
    xs, ys = np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    tint = np.array([[0.9, 0.7, 0.6], [0.7, 0.75, 0.9], [0.8, 0.8, 0.7], [0.75, 0.9, 0.75]], np.float32)[
        int(video[3]) - 1
    ]
    scene = (30 + 40 * (ys / height))[:, None, None] * tint + 6 * rng.normal(0, 1, (height, width, 1)).astype(
        np.float32
    )
    microphone = (
        _gauss(ys, np.array([height * 0.45]), height * 0.2)[0][:, None]
        * _gauss(xs, np.array([width / 2]), width * 0.08)[0]
    )
    scene += 60 * microphone[..., None]
    towards_skin = np.array([230.0, 190.0, 160.0], np.float32) - scene  # [height, width, rgb]

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
        y0 = np.where(tap, height * 0.6 - 0.15 * height * np.sin(np.pi * u), height * 0.55)
        gy = _gauss(ys, y0, np.where(tap, 5.0, 14.0)) * script.gains[event, None]  # [pair, height]
        gx = _gauss(xs, x0, np.where(tap, 5.0, 4.0))  # [pair, width]
        onehot = (frame[:, None] == frames[None, :]).astype(np.float32)  # [pair, frame]
        rows = (onehot[:, :, None] * gy[:, None, :].astype(np.float32)).reshape(
            event.shape[0], frames.shape[0] * height
        )  # [pair, frame*h]
        alpha = (rows.T @ gx.astype(np.float32)).reshape(frames.shape[0], height, width)  # sum over pairs
        images = scene + np.minimum(alpha, 1.0)[..., None] * towards_skin
        yield from np.clip(images, 0, 255).astype(np.uint8)


def _nature_frames(cfg: SynthConfig, video: str, rng) -> Iterator[np.ndarray]:
    """Slowly changing textures without trigger events."""
    width, height = cfg.video_size
    xs, ys = np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    smooth = scipy.signal.butter(2, 0.15, output="sos")
    texture = scipy.signal.sosfiltfilt(smooth, rng.normal(0, 1, (height, 4 * width)), axis=1)
    texture = ((texture - texture.min()) / (np.ptp(texture) + 1e-12)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi)
    sky_rows = {"vid5": 0.35, "vid6": 0.3, "vid8": 0.4}.get(video, 0.0)
    sky_rows = round(height * sky_rows)
    for frames in _batches(cfg):
        t = (frames / cfg.video_fps).astype(np.float32)[:, None, None]  # [frame, 1, 1]
        if video == "vid5":  # brook: water texture flowing right under a green bank
            shift = (frames * 25 // cfg.video_fps) % (3 * width)
            water = texture[:, shift[:, None] + np.arange(width)[None, :]].transpose(1, 0, 2)  # [frame, h, w]
            images = water[..., None] * _rgb(90, 140, 200) + 40
            images[:, :sky_rows] = _rgb(50, 110, 40) * (0.8 + 0.2 * texture[:sky_rows, :width, None])
        elif video == "vid6":  # waves: bands rolling in under a sky; sin(a + b) split so only [h] x [w] terms are new
            rows = ys[None, :] * 0.35 - 2 * np.pi * t[:, :, 0] / 9.0  # [frame, h]
            bands = 0.5 + 0.5 * (
                np.sin(rows)[..., None] * np.cos(0.03 * xs) + np.cos(rows)[..., None] * np.sin(0.03 * xs)
            )
            foam = (bands * bands) ** 3 * (0.5 + 0.5 * np.sin(2 * np.pi * t / 9.0))
            images = _rgb(20, 70, 130) + foam[..., None] * _rgb(200, 170, 120)
            images[:, :sky_rows] = _rgb(150, 190, 230)
        elif video == "vid7":  # bonfire: a flickering flame over dark ground
            flicker = 1 + 0.25 * np.sin(2 * np.pi * 3.1 * t) * np.sin(2 * np.pi * 0.7 * t + phase)
            shift = (frames * 60 // cfg.video_fps) % (3 * width)
            lick = texture[:, shift[:, None] + np.arange(width)[None, :]].transpose(1, 0, 2)
            flame = np.exp(-0.5 * ((xs - width / 2) / (width * 0.12 * flicker)) ** 2) * np.exp(
                -0.5 * ((ys[:, None] - height) / (height * 0.45 * flicker)) ** 2
            )
            images = 15 + np.clip(flame * (0.6 + 0.6 * lick), 0, 1)[..., None] * _rgb(255, 150, 40)
        else:  # wind: grass swaying in gusts under a pale sky
            gust = np.sin(2 * np.pi * 0.05 * t[:, :, 0] + phase) * np.sin(2 * np.pi * 0.4 * t[:, :, 0])  # [frame, 1]
            bend = 2 * np.pi / 6.0 * gust * 8 * (1 - ys / height)  # [frame, h]
            across = 2 * np.pi * xs / 6.0
            grass = 0.5 + 0.5 * (np.sin(across) * np.cos(bend)[..., None] + np.cos(across) * np.sin(bend)[..., None])
            images = _rgb(40, 90, 30) + grass[..., None] * _rgb(60, 90, 30)
            images[:, :sky_rows] = _rgb(190, 205, 220)
        yield from np.clip(images, 0, 255).astype(np.uint8)


def _rgb(*channels: float) -> np.ndarray:
    return np.array(channels, np.float32)


def render_frames(cfg: SynthConfig, video: str) -> Iterator[np.ndarray]:
    """The clip's RGB frames `[height, width, 3]` uint8, `video_seconds * video_fps` of them."""
    rng = stream(cfg.seed, "picture", video)
    return _asmr_frames(cfg, video, rng) if condition_of(video) == "ASMR" else _nature_frames(cfg, video, rng)


def write_stimulus(path: Path, cfg: SynthConfig, video: str) -> None:
    """Render and encode one clip to `path` atomically, audio interleaved with the picture."""
    audio = render_audio(cfg, video)
    sr, fps = cfg.audio_rate_hz, cfg.video_fps
    with storage.atomic_path(path) as tmp:
        container = av.open(str(tmp), mode="w", format="avi")
        try:
            picture = container.add_stream(VIDEO_CODEC, rate=fps)
            picture.width, picture.height = cfg.video_size
            picture.pix_fmt = "yuv420p"
            picture.bit_rate = VIDEO_BIT_RATE
            picture.thread_count = 1
            sound = container.add_stream(AUDIO_CODEC, rate=sr, layout="stereo")
            sound.thread_count = 1
            written = 0

            def push_audio(until: int) -> None:
                nonlocal written
                while written < until:
                    chunk = np.ascontiguousarray(audio[:, written : min(until, written + AUDIO_CHUNK)])
                    frame = av.AudioFrame.from_ndarray(chunk, format="s16p", layout="stereo")
                    frame.sample_rate, frame.pts = sr, written
                    container.mux(sound.encode(frame))
                    written += chunk.shape[1]

            for index, image in enumerate(render_frames(cfg, video)):
                container.mux(picture.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
                if (index + 1) % fps == 0:  # interleave one second of sound per second of picture
                    push_audio(min(audio.shape[1], (index + 1) * sr // fps))
            container.mux(picture.encode())
            push_audio(audio.shape[1])
            container.mux(sound.encode())
        finally:
            container.close()
