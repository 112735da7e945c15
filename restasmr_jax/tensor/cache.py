"""The assembled tensor, cached by everything it depends on and verified on read (SPEC §5).

The key hashes the raw input files, the ingested tables' content, the
configs, the resolved ResNet weights (by content) and the code of the
feature and tensor stages; an entry is one verified `storage.ContentCache`
entry under `<cache_dir>/tensor/`, so a cache hit reads ~10 MB and decodes
nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np
import polars as pl

from restasmr_jax import storage
from restasmr_jax.config import FeatureConfig, ProtocolConfig
from restasmr_jax.features.cache import feature_code_digest, load_stimulus_features
from restasmr_jax.features.weights import cache_identity, resolve_weights_spec, weights_provenance
from restasmr_jax.io import archive as archive_mod
from restasmr_jax.io.archive import DEFAULT_CACHE_DIR
from restasmr_jax.io.stimuli import StimulusWindow, check_decodable, stimulus_paths
from restasmr_jax.tensor.assemble import build_tensor
from restasmr_jax.tensor.trial_tensor import ARRAY_FIELDS, TrialTensor

TENSOR_FORMAT = 2
_PACKAGE = Path(__file__).resolve().parent.parent
TENSOR_SOURCES = (_PACKAGE / "tensor" / "assemble.py", _PACKAGE / "tensor" / "trial_tensor.py")


def _frame_digest(frame: pl.DataFrame) -> str:
    """Content hash of a Polars frame (column names, dtypes, values) that is stable across runs."""
    digest = hashlib.sha256()
    for name in sorted(frame.columns):
        column = frame[name]
        digest.update(f"{name}:{column.dtype}:{column.len()}".encode())
        if column.dtype in (pl.Utf8, pl.Categorical):  # few distinct strings: hash them, then each row's rank
            column = column.cast(pl.Utf8)
            digest.update("\x1f".join(map(str, column.unique().sort().to_list())).encode())
            digest.update(np.ascontiguousarray(column.rank("dense").to_numpy()).tobytes())
        else:
            digest.update(np.ascontiguousarray(column.to_numpy()).tobytes())
    return digest.hexdigest()


def ingested_digest(ingested) -> str:
    tables = ("labels", "timeline", "ppg10hz")
    return storage.sha256_json({name: _frame_digest(getattr(ingested, name)) for name in tables})


def load_or_build_tensor(
    archive: archive_mod.Archive,
    ingested,
    *,
    feature_cfg: FeatureConfig = FeatureConfig(),
    protocol: ProtocolConfig = ProtocolConfig(),
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    hashes: dict[str, str] | None = None,
    weights: dict | None = None,
    progress: bool = True,
    missing_ppg: str = "error",
    channels_last: bool = True,
    num_threads: int | None = None,
) -> TrialTensor:
    """The TrialTensor of `archive` + `ingested`, from the cache when nothing it depends on changed.

    A run resolves its inputs once and passes them: `hashes` (the archive's
    input hashes) and `weights` (`features.weights.weights_provenance` of the
    resolved spec); left out, they are computed here.  `feature_cfg.video_weights
    == "auto"` resolves from `archive.source` and is recorded.  `num_threads`:
    torch threads for ResNet inference (default: all cores; on an
    oversubscribed machine 1 can be several times faster).
    """
    spec = resolve_weights_spec(feature_cfg.video_weights, archive.source)
    feature_cfg = dataclasses.replace(feature_cfg, video_weights=spec)
    weights = weights if weights is not None else weights_provenance(spec)
    hashes = hashes if hashes is not None else archive_mod.input_hashes(archive, cache_dir)
    paths = stimulus_paths(archive.stim_dir, ingested.timeline["video"].unique().to_list())
    identity = {
        "format": TENSOR_FORMAT,
        "code": storage.code_digest(TENSOR_SOURCES),
        "feature_code": feature_code_digest(),
        "input_hashes": hashes,
        "ingested_sha256": ingested_digest(ingested),
        "feature_cfg": dataclasses.asdict(feature_cfg),
        "protocol": dataclasses.asdict(protocol),
        "weights": cache_identity(weights),
        "missing_ppg": missing_ppg,
    }
    key = storage.sha256_json(identity)
    cache = storage.ContentCache(cache_dir, "tensor")
    entry = cache.load("tensor", key)
    if entry is not None and set(entry.arrays) == set(ARRAY_FIELDS):
        return TrialTensor(**entry.arrays, provenance=entry.meta["provenance"])
    check_decodable(paths)  # every stimulus opens, with video and audio, before the long extraction
    root = Path(archive.root)
    stim = load_stimulus_features(
        paths,
        feature_cfg=feature_cfg,
        window=StimulusWindow.from_protocol(protocol),
        cache_dir=cache_dir,
        hashes={root / rel: sha for rel, sha in hashes.items()},
        weights=weights,
        channels_last=channels_last,
        num_threads=num_threads,
        progress=progress,
    )
    provenance = {
        "data_source": archive.source,
        "archive": archive.describe(),
        "video_weights": spec,
        "weights": weights,
        "input_hashes": hashes,
        "ingested_sha256": identity["ingested_sha256"],
        "tensor_key": key,
    }
    tensor = build_tensor(
        ingested, stim, protocol, feature_cfg=feature_cfg, missing_ppg=missing_ppg, provenance=provenance
    )
    cache.store("tensor", key, tensor.arrays(), {"provenance": tensor.provenance, "identity": identity})
    return tensor
