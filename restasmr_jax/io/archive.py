"""The raw archive's folder layout: log/, ppg/, stim/, and whether it is real or synthetic (SPEC §1, §12).

An `Archive` only locates files; which archive a run uses (a real one in
`data/`, else the generated stand-in) is decided by `runs.data.resolve_archive`.
A synthetic archive is recognised by the marker file its generator writes
last, so a half-generated folder is never mistaken for a complete one.

Logs are the `*.log` files of `log/` (any case of the suffix); a PPG export
is `ppg/<ID>_csv.txt` with the ID written with or without leading zeros
(`001_csv.txt`, `1_csv.txt`).  Anything else in those folders is listed by
`ignored_files` so the caller can say so; an input name that is not a
regular file (a directory called `001_csv.txt`) is an error before any work.
Stages that never read the stimuli open an archive without `stim/`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from restasmr_jax import storage
from restasmr_jax.config import STIMULUS_FILES

SYNTH_MARKER = "SYNTHETIC.json"
DEFAULT_DATA_DIR = Path("data")
DEFAULT_CACHE_DIR = DEFAULT_DATA_DIR / "cache"
FOLDERS = ("log", "ppg", "stim")
_PPG_NAME = re.compile(r"^(\d+)_csv\.txt$", re.IGNORECASE)


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

    def _entries(self, folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []

    def log_files(self) -> list[Path]:
        return [p for p in self._entries(self.log_dir) if p.suffix.lower() == ".log" and p.is_file()]

    def ppg_candidates(self) -> list[tuple[int, Path]]:
        """(participant ID, path) of every PPG export file, in name order; an ID may appear twice."""
        found = [(_PPG_NAME.match(p.name), p) for p in self._entries(self.ppg_dir)]
        return [(int(m.group(1)), p) for m, p in found if m and p.is_file()]

    def ppg_file(self, subject: int) -> Path:
        """The participant's export (the first by name when two claim the ID), else where it would be."""
        return next((p for s, p in self.ppg_candidates() if s == subject), self.ppg_dir / f"{subject:03d}_csv.txt")

    def stimulus_file(self, video: str) -> Path:
        return self.stim_dir / STIMULUS_FILES[video]

    def input_files(self) -> list[Path]:
        files = self.log_files() + [p for _, p in self.ppg_candidates()]
        return files + [self.stimulus_file(v) for v in STIMULUS_FILES if self.stimulus_file(v).is_file()]

    def ignored_files(self) -> list[Path]:
        """Regular files in log/ and ppg/ that are no input (wrong suffix or name)."""
        inputs = set(self.input_files())
        return [p for d in (self.log_dir, self.ppg_dir) for p in self._entries(d) if p.is_file() and p not in inputs]

    def not_files(self, folders: tuple[str, ...] = FOLDERS) -> list[str]:
        """'path: what it is, expected what' for each input name under `folders` that is not a regular file."""
        named = [(p, "a Presentation log") for p in self._entries(self.log_dir) if p.suffix.lower() == ".log"]
        named += [(p, "a Biopac text export") for p in self._entries(self.ppg_dir) if _PPG_NAME.match(p.name)]
        named += [(self.stimulus_file(v), "an AVI stimulus") for v in STIMULUS_FILES]
        named = [(p, what) for p, what in named if p.parent.name in folders]
        wrong = [(p, what) for p, what in named if (p.exists() or p.is_symlink()) and not p.is_file()]
        return [f"{p}: {'a directory' if p.is_dir() else 'not a regular file'}, expected {what}" for p, what in wrong]

    def describe(self) -> dict:
        return {"root": str(self.root), "source": self.source, "synthetic": self.synth}


def has_layout(root: Path, need: tuple[str, ...] = FOLDERS) -> bool:
    return all((Path(root) / sub).is_dir() for sub in need)


def open_archive(root: str | os.PathLike, *, need: tuple[str, ...] = FOLDERS) -> Archive:
    """An existing archive folder holding the sub-folders `need`; synthetic iff it carries the generator's marker."""
    root = Path(root)
    if not root.is_dir():
        what = "a file" if root.exists() else "not found"
        raise ArchiveError(f"{root}: {what}, expected an archive folder holding {', '.join(f + '/' for f in need)}")
    if not has_layout(root, need):
        missing = [sub for sub in need if not (root / sub).is_dir()]
        raise ArchiveError(
            f"{root}: not a REST-ASMR archive, missing folder(s) {', '.join(missing)} "
            f"(expected {', '.join(f + '/' for f in need)} as in the Zenodo archive; see data/README.md)"
        )
    marker = root / SYNTH_MARKER
    if marker.exists():
        return Archive(root=root, source="synthetic", synth=json.loads(marker.read_text()))
    return Archive(root=root, source="real")


def input_hashes(
    archive: Archive, cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR, *, folders: tuple[str, ...] = FOLDERS
) -> dict[str, str]:
    """sha256 of every raw input under `folders`, relative path -> digest, through the cache folder's hash memo.

    Raises `ArchiveError` naming every input name that is not a regular file, before reading any.
    """
    wrong = archive.not_files(folders)
    if wrong:
        raise ArchiveError("; ".join(wrong))
    files = [p for p in archive.input_files() if p.parent.name in folders and p.parent.parent == archive.root]
    digests = storage.memoised_sha256(files, Path(cache_dir) / storage.MEMO_NAME)
    return {str(path.relative_to(archive.root)): digest for path, digest in digests.items()}


def duplicate_inputs(hashes: dict[str, str], folder: str) -> list[list[str]]:
    """Groups (two or more) of byte-identical inputs under `folder/`, from relative path -> sha256."""
    groups: dict[str, list[str]] = {}
    for name in sorted(hashes):
        if name.startswith(f"{folder}/"):
            groups.setdefault(hashes[name], []).append(name)
    return [names for names in groups.values() if len(names) > 1]
