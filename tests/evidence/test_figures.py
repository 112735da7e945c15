"""The figure functions are pure (arrays in, Figure out, nothing global touched) and their files are written."""

import copy

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from restasmr_jax.evidence import figures as plots
from restasmr_jax.evidence.predictions import Predictions


def predictions(subjects=(27, 27, 5, 5), seed=0) -> Predictions:
    rng = np.random.default_rng(seed)
    n, frames = len(subjects), 550
    is_nature = np.array([i % 2 == 1 for i in range(n)])
    raw = np.zeros((n, frames), np.int32)
    raw[0, 100:300] = 2
    raw[1, 50:400] = 1
    raw[2, 200:260] = 1
    truths = np.where(is_nature[:, None], 0, raw > 0).astype(np.int32)
    probs = np.clip(truths * 0.8 + rng.normal(0.1, 0.05, (n, frames)), 0, 1).astype(np.float32)
    probs[2] = rng.uniform(0, 1, frames)  # participant 5 is poorly aligned
    mask = np.ones((n, frames), bool)
    mask[0, 507:] = False
    return Predictions(
        truths,
        (probs > 0.5).astype(np.int32),
        probs,
        raw,
        mask,
        is_nature,
        np.array(subjects, np.int32),
        np.array(["vid3", "vid7", "vid2", "vid6"][:n]),
        np.zeros(n, np.int32),
    )


def figure_calls():
    rng = np.random.default_rng(1)
    onsets = np.array([64.3 + np.r_[0, 55.7, 115.7, 175.7, 355.7, 415.7, 475.7, 535.7]] * 2)
    durations = np.array([[55.7] + [60.0] * 7] * 2)
    videos = np.array(
        [
            ["vid2", "vid1", "vid4", "vid3", "vid6", "vid5", "vid8", "vid7"],
            ["vid7", "vid5", "vid6", "vid8", "vid3", "vid1", "vid2", "vid4"],
        ]
    )
    t = np.arange(550) / 10
    subjects = np.arange(1, 21)
    return {
        "protocol": (plots.protocol_timeline, (onsets, durations, videos, [720.0, 721.0], ["Seq 1", "Seq 2"])),
        "timecourse": (
            plots.rating_timecourse,
            ([t, t], [1 + np.sin(t / 5), t / 30], [0.2 + 0 * t, 0.1 + 0 * t], ["Video 2", "Video 3"], [30, 28]),
        ),
        "pulse_rate": (
            plots.pr_correlation_boxplot,
            (subjects, rng.normal(-0.1, 0.2, 20), subjects[:-3], rng.normal(0.05, 0.2, 17), -2.1, 0.045, 17),
        ),
        "tinglegram": (plots.tinglegram, (predictions(),)),
    }


@pytest.mark.parametrize("name", ["protocol", "timecourse", "pulse_rate", "tinglegram"])
def test_figures_are_pure_and_written(name, tmp_path):
    import matplotlib.pyplot as plt

    function, args = figure_calls()[name]
    before_args = copy.deepcopy(args)
    rc_before = dict(matplotlib.rcParams)
    open_before = plt.get_fignums()
    fig = function(*args)
    assert isinstance(fig, Figure)
    assert plt.get_fignums() == open_before  # never registered with pyplot
    assert dict(matplotlib.rcParams) == rc_before
    for got, want in zip(args, before_args):  # inputs untouched
        if isinstance(want, Predictions):
            for field in Predictions.__dataclass_fields__:
                np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
        else:
            np.testing.assert_array_equal(np.asarray(got, dtype=object), np.asarray(want, dtype=object))
    paths = plots.save_figure(fig, tmp_path / "figures" / name)
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.svg"]
    png, svg = (p.read_bytes() for p in paths)
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    assert b"<svg" in svg and len(svg) > 20_000
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [f"{name}.png", f"{name}.svg"]
    # Same inputs, same bytes: no timestamps, fixed jitter.
    again = plots.save_figure(function(*args), tmp_path / "again" / name)
    assert [p.read_bytes() for p in again] == [png, svg]


def test_tinglegram_participant_choice():
    pred = predictions()
    assert plots.pick_tinglegram_subject(pred, 27) == 27
    assert plots.pick_tinglegram_subject(pred, 5) == 5
    assert plots.pick_tinglegram_subject(pred, 99) == 27  # absent: the best-aligned one
    without_27 = predictions(subjects=(8, 8, 5, 5))
    assert plots.pick_tinglegram_subject(without_27, 27) == 8
    lonely = predictions(subjects=(8, 9, 10, 11))  # nobody has both conditions
    with pytest.raises(ValueError, match="both an ASMR and a Nature"):
        plots.tinglegram(lonely)


def test_tinglegram_draws_the_smoothed_probability_of_valid_frames():
    from scipy.ndimage import gaussian_filter1d

    pred = predictions()
    fig = plots.tinglegram(pred, 27)
    top = fig.axes[0].lines[0]
    np.testing.assert_allclose(top.get_ydata(), gaussian_filter1d(pred.probs[0][:507].astype(float), 2.0))
    assert top.get_xdata()[-1] == pytest.approx(50.6)
