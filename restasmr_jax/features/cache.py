"""Per-stimulus audio-visual features of the 55.0-s window, computed once and cached by content (SPEC §4).

One file per stimulus: `<cache_dir>/features/<stem>-<key>.npz` holding
`video [time, 512]`, `audio [time, 31]` and the provenance as JSON.  The key
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
import io
import json
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
    """Digest of FEATURE_SOURCES, read once per process (the code this process imported)."""
    return _source_digest_once(FEATURE_SOURCES)


_source_digest_once = functools.cache(storage.source_digest)


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


def _save(path: Path, feats: StimulusFeatures) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, video=feats.video, audio=feats.audio, provenance=np.array(json.dumps(feats.provenance)))
    storage.atomic_write_bytes(path, buffer.getvalue())


def _load(path: Path, window: StimulusWindow, feature_cfg: FeatureConfig) -> StimulusFeatures | None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            feats = StimulusFeatures(npz["video"], npz["audio"], json.loads(str(npz["provenance"])))
    except (OSError, ValueError, KeyError):  # unreadable cache entry: recompute rather than trust it
        return None
    expected = [(window.n_frames, feature_cfg.video_dim), (window.n_frames, feature_cfg.audio_dim)]
    return feats if [feats.video.shape, feats.audio.shape] == expected else None


def load_stimulus_features(
    paths: Mapping[str, Path],
    *,
    feature_cfg: FeatureConfig = FeatureConfig(),
    window: StimulusWindow = StimulusWindow.from_protocol(),
    cache_dir: str | os.PathLike = Path("data/cache"),
    hashes: Mapping[Path, str] | None = None,
    channels_last: bool = True,
    num_threads: int | None = None,
    progress: bool = True,
    encoder_factory: Callable[[], VideoEncoder] | None = None,
) -> dict[str, StimulusFeatures]:
    """video code -> StimulusFeatures for every path, from the cache where possible.

    `feature_cfg.video_weights` must already be resolved (not "auto").
    `hashes` maps a stimulus path to its known sha256 (e.g. the archive's
    memoised input hashes) to skip re-hashing.  The network is built only if
    some stimulus is not cached, with `num_threads` torch threads (default all cores).
    """
    weights = weights_provenance(feature_cfg.video_weights)  # raises before any decoding if unavailable
    folder = Path(cache_dir) / "features"
    known = {Path(p).resolve(): h for p, h in (hashes or {}).items()}
    encoder: VideoEncoder | None = None
    out = {}
    for video, path in tqdm(sorted(paths.items()), desc="stimulus features", unit="stim", disable=not progress):
        path = Path(path)
        sha = known.get(path.resolve())
        if sha is None:
            stimuli.require_file(path)
            sha = storage.sha256_file(path)
        key = feature_key(sha, weights, feature_cfg, window)
        cache_file = folder / f"{path.stem}-{key[:20]}.npz"
        feats = _load(cache_file, window, feature_cfg) if cache_file.exists() else None
        if feats is None:
            if encoder is None:
                from restasmr_jax.features.video import VideoEncoder

                encoder = (
                    encoder_factory
                    or (
                        lambda: VideoEncoder(
                            feature_cfg.video_weights,
                            resize=feature_cfg.resize,
                            crop=feature_cfg.crop,
                            channels_last=channels_last,
                            num_threads=num_threads,
                        )
                    )
                )()
            feats = extract_stimulus_features(path, window, encoder, feature_cfg=feature_cfg, progress=progress)
            feats = StimulusFeatures(feats.video, feats.audio, {**feats.provenance, "sha256": sha, "key": key})
            _save(cache_file, feats)
        out[video] = feats
    return out
