"""The authors' published test predictions, read without executing code, and the same format written (SPEC §11).

`paper_fusion_results_4_fold.pkl` is a pickle: a list of 68 dicts with
`subj` (int), `vid_name` ("vid1".."vid8"), `truths`, `preds` (int64),
`probs`, `raw_truths` (float32) — 550-long arrays — and `is_nature`
(0/1).  Unpickling can run arbitrary code, so `SafeUnpickler` resolves
only the globals numpy needs to rebuild plain arrays (array
reconstruction, `ndarray`, `dtype`, numpy scalars); builtin lists, dicts,
tuples, strings and numbers need no global at all.  Anything else — an
`os.system`, a class, a function — is refused before it can be called.

Folds are derived from the test video (fold f tests vid(f+1) and
vid(f+5), SPEC §6).  The artifact does not record which video each
participant saw first, so which trials had only 507 valid frames is
unknown: every trial is scored on all 550 frames, which is the paper's own
convention (SPEC §9, `count_padding=True`), and the mask is all True.

`write_predictions` stores a `Predictions` in the same schema plus `mask`
and `fold` per trial (the pipeline's run predictions), readable with
`load_predictions`.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

from restasmr_jax import storage
from restasmr_jax.config import VIDEO_CODES, condition_of
from restasmr_jax.evidence.predictions import Predictions

ARTIFACT_NAME = "paper_fusion_results_4_fold.pkl"
ARTIFACT_SOURCE = (
    "the authors' GitHub repository Tushardas2663/REST-ASMR-Pipeline, file data/paper_fusion_results_4_fold.pkl"
)
ARTIFACT_TRIALS = 68
ARTIFACT_FRAMES = 550
KEYS = ("subj", "vid_name", "truths", "preds", "probs", "raw_truths", "is_nature")
RUN_KEYS = ("mask", "fold")  # added by `write_predictions`
PICKLE_PROTOCOL = 4  # arrays via _reconstruct; fixed so that the bytes are reproducible

# Everything numpy's ndarray/dtype/scalar pickling refers to, for numpy 1.x and 2.x module paths.
_ALLOWED = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),  # protocol 5
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles: str -> bytes, nothing more
    }
)


class ArtifactError(ValueError):
    """A predictions pickle that is unsafe or does not have the expected schema."""


class ArtifactNotFoundError(ArtifactError, FileNotFoundError):
    """The artifact file is missing."""


def default_artifact_path() -> Path:
    """`<repo root>/../shared/artifacts/paper_fusion_results_4_fold.pkl` (where CI puts it)."""
    return Path(__file__).resolve().parents[3] / "shared" / "artifacts" / ARTIFACT_NAME


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that admits only numpy array reconstruction and builtin containers."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise ArtifactError(
            f"refusing to load global {module}.{name}: a predictions pickle may only "
            f"contain numpy arrays, numbers, strings, lists and dicts"
        )

    def persistent_load(self, pid):
        raise ArtifactError("refusing a pickle with persistent references")


def read_pickle_safely(path: str | os.PathLike):
    """The object in a pickle file, refusing anything but arrays and builtin containers."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactNotFoundError(f"{path}: no such file") from None
    try:
        return SafeUnpickler(io.BytesIO(data)).load()
    except ArtifactError as err:
        raise ArtifactError(f"{path}: {err}") from None
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise ArtifactError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from None


def _array(path, i, trial, key, n_frames, kinds: str) -> np.ndarray:
    value = trial[key]
    if not isinstance(value, np.ndarray) or value.dtype.kind not in kinds or value.shape != (n_frames,):
        got = f"{type(value).__name__} {getattr(value, 'dtype', '')} {getattr(value, 'shape', '')}"
        raise ArtifactError(
            f"{path}: trial {i} ({trial.get('subj')}, {trial.get('vid_name')}): '{key}' must be "
            f"a ({n_frames},) numpy array of kind {kinds!r}, got {got.strip()}"
        )
    return value


def _int_field(path, i, trial, key) -> int:
    value = trial[key]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ArtifactError(f"{path}: trial {i}: '{key}' must be an integer, got {value!r}")
    return int(value)


def _binary(path, i, key, values: np.ndarray) -> None:
    if not np.isin(values, (0, 1)).all():
        raise ArtifactError(f"{path}: trial {i}: '{key}' must hold only 0 and 1")


