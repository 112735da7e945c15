"""Biopac text exports as other installations write them: delimiters, channels, time columns, header lines (SPEC §1.2).

Each file is written here; what a reader must recover is the printed text of every sample, parsed, as float32.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restasmr_jax.io.biopac import BiopacFormatError, parse_biopac, read_biopac

UNIT_MS = {"min": 60_000.0, "sec": 1_000.0, "ms": 1.0, "milliSec": 1.0}


def fmt_g(value):
    return f"{value:.6g}"


def write_export(
    path,
    values,
    *,
    delimiter="\t",
    time_unit="min",
    time_format=fmt_g,
    interval_ms=0.5,
    interval_line=None,
    names=None,
    labels=None,
    trailing=True,
    counts=None,
    extra_before=(),
    extra_after_interval=(),
    title=None,
    value_text=fmt_g,
    encoding="utf-8",
):
    """An export in the layout Biopac Student Lab writes; `values` may hold NaN for a channel's missing tail."""
    values = np.asarray(values, dtype=np.float64)
    n_rows, n = values.shape
    names = names or [f"CH{c + 1}" for c in range(n)]
    labels = labels or [f"channel {c}, filtered" for c in range(n)]
    lines = [title if title is not None else f"{path.stem}.acq", *extra_before]
    lines.append(interval_line or f"{interval_ms:g} msec/sample")
    lines += [*extra_after_interval, f"{n} channels"]
    for label in labels:
        lines += [label, "mV"]
    end = delimiter if trailing else ""
    lines.append(delimiter.join(([time_unit] if time_unit else []) + names) + end)
    if counts is not None:
        lines.append(delimiter.join(counts) + end)
    for i, row in enumerate(values):
        time = [time_format(i * interval_ms / UNIT_MS[time_unit])] if time_unit else []
        cells = ["" if math.isnan(v) else value_text(v) for v in row]
        lines.append(delimiter.join(time + cells) + end)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path, len(lines) - n_rows + 1


def printed(values, value_text=fmt_g):
    return np.array(
        [[np.nan if math.isnan(v) else float(value_text(v).replace(",", ".")) for v in row] for row in values],
        dtype=np.float32,
    )


@pytest.fixture
def values():
    return np.random.default_rng(5).normal(scale=0.4, size=(300, 2))


def test_comma_delimited_with_comma_labels_and_trailing_delimiter(tmp_path, values):
    labels = ["PPG, X, PPGED-R", "PPG, 0.5 Hz - 35 Hz"]
    path, _ = write_export(tmp_path / "001_csv.txt", values, delimiter=",", labels=labels)
    rec = parse_biopac(path)
    assert rec.delimiter == "," and rec.labels == labels and rec.columns == ["CH1", "CH2"]
    np.testing.assert_array_equal(rec.samples, printed(values))


def test_channel_numbers_with_gaps_or_from_zero(tmp_path):
    names = [f"CH{i}" for i in (*range(1, 4), *range(28, 36), *range(40, 44))]
    data = np.random.default_rng(1).normal(size=(50, len(names)))
    labels = [f"label {name}" for name in names[:-1]] + ["finger PPG"]
    path, _ = write_export(tmp_path / "002_csv.txt", data, names=names, labels=labels)
    rec = parse_biopac(path)
    assert rec.columns == names and rec.samples.shape == (50, 15)
    np.testing.assert_array_equal(rec.channel("CH28"), printed(data)[:, 3])
    np.testing.assert_array_equal(rec.channel("ch43"), printed(data)[:, 14])
    np.testing.assert_array_equal(rec.channel("PPG"), printed(data)[:, 14])  # a label substring
    zero = parse_biopac(write_export(tmp_path / "003_csv.txt", data[:, :3], names=["CH0", "CH1", "CH2"])[0])
    np.testing.assert_array_equal(zero.channel("CH2"), printed(data)[:, 2])  # by name, not by position


def test_channel_choice_errors_list_the_channels(tmp_path, values):
    path, _ = write_export(tmp_path / "004_csv.txt", values, labels=["PPG raw", "PPG filtered"])
    rec = parse_biopac(path)
    with pytest.raises(BiopacFormatError, match=r"2 channel labels contain 'PPG'.*CH1 \('PPG raw'\)"):
        rec.channel("PPG")
    with pytest.raises(BiopacFormatError, match="no channel is named or labelled 'CH7'"):
        rec.channel("CH7")


@pytest.mark.parametrize("unit", ["min", "sec", "ms", "milliSec", None])
def test_time_units_and_none(tmp_path, values, unit):
    path, _ = write_export(tmp_path / "005_csv.txt", values, time_unit=unit, counts=None if unit else ["300", "300"])
    rec = parse_biopac(path)
    assert rec.interval_ms == 0.5 and rec.time_unit == unit
    np.testing.assert_array_equal(rec.samples, printed(values))


