"""ResNet-18 frame features and the weights policy (SPEC §4)."""

import functools
import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models import resnet18

from restasmr_jax.features.video import (
    WEIGHTS_FILENAME,
    WEIGHTS_URL,
    VideoEncoder,
    WeightsError,
    build_resnet18,
    hub_weights_path,
    resolve_weights_spec,
    weights_provenance,
)

# tiny inputs keep the network fast (the pipeline uses 256/224); one thread avoids oversubscribing the shared CPU
SMALL = {"resize": 40, "crop": 32, "num_threads": 1}


@functools.cache
def encoder(spec: str, channels_last: bool = True, batch_size: int = 32) -> VideoEncoder:
    """Encoders are deterministic and stateless at inference: build each variant once per module."""
    return VideoEncoder(spec, channels_last=channels_last, batch_size=batch_size, **SMALL)


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(0).integers(0, 256, (10, 36, 48, 3), dtype=np.uint8)


@pytest.fixture()
def empty_hub(tmp_path):
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(previous)


def test_shape_and_determinism(frames):
    first = encoder("random:3").encode(frames)
    again = VideoEncoder("random:3", **SMALL).encode(frames)  # a fresh build: same seed, same numbers
    other = encoder("random:4").encode(frames)
    assert first.shape == (10, 512) and first.dtype == np.float32 and np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_seeded_init_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_resnet18("random:0")
    assert torch.equal(torch.rand(3), expected)


def test_channels_last_equals_default_layout(frames):
    fast = encoder("random:0", channels_last=True).encode(frames)
    plain = encoder("random:0", channels_last=False).encode(frames)
    scale = max(1.0, float(np.abs(plain).max()))
    np.testing.assert_allclose(fast, plain, rtol=0, atol=1e-4 * scale)


def test_batching_does_not_change_features(frames):
    whole = encoder("random:0").encode(frames)
    pieces = encoder("random:0", batch_size=3).encode(iter(frames), total=10)
    np.testing.assert_allclose(pieces, whole, rtol=0, atol=1e-4 * max(1.0, float(np.abs(whole).max())))


def test_preprocessing_is_centre_crop_and_imagenet_normalisation():
    """Resize to the frame's own short side is a no-op, so the input is the centre crop, normalised by hand."""
    image = np.random.default_rng(1).integers(0, 256, (1, 32, 48, 3), dtype=np.uint8)
    plain = VideoEncoder("random:0", resize=32, crop=32, channels_last=False, num_threads=1)
    crop = image[:, :, 8:40].astype(np.float64) / 255
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    by_hand = torch.from_numpy(((crop - mean) / std).transpose(0, 3, 1, 2)).float()
    with torch.inference_mode():
        expected = plain.model(by_hand).numpy()
    np.testing.assert_allclose(plain.encode_batch(image), expected, rtol=1e-5, atol=1e-5)


def test_network_is_resnet18_without_fc(frames):
    model, _ = build_resnet18("random:0")
    assert isinstance(model.fc, torch.nn.Identity) and not model.training
    reference = resnet18(weights=None)
    reference.load_state_dict({**model.state_dict(), "fc.weight": reference.fc.weight, "fc.bias": reference.fc.bias})
    reference.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        pooled = torch.flatten(
            reference.avgpool(
                reference.layer4(
                    reference.layer3(
                        reference.layer2(
                            reference.layer1(reference.maxpool(reference.relu(reference.bn1(reference.conv1(x)))))
                        )
                    )
                )
            ),
            1,
        )
        np.testing.assert_allclose(model(x).numpy(), pooled.numpy(), rtol=1e-5, atol=1e-5)


# ---- weights policy ----------------------------------------------------------------------------


def test_weights_constants_match_torchvision():
    from torchvision.models import ResNet18_Weights

    assert WEIGHTS_URL == ResNet18_Weights.IMAGENET1K_V1.url
    assert hub_weights_path() == Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILENAME


def test_hub_dir_without_importing_torch(monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "torch.hub")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert hub_weights_path() == tmp_path / "th" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub_weights_path() == tmp_path / "xdg" / "torch" / "hub" / "checkpoints" / WEIGHTS_FILENAME


def test_imagenet_without_file_says_how_to_get_it(empty_hub):
    with pytest.raises(WeightsError) as err:
        VideoEncoder("imagenet", **SMALL)
    message = str(err.value)
    assert WEIGHTS_URL in message and str(empty_hub / "checkpoints" / WEIGHTS_FILENAME) in message
    assert "--video-weights PATH" in message and "random:SEED" in message


def test_imagenet_from_hub_cache_checks_the_hash(empty_hub):
    path = hub_weights_path()
    path.parent.mkdir(parents=True)
    torch.save(resnet18(weights=None).state_dict(), path)  # right name, wrong content
    with pytest.raises(WeightsError, match="does not match torchvision's f37072fd"):
        weights_provenance("imagenet")


def test_weights_file_path(tmp_path, frames):
    model, _ = build_resnet18("random:5")
    path = tmp_path / "my_resnet.pth"
    torch.save(model.state_dict(), path)  # backbone only (fc is Identity): accepted
    from_file = VideoEncoder(str(path), **SMALL)
    assert from_file.provenance["kind"] == "file"
    assert from_file.provenance["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    np.testing.assert_array_equal(from_file.encode(frames), encoder("random:5").encode(frames))


def test_bad_specs(tmp_path):
    with pytest.raises(WeightsError, match="no such file, and not one of auto"):
        weights_provenance("imagnet")
    with pytest.raises(WeightsError, match="random:SEED with an integer SEED"):
        weights_provenance("random:abc")
    with pytest.raises(WeightsError, match="must be resolved first"):
        weights_provenance("auto")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pth: not a loadable PyTorch state dict"):
        build_resnet18(str(junk))
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, wrong)
    with pytest.raises(WeightsError, match="wrong.pth: does not match torchvision's ResNet-18"):
        build_resnet18(str(wrong))


def test_auto_resolves_by_data_source(capsys):
    assert resolve_weights_spec("auto", "real") == "imagenet"
    assert resolve_weights_spec("auto", "synthetic") == "random:0"
    assert "SYNTHETIC archive" in capsys.readouterr().err
    assert resolve_weights_spec("random:7", "real") == "random:7"
    with pytest.raises(WeightsError):
        resolve_weights_spec("auto", "unknown")


def test_random_provenance_is_recorded():
    _, provenance = build_resnet18("random:0")
    assert provenance["spec"] == "random:0" and provenance["kind"] == "random" and provenance["sha256"] is None
    _, again = build_resnet18("random:0")
    assert len(provenance["parameters_sha256"]) == 64 and provenance["parameters_sha256"] == again["parameters_sha256"]
