"""Tables (restasmr_jax.evidence.tables) and `python -m experiments.reproduce_paper` against the paper's numbers."""

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from experiments import reproduce_paper
from restasmr_jax.config import StatsConfig
from restasmr_jax.evidence import artifact as paper_artifact
from restasmr_jax.evidence import stats, tables
from restasmr_jax.evidence.predictions import Predictions

ARTIFACT = paper_artifact.default_artifact_path()
needs_artifact = pytest.mark.skipif(
    not ARTIFACT.is_file(), reason=f"authors' artifact not at {ARTIFACT} (CI puts it in ../shared/artifacts/)"
)


@needs_artifact
def test_reproduce_paper_gives_table1_exactly(tmp_path, capsys):
    out = reproduce_paper.main(
        ["--artifact", str(ARTIFACT), "--out", str(tmp_path), "--n-bootstrap", "50", "--n-permutation", "50"]
    )
    table = json.loads((out / "table1.json").read_text())
    frame = table["model"]["frame_level"]["metrics"]
    # The paper's Table 1 (percent, fold mean ± population SD).
    expected = {
        "accuracy": (75.51, 5.63),
        "macro_f1": (71.86, 8.86),
        "macro_precision": (73.09, 8.42),
        "macro_recall": (81.45, 6.34),
        "nature_specificity": (100.0, 0.0),
    }
    for name, (mean, sd) in expected.items():
        assert (round(100 * frame[name]["mean"], 2), round(100 * frame[name]["sd"], 2)) == (mean, sd), name
    assert [round(v, 4) for v in frame["macro_f1"]["per_fold"]] == [0.7398, 0.7074, 0.8377, 0.5896]
    assert table["model"]["video_level"]["stimulus"]["confusion_matrix"] == [[34, 0], [0, 34]]
    assert round(100 * table["condition_prior"]["frame_level"]["metrics"]["macro_f1"]["mean"], 2) == 70.88
    assert table["count_padding"] is True and "550" in table["frames_scored"]
    markdown = (out / "table1.md").read_text()
    assert "| Accuracy | 75.51 ± 5.63 |" in markdown and "| Macro F1 | 71.86 ± 8.86 |" in markdown
    assert "100.00 (68/68)" in markdown
    # the reference rows' known answers (SPEC §9.1), 3 decimals, printed and in the Markdown
    assert "| model | 0.691 " in markdown and "0.754 (20 trials)" in markdown
    assert "| crowd (other viewers, test labels) | 0.541 " in markdown and "0.696 (20 trials)" in markdown
    assert "| elapsed time | 0.533 " in markdown
    assert "AUROC is 0.754 against the crowd's 0.696, so it tracks *when* a participant tingles better" in markdown
    assert markdown in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["configs"]["stats"]["n_bootstrap"] == 50 and str(ARTIFACT) in manifest["input_hashes"]


def test_reproduce_paper_without_artifact_says_how_to_get_it(tmp_path):
    with pytest.raises(SystemExit) as info:
        reproduce_paper.main(["--artifact", str(tmp_path / "missing.pkl"), "--out", str(tmp_path)])
    assert "Tushardas2663/REST-ASMR-Pipeline" in str(info.value) and "--artifact" in str(info.value)


def _model(seed, noise):
    rng = np.random.default_rng(seed)
    n, t = 8, 30
    truths = np.zeros((n, t), np.int32)
    truths[::2] = rng.random((n // 2, t)) < 0.4
    flip = rng.random((n, t)) < noise
    preds = np.where(flip, 1 - truths, truths).astype(np.int32)
    return Predictions(
        truths=truths,
        preds=preds,
        probs=preds.astype(np.float32),
        raw_truths=truths,
        mask=np.ones((n, t), bool),
        is_nature=np.tile([False, True], n // 2),
        subject=np.repeat(np.arange(n // 2), 2).astype(np.int32),
        video=np.tile(["vid1", "vid5"], n // 2),
        fold=np.repeat([0, 1, 2, 3], 2).astype(np.int32),
    )


def test_table2_compares_every_model_to_the_reference():
    models = {"fusion": _model(0, 0.1), "video": _model(0, 0.3), "audio": _model(0, 0.2)}
    cfg = StatsConfig(n_compare_bootstrap=500)
    table = tables.table2(models, cfg)
    per_fold = {
        name: [f1_score(p.truths[p.fold == f].ravel(), p.preds[p.fold == f].ravel(), average="macro") for f in range(4)]
        for name, p in models.items()
    }
    for name in ("video", "audio"):
        assert table["models"][name]["metrics"]["macro_f1"]["per_fold"] == pytest.approx(per_fold[name])
        direct = stats.paired_bootstrap(per_fold["fusion"], per_fold[name], n_resamples=500, seed=cfg.seed)
        assert table["comparisons"][name]["p_value"] == pytest.approx(direct["p_value"])
    prior = models["fusion"].condition_prior()
    prior_f1 = [
        f1_score(prior.truths[prior.fold == f].ravel(), prior.preds[prior.fold == f].ravel(), average="macro")
        for f in range(4)
    ]
    prior_row = table["references"]["condition_prior"]["frame_level"]
    assert prior_row["metrics"]["macro_f1"]["per_fold"] == pytest.approx(prior_f1)
    # every row with classes is compared; elapsed time has AUROC columns only
    assert set(table["comparisons"]) == {"video", "audio", "condition_prior", "crowd"}
    assert set(table["references"]["elapsed_time"]["frame_level"]["metrics"]) == {"asmr_auroc", "within_trial_auroc"}
    markdown = tables.render_table2(table)
    assert "(ref)" in markdown and "Paired bootstrap p" in markdown and "condition prior (ref. row)" in markdown
    assert "| Within-trial AUROC |" in markdown and "elapsed time (ref. row)" in markdown
    shifted = dict(models, audio=Predictions(**{**models["audio"].__dict__, "fold": models["audio"].fold + 1}))
    with pytest.raises(ValueError, match="has folds"):
        tables.table2(shifted, cfg)
