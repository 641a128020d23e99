from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.infra import Infra, provide_infra
from tests.support.services import Namespace


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provide_infra() as provided:
        yield provided


@pytest.fixture
def ns() -> Namespace:
    return Namespace.new()
