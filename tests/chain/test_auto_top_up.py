"""Auto top-up on anvil (issue 12): a lease under the floor is topped up to the target through the outbox
within the payer's on-chain bound (and a direct call beyond it reverts), a closing lease never is, two
ticks at once fund once, a declined card fails the rule without minting, and a saga killed (a real
``os._exit`` in a child process) between charge and mint or between mint and top-up charges, mints and
tops up exactly once after a restart.

Leases are real (``bench/lease_market.py`` opens them with pre-signed transactions), the engine's rows
point at them; each test has its own anvil (the outbox signer's nonces are the test's alone).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bench.lease_market import OpenedLease, ensure_node, open_leases, payer_key, seed_database
from billing.autotopup import card_charger, method_check
from billing.context import BillingContext
from billing.services import BillingService
from chain.contracts import CreditTokenClient, EscrowClient
from chain.deploy import send_transaction
from chain.devchain import Anvil
from chain.errors import ContractRevert
from chain.reverts import call_or_raise
from chain.signer import LocalSigner
from engine.autotopup import commands
from engine.autotopup.models import (
    CHARGE_FAILED,
    CLAIM_DONE,
    CLAIM_FAILED,
    FAILING,
    AutoTopUpCharge,
    AutoTopUpClaim,
    RuleRequest,
    Source,
    claim_key,
)
from engine.autotopup.services import coverage
from engine.deployments.models import CLOSING, FUNDING_MANAGED, Deployment
from engine.failpoints import ENV_VAR
from engine.identity.models import WalletLink
from engine.money import CreditUnits
from engine.notifications.models import Notification
from engine.outbox.models import OutboxTx
from engine.payments.models import LedgerEntry
from engine.payments.services import mint_key, mint_ref
from engine.runtime import Runtime, start_runtime
from engine.wallets.models import ManagedWallet
from tests.api.payments.conftest import make_billing
from tests.chain.test_marketplace_flow import deliver_outbox
from tests.support.autotopup_settings import settings_for
from tests.support.stripe_server import StripeTestServer

pytestmark = pytest.mark.anvil
REPO = Path(__file__).resolve().parents[2]

RATE = 100  # credit units per second
DEPOSIT = 200_000  # 2,000 s of runway: under the floor
FLOOR, TARGET = 3_600, 7_200
CAP = 10**9
SLACK = 60  # seconds of burn between the tick's read and the mined top-up


@pytest.fixture
async def rt(fresh_anvil: Anvil, tmp_path: Path) -> AsyncIterator[Runtime]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'autotopup.db'}"
    runtime = await start_runtime(settings_for(tmp_path, url, fresh_anvil.url), spawn_dev_chain=False)
    try:
        yield runtime
    finally:
        await runtime.close()


def _escrow(rt: Runtime) -> EscrowClient:
    return rt.context.contracts.require_escrow()


def _token(rt: Runtime) -> CreditTokenClient:
    return rt.context.contracts.token


async def _leases(rt: Runtime, seed: str, count: int) -> list[tuple[OpenedLease, int, int]]:
    """``count`` payers with a lease each (``DEPOSIT`` at ``RATE``) and 10 credits in the wallet; one user
    per payer (the payer linked). Returns (lease, user id, deployment id)."""
    key = rt.settings.signer_private_key()
    assert key is not None
    node = await ensure_node(rt.chain, rt.manifest, rt.signer)
    opened = await open_leases(
        rt.chain,
        rt.manifest,
        rt.signer,
        node,
        count=count,
        seed=seed,
        quote_key=key,
        rate_of=lambda i: RATE,
        deposit_of=lambda i: DEPOSIT,
        credit_of=lambda i: 10_000_000,
    )
    ids = await seed_database(rt.sessionmaker, opened, node, seed=seed)
    return [(o, u, d) for o, (u, d) in zip(opened, ids, strict=True)]


async def _rule(rt: Runtime, user_id: int, *sources: Source, billing: BillingContext | None = None) -> None:
    await commands.set_rule(
        rt.context,
        user_id,
        RuleRequest(FLOOR, TARGET, CreditUnits(CAP), list(sources) or [Source("credit")]),
        owns_method=method_check(billing),
    )


async def _sign_bound(rt: Runtime, seed: str, i: int, user_id: int) -> None:
    """What the wallet does with GET /api/wallet/auto-top-up's transactions: approve + setAutoTopUp."""
    status = await commands.get_status(rt.context, user_id)
    payer = LocalSigner(payer_key(seed, i))
    assert [tx.from_address for tx in status.transactions] == [payer.address] * 2
    for tx in status.transactions:
        await send_transaction(rt.chain, payer, to=tx.to, data=tx.data)
    after = await commands.get_status(rt.context, user_id)
    assert after.transactions == []
    (bound,) = after.bounds
    assert bound.max_per_day == status.suggested_max_per_day == 2 * TARGET * RATE
    assert bound.available == bound.max_per_day // 2  # the bucket starts full at half the daily cap


