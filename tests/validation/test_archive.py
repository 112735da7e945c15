"""The validation job on the synthetic archive, checked against the generator's ground truth (SPEC §10, §12)."""

import json

import numpy as np
import pytest

from restasmr_jax.config import SynthConfig, condition_of
from restasmr_jax.evidence import figures as plots
from restasmr_jax.evidence.artifact import default_artifact_path, load_predictions
from restasmr_jax.ingest.ppg import sample_window
from restasmr_jax.runs import archive_jobs
from restasmr_jax.synth import simulate_subject
from tests.true_pulse import true_r


@pytest.fixture(scope="module")
def report(tiny_archive, tiny_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("validation")
    run_dir = archive_jobs.validation(tiny_archive.root, out, progress=False, cache_dir=tiny_cache)
    return tiny_archive, run_dir, json.loads((run_dir / "validation.json").read_text())


@pytest.fixture(scope="module")
def truth(report):
    archive, _, _ = report
    cfg = SynthConfig(
        **{k: v for k, v in archive.synth.items() if k in SynthConfig.__dataclass_fields__ and k != "video_size"}
    )
    return {s: simulate_subject(cfg, s) for s in (1, 3, 4, 5)}


def test_pulse_rate_analysis_recovers_the_rates_of_the_true_beats(report, truth):
    _, _, data = report
    test = data["pulse_rate"]["paired_test"]
    assert test["n_paired"] == 4
    assert data["pulse_rate"]["windows"]["total"] == 4 * (7 * 50 + 46)
    rows = [row for row in data["pulse_rate"]["correlations"] if row["r"] is not None]
    assert len(rows) == 8
    for row in rows:  # the detected beats give each participant's r as the generator's beats do
        assert row["r"] == pytest.approx(true_r(truth[row["subject"]], row["condition"]), abs=0.05)


def test_integrity_loses_exactly_the_inserted_artifact_samples(report, truth):
    _, _, data = report
    for subject, sim in truth.items():
        lost = np.zeros(sim.ch1.shape[0], bool)
        for start, stop, _ in sim.artifacts:
            lost[start:stop] = True
        windows = [sample_window(sim.interval_ms, on, end) for on, end in zip(sim.onset_ticks, sim.end_ticks)]
        expected = sum(int(lost[a:b].sum()) for a, b in windows)
        assert data["integrity"]["per_participant"][str(subject)]["lost_samples"] == expected


def test_responders_match_the_reported_episodes(report, truth):
    _, _, data = report
    for condition in ("ASMR", "Nature"):
        expected = sorted(
            s for s, sim in truth.items() if not any(condition_of(ep.video) == condition for ep in sim.episodes)
        )
        assert data["behaviour"]["participants"][condition]["non_responders"] == expected
    assert set(data["agreement"]) == {f"vid{i}" for i in range(1, 9)}


def test_run_folder_holds_report_figures_and_manifest(report):
    archive, run_dir, data = report
    assert data["data_source"] == "synthetic"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["data_source"] == "synthetic" and manifest["input_hashes"]
    assert (run_dir / "validation.md").read_text().startswith("# Technical validation (synthetic data)")
    for stem in ("fig1_protocol_timeline", "fig3_rating_timecourse", "fig4_pulse_rate_correlation"):
        assert (run_dir / "figures" / f"{stem}.png").stat().st_size > 10_000


@pytest.mark.skipif(not default_artifact_path().is_file(), reason="the authors' artifact is not on this machine")
def test_tinglegram_from_the_authors_artifact(tmp_path):
    pred = load_predictions(default_artifact_path())
    fig = plots.tinglegram(pred)  # participant 27, as the paper's Fig. 6
    assert "participant 27" in fig.get_suptitle()
    paths = plots.save_figure(fig, tmp_path / "fig6")
    assert all(p.stat().st_size > 10_000 for p in paths)
