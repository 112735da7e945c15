"""The safe loader of the authors' predictions pickle, its schema check and the writer (SPEC §11)."""

import os
import pickle

import numpy as np
import pytest

from restasmr_jax.evidence import artifact as paper_artifact
from restasmr_jax.evidence.artifact import ArtifactError, ArtifactNotFoundError
from restasmr_jax.evidence.predictions import Predictions

ARTIFACT = paper_artifact.default_artifact_path()
needs_artifact = pytest.mark.skipif(
    not ARTIFACT.is_file(), reason=f"authors' artifact not at {ARTIFACT} (CI puts it in ../shared/artifacts/)"
)


def _record(subject=1, video="vid1", n=550, **overrides):
    record = {
        "subj": subject,
        "vid_name": video,
        "truths": np.zeros(n, np.int64),
        "preds": np.ones(n, np.int64),
        "probs": np.full(n, 0.7, np.float32),
        "raw_truths": np.zeros(n, np.float32),
        "is_nature": int(int(video[3:]) > 4),
    }
    record.update(overrides)
    return record


def _write(path, obj):
    path.write_bytes(pickle.dumps(obj))
    return path


class _RunsACommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_malicious_pickle_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = _write(tmp_path / "evil.pkl", [_record(), _RunsACommand(f"touch {marker}")])
    with pytest.raises(ArtifactError, match=r"refusing to load global (posix|os|nt)\.system"):
        paper_artifact.load_predictions(path)
    assert not marker.exists()


def test_other_globals_are_refused(tmp_path):
    path = _write(tmp_path / "class.pkl", [_record(), ArtifactError])  # a class is a global too
    with pytest.raises(ArtifactError, match="refusing to load global"):
        paper_artifact.load_predictions(path)


@pytest.mark.parametrize(
    "records, message",
    [
        ({"not": "a list"}, "expected a list of per-trial dicts"),
        ([_record(truths=np.zeros(549, np.int64))], r"'truths' must be a \(550,\) numpy array"),
        ([{k: v for k, v in _record().items() if k != "probs"}], r"lacks keys \['probs'\]"),
        ([_record(video="vid9")], "vid_name must be one of"),
        ([_record(is_nature=1)], "contradicts vid1"),
        ([_record(), _record()], "appears twice"),
        ([_record(truths=np.full(550, 2, np.int64))], "'truths' must hold only 0 and 1"),
        ([_record(probs=np.full(550, 1.5, np.float32))], r"'probs' must lie in \[0, 1\]"),
        ([_record(subj="1")], "'subj' must be an integer"),
    ],
)
def test_wrong_schema_is_refused_with_a_clear_message(tmp_path, records, message):
    path = _write(tmp_path / "wrong.pkl", records)
    with pytest.raises(ArtifactError, match=message):
        paper_artifact.load_predictions(path)


def test_artifact_must_have_68_trials(tmp_path):
    path = _write(tmp_path / "short.pkl", [_record(subject=s) for s in (1, 3, 4)])
    with pytest.raises(ArtifactError, match="expected 68 trials, found 3"):
        paper_artifact.load_artifact(path)


def test_missing_file_says_where_to_get_it(tmp_path):
    with pytest.raises(ArtifactNotFoundError) as info:
        paper_artifact.load_artifact(tmp_path / "nowhere.pkl")
    message = str(info.value)
    assert "Tushardas2663/REST-ASMR-Pipeline" in message and "data/paper_fusion_results_4_fold.pkl" in message
    assert "--artifact PATH" in message and "nowhere.pkl" in message


def test_written_predictions_read_back_identically(tmp_path):
    rng = np.random.default_rng(0)
    n, t = 4, 550
    truths = rng.integers(0, 2, (n, t)).astype(np.int32)
    pred = Predictions(
        truths=truths,
        preds=rng.integers(0, 2, (n, t)).astype(np.int32),
        probs=rng.random((n, t)).astype(np.float32),
        raw_truths=truths * 2,
        mask=np.arange(t)[None, :] < np.array([[507], [550], [550], [550]]),
        is_nature=np.array([False, True, False, True]),
        subject=np.array([1, 1, 3, 3], np.int32),
        video=np.array(["vid2", "vid6", "vid2", "vid6"]),
        fold=np.array([1, 1, 1, 1], np.int32),
    )
    path = paper_artifact.write_predictions(tmp_path / "run.pkl", pred)
    back = paper_artifact.load_predictions(path)
    for field in Predictions.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(back, field), getattr(pred, field), err_msg=field)
        assert getattr(back, field).dtype == getattr(pred, field).dtype, field
    assert path.read_bytes() == paper_artifact.write_predictions(tmp_path / "again.pkl", pred).read_bytes()
    # The same records pickled by numpy's protocol-5 path (_frombuffer) load too.
    records = paper_artifact.predictions_to_records(pred)
    (tmp_path / "p5.pkl").write_bytes(pickle.dumps(records, protocol=5))
    np.testing.assert_array_equal(paper_artifact.load_predictions(tmp_path / "p5.pkl").probs, pred.probs)


@needs_artifact
def test_published_artifact_loads_with_folds_from_videos():
    pred = paper_artifact.load_artifact(ARTIFACT)
    assert pred.n_trials == 68 and pred.truths.shape == (68, 550) and pred.mask.all()
    videos_of_fold = {f: sorted(set(pred.video[pred.fold == f])) for f in range(4)}
    assert videos_of_fold == {0: ["vid1", "vid5"], 1: ["vid2", "vid6"], 2: ["vid3", "vid7"], 3: ["vid4", "vid8"]}
    # SPEC §6: the published test participants of each fold.
    assert sorted(set(pred.subject[pred.fold == 0])) == [1, *range(10, 17)]
    assert sorted(set(pred.subject[pred.fold == 3])) == [*range(4, 10), *range(32, 36)]
    assert (pred.is_nature == np.isin(pred.video, ["vid5", "vid6", "vid7", "vid8"])).all()
