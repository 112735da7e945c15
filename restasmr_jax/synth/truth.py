"""The stand-in's latent truth, written beside the archive as truth.parquet, and the oracle scores it gives (SPEC §12).

`truth.parquet` sits at the archive root (never inside log/, ppg/, stim/,
which hold only what the real archive holds) with one row per participant,
trial and 10-Hz label frame, on exactly the grid of `labels.parquet`
(t = k / 10 s from the epoch start, 507 frames for the first-presented
trial, 550 otherwise):

| column | meaning |
|---|---|
| subject, trial_index, video, t | the label frame |
| drive | the clip's trigger drive D_v at this moment (the same for everyone; 0 for nature clips) |
| p_tingle | this participant's probability of reporting tingle here, given the drive and their traits |
| p_population | p_tingle averaged over the population's traits: the stimulus-only oracle |
| state | 1 where the generator's sampled report is "tingle" (drawn with probability p_tingle) |
| reported | the intensity the log reports, as `labels.parquet` reads it (tingle 0..3, or nature pleasantness) |

`state` becomes keypresses with human timing, so `reported > 0` follows it
to within a few hundred milliseconds.  The file carries the key-value
metadata `data_source=synthetic`.  `oracle_scores` turns it into the two
oracle rows of a synthetic run: the stimulus-only oracle (`p_population`,
the best any model that sees only the stimulus can do) and the participant
oracle (`p_tingle`, which also knows the participant's traits).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from restasmr_jax import storage
from restasmr_jax.config import VIDEO_CODES, ProtocolConfig, SynthConfig, condition_of
from restasmr_jax.synth import tingles
from restasmr_jax.synth.scripts import stimulus_script
from restasmr_jax.synth.seeds import stream

TRUTH_FILE = "truth.parquet"
TRUTH_SCHEMA = {
    "subject": pl.Int32,
    "trial_index": pl.Int32,
    "video": pl.Utf8,
    "t": pl.Float64,
    "drive": pl.Float64,
    "p_tingle": pl.Float64,
    "p_population": pl.Float64,
    "state": pl.Int8,
    "reported": pl.Int8,
}


class TruthError(ValueError):
    """A truth file or frame that cannot give what was asked; the message says what is missing."""


def clip_frames(protocol: ProtocolConfig = ProtocolConfig()) -> int:
    """Frames of clip time on the 10-Hz grid that any trial window can reach (600 for 60-s trials)."""
    return round(protocol.trial_seconds * protocol.label_rate_hz)


def population_truth(cfg: SynthConfig, protocol: ProtocolConfig = ProtocolConfig()) -> dict[str, np.ndarray]:
    """video -> p_population `[clip frame]` for the ASMR clips (frame k at clip time k / 10 s)."""
    n = clip_frames(protocol)
    return {
        video: tingles.population_probability(
            stimulus_script(cfg, video), clip, n, protocol.label_rate_hz, stream(cfg.seed, "population", video)
        )
        for clip, video in enumerate(tingles.ASMR_CLIPS)
    }


def subject_truth(sim, population: dict[str, np.ndarray], protocol: ProtocolConfig = ProtocolConfig()) -> pl.DataFrame:
    """TRUTH_SCHEMA rows of one participant (a `SubjectSim`), sorted by trial_index, t."""
    warmup = round(protocol.warmup_seconds * protocol.label_rate_hz)  # label frame k is clip frame warmup + k
    parts = []
    for trial, video in enumerate(sim.video_order):
        n = protocol.n_frames_for(trial)
        clip = slice(warmup, warmup + n)
        zeros = np.zeros(n)
        latent = sim.tingle_truth.get(trial)
        if condition_of(video) == "ASMR" and latent is None:
            raise TruthError(f"participant {sim.subject} trial {trial} ({video}): no latent tingle truth")
        parts.append(
            pl.DataFrame(
                {
                    "subject": np.full(n, sim.subject),
                    "trial_index": np.full(n, trial),
                    "video": [video] * n,
                    "t": np.arange(n) / protocol.label_rate_hz,
                    "drive": zeros if latent is None else latent.drive[clip],
                    "p_tingle": zeros if latent is None else latent.p_tingle[clip],
                    "p_population": population[video][clip] if video in population else zeros,
                    "state": zeros if latent is None else latent.state[clip],
                    "reported": sim.dense_labels(trial, protocol),
                },
                schema=TRUTH_SCHEMA,
            )
        )
    return pl.concat(parts)


def write_truth(path: str | os.PathLike, frames: list[pl.DataFrame]) -> Path:
    """Write the participants' truth frames as one Parquet file, atomically, marked synthetic."""
    truth = pl.concat(frames).sort("subject", "trial_index", "t")
    with storage.atomic_path(path) as tmp:
        truth.write_parquet(tmp, metadata={"data_source": "synthetic", "producer": "restasmr_jax.synth"})
    return Path(path)


def read_truth(path: str | os.PathLike) -> pl.DataFrame:
    """truth.parquet of a synthetic archive (root or file), with its schema checked."""
    path = Path(path)
    if path.is_dir():
        path = path / TRUTH_FILE
    if not path.is_file():
        raise TruthError(f"{path}: no latent truth here (only synthetic archives written by this version have it)")
    truth = pl.read_parquet(path)
    wrong = {k: str(v) for k, v in TRUTH_SCHEMA.items() if truth.schema.get(k) != v}
    if wrong:
        raise TruthError(f"{path}: columns {sorted(wrong)} missing or of another type (expected {wrong})")
    return truth


def oracle_scores(truth: pl.DataFrame, subject, video, protocol: ProtocolConfig = ProtocolConfig()):
    """(stimulus-only oracle, participant oracle), each `[trial, time]` float64, for the trials `subject [trial]`,
    `video [trial]`: p_population and p_tingle on the labels grid, zero-padded to `protocol.padded_frames` (550;
    the first-presented trial has 507 valid frames)."""
    n_frames = protocol.padded_frames
    subject = np.asarray(subject).astype(np.int64)
    video = np.asarray(video).astype(str)
    if subject.shape != video.shape or subject.ndim != 1:
        raise TruthError(f"subject {subject.shape} and video {video.shape} must be matching [trial] arrays")
    unknown = sorted(set(video) - set(VIDEO_CODES))
    if unknown:
        raise TruthError(f"unknown video codes {unknown} (expected vid1..vid8)")
    wanted = pl.DataFrame({"subject": subject, "video": video, "row": np.arange(subject.shape[0])})
    rows = (
        wanted.cast({"subject": pl.Int32})
        .join(truth.select("subject", "video", "t", "p_population", "p_tingle"), on=["subject", "video"], how="left")
        .sort("row", "t")
    )
    missing = rows.filter(pl.col("t").is_null())
    if missing.height:
        pairs = ", ".join(f"{s}/{v}" for s, v in missing.select("subject", "video").iter_rows())
        raise TruthError(f"no truth for trial(s) {pairs}")
    frame = np.rint(rows["t"].to_numpy() * protocol.label_rate_hz).astype(np.int64)
    if frame.max(initial=0) >= n_frames:
        raise TruthError(f"a trial has more than {n_frames} label frames")
    stimulus = np.zeros((subject.shape[0], n_frames))
    participant = np.zeros((subject.shape[0], n_frames))
    row = rows["row"].to_numpy()
    stimulus[row, frame] = rows["p_population"].to_numpy()
    participant[row, frame] = rows["p_tingle"].to_numpy()
    return stimulus, participant
