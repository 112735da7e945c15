"""The BIDS copy's metadata: dataset descriptions, README, CHANGES and the JSON sidecars (SPEC §1-§3; BIDS 1.11).

Every fact here comes from the paper or SPEC (authors, protocol, equipment,
rating scale, ethics approval) or from the files themselves (sampling rate from
each export's header, channel labels and units, the Presentation version when a
log's JSON block states it).  A synthetic archive says so in `Name`, in the
README and in `RestAsmrJaxSynthetic` (the generator's marker, which lets
`io.archive.open_archive` label the copy synthetic again); its recording metadata
describe the equipment whose file formats the generator imitates.  Facts that
only hold for the real recordings (institution, ethics approval, handedness)
are written for a real archive only.
"""

from __future__ import annotations

import datetime as dt

from restasmr_jax import __version__
from restasmr_jax.config import STIMULUS_FILES, ProtocolConfig, condition_of
from restasmr_jax.io.bids import PHYSIO_NAMES, RATING, SYNTHETIC_KEY, TASK, physio_name
from restasmr_jax.io.biopac import BiopacRecording

BIDS_VERSION = "1.11.1"
ZENODO_DOI = "10.5281/zenodo.18881334"
ZENODO_URL = f"https://doi.org/{ZENODO_DOI}"
AUTHORS = ["Tushar Das", "Daigo Hozaki", "Koushendra Kumar Singh", "Hirohito M. Kondo"]
CITATION = (
    "Das, T., Hozaki, D., Singh, K. K. & Kondo, H. M. REST-ASMR: A multimodal dataset of photoplethysmography "
    f"and continuous behavioral responses to ASMR and nature videos. Zenodo {ZENODO_URL} (2026)."
)
TITLE = "REST-ASMR: photoplethysmography and continuous ratings during ASMR and nature videos"
SYNTHETIC_LICENSE = "CC0-1.0"  # generated numbers, no one's recordings
RATING_LEVELS = {"0": "none (key 1)", "1": "slightly (key 2)", "2": "moderate (key 3)", "3": "very (key 4)"}
_TASK_DESCRIPTION = (
    "A 12-minute session: 60 s rest, a block of four 60-s videos of one category in pseudo-random order, "
    "120 s washout, a block of the other category's four videos, 60 s rest. Sequence 1 shows the ASMR block "
    "first, sequence 2 the Nature block. While each video played the participant rated it continuously on a "
    "4-point scale with the right hand on a keyboard: tingling intensity for ASMR videos, pleasantness for "
    "nature videos. The first video of the session started about 4.3 s late and was cut short (55.7 s)."
)
_INSTRUCTIONS = (
    "As the paper reports them (their exact wording is not published): after practice keystrokes, rate in real "
    "time with the right fingers on a 4-point scale, 1 none, 2 slightly, 3 moderate, 4 very: 'Tingling "
    "Intensity' for ASMR videos, 'Pleasantness' for nature videos; keep other movements to a minimum. A screen "
    "before each block said whether ASMR or nature videos would follow."
)


def generated_by(git: dict, synth: dict | None) -> list[dict]:
    """GeneratedBy: this exporter (version and git commit), and the stand-in generator for a synthetic archive."""
    commit = git.get("commit") or "unknown"
    dirty = " with uncommitted changes" if git.get("dirty") else ""
    entries = [
        {
            "Name": "restasmr-jax",
            "Version": __version__,
            "Description": f"python -m experiments.bids, git commit {commit}{dirty}",
        }
    ]
    if synth:
        entries.append(
            {
                "Name": str(synth.get("generator", "restasmr_jax.synth")),
                "Version": __version__,
                "Description": f"seeded synthetic stand-in (seed {synth.get('seed')}, generator fingerprint "
                f"{synth.get('generator_fingerprint')})",
            }
        )
    return entries


def _name(synth: dict | None, n_participants: int) -> str:
    if not synth:
        return TITLE
    return (
        f"REST-ASMR synthetic stand-in, NOT real data (restasmr-jax generator, seed {synth.get('seed')}, "
        f"{n_participants} participants)"
    )


def source_datasets(synth: dict | None) -> list[dict]:
    if synth:
        return [{"Version": f"restasmr_jax.synth {__version__}, seed {synth.get('seed')}"}]
    return [{"DOI": f"doi:{ZENODO_DOI}", "URL": ZENODO_URL}]


