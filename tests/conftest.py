"""Shared test settings and small fixtures from the synthetic generator."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(scope="session")
def tiny_archive(tmp_path_factory):
    """A 4-participant synthetic archive in the real raw formats (generated once per session)."""
    from restasmr_jax.config import SynthConfig
    from restasmr_jax.synth.archive import ensure_synthetic

    root = tmp_path_factory.mktemp("archive") / "synthetic"
    return ensure_synthetic(root, SynthConfig(seed=7, n_subjects=4), progress=False)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    """The cache folder every test of the tiny archive shares, so its exports are parsed once."""
    return tmp_path_factory.mktemp("tiny-cache")


@pytest.fixture(scope="session")
def tiny_ingested(tiny_archive, tiny_cache):
    """The tiny archive ingested once per session; the generator's files must parse with zero warnings."""
    import warnings

    from restasmr_jax.ingest.tables import ingest_archive

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return ingest_archive(tiny_archive, cache_dir=tiny_cache, progress=False)


@pytest.fixture(scope="session")
def default_archive(tmp_path_factory):
    """The default synthetic archive (seed 0, 34 participants, 1.4 GB), generated once for the slow tests."""
    from restasmr_jax.config import SynthConfig
    from restasmr_jax.synth.archive import ensure_synthetic

    return ensure_synthetic(tmp_path_factory.mktemp("default") / "synthetic", SynthConfig(), progress=False)