@pytest.mark.parametrize(
    "time_format",
    [
        lambda t: f"{t:.4f}",  # 4 decimals of minutes: 12 rows at 2 kHz share each stamp
        lambda t: f"{t:.5E}",  # %G-like E-notation
        lambda t: f"{math.floor(t * 1e4) / 1e4:.4f}",  # truncated, not rounded
        lambda t: f"{t:.6G}",
    ],
)
def test_low_precision_time_columns_pass(tmp_path, time_format):
    data = np.zeros((3000, 1))
    path, _ = write_export(tmp_path / "006_csv.txt", data, time_format=time_format, labels=["PPG"])
    assert parse_biopac(path).samples.shape == (3000, 1)


def test_a_wrong_interval_fails_even_at_low_precision(tmp_path):
    data = np.zeros((3000, 1))
    # the time column advances 0.5 ms per row, the header says 0.4 ms: 4 decimals of minutes show it by row 60
    path, first = write_export(
        tmp_path / "007_csv.txt", data, time_format=lambda t: f"{t * 1.25:.4f}", interval_ms=0.4, labels=["PPG"]
    )
    with pytest.raises(BiopacFormatError, match=r"disagrees with the time column"):
        parse_biopac(path)


@pytest.mark.parametrize(
    "interval_line, interval_ms",
    [
        ("10.000000 msec/sample", 10.0),
        ("0.5 msec/sample\tSample rate =\t2000Hz", 0.5),
        ("0.5 msec/sample\tSample rate =\t2000", 0.5),
        ("1 msec/sample\tSample rate = 1 kHz", 1.0),
    ],
)
def test_interval_line_variants(tmp_path, values, interval_line, interval_ms):
    path, _ = write_export(tmp_path / "008_csv.txt", values, interval_line=interval_line, interval_ms=interval_ms)
    assert parse_biopac(path).interval_ms == interval_ms


def test_interval_and_printed_rate_must_agree(tmp_path, values):
    line = "0.5 msec/sample\tSample rate =\t1000Hz"
    path, _ = write_export(tmp_path / "009_csv.txt", values, interval_line=line)
    with pytest.raises(BiopacFormatError, match=r"line 2: a sample rate of 1000 Hz disagrees with the interval"):
        parse_biopac(path)


@pytest.mark.parametrize("recorded", ["Recording on: 2025-02-21 11:05:38.634", "记录在: 2025-02-21 11:05:38.634"])
def test_extra_header_lines_and_a_path_title(tmp_path, values, recorded):
    title = "C:\\Users\\lab\\Desktop\\REST ASMR\\001.acq"
    for before, after in (([recorded], ()), ((), [recorded])):
        path, _ = write_export(
            tmp_path / "010_csv.txt", values, title=title, extra_before=before, extra_after_interval=after
        )
        rec = parse_biopac(path)
        assert rec.title == title and rec.recording_on == recorded and rec.labels[1] == "channel 1, filtered"
        np.testing.assert_array_equal(rec.samples, printed(values))


def test_count_row_starting_empty_and_unequal_channels(tmp_path, values):
    uneven = values.copy()
    uneven[250:, 1] = np.nan  # CH2 stops 50 rows early: empty fields, as Biopac writes them
    path, first = write_export(tmp_path / "011_csv.txt", uneven, counts=["", "300", "250"])
    rec = parse_biopac(path)
    assert rec.lengths == [300, 250]
    np.testing.assert_array_equal(rec.samples, printed(uneven))  # NaN-padded, never zero-filled
    assert np.isnan(rec.samples[250:, 1]).all()
    assert any("unequal length" in note and "CH2 250 of 300" in note for note in rec.notes)


def test_count_row_larger_than_the_rows_is_truncation(tmp_path, values):
    path, first = write_export(tmp_path / "012_csv.txt", values, counts=["400", "400"])
    with pytest.raises(BiopacFormatError, match=rf"line {first - 1}: sample-count row says \[400, 400\].*truncated"):
        parse_biopac(path)
    path, first = write_export(tmp_path / "013_csv.txt", values, counts=["200", "300"])
    rec = parse_biopac(path)  # fewer announced than present: read, and said
    assert rec.samples.shape == (300, 2) and f"line {first - 1}: sample-count row says [200, 300]" in rec.notes[0]


def test_an_empty_field_inside_a_channel_is_an_error(tmp_path, values):
    holed = values.copy()
    holed[100, 1] = np.nan
    path, first = write_export(tmp_path / "014_csv.txt", holed)
    with pytest.raises(BiopacFormatError, match=rf"line {first + 100}: empty CH2 field"):
        parse_biopac(path)


