"""Tiny AVI stimuli for the feature tests, written with PyAV: each frame shows its own index.

Frame j is two flat grey halves: left = 16*(j // 16) + 8, right = 16*(j % 16) + 8,
so the index survives lossy codecs (decode with `frame_index_of`, tolerance
±7 grey levels) for clips up to 256 frames.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def index_image(j: int, width: int, height: int) -> np.ndarray:
    image = np.empty((height, width, 3), np.uint8)
    image[:, : width // 2] = 16 * (j // 16) + 8
    image[:, width // 2 :] = 16 * (j % 16) + 8
    return image


def frame_index_of(rgb: np.ndarray) -> int:
    """The index drawn by `index_image`, read from the centres of the two halves."""
    height, width = rgb.shape[:2]
    left = int(rgb[height // 2, width // 4, 1])
    right = int(rgb[height // 2, 3 * width // 4, 1])
    return 16 * round((left - 8) / 16) + round((right - 8) / 16)


def stereo_audio(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """[channel, sample] int16 stereo: a tone plus noise bursts, different per channel."""
    n = int(round(seconds * rate))
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    left = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)
    right = 0.2 * np.sin(2 * np.pi * 1300 * t) * (np.sin(2 * np.pi * 0.7 * t) > 0) + 0.1 * rng.standard_normal(n)
    return (np.clip(np.stack([left, right]), -1, 1) * 32767).astype(np.int16)


def write_clip(
    path: Path,
    *,
    seconds: float,
    fps: Fraction | int = 30,
    size: tuple[int, int] = (64, 48),
    audio_rate: int = 16_000,
    audio: np.ndarray | None = None,
    with_audio: bool = True,
    codec: str = "rawvideo",
    seed: int = 0,
    dropped: frozenset[int] = frozenset(),
) -> Path:
    """Write an AVI of `seconds` at `fps` whose frames encode their index; audio pcm_s16le stereo.

    Frames in `dropped` are left out; the others keep their timestamps (pts = index), as in
    an AVI that lost frames, so the frame on screen at a dropped time is the previous one.
    """
    fps = Fraction(fps)
    width, height = size
    n_frames = int(seconds * fps)
    with av.open(str(path), "w", format="avi") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height = width, height
        video.pix_fmt = "bgr24" if codec == "rawvideo" else "yuv420p"
        if codec != "rawvideo":
            video.bit_rate = 4_000_000
        sound = None
        if with_audio:
            sound = container.add_stream("pcm_s16le", rate=audio_rate, layout="stereo")
            if audio is None:
                audio = stereo_audio(seconds, audio_rate, seed)
        for j in range(n_frames):
            if j in dropped:
                continue
            image = index_image(j, width, height)
            if seed:
                image = np.clip(image.astype(int) + seed % 5, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = j, 1 / fps
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            for start in range(0, audio.shape[1], 1024):
                chunk = np.ascontiguousarray(audio[:, start : start + 1024].T).reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
                frame.sample_rate = audio_rate
                for packet in sound.encode(frame):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return path
