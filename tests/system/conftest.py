from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.infra import Infra
from tests.support.services import drop_namespace
from tests.support.system import System, started_system


@pytest.fixture(scope="session")
async def system(infra: Infra) -> AsyncIterator[System]:
    """All six services as separate processes, as `make run` starts them, for the session."""
    started = started_system(infra)
    try:
        yield started
    finally:
        started.stop_all()
        await drop_namespace(infra, started.ns)
