"""Audio features: librosa called directly on the same decoded samples, checked column by column (SPEC §4)."""

from fractions import Fraction

import librosa
import numpy as np
import pytest

from restasmr_jax.features.audio import AUDIO_COLUMNS, audio_features
from restasmr_jax.io.stimuli import StimulusWindow, read_audio, window_audio
from tests.avi_clips import stereo_audio, write_clip

WINDOW = StimulusWindow(Fraction(5), 19, 10)


def reference_by_name(y: np.ndarray, sr: int, hop: int) -> dict[str, np.ndarray]:
    """Each named column straight from librosa (its defaults), per frame."""
    ref = {
        f"mfcc_{i + 1:02d}": row for i, row in enumerate(librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, hop_length=hop))
    }
    ref["rms"] = librosa.feature.rms(y=y, hop_length=hop)[0]
    ref["log1p_spectral_centroid"] = np.log1p(librosa.feature.spectral_centroid(y=y, sr=sr, hop_length=hop)[0])
    ref["log1p_spectral_bandwidth"] = np.log1p(librosa.feature.spectral_bandwidth(y=y, sr=sr, hop_length=hop)[0])
    ref["zero_crossing_rate"] = librosa.feature.zero_crossing_rate(y, hop_length=hop)[0]
    for i, row in enumerate(librosa.feature.spectral_contrast(y=y, sr=sr, hop_length=hop)):
        ref[f"spectral_contrast_{i}"] = row
    return ref


def test_column_names_and_fused_positions():
    assert len(AUDIO_COLUMNS) == 31 and len(set(AUDIO_COLUMNS)) == 31
    assert AUDIO_COLUMNS[:20] == tuple(f"mfcc_{i:02d}" for i in range(1, 21))
    assert AUDIO_COLUMNS[20:24] == ("rms", "log1p_spectral_centroid", "log1p_spectral_bandwidth", "zero_crossing_rate")
    assert AUDIO_COLUMNS[24:] == tuple(f"spectral_contrast_{i}" for i in range(7))
    # SPEC §4: log1p on columns 533 and 534 of the fused [video 512 | audio 31 | ppg 1] vector
    assert 512 + AUDIO_COLUMNS.index("log1p_spectral_centroid") == 533
    assert 512 + AUDIO_COLUMNS.index("log1p_spectral_bandwidth") == 534


@pytest.mark.parametrize("rate", [16_000, 22_050])
def test_features_equal_librosa_on_decoded_samples(tmp_path, rate):
    path = write_clip(tmp_path / "clip.avi", seconds=7, audio_rate=rate, audio=stereo_audio(7, rate, seed=rate))
    samples, sr = read_audio(path)
    hop = sr // 10
    start = 5 * sr
    y = samples[start : start + 19 * hop]  # the window, sliced by hand
    feats = audio_features(window_audio(samples, sr, WINDOW), sr, n_frames=19)
    assert feats.shape == (19, 31) and feats.dtype == np.float32
    reference = reference_by_name(y, sr, hop)
    assert set(reference) == set(AUDIO_COLUMNS)
    for name, values in reference.items():
        np.testing.assert_allclose(feats[:, AUDIO_COLUMNS.index(name)], values[:19], rtol=1e-5, atol=1e-5, err_msg=name)


def test_frame_k_is_centred_on_window_time_k():
    """A click at window time 0.8 s puts the RMS peak on step 8 (frames centred on k/10 s)."""
    sr, hop = 16_000, 1_600
    y = np.zeros(30 * hop, np.float32)
    y[8 * hop - 40 : 8 * hop + 40] = 1.0
    rms = audio_features(y, sr, n_frames=30)[:, AUDIO_COLUMNS.index("rms")]
    assert int(np.argmax(rms)) == 8
    # the click (80 samples) is inside the 2048-sample frames centred at steps 8 only (hop 1600 > 2048/2 + 40)
    assert np.count_nonzero(rms > 1e-6) == 1


def test_exactly_n_frames_from_a_centred_window():
    sr = 16_000
    y = np.random.default_rng(0).standard_normal(20 * 1_600).astype(np.float32)
    assert audio_features(y, sr, n_frames=20).shape == (20, 31)  # librosa gives 21; the first 20 are kept
    with pytest.raises(ValueError, match="need 22"):
        audio_features(y, sr, n_frames=22)


def test_rejects_non_integral_hop():
    with pytest.raises(ValueError, match="hop = sr/10 must be integral"):
        audio_features(np.zeros(44_101, np.float32), 44_101, n_frames=5)
