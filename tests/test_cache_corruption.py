"""Caches are never trusted blindly: every damaged entry is rebuilt from its source or refused, never served.

The property: for any single-byte corruption of any file of a cache folder, a run's outputs are either
identical to the clean run's or the run fails with a clear message, never different with exit status 0.
"""

import json
import shutil
import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restasmr_jax import storage
from restasmr_jax.ingest.tables import TABLES
from restasmr_jax.io.archive import open_archive
from restasmr_jax.io.biopac import read_biopac
from restasmr_jax.runs import archive_jobs, jobs
from tests.ingest.test_tables import make_archive


def fresh_process_memo():
    """Forget the memo files this process has read, as a later run would."""
    storage._MEMOS.clear()


def flip(path, offset, xor):
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= xor
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def ingested_once(tmp_path_factory):
    """A two-participant archive, its clean outputs and the cache folder the clean run left."""
    tmp = tmp_path_factory.mktemp("corruption")
    root = make_archive(tmp / "archive", (1, 3), n_samples=15_200).root
    cache = tmp / "cache"
    out = archive_jobs.ingest(root, tmp / "clean", cache_dir=cache, progress=False)
    clean = {name: pl.read_parquet(out / f"{name}.parquet") for name in TABLES}
    return tmp, root, cache, clean


def cache_files(cache):
    return sorted(p for p in cache.rglob("*") if p.is_file())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 10**6), offset=st.integers(0, 10**9), xor=st.integers(1, 255))
def test_any_single_byte_corruption_gives_the_clean_outputs_or_a_clear_failure(ingested_once, which, offset, xor):
    tmp, root, cache, clean = ingested_once
    work = tmp / f"case-{which}-{offset}-{xor}"
    shutil.copytree(cache, work / "cache")
    files = cache_files(work / "cache")
    flip(files[which % len(files)], offset, xor)
    fresh_process_memo()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", storage.CacheWarning)
            out = archive_jobs.ingest(root, work / "out", cache_dir=work / "cache", progress=False)
    except jobs.BAD_INPUT as exc:  # a clear failure is allowed; it must name what failed
        assert str(exc) and "\n" not in str(exc).splitlines()[0]
        return
    finally:
        fresh_process_memo()
    for name, frame in clean.items():
        assert pl.read_parquet(out / f"{name}.parquet").equals(frame), name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(part=st.sampled_from([".npz", ".json", "memo"]), offset=st.integers(0, 10**9), xor=st.integers(1, 255))
def test_a_corrupted_entry_is_a_miss_never_other_data(tmp_path_factory, part, offset, xor):
    folder = tmp_path_factory.mktemp("entry")
    cache = storage.ContentCache(folder, "things")
    arrays = {"video": np.arange(60, dtype=np.float32).reshape(6, 10), "audio": np.linspace(0, 1, 12)}
    meta = {"interval_ms": 0.5, "labels": ["PPG", "PPG, 0.5-35 Hz"], "n": 7}
    path = cache.store("stim", "k" * 64, arrays, meta)
    fresh_process_memo()
    assert cache.load("stim", "k" * 64) is not None  # fills the memo as a first run does
    target = {".npz": path, ".json": path.with_suffix(".json"), "memo": folder / storage.MEMO_NAME}[part]
    flip(target, offset, xor)
    fresh_process_memo()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", storage.CacheWarning)
        entry = cache.load("stim", "k" * 64)
    fresh_process_memo()
    if entry is not None:
        assert entry.meta == meta and set(entry.arrays) == set(arrays)
        for name, array in arrays.items():
            np.testing.assert_array_equal(entry.arrays[name], array)


def test_named_cache_defects_are_rebuilt_with_a_warning(tmp_path):
    root = make_archive(tmp_path / "archive", (1, 3), n_samples=15_200).root
    archive = open_archive(root)
    cache = tmp_path / "cache"
    first = {s: read_biopac(archive.ppg_file(s), cache_dir=cache) for s in (1, 3)}
    entries = {s: next((cache / "biopac").glob(f"{s:03d}_csv-*.npz")) for s in (1, 3)}

    flip(entries[1], 1000, 0x40)  # changed bytes
    with pytest.warns(storage.CacheWarning, match="do not match the recorded sha256"):
        again = read_biopac(archive.ppg_file(1), cache_dir=cache)
    np.testing.assert_array_equal(again.samples, first[1].samples)

    for suffix in (".npz", ".json"):  # two participants' entries swapped
        a, b = entries[1].with_suffix(suffix), entries[3].with_suffix(suffix)
        swap = a.with_name("swap")
        a.rename(swap)
        b.rename(a)
        swap.rename(b)
    with pytest.warns(storage.CacheWarning, match="another key"):
        np.testing.assert_array_equal(read_biopac(archive.ppg_file(3), cache_dir=cache).samples, first[3].samples)

    header = next((cache / "biopac").glob("001_csv-*.json"))
    for text in ("{}", '{"format": 2}', "[]"):
        header.write_text(text)
        with pytest.warns(storage.CacheWarning):
            np.testing.assert_array_equal(read_biopac(archive.ppg_file(1), cache_dir=cache).samples, first[1].samples)

    header = next((cache / "biopac").glob("001_csv-*.json"))
    content = json.loads(header.read_text())
    content["meta"]["interval_ms"] = 0.6  # metadata edited, the .npz untouched
    header.write_text(json.dumps(content))
    with pytest.warns(storage.CacheWarning, match="metadata"):
        assert read_biopac(archive.ppg_file(1), cache_dir=cache).interval_ms == first[1].interval_ms


def test_corrupt_feature_and_tensor_entries_are_rebuilt_not_raised(tmp_path):
    from restasmr_jax.config import STIMULUS_FILES
    from restasmr_jax.io.archive import Archive
    from restasmr_jax.tensor.cache import load_or_build_tensor
    from tests.avi_clips import write_clip
    from tests.tensor.fakes import TINY, TINY_FEATURES, fake_ingested

    root = tmp_path / "archive"
    for sub in ("log", "ppg", "stim"):
        (root / sub).mkdir(parents=True)
    write_clip(root / "stim" / STIMULUS_FILES["vid1"], seconds=3.2, fps=25, seed=1)
    archive = Archive(root=root, source="synthetic")
    ingested = fake_ingested([1, 3], TINY, videos=("vid1",))

    def build():
        fresh_process_memo()
        return load_or_build_tensor(
            archive,
            ingested,
            feature_cfg=TINY_FEATURES,
            protocol=TINY,
            cache_dir=tmp_path / "cache",
            progress=False,
            num_threads=1,
        )

    first = build()
    tensor_entry = next((tmp_path / "cache" / "tensor").glob("*.npz"))
    flip(tensor_entry, 40, 0xFF)  # inside the zip's local header: np.load alone would raise BadZipFile
    with pytest.warns(storage.CacheWarning, match="tensor-.*do not match"):
        again = build()
    np.testing.assert_array_equal(again.X(), first.X())

    feature_entry = next((tmp_path / "cache" / "features").glob("ASMR1-*.npz"))
    feature_entry.write_bytes(b"PK\x03\x04 not a zip")
    tensor_entry.with_suffix(".json").write_text("{}")
    with pytest.warns(storage.CacheWarning) as record:
        rebuilt = build()
    assert {"features", "tensor"} <= {w.message.args[0].split("/")[-2] for w in record}
    np.testing.assert_array_equal(rebuilt.X(), first.X())