async def _runway(rt: Runtime, lease_id: int) -> int:
    info = await _escrow(rt).lease(lease_id)
    now = await rt.context.chain_now()
    return max(0, info.balance - info.rate_per_second * (now - info.settled_at)) // info.rate_per_second


async def _count(rt: Runtime, model: Any, *where: Any) -> int:
    async with rt.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _claims(rt: Runtime, user_id: int) -> list[AutoTopUpClaim]:
    async with rt.sessionmaker() as s:
        rows = await s.scalars(
            select(AutoTopUpClaim).where(AutoTopUpClaim.user_id == user_id).order_by(AutoTopUpClaim.id)
        )
        return list(rows)


async def test_credit_tops_up_under_the_floor_to_the_target_within_the_bound_never_a_closing_lease(
    rt: Runtime,
) -> None:
    (a, ua, _), (b, ub, db_), (_, uc, _) = await _leases(rt, "credit", 3)
    for user in (ua, ub, uc):
        await _rule(rt, user)
    await _sign_bound(rt, "credit", 0, ua)
    await _sign_bound(rt, "credit", 1, ub)
    # payer c allows 2 * 50,000 a day: its bucket holds 50,000, far less than the lease needs
    payer_c = LocalSigner(payer_key("credit", 2))
    await send_transaction(
        rt.chain, payer_c, to=_token(rt).address, data=_token(rt).encode_approve(_escrow(rt).address, CAP)
    )
    await send_transaction(
        rt.chain, payer_c, to=_escrow(rt).address, data=_escrow(rt).encode_set_auto_top_up(100_000)
    )
    async with rt.sessionmaker() as s, s.begin():  # b's deployment is closing: never topped up
        await s.execute(update(Deployment).where(Deployment.id == db_).values(status=CLOSING))
    before_b = (await _escrow(rt).lease(b.lease_id)).balance

    result = await commands.tick(rt.context)

    assert result.claimed == 2 and result.enqueued == 2
    (claim_a,) = await _claims(rt, ua)
    (claim_c,) = await _claims(rt, uc)
    assert await _claims(rt, ub) == []
    assert claim_c.amount == 50_000  # clipped to the on-chain bound, never more
    assert claim_a.source == "credit" and claim_a.runway_seconds < FLOOR
    for claim in (claim_a, claim_c):
        assert claim.outbox_key == claim_key(int(claim.chain_lease_id), claim.period)
        await deliver_outbox(rt, claim.outbox_key)
    assert TARGET - SLACK <= await _runway(rt, a.lease_id) <= TARGET
    assert (await _escrow(rt).lease(b.lease_id)).balance == before_b
    assert (await _escrow(rt).auto_top_up_of(payer_c.address))[1] == 0  # the whole bucket, no more

    again = await commands.tick(rt.context)  # settles: done + notified; nothing new this period
    assert again.claimed == 0 and again.done == 2
    assert [c.status for c in await _claims(rt, ua)] == [CLAIM_DONE]
    assert (
        await _count(rt, Notification, Notification.user_id == ua, Notification.kind == "auto_top_up_done")
        == 1
    )
    async with rt.sessionmaker() as s:
        cov = await coverage(s, ua)
    assert cov is not None and cov.healthy and cov.cap_remaining == CAP - claim_a.amount

    # the contract is the bound: a direct autoTopUp by the TOPUP_ROLE signer beyond it reverts
    escrow = _escrow(rt)
    _, available = await escrow.auto_top_up_of(a.payer)
    with pytest.raises(ContractRevert) as exc:
        await call_or_raise(
            rt.chain.w3,
            {
                "from": rt.signer.address,
                "to": escrow.address,
                "data": escrow.encode_auto_top_up(a.lease_id, available + 1),
            },
            contract="DeploymentEscrow",
        )
    assert exc.value.error == "AutoTopUpExceeded"


