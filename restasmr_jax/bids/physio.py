"""A participant's Biopac export as a BIDS physio file: headerless gzip TSV and its sidecar (SPEC §1.2; BIDS physio).

The columns are the export's channels in their own units, as the float32 values
the pipeline reads (`io.biopac`), each printed as the shortest decimal that reads
back to the same float32: the export's digits up to float32 precision, trailing
zeros dropped.  So `io.bids.read_physio` returns the samples bit for bit.

gzip level 6, zlib's and the gzip tool's default: 11 % smaller files than level 1
(10.3 vs 11.5 MB per participant) for about 5x the compression time (2.8 vs 0.6 s on a
loaded 2-core machine), and levels above 6 gain under 1 %.  Compressing one participant
per core, the full 34-participant export took 84 s cold, well inside its 3-minute
budget (`python -m bench.bids` measures the levels side by side).  The gzip headers
carry no time stamp or name, so the same export gives the same bytes.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import polars as pl

from restasmr_jax import storage
from restasmr_jax.bids.sidecars import physio_sidecar
from restasmr_jax.io.bids import interval_from_frequency, physio_name, sidecar_path
from restasmr_jax.io.biopac import BiopacRecording

GZIP_LEVEL = 6
_GZIP_WBITS = 31  # zlib's gzip container: header with mtime 0 and no file name


class PhysioExportError(ValueError):
    """A recording that the BIDS copy could not give back exactly; says why."""


def sampling_frequency(recording: BiopacRecording) -> float:
    """Hz from the export header's interval; refuses one that `io.bids` would not read back exactly."""
    frequency = 1000.0 / recording.interval_ms
    if interval_from_frequency(frequency) != recording.interval_ms:
        raise PhysioExportError(
            f"{recording.path}: a sampling interval of {recording.interval_ms!r} ms does not survive the "
            f"round trip through SamplingFrequency {frequency!r} Hz"
        )
    return frequency


def physio_text(recording: BiopacRecording) -> bytes:
    """The TSV body: one row per sample, one column per channel, '\\n' line ends, no header."""
    columns = {physio_name(c): recording.samples[:, c] for c in range(recording.samples.shape[1])}
    buffer = io.BytesIO()
    pl.DataFrame(columns).write_csv(buffer, separator="\t", include_header=False, line_terminator="\n")
    return buffer.getvalue()


def gzip_bytes(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
    return compressor.compress(data) + compressor.flush()


def write_physio(recording: BiopacRecording, path: Path, *, level: int = GZIP_LEVEL) -> list[Path]:
    """`<path>` (.tsv.gz) and its JSON sidecar, each written atomically; returns both paths."""
    frequency = sampling_frequency(recording)
    storage.atomic_write_bytes(path, gzip_bytes(physio_text(recording), level))
    side = storage.write_json(sidecar_path(path), physio_sidecar(recording, frequency))
    return [Path(path), side]
