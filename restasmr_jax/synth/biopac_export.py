"""Biopac Student Lab text export of a synthetic recording (SPEC §1.2).

    001_ASMR.acq
    0.5 msec/sample
    2 channels
    PPG, X, PPGED-R            (or 脈波, X, PPGED-R in Shift-JIS files)
    mV
    PPG, 0.5 Hz - 35 Hz
    mV
    min<TAB>CH1<TAB>CH2<TAB>
    1500000<TAB>1500000<TAB>     (per-channel sample counts; only in some files)
    0<TAB>2.108154<TAB>-0.059041<TAB>
    8.33333e-06<TAB>...

Every line ends with a tab and LF.  Time is in minutes printed like C's
`%.6g`; CH1/CH2 in mV with `SynthConfig.ppg_decimals` fixed decimals.
A 1.5-million-row body is written by Polars' CSV writer; the time strings
are identical in every file, so they are formatted once (`minute_column`)
and sliced per file.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import polars as pl

from restasmr_jax import storage

LABELS_LATIN = ("PPG, X, PPGED-R", "PPG, 0.5 Hz - 35 Hz")
LABELS_JAPANESE = ("脈波, X, PPGED-R", "脈波, 0.5 Hz - 35 Hz")
UNIT = "mV"


def header_text(subject: int, interval_ms: float, n_samples: int, *, japanese: bool, count_row: bool) -> str:
    labels = LABELS_JAPANESE if japanese else LABELS_LATIN
    lines = [f"{subject:03d}_ASMR.acq", f"{interval_ms:g} msec/sample", f"{len(labels)} channels"]
    for label in labels:
        lines += [label, UNIT]
    lines.append("min\t" + "".join(f"CH{i + 1}\t" for i in range(len(labels))))
    if count_row:
        lines.append(f"{n_samples}\t" * len(labels))
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=2)
def minute_column(n_samples: int, interval_ms: float) -> pl.Series:
    """Time `[sample]` in minutes as `%.6g` strings; the k-th value is k * interval exactly rounded."""
    per_minute = 60_000.0 / interval_ms
    if per_minute.is_integer():  # k / 120000 is correctly rounded; k * (0.5 / 60000) can be 1 ulp off
        minutes = np.arange(n_samples) / per_minute
    else:
        minutes = np.arange(n_samples) * (interval_ms / 60_000.0)
    return pl.Series("min", np.char.mod("%.6g", minutes), dtype=pl.Utf8)


def write_biopac(
    path: Path,
    subject: int,
    ch1: np.ndarray,
    ch2: np.ndarray,
    *,
    interval_ms: float,
    decimals: int,
    japanese: bool,
    count_row: bool,
    minutes: pl.Series,
) -> None:
    """Write the export atomically; `minutes` must hold at least `len(ch1)` time strings."""
    n = ch1.shape[0]
    if minutes.len() < n:
        raise ValueError(f"{path}: {minutes.len()} time strings for {n} samples")
    header = header_text(subject, interval_ms, n, japanese=japanese, count_row=count_row)
    body = pl.DataFrame(
        {"min": minutes.slice(0, n), "ch1": ch1, "ch2": ch2, "end": pl.repeat(None, n, dtype=pl.Utf8, eager=True)}
    )
    with storage.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(header.encode("shift_jis" if japanese else "ascii"))
        body.write_csv(
            fh,
            separator="\t",
            include_header=False,
            float_precision=decimals,
            float_scientific=False,
            quote_style="never",
            null_value="",
            line_terminator="\n",
        )
