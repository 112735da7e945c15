"""PyAV stimulus decoding: exact 10-Hz frame mapping, mono audio, and clear errors (SPEC §1.3, §4)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from restasmr_jax.io.stimuli import (
    StimulusError,
    StimulusWindow,
    frame_indices,
    probe_stimulus,
    read_audio,
    read_window_frames,
    stimulus_paths,
    window_audio,
)
from tests.avi_clips import frame_index_of, stereo_audio, write_clip

NTSC = Fraction(30000, 1001)
# A 7-s clip: window from 5.0 s (as the paper), 19 steps up to 6.8 s.
SHORT_WINDOW = StimulusWindow(Fraction(5), 19, 10)


def integer_index(start_tenths: int, k: int, fps: Fraction) -> int:
    """Frame on screen at (start_tenths + k)/10 s, by integer floor division (independent of Fraction)."""
    return ((start_tenths + k) * fps.numerator) // (10 * fps.denominator)


def test_window_from_protocol_is_the_paper_window():
    window = StimulusWindow.from_protocol()
    assert (window.start, window.n_frames, window.rate_hz) == (5, 550, 10)
    times = window.times()
    assert times[0] == 5 and times[-1] == Fraction(599, 10) and window.end == 60


@pytest.mark.parametrize("fps", [Fraction(25), NTSC, Fraction(30)])
def test_frame_indices_match_integer_arithmetic(fps):
    window = StimulusWindow.from_protocol()
    expected = [integer_index(50, k, fps) for k in range(550)]
    assert frame_indices(window, fps).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(num=st.integers(1, 120_000), den=st.integers(1, 2_000), start=st.integers(0, 100), n=st.integers(1, 60))
def test_frame_indices_property(num, den, start, n):
    fps = Fraction(num, den)
    window = StimulusWindow(Fraction(start, 10), n, 10)
    idx = frame_indices(window, fps)
    assert idx.tolist() == [integer_index(start, k, fps) for k in range(n)]
    # the chosen frame is on screen at t_k: it starts at or before t_k and the next one starts after t_k
    for k, j in enumerate(idx.tolist()):
        t = Fraction(start + k, 10)
        assert Fraction(j) / fps <= t < Fraction(j + 1) / fps


@pytest.mark.parametrize("fps", [Fraction(25), NTSC, Fraction(30)])
def test_decoded_frames_are_the_frames_on_screen(tmp_path, fps):
    path = write_clip(tmp_path / "clip.avi", seconds=7, fps=fps)
    frames = read_window_frames(path, SHORT_WINDOW)
    assert frames.shape == (19, 48, 64, 3) and frames.dtype == np.uint8
    decoded = [frame_index_of(f) for f in frames]
    assert decoded == [integer_index(50, k, fps) for k in range(19)]


def test_ntsc_mapping_differs_from_seek_then_count(tmp_path):
    """At 29.97 fps, 5.0 s falls inside frame 149: the seek-then-count rule would lag by one frame."""
    path = write_clip(tmp_path / "clip.avi", seconds=7, fps=NTSC)
    decoded = [frame_index_of(f) for f in read_window_frames(path, SHORT_WINDOW)]
    seek_then_count = [(5 * NTSC).__floor__() + (Fraction(k, 10) * NTSC).__floor__() for k in range(19)]
    assert decoded != seek_then_count
    assert all(0 <= d - s <= 1 for d, s in zip(decoded, seek_then_count))


def test_lossy_codec_keeps_the_mapping(tmp_path):
    path = write_clip(tmp_path / "clip.avi", seconds=7, fps=NTSC, codec="mpeg4")
    decoded = [frame_index_of(f) for f in read_window_frames(path, SHORT_WINDOW)]
    assert decoded == [integer_index(50, k, NTSC) for k in range(19)]


def test_low_frame_rate_holds_frames(tmp_path):
    path = write_clip(tmp_path / "clip.avi", seconds=7, fps=8)
    decoded = [frame_index_of(f) for f in read_window_frames(path, SHORT_WINDOW)]
    assert decoded == [integer_index(50, k, Fraction(8)) for k in range(19)]


def test_dropped_frames_follow_the_timestamps(tmp_path):
    """An AVI that lost frames: the step at a lost frame's time shows the previous frame, and no drift follows."""
    dropped = frozenset(j for j in range(210) if j % 7 == 3)
    path = write_clip(tmp_path / "clip.avi", seconds=7, fps=30, dropped=dropped)
    decoded = [frame_index_of(f) for f in read_window_frames(path, SHORT_WINDOW)]
    expected = []
    for k in range(19):
        j = integer_index(50, k, Fraction(30))
        while j in dropped:
            j -= 1
        expected.append(j)
    assert decoded == expected and decoded[0] == 149  # 5.0 s is frame 150, which was lost


