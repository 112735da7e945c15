"""The 10-Hz PPG stream of one trial: slice CH2, Fourier-resample, z-score (SPEC §3).

The slice is chosen by exact integer arithmetic on log ticks (0.1 ms), never
by comparing against the exported time column, which is rounded to ~6
significant digits.  Sample i of the recording sits at tick i * tps, where
tps = interval_ms * ticks-per-ms is held as an exact fraction (5 for the
archive's 0.5 ms), so the slice is [ceil(epoch_start / tps), ceil(end / tps)).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import scipy.signal

from restasmr_jax.config import ProtocolConfig
from restasmr_jax.ingest.labels import ticks


class PPGError(ValueError):
    """A trial's PPG window cannot be cut from the recording (e.g. it ended early)."""


def ticks_per_sample(interval_ms: float, cfg: ProtocolConfig = ProtocolConfig()) -> Fraction:
    """Log ticks per recording sample as an exact fraction (5 for 0.5 ms at 0.1-ms ticks)."""
    if not interval_ms > 0:
        raise PPGError(f"sampling interval must be positive, got {interval_ms} ms")
    # str() gives the shortest decimal that round-trips, i.e. the header's own text.
    return Fraction(str(interval_ms)) * Fraction(cfg.log_ticks_per_second, 1000)


def sample_window(
    interval_ms: float, onset_ticks: int, end_ticks: int, cfg: ProtocolConfig = ProtocolConfig()
) -> tuple[int, int]:
    """[first, stop) sample indices of the valid epoch [onset + warm-up, end)."""
    tps = ticks_per_sample(interval_ms, cfg)
    start = int(onset_ticks) + ticks(cfg.warmup_seconds, cfg)
    return _ceil_div(start, tps), _ceil_div(int(end_ticks), tps)


def _ceil_div(tick: int, tps: Fraction) -> int:
    # ceil(tick / (p/q)) = ceil(tick * q / p), all integers.
    return -((-tick * tps.denominator) // tps.numerator)


def zscore(x: np.ndarray) -> np.ndarray:
    """(x - mean) / std with population std; a constant series becomes zeros."""
    x = np.asarray(x, dtype=np.float64)
    std = x.std()
    return np.zeros_like(x) if std == 0 else (x - x.mean()) / std


def epoch_ppg(
    ch2: np.ndarray,
    interval_ms: float,
    onset_ticks: int,
    end_ticks: int,
    n_frames: int,
    cfg: ProtocolConfig = ProtocolConfig(),
    *,
    context: str = "trial",
    first_line: int | None = None,
) -> np.ndarray:
    """Z-scored CH2 of one trial's valid epoch at 10 Hz: float64 `[time]` of length n_frames.

    `ch2`: `[sample]` one channel of the recording.  `context` names the
    trial (subject, video, file) in errors; `first_line` is the export's line
    of sample 0, to name the line of a bad sample.  A window running past the
    end of the recording is an error, never zero-padded, and so is a window
    holding NaN or inf (a short channel's padding included).
    """
    first, stop = sample_window(interval_ms, onset_ticks, end_ticks, cfg)
    if first < 0 or stop > len(ch2) or stop <= first:
        raise PPGError(
            f"{context}: PPG window needs samples [{first}, {stop}) at {interval_ms} ms/sample "
            f"(log ticks {onset_ticks}..{end_ticks}), but the recording has {len(ch2)} samples "
            f"({len(ch2) * interval_ms / 1000:.1f} s): it ends before the trial does"
        )
    segment = np.asarray(ch2[first:stop], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(segment))
    if bad.size:
        at = first + int(bad[0])
        where = f"line {first_line + at}" if first_line is not None else f"sample {at}"
        raise PPGError(
            f"{context}: {bad.size} non-finite PPG sample(s) (NaN or inf, or past a short channel's end) in the "
            f"trial's window [{first}, {stop}), the first at {where}"
        )
    if np.ptp(segment) == 0:  # resampling a constant adds rounding noise that z-scoring would blow up
        return np.zeros(n_frames)
    return zscore(scipy.signal.resample(segment, n_frames))
