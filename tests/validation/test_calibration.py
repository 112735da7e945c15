"""The stand-in's calibration: the targets table, the check, and `experiments.calibrate` on the full default archive,
each statistic recomputed independently (SPEC §10, §12)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score

from restasmr_jax.config import STIMULUS_FILES, VIDEO_CODES, SynthConfig, condition_of
from restasmr_jax.learning.splits import make_splits
from restasmr_jax.validation.calibration import TARGETS, Checked, Target, check, render
from restasmr_jax.validation.calibration_measure import crowd_agreement, tingle_fractions
from tests.true_pulse import true_r

SUBJECTS = (1,) + tuple(range(3, 36))


def test_every_target_cites_its_source_and_the_reason_for_its_tolerance():
    keys = [t.key for t in TARGETS]
    assert len(keys) == len(set(keys))
    for t in TARGETS:
        assert t.low <= t.high and (t.low == -math.inf or t.low <= t.target <= t.high)
        assert ("paper" in t.source or "artifact" in t.source) and t.why
    by_key = {t.key: t for t in TARGETS}
    assert (by_key["isa_vid3"].target, by_key["pr_t"].target, by_key["crowd_within"].target) == (0.539, -2.085, 0.696)


def test_check_counts_bounds_in_and_everything_else_out():
    target = Target("x", "a statistic", 1.0, 0.5, 1.5, "paper", "because")
    below = Target("p", "a p value", 0.0, -math.inf, 0.05, "paper", "the claim")
    rows = check({"x": 1.5, "p": 0.0499}, (target, below))
    assert [r.passed for r in rows] == [True, True]
    for bad in (1.5000001, 0.49, float("nan"), None):
        assert not Checked(target, bad).passed
    assert not check({}, (target,))[0].passed  # a missing value fails, never skipped
    text = render(check({"x": 2.0, "p": 0.01}, (target, below)))
    assert (
        "| a statistic | 1.000 | ± 0.500 | 2.000 | NO |" in text and "| a p value | — | < 0.05 | 0.010 | yes |" in text
    )
    assert text.rstrip().endswith("1 of 2 within tolerance; outside: x")


def _labels(seed: int) -> pl.DataFrame:
    """Random labels for the 34 participants: trial 0 has 507 frames, some trials are all zero or all tingle."""
    rng = np.random.default_rng(seed)
    parts = []
    for subject in SUBJECTS:
        order = list(rng.permutation(VIDEO_CODES))
        for trial, video in enumerate(order):
            n = 507 if trial == 0 else 550
            if condition_of(video) == "ASMR":
                kind = rng.uniform()
                onset = rng.integers(0, 600, 4)
                k = np.arange(n)
                rated = (np.abs(k[:, None] - onset[None, :]) < rng.integers(20, 120)).any(axis=1).astype(np.int8)
                rated = rated * rng.integers(1, 4) if kind > 0.3 else np.full(n, int(kind > 0.15), np.int8)
            else:
                rated = np.full(n, rng.integers(0, 4), np.int8)
            parts.append(
                pl.DataFrame(
                    {
                        "subject": [subject] * n,
                        "trial_index": [trial] * n,
                        "video": [video] * n,
                        "stimulus": [STIMULUS_FILES[video]] * n,
                        "condition": [condition_of(video)] * n,
                        "t": np.arange(n) / 10,
                        "intensity": rated.astype(np.int8),
                    }
                )
            )
    return pl.concat(parts).cast({"subject": pl.Int32, "trial_index": pl.Int32, "intensity": pl.Int8})


def _series(labels, subject, video):
    return labels.filter((pl.col("subject") == subject) & (pl.col("video") == video)).sort("t")["intensity"].to_numpy()


def crowd_by_loop(labels, rotation):
    """Crowd AUROCs for one assignment of videos to the published test groups, the slow obvious way."""
    trials = []
    for split in make_splits(SUBJECTS):
        video = VIDEO_CODES[(split.fold + rotation) % 4]
        group = {s: _series(labels, s, video) > 0 for s in split.test_subjects}
        for s, own in group.items():
            crowd = np.full(own.shape[0], np.nan)
            for k in range(own.shape[0]):
                votes = [other[k] for peer, other in group.items() if peer != s and k < other.shape[0]]
                crowd[k] = np.mean(votes) if votes else np.nan
            keep = ~np.isnan(crowd)
            trials.append((own[keep], crowd[keep]))
    pooled = roc_auc_score(np.concatenate([t for t, _ in trials]), np.concatenate([c for _, c in trials]))
    within = [roc_auc_score(t, c) for t, c in trials if 0 < t.sum() < t.shape[0]]
    return pooled, np.mean(within)


def test_crowd_and_fraction_statistics_against_slow_recomputations():
    labels = _labels(0)
    values = crowd_agreement(labels)
    loops = np.array([crowd_by_loop(labels, r) for r in range(4)])
    assert values["crowd_pooled_published"] == pytest.approx(loops[0, 0])
    assert values["crowd_within_published"] == pytest.approx(loops[0, 1])
    assert values["crowd_pooled"] == pytest.approx(loops[:, 0].mean())
    assert values["crowd_within"] == pytest.approx(loops[:, 1].mean())

    fractions = tingle_fractions(labels)
    asmr = [_series(labels, s, v) > 0 for s in SUBJECTS for v in VIDEO_CODES[:4]]
    assert fractions["tingle_fraction"] == pytest.approx(np.concatenate(asmr).mean())
    published = [_series(labels, s, sp.test_videos[0]) > 0 for sp in make_splits(SUBJECTS) for s in sp.test_subjects]
    assert fractions["tingle_fraction_published"] == pytest.approx(np.concatenate(published).mean())
    vid4 = np.concatenate([_series(labels, s, "vid4") > 0 for s in SUBJECTS])
    assert fractions["tingle_fraction_vid4"] == pytest.approx(vid4.mean())


# ---- the full default archive -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated(default_archive, tmp_path_factory):
    """(exit code, printed report, checked rows, PPG cache) of `python -m experiments.calibrate` on the archive."""
    import contextlib
    import io

    from experiments import calibrate
    from restasmr_jax.runs import archive_jobs

    cache = tmp_path_factory.mktemp("calibration-cache")
    printed, recorded = io.StringIO(), []

    def recording(*args, **kwargs):  # the command's own rows, so the values below are the ones it judged
        recorded.extend(real(*args, **kwargs))
        return recorded

    real = archive_jobs.calibrate
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(archive_jobs, "calibrate", recording)
        with contextlib.redirect_stdout(printed), pytest.raises(SystemExit) as exit_code:
            calibrate.main(["--data-dir", str(default_archive.root), "--cache-dir", str(cache), "--no-progress"])
    return exit_code.value.code, printed.getvalue(), recorded, cache


@pytest.mark.slow
def test_calibrate_passes_on_the_default_archive(calibrated):
    code, printed, _, _ = calibrated
    assert code == 0, printed
    assert f"{len(TARGETS)} of {len(TARGETS)} within tolerance" in printed
    assert all(f"| {t.statistic} |" in printed for t in TARGETS) and "synthetic archive" in printed


@pytest.mark.slow
def test_each_statistic_recomputed_independently(default_archive, calibrated):
    from restasmr_jax.ingest.tables import ingest_archive
    from restasmr_jax.synth import simulate_subject

    _, _, rows, cache = calibrated
    values = {row.target.key: row.value for row in rows}
    assert set(values) == {t.key for t in TARGETS} and None not in values.values()
    labels = ingest_archive(default_archive, cache_dir=cache, progress=False).labels
    trials = labels.group_by("subject", "video", "condition").agg((pl.col("intensity") > 0).sum().alias("on"))
    for condition, prefix in (("ASMR", "tingle"), ("Nature", "pleasant")):
        rows = trials.filter(pl.col("condition") == condition)
        assert values[f"{'asmr' if condition == 'ASMR' else 'nature'}_responders"] == (
            rows.group_by("subject").agg(pl.col("on").max() > 0)["on"].sum()
        )
        seconds = rows.filter(pl.col("on") > 0)["on"].to_numpy() / 10
        assert values[f"{prefix}_seconds_mean"] == pytest.approx(seconds.mean())
        assert values[f"{prefix}_seconds_sd"] == pytest.approx(seconds.std())
    for video in ("vid2", "vid3"):
        rows = [_series(labels, s, video).astype(float) for s in SUBJECTS]
        series = np.stack([row[: min(len(x) for x in rows)] for row in rows])  # truncated to the shortest trial
        r = [
            np.corrcoef(series[i], np.delete(series, i, axis=0).mean(axis=0))[0, 1]
            for i in range(len(SUBJECTS))
            if np.ptp(series[i]) > 0
        ]
        assert values[f"isa_{video}"] == pytest.approx(np.tanh(np.mean(np.arctanh(r))), abs=1e-9)
    for video in VIDEO_CODES[:4]:  # the bootstrap's "p < 0.05" agrees with a one-sided t-test on Fisher z
        rows = [_series(labels, s, video).astype(float) for s in SUBJECTS]
        series = np.stack([row[: min(len(x) for x in rows)] for row in rows])
        z = [
            np.arctanh(np.corrcoef(series[i], np.delete(series, i, axis=0).mean(axis=0))[0, 1])
            for i in range(len(SUBJECTS))
            if np.ptp(series[i]) > 0
        ]
        assert scipy.stats.ttest_1samp(z, 0.0, alternative="greater").pvalue < 0.05 and values["isa_max_p"] < 0.05
    loops = np.array([crowd_by_loop(labels, r) for r in range(4)])
    assert (values["crowd_pooled"], values["crowd_within"]) == pytest.approx(tuple(loops.mean(axis=0)))
    asmr = labels.filter(pl.col("condition") == "ASMR")
    assert values["tingle_fraction"] == pytest.approx((asmr["intensity"] > 0).mean())
    for video in VIDEO_CODES[:4]:
        rated = asmr.filter(pl.col("video") == video)["intensity"].to_numpy()
        assert values[f"tingle_fraction_{video}"] == pytest.approx(np.mean(rated > 0))

    # pulse rate from the generator's true beat times, integrity from its inserted artifacts
    r_true = {"ASMR": {}, "Nature": {}}
    lost = total = 0
    for subject in SUBJECTS:
        sim = simulate_subject(SynthConfig(), subject)
        for condition, by_subject in r_true.items():
            r = true_r(sim, condition)
            if r is not None:
                by_subject[subject] = r
        mask = np.zeros(sim.ch1.shape[0], bool)
        for a, b, _ in sim.artifacts:
            mask[a:b] = True
        for onset, end in zip(sim.onset_ticks, sim.end_ticks):
            first, stop = -(-(onset + 50_000) // 5), -(-end // 5)  # the epoch's samples at 2000 Hz (5 ticks each)
            lost, total = lost + mask[first:stop].sum(), total + stop - first
    paired = sorted(set(r_true["ASMR"]) & set(r_true["Nature"]))
    z = {c: np.arctanh([r_true[c][s] for s in paired]) for c in r_true}
    assert values["pr_r_asmr"] == pytest.approx(np.mean([r_true["ASMR"][s] for s in paired]), abs=0.03)
    assert values["pr_r_nature"] == pytest.approx(np.mean([r_true["Nature"][s] for s in paired]), abs=0.03)
    assert values["pr_t"] == pytest.approx(scipy.stats.ttest_rel(z["ASMR"], z["Nature"]).statistic, abs=0.5)
    assert values["ppg_integrity"] == pytest.approx(100 * (1 - lost / total), abs=1e-9)


def test_cli_flags(capsys):
    from experiments import calibrate

    with pytest.raises(SystemExit) as exc:
        calibrate.main(["--help"])
    usage = capsys.readouterr().out
    assert exc.value.code == 0 and all(flag in usage for flag in ("--data-dir", "--no-progress", "--spread"))
    with pytest.raises(SystemExit) as exc:
        calibrate.main(["--spread", "-1"])
    assert exc.value.code == 2
