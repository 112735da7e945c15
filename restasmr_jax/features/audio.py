"""31-d librosa audio features per 100-ms step (SPEC §4): 20 MFCC, RMS, centroid, bandwidth, ZCR, 7 contrast bands.

Framing follows the authors' pipeline, which loaded exactly the window's
audio (librosa offset/duration) and called librosa with its defaults: hop =
sr/10 samples, n_fft = frame_length = 2048, centred frames.  Frame k is
therefore centred on stimulus time start + k/10 s, aligned with video step
k; audio outside the window is not used, so the first and last frames see
librosa's zero padding, as theirs did.  Centring yields n+1 frames for a
window of n hops; the first n are kept.

log1p is applied to the centroid and bandwidth (Hz values in the thousands,
otherwise dwarfing every other column); the column names say so.
"""

from __future__ import annotations

import librosa
import numpy as np

AUDIO_COLUMNS: tuple[str, ...] = (
    *(f"mfcc_{i:02d}" for i in range(1, 21)),
    "rms",
    "log1p_spectral_centroid",
    "log1p_spectral_bandwidth",
    "zero_crossing_rate",
    *(f"spectral_contrast_{i}" for i in range(7)),
)


def audio_features(segment: np.ndarray, rate: int, *, n_frames: int, rate_hz: int = 10, n_mfcc: int = 20) -> np.ndarray:
    """[time, 31] float32 features of a mono window `segment [sample]` at `rate` Hz; columns = AUDIO_COLUMNS."""
    if rate % rate_hz:
        raise ValueError(f"audio rate {rate} Hz is not a multiple of {rate_hz} Hz: hop = sr/{rate_hz} must be integral")
    if n_mfcc != 20:
        raise ValueError(f"n_mfcc={n_mfcc}: AUDIO_COLUMNS names 20 MFCCs (SPEC §4)")
    hop = rate // rate_hz
    y = np.ascontiguousarray(segment, dtype=np.float32)
    blocks = [
        librosa.feature.mfcc(y=y, sr=rate, n_mfcc=n_mfcc, hop_length=hop),
        librosa.feature.rms(y=y, hop_length=hop),
        np.log1p(librosa.feature.spectral_centroid(y=y, sr=rate, hop_length=hop)),
        np.log1p(librosa.feature.spectral_bandwidth(y=y, sr=rate, hop_length=hop)),
        librosa.feature.zero_crossing_rate(y, hop_length=hop),
        librosa.feature.spectral_contrast(y=y, sr=rate, hop_length=hop),
    ]
    feats = np.concatenate(blocks, axis=0).T  # [time, 31]
    if feats.shape[1] != len(AUDIO_COLUMNS):
        raise AssertionError(f"librosa returned {feats.shape[1]} audio columns, expected {len(AUDIO_COLUMNS)}")
    if feats.shape[0] < n_frames:
        raise ValueError(f"audio segment of {y.shape[0]} samples gives {feats.shape[0]} frames, need {n_frames}")
    return feats[:n_frames].astype(np.float32)
