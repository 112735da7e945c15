"""The tensor cache end to end on tiny AVIs: hits decode nothing, any change rebuilds (SPEC §5)."""

import dataclasses
import functools
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from restasmr_jax.config import STIMULUS_FILES, VIDEO_CODES, FeatureConfig
from restasmr_jax.io import stimuli
from restasmr_jax.io.archive import Archive
from restasmr_jax.io.stimuli import StimulusError
from restasmr_jax.tensor.cache import load_or_build_tensor
from tests.avi_clips import write_clip
from tests.tensor.fakes import TINY, TINY_FEATURES, fake_ingested

# ---- load_or_build_tensor end to end: tiny AVIs, tiny protocol -----------------------------------


@pytest.fixture()
def tiny_archive_dir(tmp_path):
    root = tmp_path / "archive"
    for sub in ("log", "ppg", "stim"):
        (root / sub).mkdir(parents=True)
    for i, video in enumerate(VIDEO_CODES):
        write_clip(root / "stim" / STIMULUS_FILES[video], seconds=3.2, fps=25, seed=i + 1)
    (root / "log" / "001-1-x.log").write_text("stand-in log\n")
    return Archive(root=root, source="synthetic")


@pytest.fixture()
def decode_calls(monkeypatch):
    calls = []
    real_frames, real_audio = stimuli.iter_window_frames, stimuli.read_audio
    monkeypatch.setattr(stimuli, "iter_window_frames", lambda p, w: calls.append(Path(p).name) or real_frames(p, w))
    monkeypatch.setattr(stimuli, "read_audio", lambda p: real_audio(p))
    return calls


E2E_VIDEOS = ("vid1", "vid2", "vid7")  # a few stimuli keep the end-to-end tests fast


