"""The tiny synthetic archive exported once per session as BIDS, for the writer's and the round trip's tests."""

import pytest


@pytest.fixture(scope="session")
def tiny_bids(tiny_archive, tiny_cache, tmp_path_factory):
    """`export_bids` of the 4-participant archive: the defaults (clips copied), but gzip level 1 to save test time."""
    from restasmr_jax.bids.export import export_bids

    out = tmp_path_factory.mktemp("bids") / "tiny-bids"
    return export_bids(tiny_archive, out, cache_dir=tiny_cache, gzip_level=1, progress=False)
