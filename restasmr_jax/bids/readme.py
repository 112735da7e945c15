"""The BIDS copy's README texts: what the dataset is, how it is laid out, what the copy leaves out (SPEC §1-§3).

Plain Markdown for a person opening the folder; every machine-readable fact is
also in a JSON sidecar (`bids.sidecars`).
"""

from __future__ import annotations

from restasmr_jax import __version__
from restasmr_jax.bids.sidecars import BIDS_VERSION, CITATION, TITLE, ZENODO_URL
from restasmr_jax.io.bids import TASK

_SYNTHETIC = """\
**THIS IS NOT REAL DATA.** It is the synthetic stand-in that restasmr-jax generates
(seed {seed}, {n} participants) in the exact file formats of the REST-ASMR archive, so that
the pipeline can be built and tested without the recordings. Ratings, pulse waveforms and
clips are simulated; the recording metadata (BIOPAC MP36, Presentation) describe the
equipment whose formats the generator imitates. Use the real archive ({url}) for research.
"""

_LAYOUT = """\
## Layout

- `participants.tsv`: `participant_id` (the archive's zero-padded IDs), `block_order`
  (ASMR-first | Nature-first, from the condition of the first video), `sequence` (1 | 2).
- `sub-XXX/beh/sub-XXX_task-{task}_events.tsv`: one row per video (`trial_type` ASMR | Nature,
  `stim_id` vid1..vid8, `trial_index` 0..7 in viewing order, `duration` 55.7 s for the first
  video of the session and 60.0 s otherwise, `warmup_s` 5.0) and one row per change of the
  continuous rating (`trial_type` rating, `value` 0..3 held until the next change,
  `response_key` the key pressed). Onsets are seconds from the start of the experiment, exact
  to the log's 0.1 ms. Every column and level is described in `task-{task}_events.json`.
- `sub-XXX/beh/sub-XXX_task-{task}_physio.tsv.gz`: the Biopac export's two channels at the
  header's sampling rate, no header line; `cardiac` is CH1 (raw PPG), `cardiac_bandpass` is CH2
  (band-passed 0.5-35 Hz, the channel the analyses use). Units, labels and the sampling rate are
  in the `_physio.json` beside it; `StartTime` 0.0 is the log's time 0.
- `stimuli/`: {stimuli}
- `derivatives/restasmr-jax/`: the dense 10-Hz tables the pipeline computes from these files
  (`labels`, `ppg10hz`, `timeline`, as Parquet and TSV).

The analysed epoch of a trial is [onset + 5.0 s, onset + duration): the first 5 s are a warm-up,
and the last rating given in them is the rating at the start of the epoch. A trial's rating
is 0 until its first rating row; ratings never carry over from the previous video.

## What the copy leaves out

The events hold what the analyses read: the video onsets and the keypresses that change a
rating inside a trial. Presentation's `Pulse` rows, keypresses outside the videos, presses that
repeat the held rating, and responses whose code is not a number are not copied; the original
logs remain the complete record. The physio values are the float32 numbers the pipeline reads,
printed as the shortest decimal that reads back to the same number (the export's digits up to
float32 precision).
"""

_STIMULI = {
    "copy": "the eight clips, `ASMR1.avi` .. `ASMR4.avi` and `nature1.avi` .. `nature4.avi`, "
    "named in the events' `stim_file` column.",
    "link": "symbolic links to the archive's eight clips, named in the events' `stim_file` column: the "
    "clips are shared under the archive's licence, so this copy does not hold them.",
    "none": "left out (`--stimuli none`); the clips are in the archive's `stim/` folder. "
    "Feature extraction needs them here.",
}


def dataset_readme(
    *,
    source: str,
    synth: dict | None,
    participants: list[int],
    without_physio: list[int],
    excluded: list[dict],
    stimuli: str,
    license: str | None,
) -> str:
    parts = [f"# {TITLE}\n"]
    if synth:
        parts.append(_SYNTHETIC.format(seed=synth.get("seed"), n=len(participants), url=ZENODO_URL))
    parts.append(
        f"BIDS {BIDS_VERSION} copy of the {source} REST-ASMR archive ({len(participants)} participants), written "
        f"by restasmr-jax {__version__} (`python -m experiments.bids`). Each participant watched four ASMR and "
        "four nature videos of 60 s while rating tingling intensity (ASMR) or pleasantness (nature) on a "
        "4-point keyboard scale, with photoplethysmography (PPG) recorded at 2000 Hz by a BIOPAC MP36.\n"
    )
    parts.append(_LAYOUT.format(task=TASK, stimuli=_STIMULI[stimuli]))
    notes = []
    if without_physio:
        notes.append("No PPG export, so no physio file: " + ", ".join(f"sub-{s:03d}" for s in without_physio) + ".")
    for item in excluded:
        if item.get("scope") == "all":
            notes.append(f"Excluded (bad input): participant {item['subject']}: {'; '.join(item['reasons'])}.")
    if notes:
        parts.append("## Participants\n\n" + "\n".join(f"- {note}" for note in notes) + "\n")
    licence = license or f"that of the archive's Zenodo record, {ZENODO_URL}"
    parts.append(f"## Licence and citation\n\nLicence: {licence}.\n\n{CITATION}\n")
    return "\n".join(parts)


def derivative_readme() -> str:
    return (
        "# restasmr-jax derivatives\n\n"
        "The dense 10-Hz tables that `python -m experiments.ingest` computes from the raw files of this "
        "dataset (SPEC §2-§3), as Parquet (`data_source` in the key-value metadata) and as TSV with a JSON "
        "description of the columns:\n\n"
        "- `timeline`: one row per trial (participant x video).\n"
        "- `labels`: one row per valid 10-Hz frame, the rating by zero-order hold (`intensity` 0..3).\n"
        "- `ppg10hz`: the same frames, Biopac CH2 Fourier-resampled to 10 Hz and z-scored per trial.\n\n"
        "Frame k of a trial is at `onset_s + 5.0 + k / 10` s; rows are sorted by subject, trial_index, t.\n"
    )
