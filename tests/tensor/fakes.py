"""Hand-built ingested tables and stimulus features for the tensor tests."""

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from restasmr_jax.config import STIMULUS_FILES, VIDEO_CODES, FeatureConfig, ProtocolConfig, condition_of

PAPER = ProtocolConfig()
# 3.0-s trials after a 1.0-s warm-up: trial 0 has 17 valid steps, the others 20 (the paper's 507/550 in small)
TINY = ProtocolConfig(first_trial_seconds=2.7, trial_seconds=3.0, warmup_seconds=1.0)
TINY_FEATURES = FeatureConfig(resize=40, crop=32)


@dataclass
class FakeIngested:
    """The `Ingested` contract's three tables, built by hand; `truth` keeps the values per (subject, video)."""

    labels: pl.DataFrame
    timeline: pl.DataFrame
    ppg10hz: pl.DataFrame
    report: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)


def fake_ingested(subjects, protocol=PAPER, seed=0, videos=VIDEO_CODES) -> FakeIngested:
    rng = np.random.default_rng(seed)
    labels, timeline, ppg, truth = [], [], [], {}
    for subject in subjects:
        order = [videos[i] for i in rng.permutation(len(videos))]
        for trial_index, video in enumerate(order):
            n = protocol.n_frames_for(trial_index)
            intensity = rng.integers(0, 4, n).astype(np.int8)
            signal = rng.standard_normal(n)
            truth[subject, video] = {"trial_index": trial_index, "intensity": intensity, "ppg": signal}
            common = {"subject": subject, "video": video, "trial_index": trial_index}
            t = [k / protocol.label_rate_hz for k in range(n)]
            labels.append(
                pl.DataFrame(
                    {
                        **{k: [v] * n for k, v in common.items()},
                        "stimulus": [STIMULUS_FILES[video]] * n,
                        "condition": [condition_of(video)] * n,
                        "t": t,
                        "intensity": intensity,
                    }
                )
            )
            ppg.append(pl.DataFrame({**{k: [v] * n for k, v in common.items()}, "t": t, "ppg": signal}))
            onset = 100_000 + 700_000 * trial_index
            timeline.append(
                {
                    **common,
                    "condition": condition_of(video),
                    "stimulus": STIMULUS_FILES[video],
                    "onset_ticks": onset,
                    "end_ticks": onset + 600_000,
                    "onset_s": onset / 1e4,
                    "end_s": onset / 1e4 + 60,
                }
            )
    cast = {"subject": pl.Int32, "trial_index": pl.Int32}
    return FakeIngested(
        labels=pl.concat(labels).with_columns(
            pl.col("intensity").cast(pl.Int8), *(pl.col(c).cast(d) for c, d in cast.items())
        ),
        timeline=pl.DataFrame(timeline).with_columns(*(pl.col(c).cast(d) for c, d in cast.items())),
        ppg10hz=pl.concat(ppg).with_columns(*(pl.col(c).cast(d) for c, d in cast.items())),
        truth=truth,
    )


def fake_features(protocol=PAPER, seed=1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {v: rng.standard_normal((protocol.padded_frames, 543)).astype(np.float32) for v in VIDEO_CODES}
