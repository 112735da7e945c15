"""The model tensor: 272 trials x 550 frames x 544 features, its feature sets and its fingerprint (SPEC §5).

Shape convention used in every docstring of the package: named axes in
brackets, outermost first, e.g. `[trial, time, feat]`, `[fold, batch, time, feat]`,
`[seed, fold, ...]`, `[stimulus, time, feat]`.

The audio-visual columns (543 = 512 video + 31 audio) depend only on the
stimulus, so they are stored once per stimulus (`av [stimulus, time, 543]`)
and gathered per trial through `stim_index`; `X` materialises the dense
`[trial, time, 544]` tensor the paper describes.  Keeping the factorised
form lets a model compute each stimulus's input projection once per step.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import numpy as np

from restasmr_jax.config import FeatureConfig

_DIMS = FeatureConfig()
_AV = _DIMS.video_dim + _DIMS.audio_dim
# Feature set -> (slice of the audio-visual columns, whether the PPG column follows them): the
# paper's fusion model and its ablations (SPEC §7), in `X`'s column order.
FEATURE_SETS: dict[str, tuple[slice, bool]] = {
    "fusion": (slice(0, _AV), True),
    "video": (slice(0, _DIMS.video_dim), False),
    "audio": (slice(_DIMS.video_dim, _AV), False),
    "ppg": (slice(0, 0), True),
}
ARRAY_FIELDS = (
    "av",
    "ppg",
    "stim_index",
    "y",
    "intensity",
    "mask",
    "subject",
    "video",
    "trial_index",
    "condition",
    "n_valid",
)


class FeatureSetError(ValueError):
    """An unknown feature set, or a tensor whose columns do not have the fused layout."""


def feature_width(features: str) -> int:
    """Input columns of a feature set: fusion 544, video 512, audio 31, ppg 1."""
    av, with_ppg = _feature_set(features)
    return av.stop - av.start + int(with_ppg)


def _feature_set(features: str) -> tuple[slice, bool]:
    if features not in FEATURE_SETS:
        raise FeatureSetError(f"features must be one of {sorted(FEATURE_SETS)}, got {features!r}")
    return FEATURE_SETS[features]


@dataclass(frozen=True)
class TrialTensor:
    av: np.ndarray  # [stimulus, time, 543] float32; row s is stimulus VIDEO_CODES[s], all 550 frames of the 55-s window
    ppg: np.ndarray  # [trial, time] float32, zero-padded after n_valid
    stim_index: np.ndarray  # [trial] int32, index into av (VIDEO_CODES order)
    y: np.ndarray  # [trial, time] int32 binary label (ASMR: intensity > 0; Nature: 0), 0 on padding
    intensity: np.ndarray  # [trial, time] int8 raw rating 0..3, 0 on padding
    mask: np.ndarray  # [trial, time] bool, True on the n_valid first frames
    subject: np.ndarray  # [trial] int32 participant ID (1, 3..35)
    video: np.ndarray  # [trial] str vid1..vid8
    trial_index: np.ndarray  # [trial] int32 presentation position 0..7 (0 -> 507 valid frames)
    condition: np.ndarray  # [trial] str "ASMR" | "Nature"
    n_valid: np.ndarray  # [trial] int32 valid frames (507 or 550)
    provenance: dict = field(default_factory=dict)  # data source, weights, input hashes, config

    @property
    def n_trials(self) -> int:
        return int(self.ppg.shape[0])

    @property
    def is_nature(self) -> np.ndarray:
        return self.condition == "Nature"

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array field by name (what the cache stores besides the provenance)."""
        return {name: getattr(self, name) for name in ARRAY_FIELDS}

    def feature_columns(self, features: str = "fusion") -> tuple[np.ndarray, np.ndarray]:
        """(shared `[stimulus, time, Ds]`, own `[trial, time, Do]`) float32 columns of a feature set.

        `shared` holds the stimulus columns (one row per stimulus), `own` the
        per-trial PPG column; either may have width 0.  Concatenated in that
        order they are `X(features)`.
        """
        av_cols, with_ppg = _feature_set(features)
        av, ppg = np.asarray(self.av, np.float32), np.asarray(self.ppg, np.float32)[..., None]
        if av.shape[-1] != _AV:
            raise FeatureSetError(
                f"tensor.av has {av.shape[-1]} columns per frame, expected {_DIMS.video_dim} "
                f"video + {_DIMS.audio_dim} audio"
            )
        own = ppg if with_ppg else ppg[..., :0]
        return np.ascontiguousarray(av[..., av_cols]), np.ascontiguousarray(own)

    def X(self, features: str = "fusion") -> np.ndarray:
        """Dense `[trial, time, feat]` float32 input, zero-padded after the valid frames (SPEC §7 ablations)."""
        shared, own = self.feature_columns(features)
        trial = np.where(self.mask[..., None], shared[self.stim_index], np.float32(0))
        return np.concatenate([trial, own], axis=-1).astype(np.float32, copy=False)

    @functools.cached_property
    def fingerprint(self) -> str:
        """sha256 over every array: a run is only continued, re-predicted or split on the same data."""
        digest = hashlib.sha256()
        for name, array in self.arrays().items():
            array = np.ascontiguousarray(array)
            if array.dtype.kind in "OUS":  # by value: '<U4' and '<U6' copies of the same labels hash alike
                text = "\0".join(array.astype(str).tolist())
                digest.update(f"{name}:str:{array.shape}:".encode() + text.encode())
            else:
                digest.update(f"{name}:{array.dtype.str}:{array.shape}:".encode() + array.tobytes())
        return digest.hexdigest()

    def summary(self) -> dict:
        """Shapes, class balance per condition and padding, for reports and manifests."""
        valid = self.mask
        balance = {}
        for condition in ("ASMR", "Nature"):
            rows = self.condition == condition
            frames = int(valid[rows].sum())
            positive = int(self.y[rows][valid[rows]].sum())
            balance[condition] = {
                "trials": int(rows.sum()),
                "valid_frames": frames,
                "tingle_frames": positive,
                "tingle_fraction": positive / frames if frames else float("nan"),
            }
        return {
            "X": [self.n_trials, int(valid.shape[1]), int(self.av.shape[-1]) + 1],
            "av": list(self.av.shape),
            "n_trials": self.n_trials,
            "n_subjects": int(np.unique(self.subject).size),
            "valid_frames": int(valid.sum()),
            "padding_frames": int((~valid).sum()),
            "trials_with_padding": int((self.n_valid < valid.shape[1]).sum()),
            "class_balance": balance,
            "data_source": self.provenance.get("data_source"),
            "video_weights": self.provenance.get("weights", {}).get("spec"),
            "excluded_trials": self.provenance.get("excluded_trials", []),
        }
