"""Clip families: a clip held out of training still looks like its own family to a simple model (SPEC §4, §12).

For each fold's held-out pair (vid f+1, vid f+5), a standardised logistic
regression trained on the other six clips' frame features (the random:0
ResNet-18 columns and the 31 audio columns, exactly as the tensor holds
them) must put >= 95 % of each held-out clip's frames in the right family.
The features are taken once a second (55 evenly spaced frames of the 55-s
window) instead of ten times: the same frames and the same audio frames as
every tenth row of the model's 10-Hz grid (checked below), at a tenth of
the ResNet cost.
"""

from __future__ import annotations

import numpy as np
import pytest

from restasmr_jax.config import STIMULUS_FILES, VIDEO_CODES, FeatureConfig, SynthConfig, condition_of
from restasmr_jax.features.audio import audio_features
from restasmr_jax.features.cache import load_stimulus_features
from restasmr_jax.io import stimuli
from restasmr_jax.io.stimuli import StimulusWindow

CFG = SynthConfig()  # the default clips, as every run sees them
MODEL_WINDOW = StimulusWindow.from_protocol()
STEP = 10  # one frame in ten of the 10-Hz grid
WINDOW = StimulusWindow(MODEL_WINDOW.start, MODEL_WINDOW.n_frames // STEP, MODEL_WINDOW.rate_hz // STEP)


@pytest.fixture(scope="module")
def clips(default_archive):
    assert default_archive.synth["seed"] == CFG.seed  # the default clips, as every run sees them
    return {video: default_archive.stimulus_file(video) for video in STIMULUS_FILES}


@pytest.fixture(scope="module")
def features(clips, tmp_path_factory):
    feats = load_stimulus_features(
        clips,
        feature_cfg=FeatureConfig(video_weights="random:0"),
        window=WINDOW,
        cache_dir=tmp_path_factory.mktemp("feature-cache"),
        progress=False,
    )
    return {video: f.av for video, f in feats.items()}


def test_the_subsampled_window_takes_every_tenth_frame_of_the_model_grid(clips):
    path = clips["vid3"]
    fps = stimuli.probe_stimulus(path).fps
    np.testing.assert_array_equal(stimuli.frame_indices(WINDOW, fps), stimuli.frame_indices(MODEL_WINDOW, fps)[::STEP])
    samples, rate = stimuli.read_audio(path)
    dense = audio_features(stimuli.window_audio(samples, rate, MODEL_WINDOW, path=path), rate, n_frames=550)
    sparse = audio_features(
        stimuli.window_audio(samples, rate, WINDOW, path=path), rate, n_frames=WINDOW.n_frames, rate_hz=WINDOW.rate_hz
    )
    np.testing.assert_allclose(sparse, dense[::STEP], rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("fold", range(4))
def test_a_held_out_clip_looks_like_its_family(features, fold):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    held_out = (VIDEO_CODES[fold], VIDEO_CODES[fold + 4])
    train = [v for v in VIDEO_CODES if v not in held_out]
    x = np.concatenate([features[v] for v in train])
    y = np.concatenate([np.full(features[v].shape[0], condition_of(v) == "ASMR") for v in train])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(x, y)
    for video in held_out:
        correct = np.mean(model.predict(features[video]) == (condition_of(video) == "ASMR"))
        assert correct >= 0.95, f"fold {fold}: only {correct:.0%} of {video}'s frames classified {condition_of(video)}"
