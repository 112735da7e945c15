"""Run directories and their manifest (Standards: determinism and provenance).

Every entry point writes `manifest.json` into its run directory: the exact
command, configs, data source (real/synthetic) and input hashes, package
versions, the git commit, and the JAX backend: platform, the JAX processes
of the job and every device (all processes'; this process's own apart).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
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


def new_run_dir(name: str, root: str | os.PathLike = "runs") -> Path:
    """A fresh `runs/<UTC timestamp>-<name>` folder (never reuses an existing one)."""
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


def write_manifest(
    run_dir: str | os.PathLike,
    *,
    configs: dict[str, Any],
    archive=None,
    input_hashes: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write `<run_dir>/manifest.json`; `archive` is a `restasmr_jax.io.archive.Archive`."""
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
    return storage.write_json(Path(run_dir) / MANIFEST_FILE, manifest)