def dataset_description(*, synth: dict | None, git: dict, n_participants: int, license: str | None) -> dict:
    """The raw dataset's dataset_description.json."""
    description = {
        "Name": _name(synth, n_participants),
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw",
        "Authors": AUTHORS,
        "HowToAcknowledge": f"Cite the dataset: {CITATION}",
        "ReferencesAndLinks": [ZENODO_URL],
        "GeneratedBy": generated_by(git, synth),
        "SourceDatasets": source_datasets(synth),
    }
    license = license or (SYNTHETIC_LICENSE if synth else None)
    if license:
        description["License"] = license
    if synth:
        description[SYNTHETIC_KEY] = synth
    else:
        description["EthicsApprovals"] = ["Research Ethics Committee of Chukyo University, approval No. RS21-026"]
    return description


def derivative_description(*, synth: dict | None, git: dict, n_participants: int) -> dict:
    """derivatives/restasmr-jax/dataset_description.json: the 10-Hz tables, derived from the raw copy."""
    return {
        "Name": f"{_name(synth, n_participants)}: 10-Hz labels and PPG",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "Authors": AUTHORS,
        "GeneratedBy": generated_by(git, synth)[:1],
        "SourceDatasets": [{"URL": "bids:raw:"}],
        "DatasetLinks": {"raw": "../../"},
    }


def participants_sidecar(*, real: bool) -> dict:
    sidecar = {
        "participant_id": {"Description": "Participant ID of the archive, zero-padded (001, 003 .. 035; no 002)"},
        "block_order": {
            "Description": "Which block of four videos came first (from the log: the condition of the first video)",
            "Levels": {"ASMR-first": "the ASMR videos, then the nature videos", "Nature-first": "the reverse"},
        },
        "sequence": {
            "Description": "Counterbalancing group of the paper's Fig. 1",
            "Levels": {"1": "sequence 1, ASMR block first", "2": "sequence 2, Nature block first"},
        },
    }
    if real:
        sidecar["handedness"] = {
            "Description": "All participants were right-handed (an eligibility criterion of the study)",
            "Levels": {"right": "right-handed"},
        }
    return sidecar


def events_sidecar(
    *, real: bool, stim_file: bool, presentation_version: str | None, cfg: ProtocolConfig = ProtocolConfig()
) -> dict:
    """The root task-asmr_events.json, inherited by every participant's events file."""
    presentation = {
        "SoftwareName": "Presentation",
        "ScreenRefreshRate": 60,
        "ScreenResolution": [1280, 720],
        "ScreenDistance": 0.57,
    }
    if presentation_version:
        presentation["SoftwareVersion"] = presentation_version
    first, other = cfg.trial_seconds_for(0), cfg.trial_seconds_for(1)
    sidecar = {
        "TaskName": TASK,
        "TaskDescription": _TASK_DESCRIPTION,
        "Instructions": _INSTRUCTIONS,
        "StimulusPresentation": presentation,
        "onset": {
            "Description": "Video start (log Video event) or keypress, from the start of the experiment "
            "(log time 0 = PPG sample 0), to the log's 0.1-ms resolution",
            "Units": "s",
        },
        "duration": {
            "Description": f"Video rows: the trial as analysed, {first} s for the first video of the session "
            f"(it started late and was cut short), {other} s otherwise. Rating rows: until the next rating change "
            "or the end of the trial",
            "Units": "s",
        },
        "trial_type": {
            "Description": "A video of either condition, or a change of the participant's continuous rating",
            "Levels": {
                "ASMR": "an ASMR video (rated for tingling intensity)",
                "Nature": "a nature video (rated for pleasantness)",
                RATING: "the rating changed to `value` at `onset` (a keypress)",
            },
        },
        "value": {
            "Description": "Rating rows: the rating held from this row on (zero-order hold), key k -> k-1 clipped "
            "to 0..3; before a trial's first rating row the rating is 0 (ratings never carry over between videos)",
            "Levels": RATING_LEVELS,
        },
        "response_key": {
            "Description": "Rating rows: the key pressed, as logged (Presentation Response code 1..4); presses "
            "that repeat the held rating are not listed"
        },
        "stim_id": {
            "Description": "Video rows: the log's video code",
            "Levels": {code: f"{name} ({condition_of(code)})" for code, name in STIMULUS_FILES.items()},
        },
        "trial_index": {
            "Description": "The trial (0..7): the order in which this participant saw the videos; on rating rows, "
            "the trial the keypress falls in"
        },
        "warmup_s": {
            "Description": "Video rows: seconds at the start of the trial that are not analysed; the last keypress "
            "in them sets the rating at the start of the analysed epoch",
            "Units": "s",
        },
    }
    if stim_file:
        sidecar["stim_file"] = {"Description": "Video rows: the clip shown, under stimuli/"}
    if real:
        sidecar["InstitutionName"] = "Chukyo University"
        sidecar["InstitutionalDepartmentName"] = "School of Psychology"
        sidecar["InstitutionAddress"] = "Nagoya, Aichi 466-8666, Japan"
    return sidecar


