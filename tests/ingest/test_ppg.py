"""PPG epoch: exact sample indices, Fourier resampling, z-scoring, short recordings (SPEC §3)."""

import numpy as np
import pytest
import scipy.signal

from restasmr_jax.ingest.ppg import PPGError, epoch_ppg, sample_window, zscore


@pytest.mark.parametrize(
    "interval_ms, onset, end, window",
    [
        # 0.5 ms = 5 ticks: epoch [693000, 1200000) ticks -> samples [138600, 240000), 50.7 s * 2000
        (0.5, 643_000, 1_200_000, (138_600, 240_000)),
        # start 693003 is after sample 138600 (tick 693000): first is 138601 (tick 693005);
        # end 1200003: sample 240000 (tick 1200000) is still inside -> stop 240001
        (0.5, 643_003, 1_200_003, (138_601, 240_001)),
        # 1 ms = 10 ticks: ceil(693003 / 10) = 69301, ceil(1200000 / 10) = 120000
        (1.0, 643_003, 1_200_000, (69_301, 120_000)),
        # 0.25 ms = 2.5 ticks: sample 277200 sits at 693000 < 693001, sample 277201 at 693002.5
        (0.25, 643_001, 1_200_001, (277_201, 480_001)),
    ],
)
def test_sample_window_hand_computed(interval_ms, onset, end, window):
    assert sample_window(interval_ms, onset, end) == window


def test_epoch_equals_scipy_resample_and_manual_zscore():
    rng = np.random.default_rng(3)
    ch2 = np.cumsum(rng.normal(size=300_000)).astype(np.float32)
    onset, end = 643_000, 1_243_000  # trial of 60 s -> epoch 55 s -> samples [138600, 248600)
    got = epoch_ppg(ch2, 0.5, onset, end, 550)
    segment = ch2[138_600:248_600].astype(np.float64)
    resampled = scipy.signal.resample(segment, 550)
    expected = (resampled - resampled.mean()) / resampled.std()
    assert got.shape == (550,) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert abs(got.mean()) < 1e-12 and got.std() == pytest.approx(1.0)


def test_constant_clip_becomes_zeros():
    np.testing.assert_array_equal(epoch_ppg(np.full(300_000, 0.7), 0.5, 0, 557_000, 507), np.zeros(507))
    np.testing.assert_array_equal(zscore(np.full(5, 2.0)), np.zeros(5))


def test_recording_ending_early_is_an_error_naming_the_trial():
    ch2 = np.ones(240_000 - 1)  # one sample short of trial 0's window (stop = 240000)
    with pytest.raises(PPGError, match=r"subject 007 vid3.*\[138600, 240000\).*239999 samples"):
        epoch_ppg(ch2, 0.5, 643_000, 1_200_000, 507, context="subject 007 vid3")
    assert epoch_ppg(np.arange(240_000.0), 0.5, 643_000, 1_200_000, 507).shape == (507,)


def test_non_positive_interval_is_refused():
    with pytest.raises(PPGError, match="positive"):
        sample_window(0.0, 0, 10)
