"""The paper's constants as frozen dataclasses (SPEC §1-§10); the one place they live.

Every stage takes the config it needs as an argument and derives its sizes
from it (507/550 frames, 544 columns, the 15 % video rule); the numbers
elsewhere are in docstrings and comments only, plus the published artifact's
own fixed 550-frame layout.  Defaults are the paper's values;
`dataclasses.replace` makes a variant (e.g. a `--quick` run).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Participant IDs of the archive: 001..035 without 002 (SPEC §1).
SUBJECT_IDS: tuple[int, ...] = (1,) + tuple(range(3, 36))

# Log video codes -> stimulus file names (SPEC §1): vid1..4 ASMR, vid5..8 nature.
VIDEO_CODES: tuple[str, ...] = tuple(f"vid{i}" for i in range(1, 9))
STIMULUS_FILES: dict[str, str] = {
    **{f"vid{i}": f"ASMR{i}.avi" for i in range(1, 5)},
    **{f"vid{i}": f"nature{i - 4}.avi" for i in range(5, 9)},
}


def condition_of(video: str) -> str:
    """'ASMR' for vid1..vid4, 'Nature' for vid5..vid8 (SPEC §1)."""
    return "ASMR" if int(video.removeprefix("vid")) <= 4 else "Nature"


@dataclass(frozen=True)
class ProtocolConfig:
    """Trial timeline and label grid (SPEC §2, §3, §5)."""

    first_trial_seconds: float = 55.7  # trial 0 started ~4.3 s late and was cut short
    trial_seconds: float = 60.0  # trials 1..7
    warmup_seconds: float = 5.0  # first 5 s of each trial are not analysed
    label_rate_hz: int = 10  # dense label / feature grid (100-ms steps)
    log_ticks_per_second: int = 10_000  # Presentation `Time` is in 0.1-ms units
    n_trials: int = 8  # videos per participant
    max_rating: int = 3  # key k in 1..4 -> intensity k-1, clipped to [0, 3]

    def trial_seconds_for(self, trial_index: int) -> float:
        return self.first_trial_seconds if trial_index == 0 else self.trial_seconds

    def n_frames_for(self, trial_index: int) -> int:
        """Valid 10-Hz frames of a trial: 507 for trial 0, 550 otherwise."""
        seconds = self.trial_seconds_for(trial_index) - self.warmup_seconds
        return round(seconds * self.label_rate_hz)

    @property
    def padded_frames(self) -> int:
        """Sequence length of the model tensor (550)."""
        return self.n_frames_for(1)


KEY_POLICIES = ("clip", "error", "ignore")
PPG_LAYOUTS = ("header", "headerless")


@dataclass(frozen=True)
class IngestConfig:
    """How strictly ingestion holds an archive to the protocol, and which PPG channel it reads (SPEC §1-§3).

    Not paper constants: each default is the strictest setting the REST-ASMR
    protocol passes, and each field is one command-line flag that relaxes a
    check (the README's table of ingestion checks).
    """

    ppg_channel: str = "CH2"  # a column name (CH2) or a substring of one channel's label (PPG)
    ppg_layout: str = "header"  # "headerless": also read exports without a header (first column seconds)
    session_tolerance_s: float = 60.0  # |recording length - log session length| beyond this: a warning
    max_recording_ratio: float = 1.5  # a recording longer than this x the session: an error (wrong interval?)
    timing_tolerance_s: float = 0.5  # trials overlapping, or a video shown shorter than its trial, beyond this
    keys: str = "clip"  # a Response key outside 1..max_rating+1: clip (SPEC §2) with a warning | error | ignore
    allow_duplicates: bool = False  # byte-identical inputs of two participants: an error unless allowed
    subjects_file: str | None = None  # CSV `file,subject`: participant IDs by log file name, overriding all


@dataclass(frozen=True)
class FeatureConfig:
    """Per-100-ms feature vector (SPEC §4)."""

    video_dim: int = 512  # ResNet-18 global-pooled features
    audio_dim: int = 31  # 20 MFCC, RMS, centroid, bandwidth, ZCR, 7 contrast
    ppg_dim: int = 1  # z-scored 10-Hz PPG
    n_mfcc: int = 20
    resize: int = 256  # torchvision Resize
    crop: int = 224  # torchvision CenterCrop
    # "auto" (imagenet for a real archive, random:0 for the synthetic one; resolved and recorded
    # by features.video.resolve_weights_spec) | "imagenet" | "random:SEED" | a weights file path
    video_weights: str = "auto"

    @property
    def total_dim(self) -> int:
        return self.video_dim + self.audio_dim + self.ppg_dim


@dataclass(frozen=True)
class TrainConfig:
    """BiLSTM fusion model and its training protocol (SPEC §6, §7)."""

    hidden: int = 128  # per direction
    layers: int = 2
    dropout: float = 0.3  # between LSTM layers
    learning_rate: float = 5e-4  # Adam
    epochs: int = 35
    batch_size: int = 16
    seed: int = 42
    n_seeds: int = 1  # extra leading seed axis: trains n_seeds x 4 folds at once
    n_folds: int = 4
    n_val_participants: int = 2  # inner validation participants per fold
    split_seed: int = 42  # Python `random.seed` used by the authors for validation draws
    selection: str = "best"  # "best" (real copy of best val-F1 epoch) | "last" (authors' code)
    features: str = "fusion"  # fusion | video | audio | ppg


@dataclass(frozen=True)
class XGBConfig:
    """Non-temporal XGBoost baseline (SPEC §8)."""

    n_estimators: int = 100
    max_depth: int = 6
    learning_rate: float = 0.1
    random_state: int = 42


@dataclass(frozen=True)
class StatsConfig:
    """Evaluation and resampling statistics (SPEC §9, §10)."""

    n_bootstrap: int = 2_000  # subject-level bootstrap
    n_permutation: int = 5_000  # sequence-level permutation test
    n_compare_bootstrap: int = 10_000  # paired bootstrap between models
    n_isa_bootstrap: int = 10_000  # inter-subject agreement bootstrap
    video_threshold: float = 0.15  # fraction of frames predicted tingle -> "ASMR" trial
    ci_level: float = 0.95
    seed: int = 42
    count_padding: bool = False  # True reproduces the paper (scores 43 padded frames of trial 0)
    chunk_size: int = 500  # resamples evaluated per vmapped chunk (bounds memory)

    def video_min_frames(self, padded_frames: int) -> int:
        """int(0.15 * 550) = 82 predicted-tingle frames make a trial 'ASMR'."""
        return int(self.video_threshold * padded_frames)


@dataclass(frozen=True)
class ValidationConfig:
    """Technical validation analyses and figures (SPEC §10)."""

    # Pulse rate vs rating: sliding windows inside each valid epoch (window end < epoch end).
    pr_window_seconds: float = 5.0
    pr_step_seconds: float = 1.0
    pr_band_hz: tuple[float, float] = (0.5, 4.0)  # zero-phase Butterworth band-pass (sos)
    pr_filter_order: int = 2
    pr_min_peak_distance_seconds: float = 0.35
    # In the channel's own units (CH2 mV after the band-pass), as the authors' notebook did;
    # set pr_normalise_windows=True to z-score each window first and read it in SD units.
    pr_peak_prominence: float = 0.5
    pr_normalise_windows: bool = False
    pr_peak_refine_seconds: float = 0.1  # move each peak to the recorded channel's max within +-this; 0: off
    pr_interval_ms: tuple[float, float] = (300.0, 1300.0)  # open interval of kept beat intervals
    pr_min_intervals: int = 3
    pr_min_windows: int = 10  # a participant x condition needs MORE than this many windows
    pr_channel: int = 1  # column of BiopacRecording.samples: CH2, band-passed 0.5-35 Hz (SPEC §1.2)
    # PPG integrity: flat runs of the first derivative on the raw channel.
    integrity_channel: int = 0  # CH1, the raw (unfiltered) waveform
    integrity_flat_rel_tol: float = 1e-3  # |dx| <= this x median|dx| counts as "not moving"
    integrity_min_run_seconds: float = 0.05  # shorter still runs are natural peak plateaus
    integrity_jump_rel: float = 50.0  # |dx| > this x median|dx| entering a run: a disconnect
    # Figures.
    timecourse_videos: tuple[str, ...] = ("vid2", "vid3")  # Fig. 3
    tinglegram_sigma_frames: float = 2.0  # Fig. 6 Gaussian smoothing of P(tingle)
    tinglegram_threshold: float = 0.5
    tinglegram_subject: int = 27  # the paper's example participant, when present


@dataclass(frozen=True)
class SynthConfig:
    """Synthetic stand-in archive (SPEC §12)."""

    seed: int = 0
    n_subjects: int = 34
    ppg_rate_hz: int = 2000
    video_seconds: float = 60.0
    video_fps: int = 30
    video_size: tuple[int, int] = (160, 120)  # width, height; small keeps the 8 AVIs < 40 MB
    audio_rate_hz: int = 22_050
    # The paper's 12-minute session (Fig. 1): rest, block A (4 x 60 s), washout, block B, rest.
    baseline_rest_seconds: float = 60.0
    washout_seconds: float = 120.0
    final_rest_seconds: float = 60.0
    ppg_decimals: int = 6  # CH1/CH2 are printed in mV with this many decimals


def to_dict(config) -> dict:
    """JSON-ready dict of a (nested) config dataclass, for manifests."""
    return dataclasses.asdict(config)
