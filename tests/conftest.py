from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import pytest

from tests.support.clock import AWKWARD_INSTANTS, suite_clock_at
from tests.support.infra import Infra, provide_infra
from tests.support.services import Namespace, drop_namespace


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provide_infra() as provided:
        yield provided


@pytest.fixture(params=sorted(AWKWARD_INSTANTS))
def awkward_instant(request: pytest.FixtureRequest) -> Iterator[datetime]:
    """Runs the test once at each awkward instant (night, Friday evening, the October clock
    change), with the suite clock, and so every service the test starts, moved there."""
    instant = AWKWARD_INSTANTS[request.param]
    with suite_clock_at(instant):
        yield instant


@pytest.fixture
async def ns(request: pytest.FixtureRequest) -> AsyncIterator[Namespace]:
    namespace = Namespace.new()
    yield namespace
    if "infra" in request.fixturenames:
        await drop_namespace(request.getfixturevalue("infra"), namespace)
