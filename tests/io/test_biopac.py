"""Biopac text-export reader: header-driven parsing, encodings, checks, content-hash cache (SPEC §1.2)."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from restasmr_jax.io import biopac
from restasmr_jax.io.biopac import BiopacFormatError, parse_biopac, read_biopac

LABELS = ("PPG raw - SS4LA", "PPG, 0.5-35 Hz")
JAPANESE = ("脈波 生データ", "脈波 フィルタ 0.5-35 Hz")


def export(
    path,
    values,
    *,
    interval_ms=0.5,
    time_step_ms=None,
    labels=LABELS,
    units=("mV", "mV"),
    encoding="utf-8",
    counts=False,
    trailing_tab=True,
    time_unit="min",
    newline="\n",
    time_format="{:.6g}",
):
    """Write an export the way Biopac Student Lab does; returns (path, line number of the first data row)."""
    values = np.asarray(values)
    step = (time_step_ms or interval_ms) / {"min": 60_000, "sec": 1_000, None: 1}[time_unit]
    header = [f"{path.stem}.acq", f"{interval_ms:g} msec/sample", f"{values.shape[1]} channels"]
    for label, unit in zip(labels, units):
        header += [label, unit]
    names = [f"CH{c + 1}" for c in range(values.shape[1])]
    header.append("\t".join(([time_unit] if time_unit else []) + names) + "\t")
    if counts:
        header.append("\t".join([str(len(values))] * values.shape[1]) + "\t")
    end = "\t" if trailing_tab else ""
    rows = [
        "\t".join(([time_format.format(i * step)] if time_unit else []) + [f"{v:.6g}" for v in row]) + end
        for i, row in enumerate(values)
    ]
    path.write_bytes(newline.join(header).encode(encoding) + newline.encode() + (newline.join(rows) + newline).encode())
    return path, len(header) + 1


def printed(values):
    """What a reader must recover: the 6-significant-digit text, parsed, as float32."""
    return np.array([[float(f"{v:.6g}") for v in row] for row in np.asarray(values)], dtype=np.float32)


@pytest.fixture
def values():
    rng = np.random.default_rng(11)
    return rng.normal(scale=0.3, size=(400, 2))


def test_reads_header_and_exact_samples(tmp_path, values):
    path, _ = export(tmp_path / "001_csv.txt", values)
    rec = parse_biopac(path)
    assert rec.interval_ms == 0.5
    assert rec.labels == list(LABELS) and rec.units == ["mV", "mV"] and rec.columns == ["CH1", "CH2"]
    assert rec.title == "001_csv.acq"
    assert rec.samples.dtype == np.float32 and rec.samples.shape == (400, 2)
    np.testing.assert_array_equal(rec.samples, printed(values))
    np.testing.assert_array_equal(rec.channel("CH2"), printed(values)[:, 1])


def test_shift_jis_labels_count_row_crlf_no_trailing_tab(tmp_path, values):
    path, _ = export(
        tmp_path / "003_csv.txt",
        values,
        labels=JAPANESE,
        encoding="shift_jis",
        counts=True,
        newline="\r\n",
        trailing_tab=False,
    )
    rec = parse_biopac(path)
    assert rec.labels == list(JAPANESE) and rec.encoding == "cp932"
    np.testing.assert_array_equal(rec.samples, printed(values))


def test_utf8_japanese_labels(tmp_path, values):
    path, _ = export(tmp_path / "004_csv.txt", values, labels=JAPANESE, encoding="utf-8", counts=True)
    rec = parse_biopac(path)
    assert rec.labels == list(JAPANESE) and rec.encoding == "utf-8"


def test_export_without_time_column(tmp_path, values):
    path, _ = export(tmp_path / "005_csv.txt", values, time_unit=None, counts=True)
    rec = parse_biopac(path)
    assert rec.columns == ["CH1", "CH2"]
    np.testing.assert_array_equal(rec.samples, printed(values))


@pytest.mark.parametrize("interval_ms, time_format", [(1000.0, "{:.6g}"), (0.5, "{:.6f}"), (250.0, "{:.4g}")])
def test_time_column_passes_within_printed_precision(tmp_path, values, interval_ms, time_format):
    # 1000 ms -> i/60 min, rounded to 6 significant digits; fixed 6 decimals; only 4 significant digits
    path, _ = export(tmp_path / "006_csv.txt", values, interval_ms=interval_ms, time_format=time_format)
    assert parse_biopac(path).interval_ms == interval_ms


# ---- bad input ----------------------------------------------------------------------------------


def assert_error(path, *fragments):
    with pytest.raises(BiopacFormatError) as info:
        parse_biopac(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_empty_file(tmp_path):
    path = tmp_path / "001_csv.txt"
    path.write_bytes(b"")
    assert_error(path, "empty file")


def test_header_without_interval(tmp_path, values):
    path, _ = export(tmp_path / "001_csv.txt", values)
    path.write_text(path.read_text().replace("0.5 msec/sample", "2000 Hz"))
    assert_error(path, "msec/sample")


def test_interval_disagreeing_with_time_column(tmp_path, values):
    # header says 0.5 ms, the time column advances 1 ms per row: row 1 (the second data line) is off
    path, first = export(tmp_path / "001_csv.txt", values, interval_ms=0.5, time_step_ms=1.0)
    assert_error(path, f"line {first + 1}:", "disagrees with the time column")


def test_small_drift_beyond_printed_precision(tmp_path, values):
    # 0.5005 ms/row: after 1 row the printed time 8.34167e-06 is 8e-9 min off, > its half-ulp 5e-12
    path, first = export(tmp_path / "001_csv.txt", values, interval_ms=0.5, time_step_ms=0.5005)
    assert_error(path, f"line {first + 1}:")


def test_non_numeric_row_mid_file(tmp_path, values):
    path, first = export(tmp_path / "001_csv.txt", values)
    lines = path.read_text().split("\n")
    lines[first - 1 + 57] = lines[first - 1 + 57].replace("\t", "\tabc", 1)
    path.write_text("\n".join(lines))
    assert_error(path, f"line {first + 57}:", "non-numeric")


def test_blank_line_mid_file(tmp_path, values):
    path, first = export(tmp_path / "001_csv.txt", values)
    lines = path.read_text().split("\n")
    lines.insert(first - 1 + 10, "")
    path.write_text("\n".join(lines))
    assert_error(path, f"line {first + 10}:")


def test_row_missing_a_field_mid_file(tmp_path, values):
    path, first = export(tmp_path / "001_csv.txt", values, trailing_tab=False)
    lines = path.read_text().split("\n")
    lines[first - 1 + 3] = lines[first - 1 + 3].rsplit("\t", 1)[0]
    path.write_text("\n".join(lines))
    assert_error(path, f"line {first + 3}:", "fields")


def test_file_truncated_mid_row(tmp_path, values):
    path, first = export(tmp_path / "001_csv.txt", values)
    path.write_bytes(path.read_bytes()[:-4])  # drop the trailing "\t\n" and two digits of CH2
    assert_error(path, f"line {first + 399}:", "mid-row")


def test_file_truncated_mid_row_without_trailing_tabs(tmp_path, values):
    path, first = export(tmp_path / "001_csv.txt", values, trailing_tab=False)
    text = path.read_bytes()
    path.write_bytes(text[: text.rstrip(b"\n").rindex(b"\t")])  # the last row loses its CH2 field
    assert_error(path, f"line {first + 399}:")


def test_count_row_disagreeing_with_rows(tmp_path, values):
    path, first = export(tmp_path / "001_csv.txt", values, counts=True)
    path.write_bytes(path.read_bytes().replace(b"400\t400\t", b"401\t401\t"))
    assert_error(path, f"line {first - 1}:", "401", "400 data rows")


# ---- cache --------------------------------------------------------------------------------------


def test_cache_hit_does_not_parse_and_a_change_invalidates(tmp_path, values, monkeypatch):
    path, _ = export(tmp_path / "001_csv.txt", values)
    cache = tmp_path / "cache"
    first = read_biopac(path, cache_dir=cache)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    code = hashlib.sha256()
    for reader in (Path(biopac.__file__), Path(biopac.__file__).with_name("biopac_header.py")):
        code.update(reader.name.encode() + b"\0" + reader.read_bytes() + b"\0")
    code = code.hexdigest()
    key = json.dumps({"reader": code, "source_sha256": digest}, sort_keys=True)  # the entry names both
    assert (cache / "biopac" / f"001_csv-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz").exists()

    def no_parsing(_):
        raise AssertionError("parsed although the cache holds this content")

    monkeypatch.setattr(biopac, "parse_biopac", no_parsing)
    again = read_biopac(path, cache_dir=cache)
    np.testing.assert_array_equal(again.samples, first.samples)
    assert (again.labels, again.units, again.interval_ms, again.columns) == (
        first.labels,
        first.units,
        first.interval_ms,
        first.columns,
    )

    export(path, values[::-1])  # same size, same name, new content
    with pytest.raises(AssertionError, match="parsed although"):
        read_biopac(path, cache_dir=cache)
    monkeypatch.undo()
    np.testing.assert_array_equal(read_biopac(path, cache_dir=cache).samples, printed(values[::-1]))


def test_editing_the_reader_invalidates_the_cache(tmp_path, values, monkeypatch):
    path, _ = export(tmp_path / "001_csv.txt", values)
    cache = tmp_path / "cache"
    read_biopac(path, cache_dir=cache)
    edited = tmp_path / "biopac.py"
    edited.write_bytes(Path(biopac.__file__).read_bytes() + b"# a fix\n")
    monkeypatch.setattr(biopac, "__file__", str(edited))
    parsed = []
    real = biopac.parse_biopac
    monkeypatch.setattr(biopac, "parse_biopac", lambda p: parsed.append(p) or real(p))
    read_biopac(path, cache_dir=cache)
    assert parsed == [path]
    read_biopac(path, cache_dir=cache)
    assert parsed == [path]  # the new entry is reused
