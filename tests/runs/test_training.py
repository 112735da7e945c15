"""The keyed model stage (SPEC §7): reuse in the run folder, across runs through the cache, stale folders kept."""

from __future__ import annotations

import json

import numpy as np
import pytest

from restasmr_jax import storage
from restasmr_jax.evidence.artifact import write_predictions
from restasmr_jax.evidence.predictions import Predictions
from restasmr_jax.runs import layout, training
from tests.fake_tensor import make_tensor

PARTS = {"features": "fusion", "model": "fake"}


@pytest.fixture(scope="module")
def tensor():
    return make_tensor(n_subjects=4, n_time=10)


class FakeTraining:
    """Writes one seed of predictions (probabilities = `level`) and counts its calls."""

    def __init__(self, tensor, folder, level=0.25):
        self.tensor, self.folder, self.level, self.calls = tensor, folder, level, []

    def __call__(self, resume):
        self.calls.append(resume)
        rows = np.arange(8)
        probs = np.full((8, self.tensor.mask.shape[1]), self.level, np.float32)
        pred = Predictions.for_trials(self.tensor, rows, np.zeros(8, np.int32), probs, np.zeros_like(probs, np.int32))
        write_predictions(layout.prediction_paths(self.folder, 1)[0], pred)
        return [pred], {"train_seconds": 1.5}


def stage(tensor, folder, fake, *, key="k1", resume=False, cache_dir=None):
    return training.keyed_stage(
        folder,
        name="fake",
        key=key,
        parts=PARTS,
        n_predictions=1,
        tensor=tensor,
        resume=resume,
        cache_dir=cache_dir,
        train=fake,
    )


def test_a_finished_folder_with_the_same_key_is_reused(tensor, tmp_path):
    folder = tmp_path / "run1" / "models" / "fake"
    fake = FakeTraining(tensor, folder)
    first = stage(tensor, folder, fake, cache_dir=tmp_path / "cache")
    record = json.loads((folder / layout.TRAINING_FILE).read_text())
    assert fake.calls == [False] and record["status"] == "finished" and record["key"] == "k1"
    assert record["train_seconds"] == 1.5 and record["folder"] == str(folder.resolve())
    again = stage(tensor, folder, fake, resume=True, cache_dir=tmp_path / "cache")
    assert fake.calls == [False]  # not trained again
    np.testing.assert_array_equal(again.per_seed[0].probs, first.per_seed[0].probs)


def test_another_run_links_the_finished_training_from_the_cache(tensor, tmp_path):
    cache = tmp_path / "cache"
    source = tmp_path / "run1" / "models" / "fake"
    stage(tensor, source, FakeTraining(tensor, source), cache_dir=cache)
    target = tmp_path / "run2" / "models" / "fake"
    fake = FakeTraining(tensor, target, level=0.75)
    reused = stage(tensor, target, fake, cache_dir=cache)
    assert fake.calls == [] and float(reused.per_seed[0].probs.max()) == 0.25  # run 1's predictions
    saved = layout.prediction_paths(target, 1)[0]
    assert saved.read_bytes() == layout.prediction_paths(source, 1)[0].read_bytes()
    assert reused.record["folder"] == str(source.resolve())  # where it was trained
    # another key is another training
    other = tmp_path / "run3" / "models" / "fake"
    fake = FakeTraining(tensor, other)
    stage(tensor, other, fake, key="k2", cache_dir=cache)
    assert fake.calls == [False]


def test_a_cache_entry_whose_folder_changed_is_a_miss(tensor, tmp_path):
    cache = tmp_path / "cache"
    source = tmp_path / "run1" / "models" / "fake"
    stage(tensor, source, FakeTraining(tensor, source), cache_dir=cache)
    path = layout.prediction_paths(source, 1)[0]
    path.write_bytes(path.read_bytes() + b"\0")  # edited after the fact
    target = tmp_path / "run2" / "models" / "fake"
    fake = FakeTraining(tensor, target, level=0.75)
    with pytest.warns(storage.CacheWarning, match="gone or changed; training it again"):
        trained = stage(tensor, target, fake, cache_dir=cache)
    assert fake.calls == [False] and float(trained.per_seed[0].probs.max()) == 0.75


def test_a_folder_trained_with_another_key_is_moved_aside_not_deleted(tensor, tmp_path):
    folder = tmp_path / "run" / "models" / "fake"
    stage(tensor, folder, FakeTraining(tensor, folder), key="old")
    old_bytes = layout.prediction_paths(folder, 1)[0].read_bytes()
    fake = FakeTraining(tensor, folder, level=0.75)
    trained = stage(tensor, folder, fake, key="new", resume=True)
    assert fake.calls == [False] and float(trained.per_seed[0].probs.max()) == 0.75
    (stale,) = [p for p in folder.parent.iterdir() if ".stale-" in p.name]
    assert stale.name == "fake.stale-old" and layout.prediction_paths(stale, 1)[0].read_bytes() == old_bytes


def test_an_interrupted_training_with_the_same_key_continues_on_resume(tensor, tmp_path):
    folder = tmp_path / "run" / "models" / "fake"
    folder.mkdir(parents=True)
    storage.write_json(folder / layout.TRAINING_FILE, {"name": "fake", "key": "k1", "status": "training"})
    (folder / "checkpoints").mkdir()
    fake = FakeTraining(tensor, folder)
    stage(tensor, folder, fake, resume=True)
    assert fake.calls == [True] and (folder / "checkpoints").is_dir()
