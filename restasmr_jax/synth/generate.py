"""Write the whole synthetic archive: log/, ppg/, stim/ in the raw formats (SPEC §1, §12).

`generate_archive(out_dir, cfg)` writes, for the first `cfg.n_subjects`
participants of `config.SUBJECT_IDS`,

    out_dir/log/<ID>-<sequence>-<YYYYMMDD>-<hash8>.log   Presentation event log
    out_dir/ppg/<ID>_csv.txt                             Biopac text export
    out_dir/stim/ASMR1.avi..ASMR4.avi, nature1.avi..nature4.avi
    out_dir/truth.parquet                                the latent truth (`synth.truth`), beside the raw folders

byte-for-byte determined by `cfg` (no wall clock anywhere).  The
`<Condition>` part of a log name is the sequence number: 1 = ASMR block
first (odd IDs), 2 = Nature block first (even IDs).  The raw folders hold
only what the real archive holds; everything else a participant's files
came from (episodes, beats, artifacts) `simulate_subject` recomputes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from restasmr_jax import storage
from restasmr_jax.config import STIMULUS_FILES, SUBJECT_IDS, ProtocolConfig, SynthConfig
from restasmr_jax.synth.biopac_export import minute_column, write_biopac
from restasmr_jax.synth.media import write_stimulus
from restasmr_jax.synth.presentation_log import log_bytes
from restasmr_jax.synth.protocol import RECORDING_TAIL_S, SCENARIO_START_S
from restasmr_jax.synth.subject import simulate_subject
from restasmr_jax.synth.truth import TRUTH_FILE, population_truth, subject_truth, write_truth


def subjects_of(cfg: SynthConfig) -> tuple[int, ...]:
    if not 1 <= cfg.n_subjects <= len(SUBJECT_IDS):
        raise ValueError(f"SynthConfig.n_subjects must be in 1..{len(SUBJECT_IDS)}, got {cfg.n_subjects}")
    return SUBJECT_IDS[: cfg.n_subjects]


def _max_samples(cfg: SynthConfig, protocol: ProtocolConfig = ProtocolConfig()) -> int:
    """An upper bound on any participant's PPG length, so one time column serves every file."""
    seconds = (
        SCENARIO_START_S[1]
        + cfg.baseline_rest_seconds
        + protocol.n_trials * protocol.trial_seconds
        + cfg.washout_seconds
        + cfg.final_rest_seconds
        + RECORDING_TAIL_S[1]
        + 1.0
    )
    return int(seconds * cfg.ppg_rate_hz)


def write_subject(
    out_dir: Path,
    cfg: SynthConfig,
    subject: int,
    population: dict[str, np.ndarray],
    protocol: ProtocolConfig = ProtocolConfig(),
) -> pl.DataFrame:
    """Write one participant's log and PPG export; return their rows of the latent truth."""
    sim = simulate_subject(cfg, subject, protocol)
    requested = round(protocol.trial_seconds * protocol.log_ticks_per_second)  # ReqDur: the scheduled 60 s
    storage.atomic_write_bytes(out_dir / "log" / sim.log_name, log_bytes(sim, requested))
    write_biopac(
        out_dir / "ppg" / f"{subject:03d}_csv.txt",
        subject,
        sim.ch1,
        sim.ch2,
        interval_ms=sim.interval_ms,
        decimals=cfg.ppg_decimals,
        japanese=sim.japanese_labels,
        count_row=sim.sample_count_row,
        minutes=minute_column(_max_samples(cfg, protocol), sim.interval_ms),
    )
    return subject_truth(sim, population, protocol)


def generate_archive(out_dir: Path, cfg: SynthConfig, *, progress: bool = True) -> None:
    """Write the synthetic archive for `cfg` into `out_dir` (created if needed)."""
    out_dir = Path(out_dir)
    subjects = subjects_of(cfg)
    for sub in ("log", "ppg", "stim"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    population = population_truth(cfg)
    truth = [
        write_subject(out_dir, cfg, subject, population)
        for subject in tqdm(subjects, desc="synthetic participants", unit="participant", disable=not progress)
    ]
    write_truth(out_dir / TRUTH_FILE, truth)
    for video, name in tqdm(STIMULUS_FILES.items(), desc="synthetic stimuli", unit="clip", disable=not progress):
        write_stimulus(out_dir / "stim" / name, cfg, video)