def test_headerless_export_only_when_asked(tmp_path, values):
    path = tmp_path / "015_csv.txt"
    rows = [f"{i * 0.0005:.4f}\t{a:.6g}\t{b:.6g}" for i, (a, b) in enumerate(values)]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(BiopacFormatError) as info:
        parse_biopac(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line 1: no header") and "--ppg-layout headerless" in message
    rec = parse_biopac(path, layout="headerless")
    assert rec.interval_ms == 0.5 and rec.columns == ["CH1", "CH2"] and rec.time_unit == "sec"
    np.testing.assert_array_equal(rec.samples, printed(values))
    cached = read_biopac(path, cache_dir=tmp_path / "cache", layout="headerless")
    np.testing.assert_array_equal(cached.samples, rec.samples)
    with pytest.raises(BiopacFormatError, match="no header"):
        read_biopac(path, cache_dir=tmp_path / "cache")  # the layout is part of the cache key


def test_comma_decimal_locale(tmp_path, values):
    def comma(v):
        return f"{v:.6g}".replace(".", ",")

    path, _ = write_export(
        tmp_path / "016_csv.txt", values, interval_line="0,5 msec/sample", time_format=comma, value_text=comma
    )
    rec = parse_biopac(path)
    assert rec.interval_ms == 0.5
    np.testing.assert_array_equal(rec.samples, printed(values, comma))


def test_non_finite_samples_are_noted_with_their_line(tmp_path, values):
    path, first = write_export(tmp_path / "017_csv.txt", values)
    lines = path.read_text().split("\n")
    lines[first - 1 + 40] = lines[first - 1 + 40].rsplit("\t", 2)[0] + "\tNaN\t"
    lines[first - 1 + 41] = lines[first - 1 + 41].rsplit("\t", 2)[0] + "\tinf\t"
    path.write_text("\n".join(lines))
    rec = parse_biopac(path)
    assert rec.notes == [f"{path}: line {first + 40}: CH2 holds 2 non-finite sample(s) (NaN or inf)"]


def test_utf16_and_directories_are_named_for_what_they_are(tmp_path, values):
    path, _ = write_export(tmp_path / "018_csv.txt", values, encoding="utf-16")
    with pytest.raises(BiopacFormatError, match=r"UTF-16 text.*iconv"):
        parse_biopac(path)
    folder = tmp_path / "019_csv.txt"
    folder.mkdir()
    with pytest.raises(BiopacFormatError, match="not a file"):
        read_biopac(folder, cache_dir=tmp_path / "cache")


# ---- any valid export reads back sample-exactly ---------------------------------------------------

TIME_FORMATS = {
    "g": fmt_g,
    "E": lambda t: f"{t:.5E}",
    "fixed": None,  # decimals chosen per unit below: exact at both rates
    "truncated": None,
}
FIXED_DECIMALS = {"min": 4, "sec": 4, "ms": 1}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    delimiter=st.sampled_from(["\t", ","]),
    unit=st.sampled_from(["min", "sec", "ms", None]),
    precision=st.sampled_from(sorted(TIME_FORMATS)),
    trailing=st.booleans(),
    count_row=st.booleans(),
    n_channels=st.integers(1, 16),
    rate_hz=st.sampled_from([1000, 2000]),
    n_rows=st.integers(2, 120),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_valid_exports_read_back_exactly(
    tmp_path, delimiter, unit, precision, trailing, count_row, n_channels, rate_hz, n_rows, seed
):
    data = np.random.default_rng(seed).normal(scale=2.0, size=(n_rows, n_channels))
    time_format = TIME_FORMATS[precision]
    if unit is not None and time_format is None:
        d = FIXED_DECIMALS[unit]
        if precision == "fixed":

            def time_format(t, d=d):
                return f"{t:.{d}f}"
        else:

            def time_format(t, d=d):
                return f"{math.floor(t * 10**d + 1e-9) / 10**d:.{d}f}"

    counts = [str(n_rows)] * n_channels if count_row or unit is None else None
    path, _ = write_export(
        tmp_path / "020_csv.txt",
        data,
        delimiter=delimiter,
        time_unit=unit,
        time_format=time_format or fmt_g,
        interval_ms=1000 / rate_hz,
        trailing=trailing,
        counts=counts,
    )
    rec = parse_biopac(path)
    assert rec.interval_ms == 1000 / rate_hz and rec.samples.shape == (n_rows, n_channels)
    np.testing.assert_array_equal(rec.samples, printed(data))


def test_count_row_without_time_column_is_told_from_integer_samples(tmp_path):
    data = np.tile([[0.0, 1.0], [2.0, 3.0]], (50, 1))  # integer-valued samples: no decimal point anywhere
    path, first = write_export(tmp_path / "021_csv.txt", data, time_unit=None, counts=["100", "100"])
    rec = parse_biopac(path)
    assert rec.samples.shape == (100, 2) and rec.first_line == first
    np.testing.assert_array_equal(rec.samples, data.astype(np.float32))
    path, first = write_export(tmp_path / "022_csv.txt", data, time_unit=None)  # no count row: row 1 is a sample
    rec = parse_biopac(path)
    assert rec.samples.shape == (100, 2) and rec.first_line == first
    np.testing.assert_array_equal(rec.samples, data.astype(np.float32))
