"""ResNet-18 weights policy: which weights a spec means and where their file is, without importing torch (SPEC §4).

Specs (these machines cannot download; never a silent fallback):

- `"imagenet"`: torchvision's `ResNet18_Weights.IMAGENET1K_V1` file, only if
  it is already in the torch hub cache (`$TORCH_HOME/hub/checkpoints`); its
  sha256 must start with the hash prefix in torchvision's file name.
  Otherwise `WeightsError` says where to download it and where to put it.
- a file path: that state dict (e.g. the same file kept elsewhere).
- `"random:SEED"`: explicit seeded random initialisation, for the synthetic
  archive and tests; such features carry no ImageNet semantics.
- `"auto"`: `resolve_weights_spec` picks `imagenet` for a real archive and
  `random:0` for a synthetic one, prints the choice and it is recorded.

Provenance (kind, seed, file sha256, torch/torchvision versions) keys every
feature cache and is stored with every tensor.  torch is not imported here,
so a cached tensor loads without paying torch's import time.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path

from restasmr_jax import storage

# torchvision's ResNet18_Weights.IMAGENET1K_V1.url (a test checks they agree).
WEIGHTS_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
WEIGHTS_FILENAME = WEIGHTS_URL.rsplit("/", 1)[-1]
WEIGHTS_HASH_PREFIX = WEIGHTS_FILENAME.removesuffix(".pth").split("-")[-1]
SYNTHETIC_DEFAULT = "random:0"


class WeightsError(ValueError):
    """The requested ResNet-18 weights are unavailable or malformed; the message says how to fix it."""


def resolve_weights_spec(spec: str, archive_source: str) -> str:
    """`auto` -> `imagenet` (real archive) or `random:0` (synthetic), announced on stderr; others unchanged."""
    if spec != "auto":
        return spec
    if archive_source not in ("real", "synthetic"):
        raise WeightsError(f"archive source must be 'real' or 'synthetic', got {archive_source!r}")
    resolved = "imagenet" if archive_source == "real" else SYNTHETIC_DEFAULT
    why = (
        "real archive: ImageNet ResNet-18"
        if archive_source == "real"
        else "SYNTHETIC archive: seeded RANDOM ResNet-18 weights, not ImageNet features"
    )
    print(f"[features] video weights: auto -> {resolved} ({why})", file=sys.stderr, flush=True)
    return resolved


def hub_dir() -> Path:
    """torch's hub folder, as `torch.hub.get_dir()` computes it (honours `set_dir` once torch is loaded)."""
    if "torch.hub" in sys.modules:
        return Path(sys.modules["torch.hub"].get_dir())
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))) / "hub"


def hub_weights_path() -> Path:
    """Where torchvision keeps (and would download) the IMAGENET1K_V1 file."""
    return hub_dir() / "checkpoints" / WEIGHTS_FILENAME


def how_to_get(path: Path) -> str:
    return (
        f"This machine cannot download it. On a machine with internet access, download {WEIGHTS_URL} "
        f"(torchvision's ResNet18_Weights.IMAGENET1K_V1, sha256 starting {WEIGHTS_HASH_PREFIX}) "
        f"and either copy it to {path} (the torch hub cache; set TORCH_HOME to move it) or pass its location "
        "with --video-weights PATH. For synthetic data or tests use --video-weights random:SEED "
        "(seeded random weights, recorded as such)."
    )


def seed_of(spec: str) -> int:
    try:
        return int(spec.removeprefix("random:"))
    except ValueError:
        raise WeightsError(f"video weights {spec!r}: expected random:SEED with an integer SEED") from None


def _versions() -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in ("torch", "torchvision")}


def weights_provenance(spec: str) -> dict:
    """What a resolved `spec` denotes: kind, seed, file path and sha256, library versions.

    Raises WeightsError when the weights are not available.
    """
    if spec == "auto":
        raise WeightsError("video weights 'auto' must be resolved first (resolve_weights_spec)")
    if spec.startswith("random:"):
        seed = seed_of(spec)
        return {"spec": f"random:{seed}", "kind": "random", "seed": seed, "path": None, "sha256": None, **_versions()}
    if spec == "imagenet":
        path = hub_weights_path()
        if not path.is_file():
            raise WeightsError(f"ResNet-18 ImageNet weights not found at {path}. " + how_to_get(path))
        digest = storage.sha256_file(path)
        if not digest.startswith(WEIGHTS_HASH_PREFIX):
            raise WeightsError(
                f"{path}: sha256 {digest[:12]}... does not match torchvision's {WEIGHTS_HASH_PREFIX} "
                "(incomplete or corrupt download). " + how_to_get(path)
            )
        return {
            "spec": "imagenet",
            "kind": "imagenet",
            "seed": None,
            "path": str(path),
            "sha256": digest,
            **_versions(),
        }
    path = Path(spec)
    if not path.is_file():
        raise WeightsError(
            f"video weights {spec!r}: no such file, and not one of auto | imagenet | random:SEED. "
            + how_to_get(hub_weights_path())
        )
    return {
        "spec": str(path),
        "kind": "file",
        "seed": None,
        "path": str(path.resolve()),
        "sha256": storage.sha256_file(path),
        **_versions(),
    }


def cache_identity(provenance: dict) -> dict:
    """The part of the provenance that determines the features (the weights by content, not by path)."""
    return {k: provenance.get(k) for k in ("kind", "seed", "sha256", "torch", "torchvision")}
