"""PPG integrity (SPEC §10): still runs of the first derivative against known inserted artifacts."""

import numpy as np
import pytest

from restasmr_jax.config import SynthConfig, ValidationConfig
from restasmr_jax.synth.physiology import synth_ppg
from restasmr_jax.synth.subject import simulate_subject
from restasmr_jax.validation import integrity

FS = 2000.0
STEP = 10.0 / 2**15  # a 16-bit converter over +-5 mV
CANDIDATES = [(seed, subject) for seed in (7, 1, 0, 2, 3) for subject in (1, 3, 4, 5)]  # (seed, subject)


def raw_ppg(seconds=20.0, seed=0, step=STEP):
    rng = np.random.default_rng(seed)
    n = round(seconds * FS)
    beats = np.arange(0.5, seconds, 0.85)
    x = 2.5 + 1.5 * synth_ppg(beats, FS, n) + rng.normal(0, 0.003, n)
    return np.rint(x / step) * step


def test_inserted_flatline_disconnect_and_clipping_are_found_exactly():
    x = raw_ppg()
    x[10_000:10_600] = x[9_999]  # frozen: holds the last genuine reading
    x[20_000:20_300] = 0.0  # disconnect: jumps to 0 mV
    rail = 8.0
    ramp = np.linspace(0, 1, 101)[1:-1]
    x[30_000 - 99 : 30_000] += ramp * (rail - x[30_000 - 99 : 30_000])  # drives smoothly into the rail
    x[30_000:30_250] = rail
    loss = integrity.find_signal_loss(x, FS)
    assert loss.runs.tolist() == [[10_000, 10_600], [20_000, 20_300], [30_000, 30_250]]
    assert loss.kinds.tolist() == ["flatline", "disconnect", "clipping"]
    expected = np.zeros(x.size, bool)
    expected[10_000:10_600] = expected[20_000:20_300] = expected[30_000:30_250] = True
    np.testing.assert_array_equal(loss.lost, expected)


def test_a_clean_coarsely_printed_recording_loses_nothing():
    x = raw_ppg(step=0.005)  # coarse print: values repeat for a few samples around every peak
    still = np.abs(np.diff(x)) == 0
    assert still.any()
    loss = integrity.find_signal_loss(x, FS)
    assert not loss.lost.any() and loss.runs.shape == (0, 2)


def test_runs_shorter_than_the_minimum_are_natural_plateaus():
    x = raw_ppg()
    x[5_000 : 5_000 + 60] = x[4_999]  # 30 ms: shorter than 0.05 s
    assert not integrity.find_signal_loss(x, FS).lost.any()
    longer = integrity.find_signal_loss(x, FS, ValidationConfig(integrity_min_run_seconds=0.02))
    assert longer.runs.tolist() == [[5_000, 5_060]]


def test_epoch_counts_and_overall_ratio_of_sums():
    x = raw_ppg()
    x[10_000:10_600] = x[9_999]
    loss = integrity.find_signal_loss(x, FS)
    one = integrity.epoch_integrity(loss, [(0, 10_200), (10_500, 12_000), (39_000, 45_000)], x.size)
    assert one["total_samples"] == 10_200 + 1_500 + 1_000  # the last epoch is clipped to the recording
    assert one["lost_samples"] == 200 + 100 and one["lost_by_kind"]["flatline"] == 300
    assert one["integrity"] == pytest.approx(1 - 300 / 12_700)
    two = integrity.epoch_integrity(integrity.find_signal_loss(raw_ppg(seed=1), FS), [(0, 40_000)], 40_000)
    overall = integrity.summarise({1: one, 3: two})
    assert overall["integrity"] == pytest.approx(1 - 300 / (12_700 + 40_000))
    assert overall["min_participant_integrity"] == pytest.approx(one["integrity"])


def test_detects_exactly_the_artifacts_the_generator_inserted():
    """Simulated participants (the tiny archive's seed first) until every artifact kind was met, each exact."""
    seen = set()
    for seed, subject in CANDIDATES:
        sim = simulate_subject(SynthConfig(seed=seed, n_subjects=4), subject)
        loss = integrity.find_signal_loss(sim.ch1, 1000.0 / sim.interval_ms)
        found = [(int(a), int(b), str(k)) for (a, b), k in zip(loss.runs, loss.kinds)]
        assert found == list(sim.artifacts), (seed, subject)
        assert int(loss.lost.sum()) == sum(b - a for a, b, _ in sim.artifacts)
        seen |= {kind for _, _, kind in sim.artifacts}
        if seen == set(integrity.KINDS):
            return
    pytest.fail(f"the scanned participants only hold artifact kinds {sorted(seen)}; extend CANDIDATES")