async def test_two_ticks_at_once_fund_once(rt: Runtime) -> None:
    ((a, ua, _),) = await _leases(rt, "overlap", 1)
    await _rule(rt, ua)
    await _sign_bound(rt, "overlap", 0, ua)

    first, second = await asyncio.gather(commands.tick(rt.context), commands.tick(rt.context))

    assert first.claimed + second.claimed == 1
    (claim,) = await _claims(rt, ua)
    assert await _count(rt, OutboxTx, OutboxTx.kind == commands.AUTO_TOP_UP_KIND) == 1
    await deliver_outbox(rt, str(claim.outbox_key))
    assert TARGET - SLACK <= await _runway(rt, a.lease_id) <= TARGET


async def test_a_managed_payer_is_topped_up_through_the_relay(rt: Runtime) -> None:
    """A managed wallet cannot sign ``setAutoTopUp`` (no by-signature form): the engine, which holds its
    key, funds its leases with a relayed ``topUpBySig`` + permit, within the wallet's credit and the cap."""
    ((a, ua, dep),) = await _leases(rt, "managed", 1)
    relay = rt.context.relay
    assert relay is not None
    async with rt.sessionmaker() as s, s.begin():  # the payer becomes the user's managed wallet
        sealed = relay.keyring.seal(payer_key("managed", 0), user_id=ua, address=a.payer)
        s.add(
            ManagedWallet(
                user_id=ua,
                address=a.payer,
                key_id=sealed.key_id,
                nonce=sealed.nonce,
                ciphertext=sealed.ciphertext,
            )
        )
        await s.execute(update(WalletLink).where(WalletLink.user_id == ua).values(kind="managed"))
        await s.execute(update(Deployment).where(Deployment.id == dep).values(funding=FUNDING_MANAGED))
    await _rule(rt, ua)
    status = await commands.get_status(rt.context, ua)
    assert status.transactions == [] and status.relayed == [a.payer]  # nothing for a managed wallet to sign

    assert (await commands.tick(rt.context)).claimed == 1
    (claim,) = await _claims(rt, ua)
    await deliver_outbox(rt, str(claim.outbox_key))
    assert TARGET - SLACK <= await _runway(rt, a.lease_id) <= TARGET
    await commands.tick(rt.context)
    assert [c.status for c in await _claims(rt, ua)] == [CLAIM_DONE]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_two_processes_ticking_at_once_fund_once(
    fresh_anvil: Anvil, tmp_path: Path, database_url: str
) -> None:
    """Two runtimes (what two service processes hold: their own engine, pool and chain connection) on one
    database tick at the same moment: the claim's unique row lets one of them fund the lease."""
    settings = settings_for(tmp_path, database_url, fresh_anvil.url)
    one = await start_runtime(settings, spawn_dev_chain=False)
    two = await start_runtime(settings, spawn_dev_chain=False)
    try:
        ((a, ua, _),) = await _leases(one, "processes", 1)
        await _rule(one, ua)
        await _sign_bound(one, "processes", 0, ua)

        first, second = await asyncio.gather(commands.tick(one.context), commands.tick(two.context))

        assert first.claimed + second.claimed == 1
        (claim,) = await _claims(one, ua)
        assert await _count(one, OutboxTx, OutboxTx.kind == commands.AUTO_TOP_UP_KIND) == 1
        await deliver_outbox(one, str(claim.outbox_key))
        assert TARGET - SLACK <= await _runway(one, a.lease_id) <= TARGET
    finally:
        await two.close()
        await one.close()


async def _card(
    rt: Runtime, billing: BillingContext, stripe: StripeTestServer, user_id: int, card: str
) -> str:
    """A saved card of the user's Stripe customer (a SetupIntent completed with ``card``)."""
    seti = await BillingService(billing).create_setup_intent(user_id)
    return str(stripe.complete_setup_intent(seti["setup_intent_id"], card)["payment_method"])


