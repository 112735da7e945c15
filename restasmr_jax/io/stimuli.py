"""AVI stimulus decoding with PyAV: 10-Hz RGB frames of the analysis window and the mono audio track (SPEC §1.3, §4).

PyAV carries FFmpeg inside its wheel, so nothing here shells out to a system
`ffmpeg` or writes a temporary WAV file.

Frame-index mapping (SPEC §4).  The analysis window starts at stimulus time
`start` (5.0 s) and samples `n_frames` (550) steps at `rate_hz` (10 Hz), so step
k stands for stimulus time t_k = start + k/rate_hz.  Step k takes **the frame
on screen at t_k**: the last frame whose presentation time is <= t_k.  For a
constant frame rate fps with frame j shown from j/fps that is

    index(k) = floor((start + k/rate_hz) * fps)

computed with `fractions.Fraction` (fps from the stream's `average_rate`, frame
times from `pts * time_base`), so 29.97 fps = 30000/1001 maps exactly with no
float rounding.  The alternative floor(start*fps) + floor(k/rate_hz*fps) (what
the authors' OpenCV code does after seeking to 5000 ms) can pick a frame up
to one frame *before* the one on screen whenever start*fps is not an integer
(29.97 fps: 149.85); both agree exactly at 25 and 30 fps, where start*fps is
an integer, so the paper's integer-rate stimuli are unaffected.  Selecting by
presentation time instead of by decoded-frame count also keeps the mapping
right when an AVI has dropped (empty) frames, where the timestamps skip.

Stimulus time 0 is the first decoded frame's presentation time.  Frames
are decoded sequentially from the start (no seeking, hence no keyframe-seek
inaccuracy) and only the wanted ones are converted to RGB.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from restasmr_jax.config import STIMULUS_FILES, ProtocolConfig


class StimulusError(ValueError):
    """A stimulus file is missing, unreadable, or does not cover the analysis window."""


@dataclass(frozen=True)
class StimulusWindow:
    """Stimulus time [start, start + n_frames/rate_hz) sampled every 1/rate_hz s (SPEC §4)."""

    start: Fraction  # seconds, exact
    n_frames: int
    rate_hz: int

    @classmethod
    def from_protocol(cls, protocol: ProtocolConfig = ProtocolConfig()) -> StimulusWindow:
        """The 55.0-s window from 5.0 s: 550 steps at 10 Hz (trial 0 uses its first 507)."""
        # str() turns the decimal the config was written with into an exact fraction (5.0 -> 5).
        return cls(Fraction(str(protocol.warmup_seconds)), protocol.padded_frames, protocol.label_rate_hz)

    def times(self) -> list[Fraction]:
        """[time] exact stimulus times t_k = start + k/rate_hz."""
        return [self.start + Fraction(k, self.rate_hz) for k in range(self.n_frames)]

    @property
    def end(self) -> Fraction:
        return self.start + Fraction(self.n_frames, self.rate_hz)

    def describe(self) -> dict:
        return {"start_s": str(self.start), "n_frames": self.n_frames, "rate_hz": self.rate_hz}


def frame_indices(window: StimulusWindow, fps: Fraction) -> np.ndarray:
    """[time] index of the frame on screen at each window time, for a constant frame rate `fps`."""
    fps = Fraction(fps)
    return np.array([math.floor(t * fps) for t in window.times()], dtype=np.int64)


def require_file(path: Path) -> None:
    if not path.is_file():
        raise StimulusError(f"{path}: stimulus file not found (expected an AVI in the archive's stim/ folder)")


def _open(path: Path) -> av.container.InputContainer:
    require_file(path)
    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise StimulusError(f"{path}: not a readable video file (corrupt or truncated AVI?): {exc}") from None


def _video_stream(container, path: Path):
    if not container.streams.video:
        raise StimulusError(f"{path}: has no video stream")
    stream = container.streams.video[0]
    if not stream.average_rate:
        raise StimulusError(f"{path}: video stream declares no frame rate; cannot map frames to 10-Hz steps")
    return stream


def _audio_stream(container, path: Path):
    if not container.streams.audio:
        raise StimulusError(f"{path}: has no audio stream (the stimuli are AVIs with a soundtrack, SPEC §1.3)")
    return container.streams.audio[0]


@dataclass(frozen=True)
class StimulusInfo:
    path: Path
    fps: Fraction
    width: int
    height: int
    audio_rate: int
    audio_channels: int


def probe_stimulus(path: str | os.PathLike) -> StimulusInfo:
    """Stream parameters from the header (no decoding); raises StimulusError on a bad file."""
    path = Path(path)
    with _open(path) as container:
        video, audio = _video_stream(container, path), _audio_stream(container, path)
        return StimulusInfo(
            path,
            Fraction(video.average_rate),
            video.codec_context.width,
            video.codec_context.height,
            audio.codec_context.sample_rate,
            audio.codec_context.channels,
        )


def iter_window_frames(path: str | os.PathLike, window: StimulusWindow) -> Iterator[np.ndarray]:
    """Yield exactly `window.n_frames` RGB frames `[height, width, 3]` uint8, one per window step.

    Raises StimulusError naming the file when it is unreadable, corrupt, or
    ends before the last window time (a stimulus shorter than the window).
    """
    path = Path(path)
    targets = window.times()
    with _open(path) as container:
        stream = _video_stream(container, path)
        fps = Fraction(stream.average_rate)
        time_base = Fraction(stream.time_base) if stream.time_base else None
        period = 1 / fps
        k, n = 0, len(targets)
        prev, prev_time, prev_rgb = None, None, None
        first_pts, decoded = None, 0
        try:
            for frame in container.decode(stream):
                if frame.pts is not None and time_base is not None:
                    first_pts = frame.pts if first_pts is None else first_pts
                    time = (frame.pts - first_pts) * time_base
                else:  # no timestamps: decoder output order is presentation order
                    time = decoded * period
                decoded += 1
                if prev_time is not None and time <= prev_time:
                    raise StimulusError(
                        f"{path}: frame timestamps go backwards at frame {decoded - 1}; "
                        "cannot map frames to window times"
                    )
                while k < n and targets[k] < time:  # targets before this frame show the previous one
                    if prev is None:
                        raise StimulusError(
                            f"{path}: first video frame starts at {float(time):.3f} s, "
                            f"after window time {float(targets[k]):.3f} s"
                        )
                    prev_rgb = prev_rgb if prev_rgb is not None else prev.to_ndarray(format="rgb24")
                    yield prev_rgb
                    k += 1
                if k == n:
                    return
                prev, prev_time, prev_rgb = frame, time, None
        except av.FFmpegError as exc:
            raise StimulusError(
                f"{path}: decoding failed after {decoded} frames (corrupt or truncated AVI?): {exc}"
            ) from None
        # The last frame stays on screen for one frame period.
        while k < n and prev is not None and targets[k] < prev_time + period:
            prev_rgb = prev_rgb if prev_rgb is not None else prev.to_ndarray(format="rgb24")
            yield prev_rgb
            k += 1
        if k < n:
            shown = float(prev_time + period) if prev is not None else 0.0
            raise StimulusError(
                f"{path}: video ends at {shown:.3f} s ({decoded} frames at {float(fps):.3f} fps) but the window "
                f"needs frames up to {float(targets[-1]):.3f} s (stimulus too short, or a truncated file)"
            )


def read_window_frames(path: str | os.PathLike, window: StimulusWindow) -> np.ndarray:
    """[time, height, width, 3] uint8: all window frames at once (small clips; features stream instead)."""
    return np.stack(list(iter_window_frames(path, window)))


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """The whole soundtrack as float32 mono `[sample]` (mean of the channels) and its native rate."""
    path = Path(path)
    with _open(path) as container:
        stream = _audio_stream(container, path)
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=rate)  # planar float, same rate
        chunks = []
        try:
            for frame in container.decode(stream):
                chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray() for out in resampler.resample(None))
        except av.FFmpegError as exc:
            raise StimulusError(f"{path}: audio decoding failed (corrupt or truncated AVI?): {exc}") from None
    if not chunks:
        raise StimulusError(f"{path}: the audio stream holds no samples")
    planar = np.concatenate(chunks, axis=1)  # [channel, sample]
    return planar.mean(axis=0, dtype=np.float64).astype(np.float32), int(rate)


def window_audio(
    samples: np.ndarray, rate: int, window: StimulusWindow, *, path: str | os.PathLike = "<audio>"
) -> np.ndarray:
    """[sample] the window's audio, n_frames hops long (hop = rate/rate_hz samples, integral).

    The audio must reach at least the centre of the last analysis frame
    (start + (n-1)/rate_hz); the tail beyond the track's end is what librosa's
    centred framing zero-pads anyway.
    """
    hop = audio_hop(rate, window.rate_hz, path=path)
    first = window.start * rate
    if first.denominator != 1:
        raise StimulusError(f"{path}: window start {window.start} s is not a whole number of samples at {rate} Hz")
    first = int(first)
    needed = first + (window.n_frames - 1) * hop + 1
    if samples.shape[0] < needed:
        raise StimulusError(
            f"{path}: audio lasts {samples.shape[0] / rate:.3f} s but the window needs audio up to "
            f"{(needed - 1) / rate:.3f} s (stimulus too short)"
        )
    return samples[first : first + window.n_frames * hop]


def audio_hop(rate: int, rate_hz: int, *, path: str | os.PathLike = "<audio>") -> int:
    """Samples per 100-ms step; the paper's hop = sr/10 must be a whole number of samples."""
    if rate % rate_hz:
        raise StimulusError(
            f"{path}: audio rate {rate} Hz is not a multiple of {rate_hz} Hz, "
            f"so hop = sr/{rate_hz} is not a whole number of samples"
        )
    return rate // rate_hz


def stimulus_paths(stim_dir: Path, videos: Iterable[str]) -> dict[str, Path]:
    """vidN -> its AVI; raises StimulusError listing every referenced video without a file."""
    videos = sorted(set(videos), key=lambda v: (len(v), v))
    unknown = [v for v in videos if v not in STIMULUS_FILES]
    if unknown:
        raise StimulusError(f"timeline references unknown video code(s) {unknown}; expected vid1..vid8")
    paths = {v: stim_dir / STIMULUS_FILES[v] for v in videos}
    missing = {v: str(p) for v, p in paths.items() if not p.is_file()}
    if missing:
        listed = ", ".join(f"{v} -> {p}" for v, p in missing.items())
        raise StimulusError(f"timeline references video(s) with no stimulus file: {listed}")
    return paths


def check_decodable(paths: Mapping[str, Path]) -> None:
    """Header-level check of every stimulus (video and audio streams present) before long work starts."""
    for path in paths.values():
        probe_stimulus(path)
