"""Run directories and their manifest (Standards: determinism and provenance).

Every entry point writes `manifest.json` into its run directory: the exact
command, configs, data source (real/synthetic) and input hashes, package
versions, the git commit, and the JAX backend: platform, the JAX processes
of the job and every device (all processes'; this process's own apart).

A run folder is complete or says it is not: its manifest's `status` is
`running` while outputs are being written, `failed` (with the error) when a
stage raised, and `complete` only at the end, when it also lists the sha256
of every file the folder holds (`verify_run` re-checks them).  A folder
killed mid-run keeps `running`.  Outputs never go into a folder that holds
earlier ones (`prepare_out_dir`), so two runs' files never mix.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax

from restasmr_jax import storage

MANIFEST_FILE = "manifest.json"
PACKAGES = (
    "restasmr-jax",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "orbax-checkpoint",
    "numpy",
    "scipy",
    "polars",
    "librosa",
    "av",
    "torch",
    "torchvision",
    "xgboost",
    "matplotlib",
)


class OutputFolderError(ValueError):
    """An output folder that cannot take a run's files (a file, or a folder holding earlier outputs)."""


def check_out_dir(out: str | os.PathLike | None) -> None:
    """Refuse `out` up front when it is a file or a folder that already holds files (None: a new run folder)."""
    if out is None:
        return
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"--out {out}: a file, expected a folder for the run's outputs")
    if out.is_dir() and any(out.iterdir()):
        held = ", ".join(sorted(p.name for p in out.iterdir())[:5])
        raise OutputFolderError(
            f"--out {out}: already holds files ({held}, ...); outputs of two runs never share a folder: "
            "choose a new folder, or leave out --out for a new runs/<timestamp>-<name> folder"
        )


def prepare_out_dir(out: str | os.PathLike | None, name: str, root: str | os.PathLike = "runs") -> Path:
    """`out` created (new or empty, see `check_out_dir`), or a new `runs/<stamp>-<name>` when None."""
    if out is None:
        return new_run_dir(name, root)
    check_out_dir(out)
    Path(out).mkdir(parents=True, exist_ok=True)
    return Path(out)


def new_run_dir(name: str, root: str | os.PathLike = "runs") -> Path:
    """A fresh `runs/<UTC timestamp>-<name>` folder (never reuses an existing one)."""
    storage.require_folder(root, "run folder root")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{stamp}-{name}"
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(cwd: str | os.PathLike | None = None) -> dict[str, Any]:
    cwd = cwd or Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def file_hashes(run_dir: str | os.PathLike) -> dict[str, str]:
    """sha256 of every file under `run_dir` but the manifest, by relative POSIX path."""
    run_dir = Path(run_dir)
    files = sorted(p for p in run_dir.rglob("*") if p.is_file() and p != run_dir / MANIFEST_FILE)
    return {p.relative_to(run_dir).as_posix(): storage.sha256_file(p) for p in files}


def verify_run(run_dir: str | os.PathLike) -> list[str]:
    """What is wrong with a run folder's completeness: not complete, files missing, changed or added."""
    path = Path(run_dir) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return [f"{path}: unreadable manifest ({exc})"]
    if manifest.get("status") != "complete" or not isinstance(manifest.get("files"), dict):
        return [f"{path}: status {manifest.get('status')!r}, not a complete run"]
    listed, now = manifest["files"], file_hashes(run_dir)
    problems = [f"{run_dir}/{name}: missing" for name in sorted(set(listed) - set(now))]
    problems += [
        f"{run_dir}/{name}: changed since the run"
        for name in sorted(listed)
        if now.get(name) not in (None, listed[name])
    ]
    problems += [f"{run_dir}/{name}: not written by the run" for name in sorted(set(now) - set(listed))]
    return problems


def write_manifest(
    run_dir: str | os.PathLike,
    *,
    configs: dict[str, Any],
    archive=None,
    input_hashes: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    status: str | None = None,
) -> Path:
    """Write `<run_dir>/manifest.json`; `archive` is a `restasmr_jax.io.archive.Archive`.

    `status`: running | failed | complete; a complete manifest lists every file's sha256 (`files`).
    """
    try:
        backend = {
            "platform": jax.default_backend(),
            "process_count": jax.process_count(),
            "process_index": jax.process_index(),
            "devices": [str(d) for d in jax.devices()],
            "local_devices": [str(d) for d in jax.local_devices()],
        }
    except Exception as exc:  # a manifest must never be the thing that fails a run
        backend = {"error": repr(exc)}
    manifest = {
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv],
        "data_source": archive.source if archive is not None else None,
        "archive": archive.describe() if archive is not None else None,
        "input_hashes": input_hashes or {},
        "configs": configs,
        "packages": package_versions(),
        "python": sys.version,
        "platform": platform.platform(),
        "git": git_state(),
        "jax_backend": backend,
        **(extra or {}),
    }
    if status is not None:
        manifest["status"] = status
    if status == "complete":
        manifest["files"] = file_hashes(run_dir)
    return storage.write_json(Path(run_dir) / MANIFEST_FILE, manifest)
