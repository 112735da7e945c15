"""Double-independent 4-fold cross-validation over participants and videos (SPEC §6).

Fold f (0-based) tests the participants in positions [n*f, n*f + n) of the
authors' ordering -- participant IDs sorted as *strings* of the unpadded
integer ("1", "10", ..., "19", "20", ..., "3", "30", ..., "4", ..., "9") --
with n = n_participants // n_folds and the last fold taking the remainder
(8, 8, 8, 10 for the 34 participants of the archive).  Its test videos are
vid(f+1) (ASMR) and vid(f+5) (Nature).  The training pool is the other
participants on the other videos; trials that pair a test participant with
a training video, or a training participant with a test video, are used by
nobody in that fold.

Inner validation: the authors re-seed Python's `random` with 42 before every
fold and draw `random.sample(pool, 2)` from the pool's participants sorted
as strings.  Re-seeding per fold (not once) is what reproduces the published
validation participants 4, 20 / 4, 12 / 4, 12 / 29, 12; the draw order is
kept.  A private `random.Random(seed)` gives the same draws without touching
the global generator.

Small datasets (tests, `--quick` runs): the same rule applies to any number
of participants >= n_folds; the validation draw shrinks so that at least one
training participant remains, and fewer than n_folds participants is an
error.

Split files: `save_splits` writes the folds (participants, videos and the
exact trial rows) as JSON named by the tensor's fingerprint, in
the spirit of TorchEEG's split folders, so a run can be audited and a
later run on a different table cannot silently reuse it.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from restasmr_jax import storage
from restasmr_jax.config import VIDEO_CODES, TrainConfig, condition_of

SPLIT_FORMAT = "restasmr-splits/1"


class SplitError(ValueError):
    """The participants, videos or split file cannot form the requested folds."""


@dataclass(frozen=True)
class FoldSplit:
    """One fold's participants and videos; trials are participant x video."""

    fold: int
    test_subjects: tuple[int, ...]  # in the authors' string order
    val_subjects: tuple[int, ...]  # in draw order (fold 1: 4, 20)
    train_subjects: tuple[int, ...]  # in the authors' string order
    test_videos: tuple[str, ...]  # (ASMR, Nature)
    train_videos: tuple[str, ...]  # the remaining videos, vid order


def authors_order(subjects) -> list[int]:
    """Participant IDs sorted as strings of the unpadded integer (SPEC §6)."""
    return sorted((int(s) for s in subjects), key=str)


def fold_test_videos(fold: int) -> tuple[str, str]:
    """vid(f+1) and vid(f+5): fold f's ASMR and Nature test videos."""
    n_pairs = len(VIDEO_CODES) // 2
    return VIDEO_CODES[fold], VIDEO_CODES[fold + n_pairs]


def make_splits(subjects, cfg: TrainConfig = TrainConfig()) -> list[FoldSplit]:
    """The `cfg.n_folds` folds for these participant IDs (any order, duplicates allowed)."""
    order = authors_order(set(int(s) for s in subjects))
    n_folds = cfg.n_folds
    if n_folds != len(VIDEO_CODES) // 2:
        raise SplitError(
            f"n_folds must be {len(VIDEO_CODES) // 2} (one ASMR/Nature video pair per fold), got {n_folds}"
        )
    if len(order) < n_folds:
        raise SplitError(f"need at least {n_folds} participants for {n_folds} folds, got {len(order)}: {order}")
    per_fold = len(order) // n_folds
    folds = []
    for fold in range(n_folds):
        stop = per_fold * (fold + 1) if fold < n_folds - 1 else len(order)
        test = order[per_fold * fold : stop]
        pool = [s for s in order if s not in test]  # already in string order
        n_val = min(cfg.n_val_participants, len(pool) - 1)
        drawn = random.Random(cfg.split_seed).sample([str(s) for s in pool], n_val)
        val = tuple(int(s) for s in drawn)
        test_videos = fold_test_videos(fold)
        folds.append(
            FoldSplit(
                fold=fold,
                test_subjects=tuple(test),
                val_subjects=val,
                train_subjects=tuple(s for s in pool if s not in val),
                test_videos=test_videos,
                train_videos=tuple(v for v in VIDEO_CODES if v not in test_videos),
            )
        )
    return folds


def trial_indices(tensor, split: FoldSplit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of `tensor` (a TrialTensor) in the fold's (train, val, test) sets, ascending."""
    subject = np.asarray(tensor.subject)
    video = np.asarray(tensor.video).astype(str)
    train_video = np.isin(video, split.train_videos)
    test_video = np.isin(video, split.test_videos)

    def rows(subjects, on_videos):
        return np.flatnonzero(np.isin(subject, subjects) & on_videos).astype(np.int32)

    return (
        rows(split.train_subjects, train_video),
        rows(split.val_subjects, train_video),
        rows(split.test_subjects, test_video),
    )


def split_file_name(tensor) -> str:
    return f"splits-{tensor.fingerprint[:16]}.json"


def save_splits(folder: str | Path, tensor, splits: list[FoldSplit]) -> Path:
    """Write the folds and their exact trial rows to `folder/splits-<dataset hash>.json`."""
    folds = []
    for split in splits:
        sets = dict(zip(("train", "val", "test"), trial_indices(tensor, split)))
        entry = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(split).items()}
        entry["trials"] = {
            name: [
                {
                    "row": int(r),
                    "subject": int(tensor.subject[r]),
                    "video": str(tensor.video[r]),
                    "condition": condition_of(str(tensor.video[r])),
                }
                for r in rows
            ]
            for name, rows in sets.items()
        }
        folds.append(entry)
    doc = {
        "format": SPLIT_FORMAT,
        "dataset_key": tensor.fingerprint,
        "n_trials": int(len(tensor.subject)),
        "folds": folds,
    }
    return storage.write_json(Path(folder) / split_file_name(tensor), doc)


def load_splits(path: str | Path, tensor=None) -> list[FoldSplit]:
    """Read a split file (or the single one in a folder); with `tensor`, check it indexes that table."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("splits-*.json"))
        if len(found) != 1:
            raise SplitError(f"{path}: expected exactly one splits-*.json, found {[p.name for p in found]}")
        path = found[0]
    doc = json.loads(path.read_text())
    if doc.get("format") != SPLIT_FORMAT:
        raise SplitError(f"{path}: not a split file (format {doc.get('format')!r}, expected {SPLIT_FORMAT!r})")
    if tensor is not None and doc["dataset_key"] != tensor.fingerprint:
        raise SplitError(
            f"{path}: splits were made for dataset {doc['dataset_key'][:16]}, "
            f"but this tensor hashes to {tensor.fingerprint[:16]}"
        )
    fields = FoldSplit.__dataclass_fields__
    return [
        FoldSplit(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry.items() if k in fields})
        for entry in doc["folds"]
    ]