def predictions_from_records(
    records, path: str | os.PathLike = "<records>", *, n_trials: int | None = None, n_frames: int = ARTIFACT_FRAMES
) -> Predictions:
    """Check the artifact schema (list of per-trial dicts) and build a `Predictions`."""
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ArtifactError(f"{path}: expected a list of per-trial dicts, got {type(records).__name__}")
    if n_trials is not None and len(records) != n_trials:
        raise ArtifactError(f"{path}: expected {n_trials} trials, found {len(records)}")
    if not records:
        raise ArtifactError(f"{path}: no trials")
    rows, seen = [], set()
    for i, trial in enumerate(records):
        missing = [k for k in KEYS if k not in trial]
        if missing:
            raise ArtifactError(f"{path}: trial {i} lacks keys {missing} (expected {list(KEYS)})")
        subject = _int_field(path, i, trial, "subj")
        video = trial["vid_name"]
        if video not in VIDEO_CODES:
            raise ArtifactError(f"{path}: trial {i}: vid_name must be one of vid1..vid8, got {video!r}")
        if (subject, video) in seen:
            raise ArtifactError(f"{path}: trial {i}: participant {subject} {video} appears twice")
        seen.add((subject, video))
        is_nature = _int_field(path, i, trial, "is_nature")
        if is_nature != (condition_of(video) == "Nature"):
            raise ArtifactError(f"{path}: trial {i}: is_nature={is_nature} contradicts {video} ({condition_of(video)})")
        truths, preds = (_array(path, i, trial, k, n_frames, "biu") for k in ("truths", "preds"))
        probs = _array(path, i, trial, "probs", n_frames, "f")
        raw = _array(path, i, trial, "raw_truths", n_frames, "fiu")
        _binary(path, i, "truths", truths)
        _binary(path, i, "preds", preds)
        if not (np.isfinite(probs).all() and (probs >= 0).all() and (probs <= 1).all()):
            raise ArtifactError(f"{path}: trial {i}: 'probs' must lie in [0, 1]")
        if not (np.isin(raw, (0, 1, 2, 3))).all():
            raise ArtifactError(f"{path}: trial {i}: 'raw_truths' must be ratings 0..3")
        video_number = int(video.removeprefix("vid"))
        if "mask" in trial:
            mask = _array(path, i, trial, "mask", n_frames, "biu")
            _binary(path, i, "mask", mask)
        else:  # the published artifact: valid frames unknown, score all of them (module docstring)
            mask = np.ones(n_frames, bool)
        fold = _int_field(path, i, trial, "fold") if "fold" in trial else (video_number - 1) % 4
        rows.append((truths, preds, probs, raw, mask, is_nature, subject, video, fold))
    columns = list(zip(*rows))
    return Predictions(
        truths=np.stack(columns[0]).astype(np.int32),
        preds=np.stack(columns[1]).astype(np.int32),
        probs=np.stack(columns[2]).astype(np.float32),
        raw_truths=np.stack(columns[3]).astype(np.int32),
        mask=np.stack(columns[4]).astype(bool),
        is_nature=np.array(columns[5], bool),
        subject=np.array(columns[6], np.int32),
        video=np.array(columns[7], dtype="<U4"),
        fold=np.array(columns[8], np.int32),
    )


def load_predictions(
    path: str | os.PathLike, *, n_trials: int | None = None, n_frames: int = ARTIFACT_FRAMES
) -> Predictions:
    """A predictions pickle (the artifact or a run's `write_predictions` output), safely."""
    return predictions_from_records(read_pickle_safely(path), path, n_trials=n_trials, n_frames=n_frames)


def missing_artifact_message(path: Path) -> str:
    return (
        f"The authors' published predictions were not found at {path}.\n"
        f"Download them from {ARTIFACT_SOURCE} (https://github.com/Tushardas2663/REST-ASMR-Pipeline) "
        f"and pass the file with --artifact PATH (default location: {default_artifact_path()})."
    )


def load_artifact(path: str | os.PathLike | None = None) -> Predictions:
    """The paper's 68 test trials as `Predictions` (mask all True: scored on all 550 frames)."""
    path = Path(path) if path is not None else default_artifact_path()
    if not path.is_file():
        raise ArtifactNotFoundError(missing_artifact_message(path))
    return load_predictions(path, n_trials=ARTIFACT_TRIALS, n_frames=ARTIFACT_FRAMES)


def predictions_to_records(pred: Predictions) -> list[dict]:
    """Per-trial dicts in the artifact schema plus `mask` and `fold`."""
    return [
        {
            "subj": int(pred.subject[i]),
            "vid_name": str(pred.video[i]),
            "truths": np.asarray(pred.truths[i], np.int64),
            "preds": np.asarray(pred.preds[i], np.int64),
            "probs": np.asarray(pred.probs[i], np.float32),
            "raw_truths": np.asarray(pred.raw_truths[i], np.float32),
            "is_nature": int(pred.is_nature[i]),
            "mask": np.asarray(pred.mask[i], bool),
            "fold": int(pred.fold[i]),
        }
        for i in range(pred.n_trials)
    ]


def write_predictions(path: str | os.PathLike, pred: Predictions) -> Path:
    """Write `pred` atomically in the artifact schema (+ `mask`, `fold`); read back with `load_predictions`."""
    data = pickle.dumps(predictions_to_records(pred), protocol=PICKLE_PROTOCOL)
    return storage.atomic_write_bytes(path, data)
