"""Kill the outbox sender between the webhook's commit and the mint broadcast (a real process, a real
``os._exit`` at ``outbox.after_sign_commit``), restart it: exactly one mint on anvil."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from billing.handlers import build_dispatcher, handle_event
from billing.services import BillingService
from billing.webhooks import parse_event
from chain.contracts import CreditTokenClient
from engine.identity.services import ensure_user
from engine.payments.services import get_entry, mint_ref
from engine.runtime import start_runtime
from engine.settings import ANVIL_DEV_KEY, Settings
from tests.api.payments.conftest import make_billing
from tests.support.stripe_server import StripeTestServer

pytestmark = [pytest.mark.anvil]
REPO = Path(__file__).resolve().parents[2]


async def _sender(db_url: str, chain_url: str, failpoint: str | None) -> int:
    env = {**os.environ, "CM_TEST_SIGNER": ANVIL_DEV_KEY}
    env.pop("CLOUDMARKET_FAILPOINTS", None)
    if failpoint:
        env["CLOUDMARKET_FAILPOINTS"] = failpoint
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "engine.outbox",
        "--database-url",
        db_url,
        "--chain-url",
        chain_url,
        "--signer-key-env",
        "CM_TEST_SIGNER",
        "--once",
        "--until-idle",
        cwd=REPO,
        env=env,
    )
    return await asyncio.wait_for(proc.wait(), timeout=120)


async def test_killed_after_sign_commit_then_restart_mints_once(fresh_anvil, tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    settings = Settings(data_dir=tmp_path, database_url=db_url, chain_url=fresh_anvil.url)
    runtime = await start_runtime(settings, spawn_dev_chain=False)
    try:
        async with StripeTestServer() as stripe:
            ctx = make_billing(runtime, stripe)
            try:
                async with runtime.sessionmaker() as s:
                    user = await ensure_user(s, "dev|crash-user")
                payment = await BillingService(ctx).create_payment(user.id, 1_500, "usd")
                assert payment.payment_intent_id is not None
                event = parse_event(stripe.payment_intent_succeeded_event(payment.payment_intent_id))
                assert await handle_event(ctx, build_dispatcher(), event) == "handled"
            finally:
                await ctx.aclose()
        assert await _sender(db_url, fresh_anvil.url, "outbox.after_sign_commit") == 137
        assert await _sender(db_url, fresh_anvil.url, None) == 0
        assert await _sender(db_url, fresh_anvil.url, None) == 0  # a further run changes nothing
        async with runtime.sessionmaker() as s:
            entry = await get_entry(s, payment.payment_intent_id)
        assert entry is not None
        token = CreditTokenClient(runtime.chain.w3, runtime.manifest.address("CreditToken"))
        assert await token.balance_of(entry.wallet_address) == 15_000_000  # exactly one mint
        assert await token.ref_used(mint_ref(payment.payment_intent_id))
    finally:
        await runtime.close()
