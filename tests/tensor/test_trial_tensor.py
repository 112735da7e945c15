"""The tensor's feature sets, dense view and fingerprint (SPEC §5, §7)."""

from dataclasses import replace

import numpy as np
import pytest

from restasmr_jax.tensor.trial_tensor import FEATURE_SETS, FeatureSetError, feature_width
from tests.fake_tensor import make_tensor


def test_feature_sets_are_the_papers_column_blocks():
    tensor = make_tensor(n_subjects=4, n_time=12)
    dense = tensor.X("fusion")
    assert dense.shape == (tensor.n_trials, 12, 544)
    assert {name: feature_width(name) for name in FEATURE_SETS} == {"fusion": 544, "video": 512, "audio": 31, "ppg": 1}
    expected = {"video": dense[..., :512], "audio": dense[..., 512:543], "ppg": dense[..., 543:]}
    for name, block in expected.items():
        np.testing.assert_array_equal(tensor.X(name), block)
        shared, own = tensor.feature_columns(name)
        assert shared.shape[-1] + own.shape[-1] == feature_width(name)
    # padded frames are zero in every column, valid frames carry the stimulus row and the trial's PPG
    assert not dense[~tensor.mask].any()
    row, step = np.argwhere(tensor.mask)[5]
    np.testing.assert_array_equal(dense[row, step, :543], tensor.av[tensor.stim_index[row], step])
    assert dense[row, step, 543] == tensor.ppg[row, step]
    with pytest.raises(FeatureSetError, match="features must be one of"):
        tensor.X("eeg")


def test_tensor_fingerprint_sees_values_not_string_widths():
    tensor = make_tensor(n_subjects=8, n_time=20, seed=3)
    same = replace(tensor, video=tensor.video.astype("<U8"), condition=tensor.condition.astype(object))
    assert same.fingerprint == tensor.fingerprint
    av = tensor.av.copy()
    av[3, 5, 100] += np.float32(1e-3)
    assert replace(tensor, av=av).fingerprint != tensor.fingerprint
    video = tensor.video.copy()
    video[[0, 1]] = video[[1, 0]]
    assert replace(tensor, video=video).fingerprint != tensor.fingerprint