_CHANNEL_TEXT = {
    PHYSIO_NAMES[0]: "raw photoplethysmogram from the SS4LA transducer on the left middle finger",
    PHYSIO_NAMES[1]: "photoplethysmogram band-passed 0.5-35 Hz by the acquisition unit; the channel the "
    "pipeline analyses (SPEC §1.2, §3)",
}


def physio_sidecar(recording: BiopacRecording, sampling_frequency: float) -> dict:
    """sub-XXX_task-asmr_physio.json: the export's rate, start, channels (labels and units as exported)."""
    names = [physio_name(c) for c in range(recording.samples.shape[1])]
    sidecar = {
        "TaskName": TASK,
        "PhysioType": "generic",
        "SamplingFrequency": int(sampling_frequency) if float(sampling_frequency).is_integer() else sampling_frequency,
        "StartTime": 0.0,
        "Columns": names,
        "Manufacturer": "BIOPAC",
        "ManufacturersModelName": "MP36",
        "SoftwareVersions": "Biopac Student Lab Pro 4.1 (text export)",
    }
    for c, name in enumerate(names):
        column = recording.columns[c] if c < len(recording.columns) else f"CH{c + 1}"
        what = _CHANNEL_TEXT.get(name, "a further channel of the export")
        sidecar[name] = {
            "LongName": recording.labels[c],
            "Description": f"Biopac channel {column}: {what}",
            "Units": recording.units[c],
        }
    return sidecar


def derivative_sidecars() -> dict[str, dict]:
    """Column descriptions of the derivative tables (README "Ingestion outputs"), one per TSV copy."""
    common = {
        "subject": {"Description": "Participant ID (1, 3 .. 35)"},
        "video": {"Description": "Log video code vid1..vid8 (vid1-4 ASMR, vid5-8 Nature)"},
        "trial_index": {"Description": "0..7, the order in which this participant saw the videos"},
        "t": {"Description": "Seconds from the epoch start (onset + 5.0 s), k / 10", "Units": "s"},
    }
    return {
        "labels": {
            **common,
            "stimulus": {"Description": "Clip file name under stimuli/"},
            "condition": {"Description": "ASMR or Nature"},
            "intensity": {"Description": "0..3 rating by zero-order hold (SPEC §2)", "Levels": RATING_LEVELS},
        },
        "ppg10hz": {
            **common,
            "ppg": {"Description": "Biopac CH2 over the epoch, Fourier-resampled to 10 Hz, z-scored per trial"},
        },
        "timeline": {
            **common,
            "condition": {"Description": "ASMR or Nature"},
            "stimulus": {"Description": "Clip file name under stimuli/"},
            "onset_ticks": {"Description": "Video event time in 0.1-ms log units"},
            "end_ticks": {"Description": "onset + 55.7 s for trial 0, + 60.0 s otherwise, in 0.1-ms log units"},
            "onset_s": {"Description": "onset_ticks in seconds", "Units": "s"},
            "end_s": {"Description": "end_ticks in seconds", "Units": "s"},
            "n_frames": {"Description": "Valid 10-Hz frames: 507 for trial 0, 550 otherwise"},
        },
    }


def changes(*, source: str, today: dt.date | None = None) -> str:
    today = today or dt.datetime.now(dt.UTC).date()
    what = f"BIDS {BIDS_VERSION} copy of the {source} archive, written by restasmr-jax {__version__}"
    return f"1.0.0 {today.isoformat()}\n  - {what}.\n"
