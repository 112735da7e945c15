"""Seeded synthetic REST-ASMR archive in the real raw formats, and its ground truth (SPEC §12).

- `generate_archive(out_dir, cfg, progress=True)`: write log/, ppg/, stim/ and
  the latent truth `truth.parquet` beside them.
- `simulate_subject(cfg, subject) -> SubjectSim`: one participant's truth,
  including the exact PPG samples and keypresses the files hold.
- `read_truth(root) -> frame`, `oracle_scores(truth, subject, video)`: the
  latent truth and the stimulus-only / participant oracle scores it gives.
- `stimulus_events(cfg, video)`: trigger times (s) of an ASMR clip, shared
  by its audio, its picture and participants' tingle onsets.
- `synth_ppg(beat_times_s, rate_hz, n_samples, ...)`: a clean pulse wave
  with systolic peaks at known times, for peak-detection tests.
"""

from restasmr_jax.synth.generate import generate_archive, subjects_of
from restasmr_jax.synth.physiology import ARTIFACT_KINDS, synth_ppg
from restasmr_jax.synth.ratings import Episode, special_subjects
from restasmr_jax.synth.scripts import stimulus_events, stimulus_script
from restasmr_jax.synth.subject import SubjectSim, simulate_subject
from restasmr_jax.synth.truth import TRUTH_FILE, oracle_scores, read_truth

__all__ = [
    "ARTIFACT_KINDS",
    "Episode",
    "SubjectSim",
    "TRUTH_FILE",
    "generate_archive",
    "oracle_scores",
    "read_truth",
    "simulate_subject",
    "special_subjects",
    "stimulus_events",
    "stimulus_script",
    "subjects_of",
    "synth_ppg",
]
