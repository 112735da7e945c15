"""The trial tensor: layout, padding, labels, caching and the long Parquet export (SPEC §5)."""

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from avi_clips import write_clip

from restasmr_jax.config import STIMULUS_FILES, VIDEO_CODES, FeatureConfig, ProtocolConfig, condition_of
from restasmr_jax.features.audio import AUDIO_COLUMNS
from restasmr_jax.io import stimuli
from restasmr_jax.io.archive import Archive
from restasmr_jax.io.stimuli import StimulusError
from restasmr_jax.tensor import assemble
from restasmr_jax.tensor.assemble import AssembleError, build_tensor, export_long_parquet, load_or_build_tensor

PAPER = ProtocolConfig()
# 3.0-s trials after a 1.0-s warm-up: trial 0 has 17 valid steps, the others 20 (the paper's 507/550 in small)
TINY = ProtocolConfig(first_trial_seconds=2.7, trial_seconds=3.0, warmup_seconds=1.0)
TINY_FEATURES = FeatureConfig(resize=40, crop=32)


@dataclass
class FakeIngested:
    """The `Ingested` contract's three tables, built by hand; `truth` keeps the values per (subject, video)."""

    labels: pl.DataFrame
    timeline: pl.DataFrame
    ppg10hz: pl.DataFrame
    report: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)


def fake_ingested(subjects, protocol=PAPER, seed=0, videos=VIDEO_CODES) -> FakeIngested:
    rng = np.random.default_rng(seed)
    labels, timeline, ppg, truth = [], [], [], {}
    for subject in subjects:
        order = [videos[i] for i in rng.permutation(len(videos))]
        for trial_index, video in enumerate(order):
            n = protocol.n_frames_for(trial_index)
            intensity = rng.integers(0, 4, n).astype(np.int8)
            signal = rng.standard_normal(n)
            truth[subject, video] = {"trial_index": trial_index, "intensity": intensity, "ppg": signal}
            common = {"subject": subject, "video": video, "trial_index": trial_index}
            t = [k / protocol.label_rate_hz for k in range(n)]
            labels.append(
                pl.DataFrame(
                    {
                        **{k: [v] * n for k, v in common.items()},
                        "stimulus": [STIMULUS_FILES[video]] * n,
                        "condition": [condition_of(video)] * n,
                        "t": t,
                        "intensity": intensity,
                    }
                )
            )
            ppg.append(pl.DataFrame({**{k: [v] * n for k, v in common.items()}, "t": t, "ppg": signal}))
            onset = 100_000 + 700_000 * trial_index
            timeline.append(
                {
                    **common,
                    "condition": condition_of(video),
                    "stimulus": STIMULUS_FILES[video],
                    "onset_ticks": onset,
                    "end_ticks": onset + 600_000,
                    "onset_s": onset / 1e4,
                    "end_s": onset / 1e4 + 60,
                }
            )
    cast = {"subject": pl.Int32, "trial_index": pl.Int32}
    return FakeIngested(
        labels=pl.concat(labels).with_columns(
            pl.col("intensity").cast(pl.Int8), *(pl.col(c).cast(d) for c, d in cast.items())
        ),
        timeline=pl.DataFrame(timeline).with_columns(*(pl.col(c).cast(d) for c, d in cast.items())),
        ppg10hz=pl.concat(ppg).with_columns(*(pl.col(c).cast(d) for c, d in cast.items())),
        truth=truth,
    )


