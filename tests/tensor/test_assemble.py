"""Assembling the trial tensor from tables and features: layout, padding, labels, errors (SPEC §5)."""

import numpy as np
import polars as pl
import pytest

from restasmr_jax.config import VIDEO_CODES, condition_of
from restasmr_jax.tensor.assemble import AssembleError, build_tensor
from tests.tensor.fakes import PAPER, fake_features, fake_ingested

# ---- build_tensor with the paper's protocol ------------------------------------------------------


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


def test_summary_counts(paper_case):
    summary = paper_case[2].summary()
    assert summary["X"] == [24, 550, 544] and summary["padding_frames"] == 3 * 43
    assert summary["class_balance"]["Nature"]["tingle_frames"] == 0
    asmr = paper_case[2].condition == "ASMR"
    assert summary["class_balance"]["ASMR"]["tingle_frames"] == int((paper_case[2].intensity[asmr] > 0).sum())
