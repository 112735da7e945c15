"""A small fabricated TrialTensor with a learnable frame label, for the model/training tests."""

from __future__ import annotations

import numpy as np

from restasmr_jax.config import VIDEO_CODES, FeatureConfig, TrainConfig, condition_of
from restasmr_jax.tensor.trial_tensor import TrialTensor

AV_DIM = FeatureConfig().video_dim + FeatureConfig().audio_dim

# One tiny model for every training/checkpoint test: equal model fields and shapes let the
# tests share compiled programs (train.build_program is cached).  The higher learning rate
# makes the fabricated task learnable in a few epochs.
TINY_TRAIN = TrainConfig(hidden=8, batch_size=4, learning_rate=0.02, epochs=8)


def make_tensor(
    n_subjects: int = 8, n_time: int = 20, *, seed: int = 0, first_trial_valid: int | None = None, subjects=None
) -> TrialTensor:
    """`n_subjects` x 8 videos, rows ordered by subject then vid1..vid8 (the real tensor's order).

    Label: an ASMR frame is "tingle" when stimulus column 0 is positive (plus
    a little participant noise); Nature frames are 0.  PPG carries a weak
    copy of the label.  Each participant's first presented trial is cut
    short (`first_trial_valid` valid frames), like trial 0 of the archive.
    """
    rng = np.random.default_rng(seed)
    subjects = list(subjects) if subjects is not None else [1] + list(range(3, 3 + n_subjects - 1))
    n_stim = len(VIDEO_CODES)
    av = rng.normal(size=(n_stim, n_time, AV_DIM)).astype(np.float32)
    first_valid = first_trial_valid if first_trial_valid is not None else n_time - 3
    rows = []
    for s in subjects:
        order = rng.permutation(n_stim)  # presentation order of the 8 videos
        for v, video in enumerate(VIDEO_CODES):
            position = int(np.flatnonzero(order == v)[0])
            rows.append((s, video, v, position))
    n = len(rows)
    subject = np.array([r[0] for r in rows], np.int32)
    video = np.array([r[1] for r in rows])
    stim_index = np.array([r[2] for r in rows], np.int32)
    trial_index = np.array([r[3] for r in rows], np.int32)
    n_valid = np.where(trial_index == 0, first_valid, n_time).astype(np.int32)
    mask = np.arange(n_time)[None, :] < n_valid[:, None]
    condition = np.array([condition_of(v) for v in video])
    is_asmr = condition == "ASMR"
    signal = av[stim_index, :, 0] + 0.3 * rng.normal(size=(n, n_time))
    intensity = np.where(is_asmr[:, None] & (signal > 0), np.minimum(3, 1 + (signal > 1) + (signal > 2)), 0)
    intensity = np.where(mask, intensity, 0).astype(np.int8)
    y = (intensity > 0).astype(np.int32)
    ppg = np.where(mask, 0.5 * y + rng.normal(size=(n, n_time)), 0).astype(np.float32)
    return TrialTensor(
        av=av,
        ppg=ppg,
        stim_index=stim_index,
        y=y,
        intensity=intensity,
        mask=mask,
        subject=subject,
        video=video,
        trial_index=trial_index,
        condition=condition,
        n_valid=n_valid,
        provenance={"source": "fabricated for tests"},
    )


def fit_tensor(tensor: TrialTensor, splits, cfg: TrainConfig, *, folder=None, resume: bool = False):
    """(session, FitResult) of the run's default model on `tensor`, selected on validation macro F1.

    `folder`: checkpoint there (`learning.checkpoint.open_checkpoints`), continuing with `resume`.
    """
    from restasmr_jax.evidence.metrics import selection_macro_f1
    from restasmr_jax.learning.checkpoint import open_checkpoints
    from restasmr_jax.learning.fit import fit, make_session

    session = make_session(tensor, splits, cfg)
    if folder is None:
        return session, fit(session, score=selection_macro_f1, progress=False)
    checkpoints = open_checkpoints(folder, tensor, splits, cfg, session.n_features, resume=resume)
    try:
        return session, fit(session, score=selection_macro_f1, checkpoints=checkpoints, progress=False)
    finally:
        checkpoints.close()


def predictions(session, tensor: TrialTensor, params):
    """The session's test predictions per seed, as the pipeline builds them."""
    from restasmr_jax.evidence.predictions import Predictions
    from restasmr_jax.learning.fit import predict

    return [Predictions.for_trials(tensor, **out._asdict()) for out in predict(session, params)]