def test_audio_is_channel_mean_at_native_rate(tmp_path):
    audio = stereo_audio(7, 22_050, seed=3)
    path = write_clip(tmp_path / "clip.avi", seconds=7, audio_rate=22_050, audio=audio)
    samples, rate = read_audio(path)
    assert rate == 22_050 and samples.dtype == np.float32 and samples.ndim == 1
    expected = audio.astype(np.float64).mean(axis=0) / 32768
    assert samples.shape == expected.shape
    np.testing.assert_allclose(samples, expected, atol=1e-6)


def test_window_audio_slices_from_the_window_start():
    rate = 16_000
    samples = np.arange(7 * rate, dtype=np.float32)
    segment = window_audio(samples, rate, SHORT_WINDOW)
    assert segment.shape == (19 * 1600,)
    assert segment[0] == 5 * rate and segment[-1] == 5 * rate + 19 * 1600 - 1


def test_window_audio_rejects_non_integral_hop():
    with pytest.raises(StimulusError, match="not a multiple of 10 Hz"):
        window_audio(np.zeros(10 * 22_051, np.float32), 22_051, SHORT_WINDOW, path="x.avi")


def test_probe_reports_streams(tmp_path):
    path = write_clip(tmp_path / "clip.avi", seconds=2, fps=NTSC, audio_rate=16_000)
    info = probe_stimulus(path)
    assert info.fps == NTSC and (info.width, info.height) == (64, 48) and info.audio_rate == 16_000


# ---- bad input: every error names the file -------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "ASMR1.avi"
    for read in (lambda: read_window_frames(path, SHORT_WINDOW), lambda: read_audio(path)):
        with pytest.raises(StimulusError, match="ASMR1.avi: stimulus file not found"):
            read()


def test_garbage_file(tmp_path):
    path = tmp_path / "ASMR2.avi"
    path.write_bytes(np.random.default_rng(0).bytes(20_000))
    with pytest.raises(StimulusError, match="ASMR2.avi"):
        read_window_frames(path, SHORT_WINDOW)


def test_truncated_file(tmp_path):
    path = write_clip(tmp_path / "nature1.avi", seconds=7, fps=30)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StimulusError, match="nature1.avi") as err:
        read_window_frames(path, SHORT_WINDOW)
    assert "too short" in str(err.value) or "corrupt" in str(err.value)


def test_no_audio_stream(tmp_path):
    path = write_clip(tmp_path / "ASMR3.avi", seconds=7, with_audio=False)
    for read in (lambda: read_audio(path), lambda: probe_stimulus(path)):
        with pytest.raises(StimulusError, match="ASMR3.avi: has no audio stream"):
            read()


def test_too_short_video(tmp_path):
    path = write_clip(tmp_path / "ASMR4.avi", seconds=6.5, fps=NTSC)
    ends = f"{float(194 / NTSC):.3f}".replace(".", r"\.")  # int(6.5 * 29.97) = 194 frames
    with pytest.raises(StimulusError, match=rf"ASMR4.avi: video ends at {ends} s \(194 frames.*stimulus too short"):
        read_window_frames(path, SHORT_WINDOW)


def test_too_short_audio(tmp_path):
    path = write_clip(tmp_path / "ASMR4.avi", seconds=6.5)
    samples, rate = read_audio(path)
    with pytest.raises(StimulusError, match="ASMR4.avi: audio lasts 6.500 s .*too short"):
        window_audio(samples, rate, SHORT_WINDOW, path=path)


def test_audio_reaching_the_last_frame_centre_is_enough(tmp_path):
    rate = 16_000
    needed = 5 * rate + 18 * 1600 + 1  # centre of step 18 at 6.8 s
    assert window_audio(np.zeros(needed, np.float32), rate, SHORT_WINDOW).shape == (needed - 5 * rate,)
    with pytest.raises(StimulusError):
        window_audio(np.zeros(needed - 1, np.float32), rate, SHORT_WINDOW)


def test_timeline_video_without_stimulus_file(tmp_path):
    write_clip(tmp_path / "ASMR1.avi", seconds=1)
    assert stimulus_paths(tmp_path, ["vid1"]) == {"vid1": tmp_path / "ASMR1.avi"}
    with pytest.raises(StimulusError, match=r"vid6 -> .*nature2.avi"):
        stimulus_paths(tmp_path, ["vid1", "vid6"])
    with pytest.raises(StimulusError, match="unknown video code"):
        stimulus_paths(tmp_path, ["vid9"])
