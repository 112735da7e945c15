"""The archive's layout, raw (log/, ppg/, stim/) or its BIDS copy, and whether it is real or synthetic (SPEC §1, §12).

An `Archive` locates files and reads each through the reader of its layout
(`layout` "raw": Presentation logs and Biopac exports; "bids": the copy
`io.bids` describes, recognised by its `dataset_description.json`), so
ingestion is one code path for both.  Which archive a run uses (a real one in
`data/`, else the generated stand-in) is decided by `runs.data.resolve_archive`.
A synthetic archive is recognised by the marker file its generator writes
last, so a half-generated folder is never mistaken for a complete one; its
BIDS copy carries the marker's content in `dataset_description.json`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from restasmr_jax import storage
from restasmr_jax.config import STIMULUS_FILES, ProtocolConfig
from restasmr_jax.io import bids
from restasmr_jax.io.biopac import BiopacRecording, read_biopac
from restasmr_jax.io.presentation import LogParse, read_log, subject_from_filename

SYNTH_MARKER = "SYNTHETIC.json"
DEFAULT_DATA_DIR = Path("data")
DEFAULT_CACHE_DIR = DEFAULT_DATA_DIR / "cache"
_PPG_NAME = re.compile(r"^(\d+)_csv\.txt$")


class ArchiveError(ValueError):
    """The archive folder is missing pieces; the message names them."""


@dataclass(frozen=True)
class Archive:
    root: Path
    source: str  # "real" | "synthetic"
    synth: dict | None = None  # the generator's marker content when synthetic
    layout: str = "raw"  # "raw" | "bids"

    @property
    def is_bids(self) -> bool:
        return self.layout == "bids"

    @property
    def log_dir(self) -> Path:
        """Where the event files are: log/ of a raw archive, the root of a BIDS copy."""
        return self.root if self.is_bids else self.root / "log"

    @property
    def ppg_dir(self) -> Path:
        return self.root if self.is_bids else self.root / "ppg"

    @property
    def stim_dir(self) -> Path:
        return self.root / (bids.STIMULI_DIR if self.is_bids else "stim")

    def log_files(self) -> list[Path]:
        """One event file per participant: `*.log` or `sub-*/beh/*_events.tsv`."""
        return bids.events_files(self.root) if self.is_bids else sorted(self.log_dir.glob("*.log"))

    def ppg_file(self, subject: int) -> Path:
        return bids.physio_path(self.root, subject) if self.is_bids else self.ppg_dir / f"{subject:03d}_csv.txt"

    def ppg_files(self) -> list[Path]:
        return bids.physio_files(self.root) if self.is_bids else sorted(self.ppg_dir.glob("*_csv.txt"))

    def ppg_subjects(self) -> set[int]:
        """Participant IDs that have a PPG file, read from the file names."""
        if self.is_bids:
            return {s for p in self.ppg_files() if (s := bids.subject_of(p)) is not None}
        return {int(m.group(1)) for p in self.ppg_files() if (m := _PPG_NAME.match(p.name))}

    def subject_of(self, path: Path) -> int | None:
        """The participant an event file belongs to, from its name; None when the name does not tell."""
        return bids.subject_of(path) if self.is_bids else subject_from_filename(path)

    def read_events(self, path: Path, cfg: ProtocolConfig = ProtocolConfig()) -> LogParse:
        return bids.read_events(path, cfg) if self.is_bids else read_log(path, cfg)

    def read_recording(
        self, path: Path, *, cache_dir: str | os.PathLike | None = None, sha256: str | None = None
    ) -> BiopacRecording:
        reader = bids.read_physio if self.is_bids else read_biopac
        return reader(path, cache_dir=cache_dir, sha256=sha256)

    def stimulus_file(self, video: str) -> Path:
        return self.stim_dir / STIMULUS_FILES[video]

    def input_files(self) -> list[Path]:
        """Every file ingestion or the features read (a BIDS copy's physio sidecars hold the sampling rate)."""
        files = self.log_files() + self.ppg_files()
        if self.is_bids:
            files += [side for p in self.ppg_files() if (side := bids.sidecar_path(p)).is_file()]
        return files + [self.stimulus_file(v) for v in STIMULUS_FILES if self.stimulus_file(v).exists()]

    def describe(self) -> dict:
        return {"root": str(self.root), "source": self.source, "synthetic": self.synth, "layout": self.layout}


def has_layout(root: Path) -> bool:
    """A raw archive (log/, ppg/, stim/) or a BIDS copy (dataset_description.json)."""
    root = Path(root)
    return bids.is_bids(root) or all((root / sub).is_dir() for sub in ("log", "ppg", "stim"))


def open_archive(root: str | os.PathLike) -> Archive:
    """An existing archive folder, raw or BIDS; synthetic iff it carries the generator's marker."""
    root = Path(root)
    if bids.is_bids(root):
        return _open_bids(root)
    if not has_layout(root):
        missing = [sub for sub in ("log", "ppg", "stim") if not (root / sub).is_dir()]
        raise ArchiveError(
            f"{root}: not a REST-ASMR archive, missing folder(s) {', '.join(missing)} "
            "(expected log/, ppg/, stim/ as in the Zenodo archive, see data/README.md, "
            "or a BIDS copy with dataset_description.json)"
        )
    marker = root / SYNTH_MARKER
    if marker.exists():
        return Archive(root=root, source="synthetic", synth=json.loads(marker.read_text()))
    return Archive(root=root, source="real")


def _open_bids(root: Path) -> Archive:
    path = root / bids.DESCRIPTION_FILE
    description = bids.read_json_object(path, ArchiveError)
    if not bids.events_files(root):
        raise ArchiveError(
            f"{root}: a BIDS dataset without REST-ASMR events "
            f"(expected sub-<ID>/beh/sub-<ID>_task-{bids.TASK}_events.tsv, as python -m experiments.bids writes)"
        )
    synth = description.get(bids.SYNTHETIC_KEY)
    if synth is not None and not isinstance(synth, dict):
        raise ArchiveError(f"{path}: {bids.SYNTHETIC_KEY} must be the generator's marker object")
    return Archive(root=root, source="synthetic" if synth else "real", synth=synth, layout="bids")


def input_hashes(archive: Archive, cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR) -> dict[str, str]:
    """sha256 of every raw input, relative path -> digest, through the cache folder's hash memo."""
    digests = storage.memoised_sha256(archive.input_files(), Path(cache_dir) / storage.MEMO_NAME)
    return {str(path.relative_to(archive.root)): digest for path, digest in digests.items()}