@pytest.mark.parametrize(
    ("card", "reason"),
    [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_authenticationRequired", "authentication_required"),
    ],
)
async def test_a_declined_card_fails_the_rule_and_notifies_without_minting(
    rt: Runtime, card: str, reason: str
) -> None:
    ((a, ua, _),) = await _leases(rt, "declined", 1)
    async with StripeTestServer() as stripe:
        billing = make_billing(rt, stripe)
        try:
            pm = await _card(rt, billing, stripe, ua, card)
            await _rule(rt, ua, Source("card", pm), billing=billing)
            await _sign_bound(rt, "declined", 0, ua)
            balance = await _token(rt).balance_of(a.payer)

            result = await commands.tick(rt.context, card=card_charger(billing))
            again = await commands.tick(rt.context, card=card_charger(billing))  # failing: no second charge
        finally:
            await billing.aclose()
        attempts = stripe.requests_to("POST", "/v1/payment_intents")
    assert result.charges == 1 and again.charges == 0
    assert len(attempts) == 1 and attempts[0].form["off_session"] == "true"
    async with rt.sessionmaker() as s:
        (charge,) = (await s.scalars(select(AutoTopUpCharge))).all()
        cov = await coverage(s, ua)
    status = await commands.get_status(rt.context, ua)
    assert charge.step == CHARGE_FAILED and charge.failure_reason == reason
    assert cov is not None and not cov.healthy
    assert (
        status.rule is not None and status.rule.state == FAILING and reason in str(status.rule.failure_reason)
    )
    assert [x.status for x in status.actions] == [CLAIM_FAILED]
    assert (
        await _count(rt, Notification, Notification.user_id == ua, Notification.kind == "auto_top_up_failed")
        == 1
    )
    assert await _count(rt, LedgerEntry) == 0
    assert await _count(rt, OutboxTx, OutboxTx.kind == "credit.mint") == 0
    assert await _token(rt).balance_of(a.payer) == balance


async def _child_tick(rt: Runtime, stripe: StripeTestServer, failpoint: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    if failpoint:
        env[ENV_VAR] = failpoint
    settings = rt.settings
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.autotopup_tick",
        "--data-dir",
        str(settings.data_dir),
        "--database-url",
        str(settings.database_url),
        "--chain-url",
        str(settings.chain_url),
        "--stripe-api-base",
        stripe.api_base,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode in (0, 137), err.decode()[-3000:]
    return int(proc.returncode or 0)


@pytest.mark.slow
@pytest.mark.parametrize("failpoint", ["autotopup.after_charge", "autotopup.after_mint"])
async def test_a_saga_killed_mid_way_charges_mints_and_tops_up_once(rt: Runtime, failpoint: str) -> None:
    ((a, ua, _),) = await _leases(rt, "crash", 1)
    async with StripeTestServer() as stripe:
        billing = make_billing(rt, stripe)
        try:
            pm = await _card(rt, billing, stripe, ua, "pm_card_visa")
            await _rule(rt, ua, Source("card", pm), billing=billing)
            await _sign_bound(rt, "crash", 0, ua)

            assert await _child_tick(rt, stripe, failpoint) == 137  # killed mid-saga
            assert await _child_tick(rt, stripe, None) == 0  # resumes: the same intent, minted once
            (intent,) = stripe.of_kind("payment_intent")
            await deliver_outbox(rt, mint_key(intent["id"]))
            await commands.tick(rt.context, card=card_charger(billing))  # the mint is in: top-up enqueued
            (claim,) = await _claims(rt, ua)
            await deliver_outbox(rt, str(claim.outbox_key))
            await commands.tick(rt.context, card=card_charger(billing))  # settled
        finally:
            await billing.aclose()
        created = [r for r in stripe.requests_to("POST", "/v1/payment_intents") if not r.replayed]
        assert len(stripe.of_kind("payment_intent")) == 1 and len(created) == 1  # exactly one charge
    assert intent["status"] == "succeeded"
    assert await _count(rt, LedgerEntry) == 1  # one mint
    assert await _count(rt, OutboxTx, OutboxTx.kind == "credit.mint") == 1
    assert await _token(rt).ref_used(mint_ref(intent["id"]))
    assert await _count(rt, OutboxTx, OutboxTx.kind == commands.AUTO_TOP_UP_KIND) == 1  # one top-up
    assert [(c.source, c.status) for c in await _claims(rt, ua)] == [("card", CLAIM_DONE)]
    # the charge is whole cents (rounded up): at most one cent's worth of runway over the target
    assert TARGET - SLACK <= await _runway(rt, a.lease_id) <= TARGET + 10_000 // RATE
