"""Physio files: float32 samples as shortest decimals, deterministic gzip, rate from the header (SPEC §1.2)."""

import gzip
import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from restasmr_jax.bids.physio import GZIP_LEVEL, PhysioExportError, physio_text, sampling_frequency, write_physio
from restasmr_jax.io import bids
from restasmr_jax.io.biopac import BiopacRecording, parse_biopac


def recording(samples: np.ndarray, interval_ms: float = 0.5) -> BiopacRecording:
    return BiopacRecording(
        path=Path("001_csv.txt"),
        interval_ms=interval_ms,
        labels=["PPG, X, PPGED-R", "PPG, 0.5 Hz - 35 Hz"],
        units=["mV", "mV"],
        samples=samples,
        columns=["CH1", "CH2"],
    )


def test_text_reads_back_to_the_same_float32_bits():
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [rng.normal(0, 2, 5000), rng.normal(0, 1e-4, 100), [0.0, -0.0, 1e-30, 3.4e38, -1e-7, 123456.789]]
    ).astype(np.float32)
    samples = np.column_stack([values, values[::-1]])
    text = physio_text(recording(samples))
    back = pl.read_csv(io.BytesIO(text), has_header=False, separator="\t", schema={"a": pl.Float32, "b": pl.Float32})
    assert np.array_equal(back.to_numpy().view(np.uint32), samples.view(np.uint32))
    assert b"\r" not in text and text.count(b"\n") == samples.shape[0]


def test_text_keeps_the_exports_digits(tiny_archive):
    path = tiny_archive.ppg_file(1)
    lines = path.read_text(encoding="latin-1").splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("0\t"))
    exported = [line.rstrip("\t").split("\t")[1:] for line in lines[first : first + 2000]]
    written = physio_text(parse_biopac(path)).decode().splitlines()[:2000]
    # the generator prints 6 decimals; the copy drops trailing zeros only ("2.010000" -> "2.01", "2.000000" -> "2.0")
    trimmed = [
        "\t".join(f.rstrip("0").removesuffix(".") + (".0" if f.rstrip("0").endswith(".") else "") for f in row)
        for row in exported
    ]
    assert written == trimmed


def test_gzip_is_deterministic_and_stamps_no_time(tmp_path):
    samples = np.arange(6000, dtype=np.float32).reshape(-1, 2) / 7
    a = write_physio(recording(samples), tmp_path / "a" / "x_physio.tsv.gz")[0].read_bytes()
    b = write_physio(recording(samples), tmp_path / "b" / "x_physio.tsv.gz")[0].read_bytes()
    assert a == b and a[:2] == b"\x1f\x8b" and a[4:8] == b"\0\0\0\0"  # gzip magic, mtime 0
    assert gzip.decompress(a) == physio_text(recording(samples))
    assert len(write_physio(recording(samples), tmp_path / "c.tsv.gz", level=1)[0].read_bytes()) >= len(a)
    assert GZIP_LEVEL == 6


def test_sidecar_rate_comes_from_the_header_interval(tmp_path):
    samples = np.ones((10, 2), np.float32)
    _, side = write_physio(recording(samples, interval_ms=1.0), tmp_path / "sub-001_task-asmr_physio.tsv.gz")
    back = bids.read_physio(tmp_path / "sub-001_task-asmr_physio.tsv.gz")
    assert side == bids.sidecar_path(tmp_path / "sub-001_task-asmr_physio.tsv.gz")
    assert back.interval_ms == 1.0 and back.labels == recording(samples).labels and back.units == ["mV", "mV"]
    assert sampling_frequency(recording(samples, 0.5)) == 2000.0
    with pytest.raises(PhysioExportError, match="does not survive the round trip"):
        sampling_frequency(recording(samples, 0.1234567890123))
