"""The archive's layout, raw (log/, ppg/, stim/) or its BIDS copy, and whether it is real or synthetic (SPEC §1, §12).

An `Archive` locates files and reads each through the reader of its layout
(`layout` "raw": Presentation logs and Biopac exports; "bids": the copy
`io.bids` describes, recognised by its `dataset_description.json`), so
ingestion is one code path for both.  Which archive a run uses (a real one
in `data/`, else the generated stand-in) is decided by
`runs.data.resolve_archive`.  A synthetic archive is recognised by the
marker file its generator writes last, so a half-generated folder is never
mistaken for a complete one; its BIDS copy carries the marker's content in
`dataset_description.json`.

Raw logs are the `*.log` files of `log/` (any case of the suffix); a PPG
export is `ppg/<ID>_csv.txt` with the ID written with or without leading
zeros (`001_csv.txt`, `1_csv.txt`).  Anything else in those folders is
listed by `ignored_files` so the caller can say so; an input name that is
not a regular file (a directory called `001_csv.txt`) is an error before
any work.  Stages that never read the stimuli open an archive without
`stim/`.  Inputs are grouped by the folder they play the part of
(`folder_of`: log, ppg or stim), whatever the layout.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from restasmr_jax import storage
from restasmr_jax.config import STIMULUS_FILES, IngestConfig, ProtocolConfig
from restasmr_jax.io import bids
from restasmr_jax.io.biopac import BiopacRecording, read_biopac
from restasmr_jax.io.presentation import LogParse, read_log, subject_from_filename

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

    def _entries(self, folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []

    def log_files(self) -> list[Path]:
        """One event file per participant: `log/*.log` or `sub-*/beh/*_events.tsv`."""
        if self.is_bids:
            return [p for p in bids.events_files(self.root) if p.is_file()]
        return [p for p in self._entries(self.log_dir) if p.suffix.lower() == ".log" and p.is_file()]

    def ppg_candidates(self) -> list[tuple[int, Path]]:
        """(participant ID, path) of every PPG file, in name order; an ID may appear twice."""
        if self.is_bids:
            found = [(bids.subject_of(p), p) for p in bids.physio_files(self.root)]
            return [(s, p) for s, p in found if s is not None and p.is_file()]
        found = [(_PPG_NAME.match(p.name), p) for p in self._entries(self.ppg_dir)]
        return [(int(m.group(1)), p) for m, p in found if m and p.is_file()]

    def ppg_file(self, subject: int) -> Path:
        """The participant's PPG file (the first by name when two claim the ID), else where it would be."""
        default = bids.physio_path(self.root, subject) if self.is_bids else self.ppg_dir / f"{subject:03d}_csv.txt"
        return next((p for s, p in self.ppg_candidates() if s == subject), default)

    def subject_of(self, path: Path) -> int | None:
        """The participant an event file belongs to, from its name; None when the name does not tell."""
        return bids.subject_of(path) if self.is_bids else subject_from_filename(path)

    def read_events(
        self,
        path: Path,
        cfg: ProtocolConfig = ProtocolConfig(),
        *,
        checks: IngestConfig = IngestConfig(),
        subjects: dict[str, int] | None = None,
    ) -> LogParse:
        if self.is_bids:
            return bids.read_events(path, cfg)
        return read_log(path, cfg, checks=checks, subjects=subjects)

    def read_recording(
        self,
        path: Path,
        *,
        cache_dir: str | os.PathLike | None = None,
        sha256: str | None = None,
        layout: str = "header",
    ) -> BiopacRecording:
        """The recording in `path`; `layout` is the raw export's header layout (a BIDS copy has one layout)."""
        if self.is_bids:
            return bids.read_physio(path, cache_dir=cache_dir, sha256=sha256)
        return read_biopac(path, cache_dir=cache_dir, sha256=sha256, layout=layout)

    def stimulus_file(self, video: str) -> Path:
        return self.stim_dir / STIMULUS_FILES[video]

    def input_files(self) -> list[Path]:
        """Every file ingestion or the features read (a BIDS copy's physio sidecars hold the sampling rate)."""
        files = self.log_files() + [p for _, p in self.ppg_candidates()]
        if self.is_bids:
            files += [side for _, p in self.ppg_candidates() if (side := bids.sidecar_path(p)).is_file()]
        return files + [self.stimulus_file(v) for v in STIMULUS_FILES if self.stimulus_file(v).is_file()]

    def folder_of(self, path: Path) -> str | None:
        """The part an input plays: "log" (events), "ppg" (recording and its sidecar) or "stim"; None otherwise."""
        path = Path(path)
        if path.parent == self.stim_dir:
            return "stim"
        if self.is_bids:
            name = path.name
            if name.endswith("_events.tsv"):
                return "log"
            return "ppg" if name.endswith(("_physio.tsv.gz", "_physio.json")) else None
        if path.parent.parent == self.root and path.parent.name in FOLDERS:
            return path.parent.name
        return None

    def ignored_files(self) -> list[Path]:
        """Regular files in log/ and ppg/ that are no input (wrong suffix or name); none in a BIDS copy."""
        if self.is_bids:
            return []
        inputs = set(self.input_files())
        return [p for d in (self.log_dir, self.ppg_dir) for p in self._entries(d) if p.is_file() and p not in inputs]

    def not_files(self, folders: tuple[str, ...] = FOLDERS) -> list[str]:
        """'path: what it is, expected what' for each input name under `folders` that is not a regular file."""
        if self.is_bids:
            named = [(p, "an events file") for p in bids.events_files(self.root)]
            named += [(p, "a physio file") for p in bids.physio_files(self.root)]
        else:
            named = [(p, "a Presentation log") for p in self._entries(self.log_dir) if p.suffix.lower() == ".log"]
            named += [(p, "a Biopac text export") for p in self._entries(self.ppg_dir) if _PPG_NAME.match(p.name)]
        named += [(self.stimulus_file(v), "an AVI stimulus") for v in STIMULUS_FILES]
        named = [(p, what) for p, what in named if self.folder_of(p) in folders]
        wrong = [(p, what) for p, what in named if (p.exists() or p.is_symlink()) and not p.is_file()]
        return [f"{p}: {'a directory' if p.is_dir() else 'not a regular file'}, expected {what}" for p, what in wrong]

    def describe(self) -> dict:
        return {"root": str(self.root), "source": self.source, "synthetic": self.synth, "layout": self.layout}


