"""The long-format Parquet export of the tensor (SPEC §5)."""

import numpy as np
import polars as pl

from restasmr_jax.features.audio import AUDIO_COLUMNS
from restasmr_jax.tensor.export import export_long_parquet


def test_long_parquet_export(tmp_path, paper_case):
    ingested, features, tensor = paper_case
    path = export_long_parquet(tensor, tmp_path / "out" / "dataset.parquet")
    frame = pl.read_parquet(path)
    assert frame.height == int(tensor.mask.sum()) == 3 * (507 + 7 * 550)
    assert frame.columns[:10] == [
        "subject",
        "video",
        "stimulus",
        "condition",
        "trial_index",
        "step",
        "t",
        "intensity",
        "label",
        "ppg",
    ]
    assert frame.columns[10:] == list(AUDIO_COLUMNS)
    one = frame.filter((pl.col("subject") == 3) & (pl.col("video") == "vid5")).sort("step")
    truth = ingested.truth[3, "vid5"]
    n = 507 if truth["trial_index"] == 0 else 550
    assert one.height == n and one["stimulus"][0] == "nature1.avi" and one["condition"][0] == "Nature"
    np.testing.assert_allclose(one["t"].to_numpy(), np.arange(n) / 10)
    np.testing.assert_array_equal(one["intensity"].to_numpy(), truth["intensity"])
    assert (one["label"] == 0).all()
    np.testing.assert_allclose(one["ppg"].to_numpy(), truth["ppg"].astype(np.float32))
    np.testing.assert_array_equal(one["rms"].to_numpy(), features["vid5"][:n, 512 + AUDIO_COLUMNS.index("rms")])
    wide = pl.read_parquet(export_long_parquet(tensor, tmp_path / "wide.parquet", include_video=True))
    assert wide.width == 10 + 31 + 512 and wide["video_511"].len() == frame.height
