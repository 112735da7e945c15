"""The tensor as a tidy long-format Parquet table, one row per valid 100-ms step (SPEC §5).

For pandas/R users: padding is not data, so only valid frames become rows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from restasmr_jax import storage
from restasmr_jax.config import STIMULUS_FILES, ProtocolConfig
from restasmr_jax.features.audio import AUDIO_COLUMNS
from restasmr_jax.tensor.trial_tensor import TrialTensor


def export_long_parquet(tensor: TrialTensor, path: str | os.PathLike, include_video: bool = False) -> Path:
    """Tidy Parquet, one row per participant x video x valid 100-ms step (padding is not data).

    Columns: subject, video, stimulus, condition, trial_index, step, t (s from
    epoch start), intensity (0..3), label (binary), ppg, the 31 audio
    features by AUDIO_COLUMNS name, and with `include_video` video_000..video_511.
    """
    trial, step = np.nonzero(tensor.mask)  # row-major: trials in tensor order, steps ascending
    rate = tensor.provenance.get("protocol", {}).get("label_rate_hz", ProtocolConfig().label_rate_hz)
    av = tensor.av[tensor.stim_index[trial], step]  # [row, 543]
    n_video = av.shape[1] - len(AUDIO_COLUMNS)
    columns: dict[str, Any] = {
        "subject": pl.Series(tensor.subject[trial], dtype=pl.Int32),
        "video": pl.Series(tensor.video[trial], dtype=pl.Utf8),
        "stimulus": pl.Series([STIMULUS_FILES[v] for v in tensor.video], dtype=pl.Utf8).gather(trial),
        "condition": pl.Series(tensor.condition[trial], dtype=pl.Utf8),
        "trial_index": pl.Series(tensor.trial_index[trial], dtype=pl.Int32),
        "step": pl.Series(step, dtype=pl.Int32),
        "t": pl.Series(step / rate, dtype=pl.Float64),
        "intensity": pl.Series(tensor.intensity[trial, step], dtype=pl.Int8),
        "label": pl.Series(tensor.y[trial, step], dtype=pl.Int8),
        "ppg": pl.Series(tensor.ppg[trial, step], dtype=pl.Float32),
    }
    columns.update({name: av[:, n_video + i] for i, name in enumerate(AUDIO_COLUMNS)})
    if include_video:
        columns.update({f"video_{i:03d}": av[:, i] for i in range(n_video)})
    frame = pl.DataFrame(columns)
    with storage.atomic_path(path) as tmp:
        frame.write_parquet(tmp)
    return Path(path)