def test_load_or_build_caches_and_invalidates(tmp_path, tiny_archive_dir, decode_calls):
    ingested = fake_ingested([1, 3], TINY, videos=E2E_VIDEOS)
    cache = tmp_path / "cache"
    build = functools.partial(
        load_or_build_tensor,
        tiny_archive_dir,
        ingested,
        feature_cfg=TINY_FEATURES,
        protocol=TINY,
        cache_dir=cache,
        progress=False,
        num_threads=1,
    )
    first = build()
    assert sorted(decode_calls) == ["ASMR1.avi", "ASMR2.avi", "nature3.avi"]
    assert first.X().shape == (6, 20, 544) and sorted(set(first.n_valid.tolist())) == [17, 20]
    assert first.provenance["stimuli_absent"] == ["vid3", "vid4", "vid5", "vid6", "vid8"]
    assert not first.av[[2, 3, 4, 5, 7]].any()  # rows no trial gathers
    assert first.provenance["data_source"] == "synthetic" and first.provenance["weights"]["spec"] == "random:0"
    assert first.provenance["feature_cfg"]["video_weights"] == "random:0"

    decode_calls.clear()
    again = build()
    assert decode_calls == []  # a cache hit decodes nothing
    for name in ("av", "ppg", "y", "intensity", "mask", "subject", "video", "stim_index", "n_valid"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    assert again.provenance["tensor_key"] == first.provenance["tensor_key"]

    # a changed log: new tensor, but the stimulus features come from their cache (no decoding)
    (tiny_archive_dir.root / "log" / "001-1-x.log").write_text("edited log\n")
    relabelled = build()
    assert relabelled.provenance["tensor_key"] != first.provenance["tensor_key"] and decode_calls == []

    # a changed stimulus: only that one is decoded again, and its features change
    write_clip(tiny_archive_dir.root / "stim" / "ASMR2.avi", seconds=3.2, fps=25, seed=42)
    changed = build()
    assert decode_calls == ["ASMR2.avi"]
    row = VIDEO_CODES.index("vid2")
    assert not np.array_equal(changed.av[row], first.av[row])
    np.testing.assert_array_equal(np.delete(changed.av, row, axis=0), np.delete(first.av, row, axis=0))
    assert len(list((cache / "tensor").glob("tensor-*.npz"))) == 3
    assert len(list((cache / "tensor").glob("tensor-*.json"))) == 3


def test_editing_the_feature_code_recomputes_features_and_tensor(tmp_path, tiny_archive_dir, decode_calls, monkeypatch):
    from restasmr_jax.features import cache as feature_cache

    ingested = fake_ingested([1], TINY, videos=("vid7",))
    build = functools.partial(
        load_or_build_tensor,
        tiny_archive_dir,
        ingested,
        feature_cfg=TINY_FEATURES,
        protocol=TINY,
        cache_dir=tmp_path / "cache",
        progress=False,
        num_threads=1,
    )
    first = build()
    assert decode_calls == ["nature3.avi"]
    edited = tmp_path / "audio.py"
    edited.write_bytes(feature_cache.FEATURE_SOURCES[0].read_bytes() + b"# a changed feature\n")
    monkeypatch.setattr(feature_cache, "FEATURE_SOURCES", (edited, *feature_cache.FEATURE_SOURCES[1:]))
    again = build()
    assert decode_calls == ["nature3.avi", "nature3.avi"]
    assert again.provenance["tensor_key"] != first.provenance["tensor_key"]


def test_features_match_direct_extraction(tmp_path, tiny_archive_dir):
    """The tensor's audio block equals the audio features of the stimulus decoded directly."""
    from restasmr_jax.features.audio import audio_features

    ingested = fake_ingested([1], TINY, videos=("vid7",))
    tensor = load_or_build_tensor(
        tiny_archive_dir,
        ingested,
        feature_cfg=TINY_FEATURES,
        protocol=TINY,
        cache_dir=tmp_path / "cache",
        progress=False,
        num_threads=1,
    )
    samples, rate = stimuli.read_audio(tiny_archive_dir.root / "stim" / "nature3.avi")
    segment = samples[1 * rate : 1 * rate + 20 * (rate // 10)]
    expected = audio_features(segment, rate, n_frames=20)
    np.testing.assert_allclose(tensor.av[VIDEO_CODES.index("vid7"), :, 512:], expected, rtol=1e-6, atol=1e-6)


def test_timeline_video_without_stimulus_file(tmp_path, tiny_archive_dir):
    (tiny_archive_dir.root / "stim" / "nature4.avi").unlink()
    (tiny_archive_dir.root / "stim" / "ASMR1.avi").unlink()
    with pytest.raises(StimulusError, match=r"no stimulus file: vid1 -> .*ASMR1.avi, vid8 -> .*nature4.avi"):
        load_or_build_tensor(
            tiny_archive_dir,
            fake_ingested([1], TINY),
            feature_cfg=TINY_FEATURES,
            protocol=TINY,
            cache_dir=tmp_path / "cache",
            progress=False,
        )


def test_corrupt_stimulus_fails_before_extraction(tmp_path, tiny_archive_dir, decode_calls):
    (tiny_archive_dir.root / "stim" / "ASMR3.avi").write_bytes(b"RIFF" + bytes(5000))
    with pytest.raises(StimulusError, match="ASMR3.avi"):
        load_or_build_tensor(
            tiny_archive_dir,
            fake_ingested([1], TINY),
            feature_cfg=TINY_FEATURES,
            protocol=TINY,
            cache_dir=tmp_path / "cache",
            progress=False,
        )
    assert decode_calls == []


# ---- the real contracts: synthetic archive -> ingest -> tensor --------------------------------


@pytest.mark.slow
def test_synthetic_archive_end_to_end(tiny_archive, tiny_ingested, tmp_path):
    full = tiny_ingested
    keep = pl.col("video").is_in(["vid2", "vid6"])  # two full-size stimuli keep the test short
    ingested = dataclasses.replace(
        full, labels=full.labels.filter(keep), timeline=full.timeline.filter(keep), ppg10hz=full.ppg10hz.filter(keep)
    )
    tensor = load_or_build_tensor(
        tiny_archive,
        ingested,
        feature_cfg=FeatureConfig(resize=32, crop=32),
        cache_dir=tmp_path / "cache",
        progress=False,
        num_threads=1,
    )
    subjects = sorted(set(ingested.timeline["subject"].to_list()))
    assert len(subjects) == 4 and tensor.X().shape == (2 * len(subjects), 550, 544)
    assert tensor.subject.tolist() == [s for s in subjects for _ in range(2)]
    assert tensor.video.tolist() == ["vid2", "vid6"] * len(subjects)
    assert tensor.provenance["data_source"] == "synthetic" and tensor.provenance["weights"]["spec"] == "random:0"
    for row in ingested.timeline.iter_rows(named=True):
        i = tensor.subject.tolist().index(row["subject"]) + ["vid2", "vid6"].index(row["video"])
        n = 507 if row["trial_index"] == 0 else 550
        assert tensor.trial_index[i] == row["trial_index"] and tensor.n_valid[i] == n
        trial = ingested.labels.filter((pl.col("subject") == row["subject"]) & (pl.col("video") == row["video"]))
        np.testing.assert_array_equal(tensor.intensity[i, :n], trial.sort("t")["intensity"].to_numpy())
        ppg = ingested.ppg10hz.filter((pl.col("subject") == row["subject"]) & (pl.col("video") == row["video"]))
        np.testing.assert_allclose(tensor.ppg[i, :n], ppg.sort("t")["ppg"].to_numpy(), rtol=1e-6, atol=1e-6)
    used = [VIDEO_CODES.index("vid2"), VIDEO_CODES.index("vid6")]
    assert np.isfinite(tensor.av).all() and (tensor.av[used, :, :512].std(axis=1).max(axis=1) > 0).all()


CACHED_RUN = """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from restasmr_jax.io.archive import Archive
from restasmr_jax.tensor.cache import load_or_build_tensor
from tests.tensor.fakes import TINY, TINY_FEATURES, fake_ingested
archive = Archive(root=Path({archive!r}), source="synthetic")
ingested = fake_ingested([1, 3], TINY, videos={videos!r})
tensor = load_or_build_tensor(archive, ingested, feature_cfg=TINY_FEATURES, protocol=TINY, cache_dir=Path({cache!r}),
                              progress=False)
assert tensor.provenance["tensor_key"] == {key!r}
print(sorted(name for name in sys.modules if name.split(".")[0] in ("torch", "torchvision")))
"""


def test_a_cache_hit_never_imports_torch(tmp_path, tiny_archive_dir):
    import subprocess
    import sys

    cache = tmp_path / "cache"
    built = load_or_build_tensor(
        tiny_archive_dir,
        fake_ingested([1, 3], TINY, videos=E2E_VIDEOS),
        feature_cfg=TINY_FEATURES,
        protocol=TINY,
        cache_dir=cache,
        progress=False,
        num_threads=1,
    )
    script = CACHED_RUN.format(
        root=str(Path(__file__).parents[2]),
        archive=str(tiny_archive_dir.root),
        videos=E2E_VIDEOS,
        cache=str(cache),
        key=built.provenance["tensor_key"],
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
