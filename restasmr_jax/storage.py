"""Durable files: atomic writes and content hashes (Standards: writes are atomic).

Every file the pipeline produces goes through these helpers, so a crash
never leaves a half-written output and a cache is never keyed by a stale
name.  Nothing here deletes a file it did not create.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


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


def source_digest(paths: Iterable[str | os.PathLike]) -> str:
    """sha256 over the names and bytes of source files: part of a cache key, so that editing the
    code that computes a cached value recomputes it (no version constant to forget to bump)."""
    digest = hashlib.sha256()
    for path in paths:
        path = Path(path)
        digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# A digest taken less than this long after the file last changed is re-checked next
# time: a rewrite within one coarse file-system clock tick keeps size and mtime.
_RACY_NS = 2_000_000_000


def memoised_sha256(paths: list[Path], memo_path: str | os.PathLike) -> dict[Path, str]:
    """sha256 of each file, remembered in `memo_path` while the file is provably unchanged.

    A remembered digest is trusted only for the same (path, size, mtime, ctime, inode)
    and only if it was taken safely after the file's last change.
    """
    memo_path = Path(memo_path)
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    out, changed = {}, False
    for path in paths:
        resolved = Path(path).resolve()
        stat = resolved.stat()
        key = f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}|{stat.st_ino}"
        hit = memo.get(key)
        if hit and hit["checked_ns"] - max(stat.st_mtime_ns, stat.st_ctime_ns) > _RACY_NS:
            out[Path(path)] = hit["sha256"]
            continue
        digest = sha256_file(resolved)
        memo = {k: v for k, v in memo.items() if not k.startswith(f"{resolved}|")}
        memo[key] = {"sha256": digest, "checked_ns": time.time_ns()}
        out[Path(path)], changed = digest, True
    if changed:
        write_json(memo_path, memo)
    return out
