"""Pytest fixtures for the Cloud API stand-in.

Import them into a test module (``from tests.whatsapp.fixtures import wa_standin``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.whatsapp.server import CloudApiStandIn, FakeClock


@pytest.fixture
def wa_clock() -> FakeClock:
    """The stand-in's clock, for tests that move time (the 24-hour window, rates)."""
    return FakeClock()


@pytest.fixture
async def wa_standin(wa_clock: FakeClock) -> AsyncIterator[CloudApiStandIn]:
    """One Cloud API stand-in per test; the test fails if anything made a call Meta refuses."""
    async with CloudApiStandIn(clock=wa_clock) as api:
        yield api
    api.assert_no_violations()
