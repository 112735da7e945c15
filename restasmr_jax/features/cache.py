"""Per-stimulus audio-visual features of the 55.0-s window, computed once and cached by content (SPEC §4).

One verified `storage.ContentCache` entry per stimulus
(`<cache_dir>/features/`): `video [time, 512]`, `audio [time, 31]` and the
provenance.  The key
hashes the stimulus file's sha256, the feature code's source, the weights provenance (kind, seed, file
sha256, torch/torchvision versions), the FeatureConfig, the window and the
decoder/librosa versions: any change recomputes, an unchanged stimulus is
read back without decoding anything or building the network.  Trial 0's
50.7-s window is the first 507 rows of these 550 (the tensor slices).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from restasmr_jax import storage
from restasmr_jax.config import FeatureConfig
from restasmr_jax.features.audio import AUDIO_COLUMNS, audio_features
from restasmr_jax.features.weights import cache_identity, weights_provenance
from restasmr_jax.io import stimuli
from restasmr_jax.io.archive import DEFAULT_CACHE_DIR
from restasmr_jax.io.stimuli import StimulusWindow

if TYPE_CHECKING:  # torch is imported only when a stimulus has to be computed
    from restasmr_jax.features.video import VideoEncoder

FORMAT_VERSION = 1
_PACKAGE = Path(__file__).resolve().parent.parent
# The code that turns a stimulus file into its cached rows: part of the key, so an edit recomputes.
FEATURE_SOURCES = tuple(
    _PACKAGE / name
    for name in ("features/audio.py", "features/video.py", "features/weights.py", "features/cache.py", "io/stimuli.py")
)


def feature_code_digest() -> str:
    """Digest of FEATURE_SOURCES."""
    return storage.code_digest(FEATURE_SOURCES)


@dataclass(frozen=True)
class StimulusFeatures:
    video: np.ndarray  # [time, 512] float32
    audio: np.ndarray  # [time, 31] float32, columns AUDIO_COLUMNS
    provenance: dict

    @property
    def av(self) -> np.ndarray:
        """[time, 543] float32: video | audio, the stimulus part of the fused vector."""
        return np.concatenate([self.video, self.audio], axis=1)


def feature_key(stimulus_sha256: str, weights: dict, feature_cfg: FeatureConfig, window: StimulusWindow) -> str:
    """Cache key: everything the features depend on (the weights by content, not by path)."""
    cfg = dataclasses.asdict(feature_cfg)
    cfg.pop("video_weights")  # represented by the resolved weights below
    return storage.sha256_json(
        {
            "format": FORMAT_VERSION,
            "code": feature_code_digest(),
            "stimulus_sha256": stimulus_sha256,
            "weights": cache_identity(weights),
            "feature_cfg": cfg,
            "window": window.describe(),
            "versions": {name: importlib.metadata.version(name) for name in ("av", "librosa")},
        }
    )


def extract_stimulus_features(
    path: Path,
    window: StimulusWindow,
    encoder: VideoEncoder,
    *,
    feature_cfg: FeatureConfig = FeatureConfig(),
    progress: bool = False,
) -> StimulusFeatures:
    """Decode one stimulus and compute its `[time, 512]` video and `[time, 31]` audio features."""
    info = stimuli.probe_stimulus(path)  # fails fast on a missing stream before any decoding
    samples, rate = stimuli.read_audio(path)
    segment = stimuli.window_audio(samples, rate, window, path=path)
    audio = audio_features(segment, rate, n_frames=window.n_frames, rate_hz=window.rate_hz, n_mfcc=feature_cfg.n_mfcc)
    video = encoder.encode(
        stimuli.iter_window_frames(path, window),
        total=window.n_frames,
        progress=progress,
        desc=f"decode+ResNet {path.name}",
    )
    provenance = {
        "stimulus": path.name,
        "fps": str(info.fps),
        "frame_size": [info.width, info.height],
        "audio_rate": rate,
        "audio_columns": list(AUDIO_COLUMNS),
        "window": window.describe(),
        "weights": encoder.provenance,
    }
    return StimulusFeatures(video.astype(np.float32), audio, provenance)


def _load(
    cache: storage.ContentCache, stem: str, key: str, window: StimulusWindow, feature_cfg: FeatureConfig
) -> StimulusFeatures | None:
    entry = cache.load(stem, key)
    if entry is None:
        return None
    feats = StimulusFeatures(entry.arrays.get("video"), entry.arrays.get("audio"), entry.meta)
    expected = [(window.n_frames, feature_cfg.video_dim), (window.n_frames, feature_cfg.audio_dim)]
    shapes = [getattr(feats.video, "shape", None), getattr(feats.audio, "shape", None)]
    return feats if shapes == expected else None


def load_stimulus_features(
    paths: Mapping[str, Path],
    *,
    feature_cfg: FeatureConfig = FeatureConfig(),
    window: StimulusWindow = StimulusWindow.from_protocol(),
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    hashes: Mapping[Path, str] | None = None,
    weights: dict | None = None,
    channels_last: bool = True,
    num_threads: int | None = None,
    progress: bool = True,
    encoder_factory: Callable[[], VideoEncoder] | None = None,
) -> dict[str, StimulusFeatures]:
    """video code -> StimulusFeatures for every path, from the cache where possible.

    `feature_cfg.video_weights` must already be resolved (not "auto").
    `hashes` maps a stimulus path to its known sha256 (e.g. the archive's
    memoised input hashes) to skip re-hashing; `weights` is the spec's
    `weights_provenance` when the caller already resolved it.  The network is built only if
    some stimulus is not cached, with `num_threads` torch threads (default all cores).
    """
    if weights is None:  # raises before any decoding if unavailable
        weights = weights_provenance(feature_cfg.video_weights)
    cache = storage.ContentCache(cache_dir, "features")
    known = {Path(p).resolve(): h for p, h in (hashes or {}).items()}
    encoder: VideoEncoder | None = None
    out = {}
    for video, path in tqdm(sorted(paths.items()), desc="stimulus features", unit="stim", disable=not progress):
        path = Path(path)
        sha = known.get(path.resolve())
        if sha is None:
            stimuli.require_file(path)
            sha = storage.memoised_sha256([path], cache.memo_path)[path]
        key = feature_key(sha, weights, feature_cfg, window)
        feats = _load(cache, path.stem, key, window, feature_cfg)
        if feats is None:
            if encoder is None:
                encoder = (encoder_factory or functools.partial(_encoder, feature_cfg, channels_last, num_threads))()
            feats = extract_stimulus_features(path, window, encoder, feature_cfg=feature_cfg, progress=progress)
            feats = StimulusFeatures(feats.video, feats.audio, {**feats.provenance, "sha256": sha, "key": key})
            cache.store(path.stem, key, {"video": feats.video, "audio": feats.audio}, feats.provenance)
        out[video] = feats
    return out


def _encoder(feature_cfg: FeatureConfig, channels_last: bool, num_threads: int | None) -> VideoEncoder:
    # torch is imported here, only when some stimulus is not cached: a run whose features come
    # from the cache never pays its import.
    from restasmr_jax.features.video import VideoEncoder

    return VideoEncoder(
        feature_cfg.video_weights,
        resize=feature_cfg.resize,
        crop=feature_cfg.crop,
        channels_last=channels_last,
        num_threads=num_threads,
    )
