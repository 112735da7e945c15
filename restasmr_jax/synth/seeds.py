"""Named, independent random streams for the synthetic archive (SPEC §12: seeded and deterministic).

Every random draw of the generator comes from `stream(seed, *keys)`, where
the keys name what is drawn ("ppg", subject 7, "vid3", ...).  A participant's
data therefore depends only on (seed, subject), never on how many other
participants were generated or in which order, so the first N participants
of a small archive are byte-identical to those of the full one.  String keys
go through crc32 because Python's `hash()` of a str changes between runs.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, *keys: int | str) -> np.random.Generator:
    """A generator determined by `seed` and the keys, independent of every other key tuple."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"synthetic seed must be a non-negative integer, got {seed!r}")
    words = [int(seed)]
    for key in keys:
        words.append(zlib.crc32(key.encode("utf-8")) if isinstance(key, str) else int(key))
    return np.random.default_rng(np.random.SeedSequence(words))
