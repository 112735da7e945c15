"""Synthetic stimulus clips: sound rendered from the trigger scripts, pictures from `synth.pictures`, as AVI
(SPEC §1.3, §12).

Two sound families, as in the pictures.  ASMR clips: every trigger event of
`scripts.stimulus_script` is a sound (tap: a short damped resonant knock;
brush: a band-passed noise swish) panned in stereo over a quiet room tone,
normalised to a common peak level, so between triggers the clip is nearly
silent.  Nature clips: one outdoor bed (broadband noise with a slowly
breathing level) under each member's own texture, with no triggers: nature1
a babbling brook, nature2 surf swelling every ~9 s, nature3 a crackling
fire, nature4 wind in gusts; normalised to a common loudness (RMS), so the
four sit at one level, far above the ASMR room tone.

Container: AVI with an MPEG-4 Part 2 video stream (`cfg.video_size`,
`cfg.video_fps`) and a stereo IMA-ADPCM audio stream at
`cfg.audio_rate_hz` (4-bit ADPCM keeps 8 clips < 40 MB where 16-bit PCM
alone would exceed it; it has no encoder delay, so audio sample 0 is clip
time 0; the decoder returns up to one block of padding at the end).
Encoders run single-threaded so the bytes are deterministic.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import scipy.signal

from restasmr_jax import storage
from restasmr_jax.config import SynthConfig, condition_of
from restasmr_jax.synth.pictures import render_frames
from restasmr_jax.synth.scripts import TAP, Script, stimulus_script
from restasmr_jax.synth.seeds import stream

VIDEO_CODEC = "mpeg4"
VIDEO_BIT_RATE = 200_000
AUDIO_CODEC = "adpcm_ima_wav"
AUDIO_CHUNK = 4096
PEAK_LEVEL = 0.6  # ASMR audio peak, full scale = 1
NATURE_RMS = 0.12  # nature loudness (RMS, full scale = 1); peaks are limited to NATURE_PEAK
NATURE_PEAK = 0.9


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


def _outdoor_bed(rng, n: int, sr: int, seconds: float) -> np.ndarray:
    """The nature family's shared ambience `[channel, sample]`: broadband noise with a slowly breathing level."""
    return _band_noise(rng, (2, n), sr, (80.0, 5000.0), order=2) * _slow_envelope(rng, n, sr, 0.1, seconds)


def _nature_audio(video: str, rng, n: int, sr: int, seconds: float) -> np.ndarray:
    bed = _outdoor_bed(rng, n, sr, seconds)
    if video == "vid5":  # brook: babbling mid-band noise
        own = _band_noise(rng, (2, n), sr, (300.0, 3000.0)) * _slow_envelope(rng, n, sr, 8.0, seconds)
    elif video == "vid6":  # waves: low roar and crest hiss swelling every ~9 s
        phase = 2 * np.pi * np.cumsum(1.0 / rng.uniform(8.0, 10.0) * _slow_envelope(rng, n, sr, 0.05, seconds)) / sr
        swell = 0.3 + (0.5 + 0.5 * np.sin(phase)) ** 2
        own = (_band_noise(rng, (2, n), sr, (None, 600.0)) + 0.4 * _band_noise(rng, (2, n), sr, (2500.0, None))) * swell
    elif video == "vid7":  # fire: rumble plus crackles
        own = 0.8 * _band_noise(rng, (2, n), sr, (None, 300.0))
        crackles = np.zeros((2, n))
        at = rng.integers(0, n, rng.poisson(6.0 * seconds))
        crackles[:, at] = rng.normal(0, 3.0, (2, at.shape[0])) * rng.uniform(0.2, 1.0, at.shape[0])
        own = own + scipy.signal.lfilter([1.0], [1.0, -0.8], crackles, axis=-1)
    else:  # wind: gusts of low and mid noise
        gust = _slow_envelope(rng, n, sr, 0.2, seconds)
        own = _band_noise(rng, (2, n), sr, (None, 500.0)) * (0.4 + gust) + _band_noise(
            rng, (2, n), sr, (800.0, 2000.0)
        ) * (0.5 * gust**2)
    own = own / (np.sqrt(np.mean(own**2)) + 1e-12)
    return bed / (np.sqrt(np.mean(bed**2)) + 1e-12) + own


def render_audio(cfg: SynthConfig, video: str) -> np.ndarray:
    """Stereo track `[channel, sample]` int16 of the clip, `round(video_seconds * audio_rate_hz)` samples."""
    rng = stream(cfg.seed, "audio", video)
    sr = cfg.audio_rate_hz
    n = round(cfg.video_seconds * sr)
    if condition_of(video) == "ASMR":
        audio = _asmr_audio(stimulus_script(cfg, video), rng, n, sr)
        audio = audio * (PEAK_LEVEL / max(np.abs(audio).max(), 1e-12))
    else:
        audio = _nature_audio(video, rng, n, sr, cfg.video_seconds)
        audio = audio * (NATURE_RMS / max(np.sqrt(np.mean(audio**2)), 1e-12))
        audio = NATURE_PEAK * np.tanh(audio / NATURE_PEAK)  # a soft limiter: crackle peaks stay below full scale
    return np.rint(audio * 32767).astype(np.int16)


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
