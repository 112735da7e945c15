"""The stand-in's latent truth: the tingle probability the generator samples from, truth.parquet beside the archive,
and the oracle scores (SPEC §12)."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest
import scipy.special

from restasmr_jax.config import SUBJECT_IDS, VIDEO_CODES, ProtocolConfig, SynthConfig, condition_of
from restasmr_jax.synth import TRUTH_FILE, oracle_scores, read_truth, simulate_subject, subjects_of, tingles
from restasmr_jax.synth.ratings import draw_rater
from restasmr_jax.synth.scripts import stimulus_script
from restasmr_jax.synth.truth import TruthError, population_truth

PROTOCOL = ProtocolConfig()
CFG = SynthConfig(seed=0)


def _config_of(archive) -> SynthConfig:
    marker = {k: tuple(v) if isinstance(v, list) else v for k, v in archive.synth.items()}
    return SynthConfig(**{f.name: marker[f.name] for f in dataclasses.fields(SynthConfig) if f.name in marker})


def _p_by_hand(traits, clip: int, drive: np.ndarray) -> np.ndarray:
    """The documented model: P(engaged | some clip works) x sigmoid(slope (gain D(t - latency) - threshold))."""
    engage = tingles.CLIP_ENGAGE
    felt = np.concatenate([np.zeros(traits.latency_frames), drive[: drive.shape[0] - traits.latency_frames]])
    p_engaged = scipy.special.expit(traits.slope * (traits.clip_gain[clip] * felt - traits.threshold))
    return engage[clip] / (1 - np.prod(1 - engage)) * p_engaged


@pytest.mark.parametrize("clip", [0, 2, 3])
def test_p_tingle_is_the_probability_the_reported_state_is_drawn_with(clip):
    script = stimulus_script(CFG, VIDEO_CODES[clip])
    n, draws = 600, 2000
    drive = tingles.clip_drive(script, n, PROTOCOL.label_rate_hz)
    # the first participant whose probability really moves with this clip's drive
    subject = next(s for s in SUBJECT_IDS if np.ptp(_p_by_hand(draw_rater(CFG, s).tingle, clip, drive)) > 0.3)
    traits = draw_rater(CFG, subject).tingle
    rng = np.random.default_rng(subject)
    count = np.zeros(n)
    for _ in range(draws):  # fresh engagement and noise each time, the traits fixed
        engaged = tingles.draw_engagement(traits, rng)
        trial = tingles.tingle_trial(traits, clip, script, engaged[clip], n, PROTOCOL.label_rate_hz, rng)
        count += trial.state
    p = trial.p_tingle
    np.testing.assert_allclose(p, _p_by_hand(traits, clip, drive), rtol=1e-12)
    frequency = count / draws
    binomial_sd = np.sqrt(p * (1 - p) / draws)
    assert np.all(np.abs(frequency - p) <= 4.5 * binomial_sd + 2e-3)
    levels = trial.level[trial.state]
    assert np.all((levels >= 1) & (levels <= traits.max_level)) and np.all(trial.level[~trial.state] == 0)


def test_a_non_tingler_never_tingles_and_the_cohort_has_one():
    raters = {s: draw_rater(CFG, s).tingle for s in SUBJECT_IDS}
    (non_tingler,) = [s for s, t in raters.items() if not t.tingler]
    traits = raters[non_tingler]
    np.testing.assert_array_equal(traits.engage_probability(), 0.0)
    assert not tingles.draw_engagement(traits, np.random.default_rng(0)).any()


@pytest.fixture(scope="module")
def sims(tiny_archive):
    cfg = _config_of(tiny_archive)
    return {subject: simulate_subject(cfg, subject) for subject in subjects_of(cfg)}


def test_reported_state_follows_the_sampled_state(sims):
    agree, steady = [], []
    warmup = round(PROTOCOL.warmup_seconds * PROTOCOL.label_rate_hz)
    for sim in sims.values():
        for trial, latent in sim.tingle_truth.items():
            state = latent.state[warmup : warmup + PROTOCOL.n_frames_for(trial)]
            reported = sim.dense_labels(trial) > 0
            agree.append(np.mean(state == reported))
            # two seconds away from any change of the sampled state, keypress timing cannot matter
            change = np.flatnonzero(np.diff(latent.state.astype(np.int8))) + 1 - warmup
            far = np.min(np.abs(np.arange(state.shape[0])[:, None] - change[None, :]), axis=1, initial=10**6) > 20
            steady.append(np.mean(state[far] == reported[far]) if far.any() else 1.0)
    assert len(agree) >= 12 and np.min(agree) > 0.85 and np.mean(agree) > 0.95
    assert np.mean(steady) > 0.99


def test_truth_parquet_sits_beside_the_raw_folders_and_matches_the_logs(tiny_archive, sims):
    from restasmr_jax.ingest.labels import build_timeline, dense_labels
    from restasmr_jax.io.presentation import read_log

    root = tiny_archive.root
    assert (root / TRUTH_FILE).is_file() and not any(
        any(root.joinpath(d).glob("*.parquet")) for d in ("log", "ppg", "stim")
    )
    assert pl.read_parquet_metadata(root / TRUTH_FILE)["data_source"] == "synthetic"
    truth = read_truth(root)
    events = pl.concat([read_log(p).events for p in tiny_archive.log_files()])
    labels = dense_labels(events, build_timeline(events, source="test"))
    joined = labels.join(truth, on=["subject", "trial_index", "video", "t"], how="full", coalesce=True)
    assert joined.height == labels.height == truth.height  # the same grid: 507 / 550 frames per trial
    np.testing.assert_array_equal(joined["intensity"].to_numpy(), joined["reported"].to_numpy())

    cfg = _config_of(tiny_archive)
    population = population_truth(cfg)
    for (subject, video), rows in truth.partition_by(["subject", "video"], as_dict=True).items():
        rows = rows.sort("t")
        frame = np.rint(rows["t"].to_numpy() * 10).astype(np.int64) + 50  # clip frame: 5-s warm-up + t
        if condition_of(video) == "Nature":
            assert rows.select(pl.col("drive", "p_tingle", "p_population", "state").abs().max()).row(0) == (0, 0, 0, 0)
            continue
        drive = tingles.clip_drive(stimulus_script(cfg, video), 600, 10)
        np.testing.assert_allclose(rows["drive"].to_numpy(), drive[frame])
        np.testing.assert_allclose(rows["p_population"].to_numpy(), population[video][frame])
        traits = draw_rater(cfg, subject).tingle
        p = _p_by_hand(traits, VIDEO_CODES.index(video), drive)
        np.testing.assert_allclose(rows["p_tingle"].to_numpy(), p[frame], rtol=1e-12)
        sim = sims[subject]
        trial = sim.video_order.index(video)
        np.testing.assert_array_equal(rows["state"].to_numpy(), sim.tingle_truth[trial].state[frame])


def test_stimulus_only_oracle_is_the_population_mean():
    population = population_truth(CFG)
    rng = np.random.default_rng(123)  # an independent draw of the same population
    fresh = [tingles.draw_traits(rng, tingler=rng.uniform() >= tingles.NON_TINGLER_RATE) for _ in range(4000)]
    cohort = [draw_rater(CFG, s).tingle for s in SUBJECT_IDS]
    for clip, video in enumerate(tingles.ASMR_CLIPS):
        drive = tingles.clip_drive(stimulus_script(CFG, video), 600, 10)
        by_hand = np.mean([_p_by_hand(t, clip, drive) * t.tingler for t in fresh], axis=0)
        np.testing.assert_allclose(population[video], by_hand, atol=0.02)  # two Monte-Carlo means of 4000
        of_cohort = np.mean([_p_by_hand(t, clip, drive) * t.tingler for t in cohort], axis=0)
        assert np.mean(np.abs(population[video] - of_cohort)) < 0.08  # 34 people: a sample of it
        assert np.corrcoef(population[video], of_cohort)[0, 1] > 0.9


def _truth_frame(rows):
    parts = []
    for subject, trial, video, n in rows:
        t = np.arange(n) / 10
        parts.append(
            pl.DataFrame(
                {
                    "subject": [subject] * n,
                    "trial_index": [trial] * n,
                    "video": [video] * n,
                    "t": t,
                    "drive": t,
                    "p_tingle": 0.5 + t / 200,
                    "p_population": 0.25 + t / 400,
                    "state": [1] * n,
                    "reported": [1] * n,
                }
            )
        )
    return pl.concat(parts)


def test_oracle_scores_align_with_the_labels_grid_and_pad_with_zeros(tmp_path):
    truth = _truth_frame([(1, 0, "vid2", 507), (1, 3, "vid1", 550), (3, 0, "vid5", 507)])
    stimulus, participant = oracle_scores(truth, [3, 1, 1], ["vid5", "vid1", "vid2"])
    assert stimulus.shape == participant.shape == (3, 550)
    k = np.arange(550)
    np.testing.assert_allclose(participant[1], 0.5 + k / 2000)
    np.testing.assert_allclose(stimulus[2, :507], 0.25 + k[:507] / 4000)
    np.testing.assert_array_equal(stimulus[2, 507:], 0.0)  # the first-presented trial's padding
    np.testing.assert_array_equal(participant[0, 507:], 0.0)
    with pytest.raises(TruthError, match="no truth for trial"):
        oracle_scores(truth, [1], ["vid3"])
    with pytest.raises(TruthError, match="unknown video"):
        oracle_scores(truth, [1], ["vid9"])
    with pytest.raises(TruthError, match="no latent truth here"):
        read_truth(tmp_path)
    truth.drop("p_tingle").write_parquet(tmp_path / TRUTH_FILE)
    with pytest.raises(TruthError, match="p_tingle"):
        read_truth(tmp_path)
