"""The replica axis (learning.replicas): inert zero padding, placement and gathering on one device."""

import jax
import numpy as np
import pytest

from restasmr_jax.learning import batches, models, program
from restasmr_jax.learning.replicas import Placement, padded_count, placement, replica_keys
from restasmr_jax.learning.splits import make_splits
from tests.fake_tensor import TINY_TRAIN, make_tensor

CFG = TINY_TRAIN


def test_padded_count_is_the_next_multiple_of_the_devices():
    assert [padded_count(n, 3) for n in (1, 3, 4, 6, 8)] == [3, 3, 6, 6, 9]
    assert padded_count(8, 1) == 8 and padded_count(8, 16) == 16


def test_one_device_places_without_padding_and_checks_the_replica_axis():
    place = placement(4)
    assert place == Placement(4, 4, None) and place.replica is None and place.local_rows == (0, 4)
    assert place.describe()["inert_padding"] == 0
    on_device = place.replicas({"a": np.arange(8.0).reshape(4, 2)})
    np.testing.assert_array_equal(place.gather(on_device)["a"], np.arange(8.0).reshape(4, 2))
    with pytest.raises(ValueError, match="leading replica axis of 4"):
        place.replicas(np.zeros((3, 2)))


def pad(tree, n_padded: int):
    """Zero rows appended to every leaf's replica axis: what `Placement.replicas` feeds a padding replica."""
    return jax.tree.map(lambda x: np.concatenate([x, np.zeros((n_padded - len(x),) + x.shape[1:], x.dtype)]), tree)


def test_zero_padding_replicas_are_inert_and_leave_the_real_ones_unchanged():
    """The program over 4 real + 2 zero replicas: the real ones step exactly as without padding,
    the padding ones never move from their initial state and count no validation frame."""
    tensor = make_tensor(n_subjects=8, n_time=16)
    plan = batches.make_plan(tensor, make_splits(tensor.subject, CFG), CFG)
    shared, own = tensor.feature_columns(CFG.features)
    data = program.DeviceData(shared, own, tensor.y.astype(np.int32), tensor.mask)
    compiled = program.build_program(models.from_config(CFG), CFG.learning_rate, shared.shape[-1], own.shape[-1])
    keys = np.asarray(replica_keys(plan.seed_values, plan.n_folds))
    epoch = batches.epoch_batches(plan, 0, batches.fold_stimuli(plan, plan.train_rows))
    val = batches.eval_batches(plan, plan.val_rows)

    def run(n_padded):
        state = compiled.init(pad(keys, n_padded))
        start = jax.tree.map(lambda x: np.array(x, copy=True), state)  # the steps donate `state`
        for step in range(plan.n_steps):
            batch = pad(jax.tree.map(lambda x, s=step: x[:, s], epoch), n_padded)
            state, _ = compiled.step(state, batch, pad(keys, n_padded), 0, step, data)
        confusion = compiled.confusion(state.params, pad(jax.tree.map(lambda x: x[:, 0], val), n_padded), data)
        return start, jax.device_get(state), np.asarray(confusion)

    _, plain, plain_confusion = run(4)
    start, padded, padded_confusion = run(6)
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(padded)):
        np.testing.assert_array_equal(a, b[:4])
    for a, b in zip(jax.tree.leaves(start), jax.tree.leaves(padded)):
        np.testing.assert_array_equal(a[4:], b[4:])  # Adam's step count included
    np.testing.assert_array_equal(padded_confusion[:4], plain_confusion)
    assert not padded_confusion[4:].any() and plain_confusion.sum() > 0
