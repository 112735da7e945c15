"""Where the stand-in archive is kept and when it is (re)generated (SPEC §12).

Its folder is named by the seed, the participant count and a fingerprint
of the generator (its source, its config and the libraries that shape its
bytes), so code that writes different bytes never reuses an archive an
older version wrote: it generates a fresh one beside it and leaves the old
one in place.  The marker file is written last and the folder is renamed
into place only when complete.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from importlib import metadata
from pathlib import Path

from restasmr_jax import storage
from restasmr_jax.config import SynthConfig
from restasmr_jax.io.archive import SYNTH_MARKER, Archive, open_archive
from restasmr_jax.synth.generate import generate_archive

# What decides the generator's bytes besides the SynthConfig: its own source, the constants
# in config.py, and the libraries whose output it writes (numpy's streams, scipy's filters, Polars'
# text and Parquet writers, PyAV's encoders).
_PACKAGE = Path(__file__).resolve().parent.parent
GENERATOR_SOURCES = (_PACKAGE / "config.py", *sorted((_PACKAGE / "synth").glob("*.py")))
_GENERATOR_LIBRARIES = ("numpy", "scipy", "polars", "av")


def generator_fingerprint(synth: SynthConfig) -> str:
    """sha256 over the generator's source files, `synth` and the versions of the libraries it writes with."""
    return storage.sha256_json(
        {
            "config": dataclasses.asdict(synth),
            "code": storage.code_digest(GENERATOR_SOURCES),
            "versions": {name: metadata.version(name) for name in _GENERATOR_LIBRARIES},
        }
    )


def synthetic_root(data_dir: Path, synth: SynthConfig) -> Path:
    name = f"seed{synth.seed}-n{synth.n_subjects}-{generator_fingerprint(synth)[:12]}"
    return Path(data_dir) / "synthetic" / name


def ensure_synthetic(root: Path, synth: SynthConfig, *, progress: bool = True) -> Archive:
    """Generate the synthetic archive into `root` unless a complete one is there."""
    root = Path(root)
    if (root / SYNTH_MARKER).exists():
        return open_archive(root)
    base = f"seed{synth.seed}-n{synth.n_subjects}"
    older = sorted(
        p
        for p in root.parent.glob(f"{base}*")
        if p != root
        and (p.name == base or p.name.startswith(base + "-"))
        and not p.name.endswith(".partial")
        and (p / SYNTH_MARKER).exists()
    )
    if older:
        print(
            f"[archive] the synthetic generator changed since {', '.join(map(str, older))} was written; "
            f"generating a fresh archive into {root} (the older folder is left in place: delete it to free "
            "the space)",
            file=sys.stderr,
            flush=True,
        )
    staging = root.with_name(root.name + ".partial")
    if staging.exists():  # our own leftover from an interrupted generation
        shutil.rmtree(staging)
    generate_archive(staging, synth, progress=progress)
    marker = {"generator": "restasmr_jax.synth", "generator_fingerprint": generator_fingerprint(synth)}
    storage.write_json(staging / SYNTH_MARKER, {**marker, **dataclasses.asdict(synth)})
    os.replace(staging, root)
    return open_archive(root)