def has_layout(root: Path, need: tuple[str, ...] = FOLDERS) -> bool:
    """A raw archive holding the sub-folders `need`, or a BIDS copy (dataset_description.json)."""
    root = Path(root)
    return bids.is_bids(root) or all((root / sub).is_dir() for sub in need)


def open_archive(root: str | os.PathLike, *, need: tuple[str, ...] = FOLDERS) -> Archive:
    """An existing archive folder, raw (holding `need`) or BIDS; synthetic iff it carries the generator's marker."""
    root = Path(root)
    if not root.is_dir():
        what = "a file" if root.exists() else "not found"
        raise ArchiveError(f"{root}: {what}, expected an archive folder holding {', '.join(f + '/' for f in need)}")
    if bids.is_bids(root):
        return _open_bids(root)
    if not has_layout(root, need):
        missing = [sub for sub in need if not (root / sub).is_dir()]
        raise ArchiveError(
            f"{root}: not a REST-ASMR archive, missing folder(s) {', '.join(missing)} "
            f"(expected {', '.join(f + '/' for f in need)} as in the Zenodo archive, see data/README.md, "
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


def input_hashes(
    archive: Archive, cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR, *, folders: tuple[str, ...] = FOLDERS
) -> dict[str, str]:
    """sha256 of every input under `folders`, relative path -> digest, through the cache folder's hash memo.

    Raises `ArchiveError` naming every input name that is not a regular file, before reading any.
    """
    wrong = archive.not_files(folders)
    if wrong:
        raise ArchiveError("; ".join(wrong))
    files = [p for p in archive.input_files() if archive.folder_of(p) in folders]
    digests = storage.memoised_sha256(files, Path(cache_dir) / storage.MEMO_NAME)
    return {str(path.relative_to(archive.root)): digest for path, digest in digests.items()}


def duplicate_inputs(hashes: dict[str, str], archive: Archive, folder: str) -> list[list[str]]:
    """Groups (two or more) of byte-identical inputs playing the part `folder`, from relative path -> sha256."""
    groups: dict[str, list[str]] = {}
    for name in sorted(hashes):
        if archive.folder_of(archive.root / name) == folder:
            groups.setdefault(hashes[name], []).append(name)
    return [names for names in groups.values() if len(names) > 1]
