"""Payments API fixtures: the service app on the shared eth-tester runtime (SQLite / PostgreSQL), a fresh
local Stripe server per test, our real StripeBilling client pointed at it, and dev-issuer tokens."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.routes import identity
from billing.client import StripeBilling
from billing.context import BillingContext, build_billing
from engine.runtime import Runtime
from engine.wallets.crypto import Keyring, MasterKey
from tests.api.conftest import serve
from tests.support.stripe_server import StripeTestServer

_users = itertools.count()


@dataclass
class Env:
    client: TestClient[web.Request, web.Application]
    stripe: StripeTestServer
    billing: BillingContext
    runtime: Runtime
    dev: DevIssuer
    tmp: Path

    def headers(self, sub: str, roles: tuple[str, ...] = ("cloud-user",)) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.dev.mint(list(roles), sub=sub)}"}

    def new_user(self) -> dict[str, str]:
        return self.headers(f"dev|pay-{next(_users)}-{self.tmp.name}")

    async def send(self, event: dict[str, Any], **kw: Any) -> tuple[int, str]:
        url = str(self.client.make_url("/api/payments/webhook"))
        return await self.stripe.send_event(url, event, **kw)


def make_billing(runtime: Runtime, stripe: StripeTestServer) -> BillingContext:
    client = StripeBilling.create(
        stripe.secret_key, api_base=stripe.api_base, max_network_retries=0, timeout=10
    )
    ctx = build_billing(runtime, stripe=client, keyring=Keyring(MasterKey.parse("11" * 32)))
    assert ctx is not None
    ctx.webhook_secrets = [stripe.webhook_secret]
    return ctx


@pytest.fixture
async def pay(eth_runtime: Runtime, tmp_path: Path) -> AsyncIterator[Env]:
    options = identity.IdentityOptions(
        env="dev", data_dir=tmp_path, chain_id=eth_runtime.chain.chain_id, dev_issuer=True
    )
    async with StripeTestServer() as stripe:
        ctx = make_billing(eth_runtime, stripe)
        app = create_app(eth_runtime, background=False, identity_options=options, billing=ctx)
        try:
            async with serve(app) as client:
                yield Env(client, stripe, ctx, eth_runtime, DevIssuer(tmp_path), tmp_path)
        finally:
            await ctx.aclose()
