"""The raw archive's folder layout: log/, ppg/, stim/, and whether it is real or synthetic (SPEC §1, §12).

An `Archive` only locates files; which archive a run uses (a real one in
`data/`, else the generated stand-in) is decided by `runs.data.resolve_archive`.
A synthetic archive is recognised by the marker file its generator writes
last, so a half-generated folder is never mistaken for a complete one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from restasmr_jax import storage
from restasmr_jax.config import STIMULUS_FILES

SYNTH_MARKER = "SYNTHETIC.json"
DEFAULT_DATA_DIR = Path("data")
DEFAULT_CACHE_DIR = DEFAULT_DATA_DIR / "cache"


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


def has_layout(root: Path) -> bool:
    return all((Path(root) / sub).is_dir() for sub in ("log", "ppg", "stim"))


def open_archive(root: str | os.PathLike) -> Archive:
    """An existing archive folder; synthetic iff it carries the generator's marker."""
    root = Path(root)
    if not has_layout(root):
        missing = [sub for sub in ("log", "ppg", "stim") if not (root / sub).is_dir()]
        raise ArchiveError(
            f"{root}: not a REST-ASMR archive, missing folder(s) {', '.join(missing)} "
            "(expected log/, ppg/, stim/ as in the Zenodo archive; see data/README.md)"
        )
    marker = root / SYNTH_MARKER
    if marker.exists():
        return Archive(root=root, source="synthetic", synth=json.loads(marker.read_text()))
    return Archive(root=root, source="real")


def input_hashes(archive: Archive, cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR) -> dict[str, str]:
    """sha256 of every raw input, relative path -> digest, through the cache folder's hash memo."""
    digests = storage.memoised_sha256(archive.input_files(), Path(cache_dir) / storage.MEMO_NAME)
    return {str(path.relative_to(archive.root)): digest for path, digest in digests.items()}
