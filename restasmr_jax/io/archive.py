"""Where the raw archive lives, and whether it is real or synthetic (SPEC §1, §12).

`resolve_archive()` is the single decision point used by every entry point:
a real archive in `data/` (log/, ppg/, stim/) wins; otherwise the seeded
synthetic archive is generated once into `data/synthetic/` and reused.
A synthetic archive is recognised by the marker file the generator writes
last, so a half-generated folder is never mistaken for a complete one.
Its folder is named by the seed, the participant count and a fingerprint of
the generator (its source, its config and the libraries that shape its
bytes), so code that writes different bytes never reuses an archive an
older version wrote: it generates a fresh one beside it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from restasmr_jax import storage
from restasmr_jax.config import STIMULUS_FILES, SynthConfig

SYNTH_MARKER = "SYNTHETIC.json"
DEFAULT_DATA_DIR = Path("data")


class ArchiveError(ValueError):
    """The archive folder is missing pieces; the message names them."""


@dataclass(frozen=True)
class Archive:
    root: Path
    source: str  # "real" | "synthetic"
    synth: dict | None = None  # the generator's marker content when synthetic

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def ppg_dir(self) -> Path:
        return self.root / "ppg"

    @property
    def stim_dir(self) -> Path:
        return self.root / "stim"

    def log_files(self) -> list[Path]:
        return sorted(self.log_dir.glob("*.log"))

    def ppg_file(self, subject: int) -> Path:
        return self.ppg_dir / f"{subject:03d}_csv.txt"

    def stimulus_file(self, video: str) -> Path:
        return self.stim_dir / STIMULUS_FILES[video]

    def input_files(self) -> list[Path]:
        files = self.log_files() + sorted(self.ppg_dir.glob("*_csv.txt"))
        return files + [self.stimulus_file(v) for v in STIMULUS_FILES if self.stimulus_file(v).exists()]

    def describe(self) -> dict:
        return {"root": str(self.root), "source": self.source, "synthetic": self.synth}


def _has_layout(root: Path) -> bool:
    return all((root / sub).is_dir() for sub in ("log", "ppg", "stim"))


def open_archive(root: str | os.PathLike) -> Archive:
    """An existing archive folder; synthetic iff it carries the generator's marker."""
    root = Path(root)
    if not _has_layout(root):
        missing = [sub for sub in ("log", "ppg", "stim") if not (root / sub).is_dir()]
        raise ArchiveError(
            f"{root}: not a REST-ASMR archive, missing folder(s) {', '.join(missing)} "
            "(expected log/, ppg/, stim/ as in the Zenodo archive; see data/README.md)"
        )
    marker = root / SYNTH_MARKER
    if marker.exists():
        return Archive(root=root, source="synthetic", synth=json.loads(marker.read_text()))
    return Archive(root=root, source="real")


# What decides the generator's bytes besides the SynthConfig: its own source, the constants
# in config.py, and the libraries whose output it writes (numpy's streams, PyAV's encoders).
_PACKAGE = Path(__file__).resolve().parent.parent
_GENERATOR_SOURCES = (_PACKAGE / "config.py", *sorted((_PACKAGE / "synth").glob("*.py")))
_GENERATOR_LIBRARIES = ("numpy", "av")


def generator_fingerprint(synth: SynthConfig) -> str:
    """sha256 over the generator's source files, `synth` and the versions of the libraries it writes with."""
    return storage.sha256_json(
        {
            "config": dataclasses.asdict(synth),
            "code": storage.source_digest(_GENERATOR_SOURCES),
            "versions": {name: metadata.version(name) for name in _GENERATOR_LIBRARIES},
        }
    )


def synthetic_root(data_dir: Path, synth: SynthConfig) -> Path:
    name = f"seed{synth.seed}-n{synth.n_subjects}-{generator_fingerprint(synth)[:12]}"
    return Path(data_dir) / "synthetic" / name


def ensure_synthetic(root: Path, synth: SynthConfig, *, progress: bool = True) -> Archive:
    """Generate the synthetic archive into `root` unless a complete one is there."""
    if (root / SYNTH_MARKER).exists():
        return open_archive(root)
    from restasmr_jax.synth import generate_archive  # heavy imports only when generating

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
    storage.write_json(
        staging / SYNTH_MARKER,
        {
            "generator": "restasmr_jax.synth",
            "generator_fingerprint": generator_fingerprint(synth),
            **dataclasses.asdict(synth),
        },
    )
    os.replace(staging, root)
    return open_archive(root)


def resolve_archive(
    data_dir: str | os.PathLike | None = None,
    *,
    synth: SynthConfig = SynthConfig(),
    progress: bool = True,
) -> Archive:
    """The archive a run uses.

    `data_dir` given: that folder must be an archive (real or synthetic).
    Otherwise: `data/` if it holds log/, ppg/, stim/; else the synthetic
    archive under `data/synthetic/`, generated on first use.
    """
    if data_dir is not None and Path(data_dir) != DEFAULT_DATA_DIR:
        return open_archive(data_dir)
    if _has_layout(DEFAULT_DATA_DIR):
        return open_archive(DEFAULT_DATA_DIR)
    return ensure_synthetic(synthetic_root(DEFAULT_DATA_DIR, synth), synth, progress=progress)


def input_hashes(archive: Archive, cache_dir: Path = DEFAULT_DATA_DIR / "cache") -> dict[str, str]:
    """sha256 of every raw input, memoised while each file is provably unchanged."""
    digests = storage.memoised_sha256(archive.input_files(), Path(cache_dir) / "input_hashes.json")
    return {str(path.relative_to(archive.root)): digest for path, digest in digests.items()}
