"""The paper-protocol tensor shared by the tensor tests."""

import pytest

from restasmr_jax.tensor.assemble import build_tensor
from tests.tensor.fakes import PAPER, fake_features, fake_ingested


@pytest.fixture(scope="session")
def paper_case():
    ingested = fake_ingested([12, 3, 1])
    features = fake_features()
    return ingested, features, build_tensor(ingested, features, PAPER)
