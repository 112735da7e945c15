"""512-d ResNet-18 frame features with torchvision preprocessing (SPEC §4).

Preprocessing is torchvision's own for `ResNet18_Weights.IMAGENET1K_V1`
(Resize 256 bilinear with antialias, CenterCrop 224, scale to [0, 1],
ImageNet mean/std), applied to uint8 frame batches; the network is
torchvision's ResNet-18 with `fc = Identity`, i.e. the global-pooled 512-d
vector.  Inference runs batched under `torch.inference_mode()`, channels-last
by default, on all CPU cores.  Which weights a spec means (imagenet from the
hub cache, a file, random:SEED, auto) is `features.weights`; it is re-exported
here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

import numpy as np
import torch
from torchvision.models import ResNet18_Weights, resnet18
from tqdm.auto import tqdm

from restasmr_jax.config import FeatureConfig
from restasmr_jax.features.weights import (  # noqa: F401  (re-exported: the policy's public names)
    SYNTHETIC_DEFAULT,
    WEIGHTS_FILENAME,
    WEIGHTS_URL,
    WeightsError,
    hub_weights_path,
    resolve_weights_spec,
    weights_provenance,
)

IMAGENET = ResNet18_Weights.IMAGENET1K_V1


def _parameters_sha256(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build_resnet18(spec: str) -> tuple[torch.nn.Module, dict]:
    """ResNet-18 feature extractor (fc = Identity, eval mode) and its provenance."""
    provenance = weights_provenance(spec)
    if provenance["kind"] == "random":
        with torch.random.fork_rng(devices=[]):  # seed the init without disturbing the caller's RNG
            torch.manual_seed(provenance["seed"])
            model = resnet18(weights=None)
        provenance["parameters_sha256"] = _parameters_sha256(model)
    else:
        model = resnet18(weights=None)
        path = provenance["path"]
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a bad file; the user needs the file name
            raise WeightsError(f"{path}: not a loadable PyTorch state dict ({type(exc).__name__}: {exc})") from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise WeightsError(f"{path}: expected a ResNet-18 state dict, found {type(state).__name__}")
        if "fc.weight" not in state:  # a backbone-only file: the classifier is dropped anyway
            model.fc = torch.nn.Identity()
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsError(f"{path}: does not match torchvision's ResNet-18: {str(exc)[:400]}") from None
    model.fc = torch.nn.Identity()
    return model.eval(), provenance


class VideoEncoder:
    """Batched ResNet-18 inference: RGB frames `[time, height, width, 3]` uint8 -> `[time, 512]` float32."""

    def __init__(
        self,
        spec: str,
        *,
        resize: int = 256,
        crop: int = 224,
        channels_last: bool = True,
        batch_size: int = 32,
        num_threads: int | None = None,
    ):
        torch.set_num_threads(num_threads or os.cpu_count() or 1)
        self.model, self.provenance = build_resnet18(spec)
        self.channels_last = channels_last
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.preprocess = IMAGENET.transforms(resize_size=resize, crop_size=crop)
        self.batch_size = batch_size

    def encode_batch(self, frames: np.ndarray) -> np.ndarray:
        """[batch, height, width, 3] uint8 -> [batch, 512] float32."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 RGB frames [batch, height, width, 3], got {frames.dtype} {frames.shape}")
        with torch.inference_mode():
            images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
            batch = self.preprocess(images).contiguous(memory_format=self.memory_format)
            return self.model(batch).float().numpy()

    def encode(
        self, frames: Iterable[np.ndarray], *, total: int | None = None, progress: bool = False, desc: str = "ResNet-18"
    ) -> np.ndarray:
        """[time, 512] features of a stream of `[height, width, 3]` frames, decoded lazily batch by batch."""
        out, pending = [], []
        with tqdm(total=total, desc=desc, unit="frame", disable=not progress, leave=False) as bar:
            for frame in frames:
                pending.append(frame)
                if len(pending) == self.batch_size:
                    out.append(self.encode_batch(np.stack(pending)))
                    bar.update(len(pending))
                    pending = []
            if pending:
                out.append(self.encode_batch(np.stack(pending)))
                bar.update(len(pending))
        if not out:
            return np.zeros((0, FeatureConfig().video_dim), np.float32)
        return np.concatenate(out, axis=0)
