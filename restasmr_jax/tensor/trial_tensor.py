"""The model tensor: 272 trials x 550 frames x 544 features, with masks (SPEC §5).

Shape convention used in every docstring of the package: named axes in
brackets, outermost first, e.g. `[trial, time, feat]`, `[fold, batch, time, feat]`,
`[seed, fold, ...]`, `[stimulus, time, feat]`.

The audio-visual columns (543 = 512 video + 31 audio) depend only on the
stimulus, so they are stored once per stimulus (`av [stimulus, time, 543]`)
and gathered per trial through `stim_index`; `X` materialises the dense
`[trial, time, 544]` tensor the paper describes.  Keeping the factorised
form lets the model compute each stimulus's input projection once per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from restasmr_jax.config import VIDEO_CODES


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

    def trial_av(self) -> np.ndarray:
        """[trial, time, 543] audio-visual features, zero on padded frames."""
        av = self.av[self.stim_index]
        return np.where(self.mask[..., None], av, np.float32(0))

    def X(self, features: str = "fusion") -> np.ndarray:
        """Dense `[trial, time, feat]` float32 input, zero-padded after the valid frames.

        `features`: fusion (544) | video (512) | audio (31) | ppg (1), SPEC §7 ablations.
        """
        av = self.trial_av()
        ppg = self.ppg[..., None]
        parts = {
            "fusion": [av, ppg],
            "video": [av[..., :512]],
            "audio": [av[..., 512:]],
            "ppg": [ppg],
        }
        if features not in parts:
            raise ValueError(f"features must be one of {sorted(parts)}, got {features!r}")
        return np.concatenate(parts[features], axis=-1).astype(np.float32, copy=False)


def stimulus_row(video: str) -> int:
    return VIDEO_CODES.index(video)
