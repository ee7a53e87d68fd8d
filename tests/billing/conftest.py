"""Fixtures: a fresh local Stripe server per test and our real client (stripe-python) pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from billing.client import StripeBilling
from tests.support.stripe_server import StripeTestServer


@pytest.fixture
async def stripe_server() -> AsyncIterator[StripeTestServer]:
    async with StripeTestServer() as server:
        yield server


@pytest.fixture
async def billing(stripe_server: StripeTestServer) -> AsyncIterator[StripeBilling]:
    client = StripeBilling.create(
        stripe_server.secret_key, api_base=stripe_server.api_base, max_network_retries=0, timeout=10
    )
    try:
        yield client
    finally:
        await client.aclose()
