"""Synthetic stimuli: decodable AVI clips whose sound and motion follow the trigger scripts (SPEC §1.3, §12)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from restasmr_jax.config import STIMULUS_FILES, SynthConfig
from restasmr_jax.synth import stimulus_events, stimulus_script
from restasmr_jax.synth.scripts import MIN_GAP_S

CFG = SynthConfig(seed=7)


def _decode(path):
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        info = {
            "size": (video.codec_context.width, video.codec_context.height),
            "fps": video.average_rate,
            "channels": audio.codec_context.channels,
            "rate": audio.codec_context.sample_rate,
        }
        gray = np.stack([f.to_ndarray(format="gray") for f in container.decode(video=0)]).astype(np.float32)
    with av.open(str(path)) as container:
        sound = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1).astype(np.float32)
    return info, gray, sound


def test_trigger_scripts():
    for video in STIMULUS_FILES:
        times = stimulus_events(CFG, video)
        np.testing.assert_array_equal(times, stimulus_events(CFG, video))  # deterministic
        if video in ("vid1", "vid2", "vid3", "vid4"):
            assert times.shape[0] >= 15 and np.all((times > 0) & (times < CFG.video_seconds))
            assert np.all(np.diff(times) >= MIN_GAP_S - 1e-9)
        else:
            assert times.shape == (0,)
    build_up = stimulus_events(CFG, "vid3")
    assert np.sum(build_up >= 30) > 2 * np.sum(build_up < 30)  # accumulative
    episodic = stimulus_events(CFG, "vid2")
    assert np.sum(np.diff(episodic) > 2.0) >= 3  # quiet gaps between episodes
    assert not np.array_equal(stimulus_events(SynthConfig(seed=8), "vid2"), episodic)


@pytest.mark.parametrize("name", sorted(STIMULUS_FILES.values()))
def test_clip_decodes_with_picture_and_stereo_sound(tiny_archive, name):
    cfg = SynthConfig(seed=tiny_archive.synth["seed"])
    video = next(v for v, n in STIMULUS_FILES.items() if n == name)
    info, gray, sound = _decode(tiny_archive.stim_dir / name)
    assert info["size"] == cfg.video_size and info["fps"] == cfg.video_fps
    assert gray.shape[0] == cfg.video_seconds * cfg.video_fps
    assert info["channels"] == 2 and info["rate"] == cfg.audio_rate_hz and sound.shape[0] == 2
    n_expected = cfg.video_seconds * cfg.audio_rate_hz
    assert n_expected <= sound.shape[1] <= n_expected + 1024  # ADPCM pads the last block only
    assert np.abs(sound).max() > 0.1 * 32767 and np.std(np.diff(gray.mean(axis=(1, 2)))) < 5

    script = stimulus_script(cfg, video)
    if video in ("vid5", "vid6", "vid7", "vid8"):
        assert script.times_s.shape == (0,)
        return
    # Sound: the 50 ms after each event are louder than stretches a second away from any event.
    rate = cfg.audio_rate_hz
    level = np.abs(sound).mean(axis=0)
    onsets = np.rint(script.times_s * rate).astype(np.int64)
    near = np.mean([level[i : i + rate // 20].mean() for i in onsets])
    quiet = np.ones(level.shape[0], bool)
    for start, dur in zip(onsets, np.rint((script.durations_s * 5 + 1.0) * rate).astype(np.int64)):
        quiet[max(0, start - rate) : start + dur] = False
    assert quiet.sum() > rate  # the script leaves silence to compare with
    assert near > 5 * level[quiet].mean()
    # Picture: frames while a movement is on screen differ more from their predecessor than still ones.
    motion = np.abs(np.diff(gray, axis=0)).mean(axis=(1, 2))  # [frame - 1]
    frame_t = np.arange(1, gray.shape[0]) / cfg.video_fps
    moving = np.any(
        (frame_t[:, None] >= script.times_s) & (frame_t[:, None] < script.times_s + script.durations_s + 0.2), axis=1
    )
    assert motion[moving].mean() > 3 * motion[~moving].mean()
