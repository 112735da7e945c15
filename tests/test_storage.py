"""Atomic writes, content hashes, the hash memo and the verified cache (storage)."""

import hashlib
import json
import os
import warnings

import numpy as np
import pytest

from restasmr_jax import storage


def digest(path, folder):
    return storage.memoised_sha256([path], folder / storage.MEMO_NAME)[path]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with storage.atomic_path(target) as tmp:
            tmp.write_bytes(b"half-written")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_sha256_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 5000
    path = storage.atomic_write_bytes(tmp_path / "f", data)
    assert storage.sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_write_json_roundtrip_numpy(tmp_path):
    import numpy as np

    path = storage.write_json(tmp_path / "a.json", {"x": np.arange(3), "y": np.float32(0.5)})
    assert json.loads(path.read_text()) == {"x": [0, 1, 2], "y": 0.5}


def test_atomic_write_uses_default_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        path = storage.atomic_write_text(tmp_path / "x.txt", "hi")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def count_hashing(monkeypatch):
    calls = []
    real = storage.sha256_file
    monkeypatch.setattr(storage, "sha256_file", lambda p: calls.append(p) or real(p))
    return calls


def test_digest_of_a_just_changed_file_is_never_taken_from_the_memo(tmp_path, monkeypatch):
    calls = count_hashing(monkeypatch)
    path = tmp_path / "f.txt"
    path.write_bytes(b"one")
    assert digest(path, tmp_path) == hashlib.sha256(b"one").hexdigest()
    path.write_bytes(b"two")  # same size, likely the same coarse mtime tick
    assert digest(path, tmp_path) == hashlib.sha256(b"two").hexdigest()
    digest(path, tmp_path)
    assert len(calls) == 3


def test_digest_memo_hit_for_a_file_unchanged_since_hashing(tmp_path, monkeypatch):
    calls = count_hashing(monkeypatch)
    monkeypatch.setattr(storage, "_RACY_NS", -(10**18))  # as if hashed long after the last change
    path = tmp_path / "f.txt"
    path.write_bytes(b"one")
    for _ in range(3):
        assert digest(path, tmp_path) == hashlib.sha256(b"one").hexdigest()
    assert len(calls) == 1


def test_code_digest_follows_the_source(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("A = 1\n")
    first = storage.code_digest([source])
    assert storage.code_digest([source]) == first
    source.write_text("A = 22\n")
    assert storage.code_digest([source]) != first
    expected = hashlib.sha256(b"m.py\0" + b"A = 22\n" + b"\0").hexdigest()
    assert storage.code_digest([source]) == expected


@pytest.fixture
def cache(tmp_path):
    return storage.ContentCache(tmp_path, "things")


def test_cache_round_trip_and_miss(cache):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array(["x", "yz"])}
    assert cache.load("stem", "k" * 64) is None
    path = cache.store("stem", "k" * 64, arrays, {"note": 1})
    entry = cache.load("stem", "k" * 64)
    assert entry.meta == {"note": 1} and set(entry.arrays) == {"a", "b"}
    for name, array in arrays.items():
        np.testing.assert_array_equal(entry.arrays[name], array)
    header = json.loads(path.with_suffix(".json").read_text())
    assert header["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and header["key"] == "k" * 64


def corrupt(path, offset):
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x5A
    path.write_bytes(bytes(data))


def test_changed_bytes_are_never_served(cache):
    path = cache.store("stem", "k" * 64, {"a": np.arange(1000.0)}, {})
    for offset in (0, 100, -9):
        corrupt(path, offset)
        with pytest.warns(storage.CacheWarning, match="do not match"):
            assert cache.load("stem", "k" * 64) is None
        cache.store("stem", "k" * 64, {"a": np.arange(1000.0)}, {})


def test_swapped_entries_and_broken_headers_are_misses(cache):
    one = cache.store("one", "1" * 64, {"a": np.zeros(3)}, {})
    two = cache.store("two", "2" * 64, {"a": np.ones(3)}, {})
    for suffix in (".npz", ".json"):  # swap both entries' files, as a careless copy would
        a, b = one.with_suffix(suffix), two.with_suffix(suffix)
        tmp = a.with_name("swap")
        os.replace(a, tmp)
        os.replace(b, a)
        os.replace(tmp, b)
    with pytest.warns(storage.CacheWarning, match="another key"):
        assert cache.load("one", "1" * 64) is None
    for header in ("{}", "[1, 2]", "not json"):
        two.with_suffix(".json").write_text(header)
        with pytest.warns(storage.CacheWarning):
            assert cache.load("two", "2" * 64) is None


def test_incomplete_entry_is_a_silent_miss(cache):
    path = cache.store("stem", "k" * 64, {"a": np.zeros(2)}, {})
    path.with_suffix(".json").unlink()  # the header is written last: without it nothing was committed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.load("stem", "k" * 64) is None
