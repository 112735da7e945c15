"""PPG integrity: samples lost to disconnects, clipping or flatlines, found from the first derivative (SPEC §10).

A living finger moves the PPG every sample; a sensor that is disconnected,
saturated at the converter's rail or otherwise stuck leaves the trace still.
So a sample is *lost* when it lies inside a run where the first derivative
stays (near) zero for longer than a natural plateau can:

- still:  |x[i+1] - x[i]| <= integrity_flat_rel_tol * median|dx| of the recording
  (1e-3: exactly repeated values, or jitter a thousand times below the
  typical slope);
- run:    at least integrity_min_run_seconds long (0.05 s = 100 samples at
  2000 Hz).  Around a systolic peak a finely quantised export repeats a value
  for a few to a few tens of samples; that is not signal loss.

Each run is then named (for the report; every kind counts as lost):
- disconnect: the trace jumps into the run with a step above
  integrity_jump_rel (50) x median|dx|, steeper than any pulse upstroke
  (the way out does not tell: a frozen sensor that resumes jumps too);
- clipping:   otherwise, the run sits at the recording's maximum or minimum
  value (a converter rail reached without a jump);
- flatline:   any other still run.
Which samples are lost: a frozen sensor (flatline) keeps repeating its last
genuine reading, so the first sample of a flatline run is real and the loss
starts with the first repeat; a run reached by a jump or sitting at a rail
is bad from its first sample.

The analysis reads the raw channel CH1 (`integrity_channel`): a hardware
band-pass (CH2) turns a stuck input into a decaying transient, which is not
flat.  Integrity = 1 - lost / total over the samples of the valid trial
epochs (the paper counts the 2000-Hz frames of all trials), per participant
and overall; runs are found on the whole recording so one that straddles an
epoch boundary is still seen whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from restasmr_jax.config import ValidationConfig

KINDS = ("clipping", "disconnect", "flatline")


@dataclass(frozen=True)
class SignalLoss:
    """Still runs of one recording. `runs [run, 2]` are [start, stop) sample ranges; `kinds [run]` their names."""

    lost: np.ndarray  # [sample] bool
    runs: np.ndarray  # [run, 2] int64
    kinds: np.ndarray  # [run] str

    def lost_in(self, first: int, stop: int) -> int:
        return int(self.lost[first:stop].sum())

    def kind_samples(self, first: int = 0, stop: int | None = None) -> dict[str, int]:
        """Lost samples per kind inside [first, stop)."""
        stop = self.lost.shape[0] if stop is None else stop
        out = {kind: 0 for kind in KINDS}
        if self.runs.shape[0]:
            overlap = np.clip(np.minimum(self.runs[:, 1], stop) - np.maximum(self.runs[:, 0], first), 0, None)
            for kind in KINDS:
                out[kind] = int(overlap[self.kinds == kind].sum())
        return out


def find_signal_loss(x: np.ndarray, fs: float, cfg: ValidationConfig = ValidationConfig()) -> SignalLoss:
    """Lost-sample mask and named still runs of one channel `x [sample]`."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n < 2:
        return SignalLoss(np.zeros(n, dtype=bool), np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype="<U10"))
    dx = np.abs(np.diff(x))
    scale = float(np.median(dx))
    still = dx <= cfg.integrity_flat_rel_tol * scale
    # Run boundaries in derivative space: a run of still steps i..j-1 freezes samples i..j.
    edges = np.diff(np.concatenate([[0], still.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # exclusive, in step indices
    sample_start, sample_stop = starts, ends + 1
    min_len = max(2, round(cfg.integrity_min_run_seconds * fs))
    keep = (sample_stop - sample_start) >= min_len
    sample_start, sample_stop = sample_start[keep], sample_stop[keep]

    level = x[sample_start]
    rail_tol = max(cfg.integrity_flat_rel_tol * scale, np.finfo(np.float64).eps * max(1.0, float(np.abs(x).max())))
    at_rail = (np.abs(level - x.max()) <= rail_tol) | (np.abs(level - x.min()) <= rail_tol)
    jump_at = cfg.integrity_jump_rel * scale
    # Only the way in tells: a frozen sensor releasing its held value jumps on the way out too.
    jumped = np.where(sample_start > 0, dx[np.maximum(sample_start - 1, 0)], 0.0) > jump_at
    kinds = np.where(jumped, "disconnect", np.where(at_rail, "clipping", "flatline"))
    sample_start = np.where(kinds == "flatline", sample_start + 1, sample_start)

    lost = np.zeros(n + 1, dtype=np.int32)
    np.add.at(lost, sample_start, 1)
    np.add.at(lost, sample_stop, -1)
    return SignalLoss(
        np.cumsum(lost[:n]) > 0, np.stack([sample_start, sample_stop], axis=-1).astype(np.int64), kinds.astype("<U10")
    )


def epoch_integrity(loss: SignalLoss, bounds: list[tuple[int, int]], n_samples: int) -> dict:
    """Sample counts over the epochs `bounds [(first, stop)]` clipped to the recording: total, lost, per kind."""
    total = lost = 0
    per_kind = {kind: 0 for kind in KINDS}
    for first, stop in bounds:
        first, stop = min(first, n_samples), min(stop, n_samples)
        total += stop - first
        lost += loss.lost_in(first, stop)
        for kind, count in loss.kind_samples(first, stop).items():
            per_kind[kind] += count
    return {
        "total_samples": int(total),
        "lost_samples": int(lost),
        "lost_by_kind": per_kind,
        "integrity": (1.0 - lost / total) if total else None,
    }


def summarise(per_participant: dict[int, dict]) -> dict:
    """Overall integrity across participants from their counts (a ratio of sums, not a mean of ratios)."""
    total = sum(p["total_samples"] for p in per_participant.values())
    lost = sum(p["lost_samples"] for p in per_participant.values())
    by_kind = {kind: sum(p["lost_by_kind"][kind] for p in per_participant.values()) for kind in KINDS}
    values = [p["integrity"] for p in per_participant.values() if p["integrity"] is not None]
    return {
        "total_samples": int(total),
        "lost_samples": int(lost),
        "lost_by_kind": by_kind,
        "integrity": (1.0 - lost / total) if total else None,
        "min_participant_integrity": min(values) if values else None,
        "n_participants": len(per_participant),
    }