def fake_features(protocol=PAPER, seed=1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {v: rng.standard_normal((protocol.padded_frames, 543)).astype(np.float32) for v in VIDEO_CODES}


# ---- build_tensor with the paper's protocol ------------------------------------------------------


@pytest.fixture(scope="module")
def paper_case():
    ingested = fake_ingested([12, 3, 1])
    features = fake_features()
    return ingested, features, build_tensor(ingested, features, PAPER)


def test_row_order_and_metadata(paper_case):
    ingested, _, tensor = paper_case
    assert tensor.subject.tolist() == [1] * 8 + [3] * 8 + [12] * 8
    assert tensor.video.tolist() == list(VIDEO_CODES) * 3
    assert tensor.condition.tolist() == [condition_of(v) for v in VIDEO_CODES] * 3
    assert tensor.trial_index.tolist() == [
        ingested.truth[s, v]["trial_index"] for s, v in zip(tensor.subject, tensor.video)
    ]
    assert tensor.stim_index.tolist() == list(range(8)) * 3


def test_feature_column_counts(paper_case):
    tensor = paper_case[2]
    shapes = {name: tensor.X(name).shape for name in ("fusion", "video", "audio", "ppg")}
    assert shapes == {"fusion": (24, 550, 544), "video": (24, 550, 512), "audio": (24, 550, 31), "ppg": (24, 550, 1)}
    assert tensor.X().dtype == np.float32


def test_padding_and_mask_for_trial_zero(paper_case):
    ingested, features, tensor = paper_case
    X = tensor.X()
    assert sorted(tensor.n_valid[tensor.trial_index == 0].tolist()) == [507] * 3
    for i, (s, v) in enumerate(zip(tensor.subject, tensor.video)):
        truth = ingested.truth[s, v]
        n = 507 if truth["trial_index"] == 0 else 550
        assert tensor.n_valid[i] == n and tensor.mask[i].sum() == n and tensor.mask[i, :n].all()
        np.testing.assert_array_equal(X[i, :n, :543], features[v][:n])  # trial 0: the first 507 stimulus rows
        np.testing.assert_allclose(X[i, :n, 543], truth["ppg"].astype(np.float32))
        assert not X[i, n:].any() and not tensor.intensity[i, n:].any() and not tensor.y[i, n:].any()
        np.testing.assert_array_equal(tensor.intensity[i, :n], truth["intensity"])
    assert (~tensor.mask).sum() == 3 * 43


def test_binary_labels(paper_case):
    ingested, _, tensor = paper_case
    nature = tensor.is_nature
    assert nature.sum() == 12 and not tensor.y[nature].any()
    assert tensor.intensity[nature].any()  # Nature ratings exist but are never "tingle"
    asmr = ~nature
    np.testing.assert_array_equal(tensor.y[asmr], (tensor.intensity[asmr] > 0).astype(np.int32))
    assert tensor.y.dtype == np.int32 and tensor.intensity.dtype == np.int8 and tensor.mask.dtype == bool


def test_missing_ppg_is_an_error_or_excluded(capsys):
    ingested = fake_ingested([1, 3])
    ingested.ppg10hz = ingested.ppg10hz.filter(~((pl.col("subject") == 3) & pl.col("video").is_in(["vid2", "vid7"])))
    with pytest.raises(AssembleError, match="no 10-Hz PPG for 2 trial.*subject 3 vid2, subject 3 vid7"):
        build_tensor(ingested, fake_features(), PAPER)
    tensor = build_tensor(ingested, fake_features(), PAPER, missing_ppg="exclude")
    assert tensor.n_trials == 14 and ("3", "vid2") not in set(zip(tensor.subject.astype(str), tensor.video))
    assert {(d["subject"], d["video"]) for d in tensor.provenance["excluded_trials"]} == {(3, "vid2"), (3, "vid7")}
    assert "excluding 2 trial(s)" in capsys.readouterr().err


def test_wrong_label_count_is_an_error():
    ingested = fake_ingested([1])
    ingested.labels = ingested.labels.filter(~((pl.col("video") == "vid4") & (pl.col("t") > 54.85)))
    with pytest.raises(AssembleError, match="labels: expected exactly steps .* subject 1 vid4"):
        build_tensor(ingested, fake_features(), PAPER)


def test_stimulus_features_must_cover_the_timeline():
    ingested = fake_ingested([1])
    features = fake_features()
    del features["vid6"]
    with pytest.raises(AssembleError, match=r"vid6 \(nature2.avi\)"):
        build_tensor(ingested, features, PAPER)
    features = fake_features()
    features["vid1"] = features["vid1"][:507]
    with pytest.raises(AssembleError, match=r"vid1: stimulus features have shape \(507, 543\)"):
        build_tensor(ingested, features, PAPER)


def test_long_parquet_export(tmp_path, paper_case):
    ingested, features, tensor = paper_case
    path = export_long_parquet(tensor, tmp_path / "out" / "dataset.parquet")
    frame = pl.read_parquet(path)
    assert frame.height == int(tensor.mask.sum()) == 3 * (507 + 7 * 550)
    assert frame.columns[:10] == [
        "subject",
        "video",
        "stimulus",
        "condition",
        "trial_index",
        "step",
        "t",
        "intensity",
        "label",
        "ppg",
    ]
    assert frame.columns[10:] == list(AUDIO_COLUMNS)
    one = frame.filter((pl.col("subject") == 3) & (pl.col("video") == "vid5")).sort("step")
    truth = ingested.truth[3, "vid5"]
    n = 507 if truth["trial_index"] == 0 else 550
    assert one.height == n and one["stimulus"][0] == "nature1.avi" and one["condition"][0] == "Nature"
    np.testing.assert_allclose(one["t"].to_numpy(), np.arange(n) / 10)
    np.testing.assert_array_equal(one["intensity"].to_numpy(), truth["intensity"])
    assert (one["label"] == 0).all()
    np.testing.assert_allclose(one["ppg"].to_numpy(), truth["ppg"].astype(np.float32))
    np.testing.assert_array_equal(one["rms"].to_numpy(), features["vid5"][:n, 512 + AUDIO_COLUMNS.index("rms")])
    wide = pl.read_parquet(export_long_parquet(tensor, tmp_path / "wide.parquet", include_video=True))
    assert wide.width == 10 + 31 + 512 and wide["video_511"].len() == frame.height


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
    assert len(list((cache / "dataset").glob("tensor-*.npz"))) == 3
    assert len(list((cache / "dataset").glob("tensor-*.json"))) == 3


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


def test_summary_counts(paper_case):
    summary = assemble.summarize(paper_case[2])
    assert summary["X"] == [24, 550, 544] and summary["padding_frames"] == 3 * 43
    assert summary["class_balance"]["Nature"]["tingle_frames"] == 0
    asmr = paper_case[2].condition == "ASMR"
    assert summary["class_balance"]["ASMR"]["tingle_frames"] == int((paper_case[2].intensity[asmr] > 0).sum())


# ---- the real contracts: synthetic archive (A) -> ingest (B) -> tensor --------------------------


@pytest.mark.slow
def test_synthetic_archive_end_to_end(tiny_archive, tmp_path):
    from restasmr_jax.ingest.tables import ingest_archive

    full = ingest_archive(tiny_archive, cache_dir=tmp_path / "ingest", progress=False)
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
