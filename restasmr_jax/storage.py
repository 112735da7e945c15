"""Durable files: atomic writes, content hashes and the one verified cache (Standards: writes are atomic).

Every file the pipeline produces goes through these helpers, so a crash
never leaves a half-written output, a cache entry is found by the hash of
everything it depends on, and an entry is used only after its bytes are
checked against the hash written beside them.  Nothing here deletes a
file it did not create.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_CHUNK = 1 << 20
MEMO_NAME = "sha256-memo.json"  # the one hash memo of a cache folder
CACHE_FORMAT = 2  # of a ContentCache entry's header; 1 (no "format" field) carried no metadata digest


class PathKindError(ValueError):
    """A path that must be a folder is a file (or cannot be one); names the path and what was expected."""


def require_folder(path: str | os.PathLike, what: str) -> Path:
    """`path` when it is a folder or does not exist yet (to be created); else `PathKindError`, before any work."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PathKindError(f"{what} {path}: a file, expected a folder")
    blocked = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise PathKindError(f"{what} {path}: {blocked} is a file, so this folder cannot be created")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give outputs the permissions a plain open() would.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy / jax arrays and scalars
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=True)
    return atomic_write_text(path, text + "\n")


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Stable hash of a JSON-serialisable object (cache keys from configs)."""
    text = json.dumps(obj, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_CODE_DIGESTS: dict[tuple, str] = {}


def code_digest(paths: Iterable[str | os.PathLike]) -> str:
    """sha256 over the names and bytes of source files.

    Part of a cache key, so that editing the code that computes a cached
    value recomputes it (no version constant to forget to bump).  Files are
    read once per process while their size and mtime stay the same.
    """
    paths = [Path(p) for p in paths]
    stamp = tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    if stamp not in _CODE_DIGESTS:
        digest = hashlib.sha256()
        for path in paths:
            digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
        _CODE_DIGESTS[stamp] = digest.hexdigest()
    return _CODE_DIGESTS[stamp]


# A digest taken less than this long after the file last changed is re-checked next
# time: a rewrite within one coarse file-system clock tick keeps size and mtime.
_RACY_NS = 2_000_000_000


_MEMOS: dict[Path, dict] = {}  # memo files already read by this process


def _memo_check(key: str, digest: object, checked_ns: int) -> str:
    return hashlib.sha256(f"{key}|{digest}|{checked_ns}".encode()).hexdigest()[:16]


def _memo(memo_path: Path) -> dict:
    if memo_path not in _MEMOS:
        try:
            loaded = json.loads(memo_path.read_text())
        except (OSError, ValueError):
            loaded = {}
        _MEMOS[memo_path] = loaded if isinstance(loaded, dict) else {}
    return _MEMOS[memo_path]


def memoised_sha256(
    paths: Iterable[str | os.PathLike], memo_path: str | os.PathLike, known: Mapping[Path, str] | None = None
) -> dict[Path, str]:
    """sha256 of each file, remembered in `memo_path` while the file is provably unchanged.

    A remembered digest is trusted only for the same (path, size, mtime, ctime, inode),
    only if it was taken safely after the file's last change, and only while
    the memo entry's own checksum holds (a damaged memo costs a re-hash, never
    a wrong digest).  `known` maps resolved paths to digests this process has
    just computed itself.
    """
    memo_path = Path(memo_path).resolve()
    memo = _memo(memo_path)
    out, changed = {}, False
    for path in paths:
        resolved = Path(path).resolve()
        stat = resolved.stat()
        key = f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}|{stat.st_ino}"
        hit = memo.get(key)
        if (
            isinstance(hit, dict)
            and isinstance(hit.get("checked_ns"), int)
            and hit["checked_ns"] - max(stat.st_mtime_ns, stat.st_ctime_ns) > _RACY_NS
            and hit.get("check") == _memo_check(key, hit.get("sha256"), hit["checked_ns"])
        ):
            out[Path(path)] = hit["sha256"]
            continue
        digest = (known or {}).get(resolved) or sha256_file(resolved)
        for stale in [k for k in memo if k.startswith(f"{resolved}|")]:
            del memo[stale]
        checked = time.time_ns()
        memo[key] = {"sha256": digest, "checked_ns": checked, "check": _memo_check(key, digest, checked)}
        out[Path(path)], changed = digest, True
    if changed:
        write_json(memo_path, memo)
    return out


class CacheWarning(UserWarning):
    """A cache entry failed verification; it is rebuilt from its source, never used."""


@dataclass(frozen=True)
class CacheEntry:
    arrays: dict[str, np.ndarray]
    meta: dict


class ContentCache:
    """Entries keyed by the sha256 of everything they depend on, verified on every read.

    An entry is `<cache_dir>/<kind>/<stem>-<key[:20]>.npz` (the arrays) and,
    written after it, `<...>.json` holding the full key, the sha256 of the
    `.npz`, the caller's metadata and its sha256; an entry without its JSON
    is incomplete, and one whose JSON has another `format` was written by
    an earlier version (both are plain misses).  A read accepts an entry only
    when its JSON names the requested key (a renamed or swapped entry fails),
    the metadata hashes to its recorded digest and the `.npz` to its
    own.  The `.npz` digest goes through the cache folder's
    hash memo, so a later run pays a `stat` instead of a re-hash while the
    file is provably unchanged, and any write to it (which changes its
    ctime) forces the check again.  A failed check is a `CacheWarning` and a
    miss: the caller rebuilds the entry from its source.
    """

    def __init__(self, cache_dir: str | os.PathLike, kind: str):
        self.root = Path(cache_dir)
        self.folder = self.root / kind
        self.memo_path = self.root / MEMO_NAME

    def entry_path(self, stem: str, key: str) -> Path:
        return self.folder / f"{stem}-{key[:20]}.npz"

    def load(self, stem: str, key: str) -> CacheEntry | None:
        """The verified entry, or None when there is none (or it fails a check, with a warning)."""
        path = self.entry_path(stem, key)
        header_path = path.with_suffix(".json")
        if not header_path.exists():
            return None
        try:
            header = json.loads(header_path.read_text())
            if isinstance(header, dict) and "format" not in header and {"key", "sha256", "meta"} <= header.keys():
                return None  # an entry of the earlier format, whose metadata carried no digest: rebuilt quietly
            if not isinstance(header, dict) or not {"key", "sha256", "meta", "meta_sha256"} <= header.keys():
                raise ValueError("its header lacks key, sha256, meta or meta_sha256")
            if header["format"] != CACHE_FORMAT:
                raise ValueError(f"its header says format {header['format']!r}, not {CACHE_FORMAT}")
            if header["key"] != key:
                raise ValueError("its header names another key (renamed or swapped entry)")
            if sha256_json(header["meta"]) != header["meta_sha256"]:
                raise ValueError("its metadata do not match their recorded sha256")
            if memoised_sha256([path], self.memo_path)[path] != header["sha256"]:
                raise ValueError("its bytes do not match the recorded sha256")
            with np.load(path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            warnings.warn(
                f"{path}: cache entry failed verification ({exc}); rebuilding it from its source",
                CacheWarning,
                stacklevel=2,
            )
            return None
        return CacheEntry(arrays, header["meta"])

    def store(self, stem: str, key: str, arrays: Mapping[str, np.ndarray], meta: dict) -> Path:
        """Write an entry atomically (arrays first, then the JSON that completes it)."""
        path = self.entry_path(stem, key)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        data = buffer.getvalue()
        atomic_write_bytes(path, data)
        digest = hashlib.sha256(data).hexdigest()
        meta = json.loads(json.dumps(meta, sort_keys=True, default=_json_default))  # as a read will see it
        header = {"format": CACHE_FORMAT, "key": key, "sha256": digest, "meta": meta, "meta_sha256": sha256_json(meta)}
        write_json(path.with_suffix(".json"), header)
        return path
