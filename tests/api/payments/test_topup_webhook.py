"""Top-up to on-chain credit through the webhook: exactly once under concurrency, duplicates, other event
types for the same payment, and a restart (a new app and billing client on the same database and chain)."""

from __future__ import annotations

import asyncio

from aiohttp import web  # noqa: F401 - fixture types

from api.app import create_app
from api.routes import identity
from chain.contracts import CreditTokenClient
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.payments.models import LedgerEntry, StripeEvent
from engine.payments.services import mint_ref
from tests.api.conftest import serve
from tests.api.payments.conftest import Env, make_billing
from tests.api.payments.helpers import count, drain_outbox


async def _topup(pay: Env, headers: dict[str, str], amount: int = 2_000) -> dict:
    r = await pay.client.post(
        "/api/payments/create-intent", json={"amount_cents": amount, "currency": "usd"}, headers=headers
    )
    assert r.status == 201, await r.text()
    return await r.json()


async def test_create_intent_returns_quote_and_stripe_metadata(pay: Env) -> None:
    h = pay.new_user()
    body = await _topup(pay, h, 2_000)
    q = body["quote"]
    # fee bearer "user" (settings default): charge grossed up so that 2000 cents net remain
    assert q["amount_cents"] == 2_000 and q["credit_units"] == 20_000_000
    assert q["charge_cents"] - q["fee_cents"] >= 2_000 and q["fee_bearer"] == "user"
    assert body["client_secret"].startswith(body["payment"]["payment_intent_id"])
    pi = pay.stripe.objects[body["payment"]["payment_intent_id"]]
    assert pi["amount"] == q["charge_cents"]
    assert pi["metadata"]["cm_app"] == "cloudmarket"
    assert pi["metadata"]["payment_id"] == str(body["payment"]["id"])
    [req] = pay.stripe.requests_to("POST", "/v1/payment_intents")
    assert req.idempotency_key == f"cm-topup-{body['payment']['id']}"
    quote = await pay.client.get("/api/payments/quote?amount_cents=2000", headers=h)
    assert quote.status == 200 and (await quote.json()) == q


async def test_same_event_five_times_concurrently_then_after_restart_mints_once(pay: Env) -> None:
    h = pay.new_user()
    body = await _topup(pay, h, 1_000)
    pid = body["payment"]["payment_intent_id"]
    event = pay.stripe.payment_intent_succeeded_event(pid)
    results = await asyncio.gather(*(pay.send(event) for _ in range(5)))
    assert all(status == 200 for status, _ in results), results
    # the same payment through another event type credits nothing more
    status, text = await pay.send(pay.stripe.checkout_session_completed_event(pid))
    assert status == 200, text
    assert await count(pay.runtime, LedgerEntry, LedgerEntry.business_key == pid) == 1
    assert await count(pay.runtime, OutboxTx, OutboxTx.idempotency_key == f"mint:{pid}") == 1
    assert await count(pay.runtime, StripeEvent, StripeEvent.event_id == event["id"]) == 1

    # restart: a new app with a new Stripe client and billing context on the same DB and chain
    ctx2 = make_billing(pay.runtime, pay.stripe)
    options = identity.IdentityOptions(env="dev", data_dir=pay.tmp, chain_id=pay.runtime.chain.chain_id)
    try:
        async with serve(
            create_app(pay.runtime, background=False, identity_options=options, billing=ctx2)
        ) as client2:
            url = str(client2.make_url("/api/payments/webhook"))
            status, text = await pay.stripe.send_event(url, event)
            assert status == 200 and '"duplicate"' in text
            # a new event id for the same payment (Stripe re-sent after days): business key dedupes
            status, _ = await pay.stripe.send_event(
                url, pay.stripe.event("payment_intent.succeeded", pay.stripe.objects[pid])
            )
            assert status == 200
    finally:
        await ctx2.aclose()
    await drain_outbox(pay.runtime)
    assert await count(pay.runtime, OutboxTx, OutboxTx.idempotency_key == f"mint:{pid}") == 1
    async with pay.runtime.sessionmaker() as s:
        from engine.payments.services import get_entry

        entry = await get_entry(s, pid)
    assert entry is not None and entry.wallet_kind == "managed"
    token = CreditTokenClient(pay.runtime.chain.w3, pay.runtime.manifest.address("CreditToken"))
    assert await token.balance_of(entry.wallet_address) == 10_000_000  # ONE mint of 1000 cents
    assert await token.ref_used(mint_ref(pid))
    wallet = await (await pay.client.get("/api/wallet", headers=h)).json()
    assert wallet["credit_units"] == 10_000_000 and wallet["pending_credit_units"] == 0
    assert wallet["mint_destination"] == {"address": entry.wallet_address, "kind": "managed"}
    receipt = await pay.client.get(f"/api/payments/receipts/{entry.id}", headers=h)
    rbody = await receipt.json()
    assert rbody["receipt_url"].startswith("https://pay.stripe.com/receipts/")
    assert rbody["mint_status"] == OutboxStatus.CONFIRMED.value


async def test_webhook_answers_2xx_before_any_mint_and_wallet_shows_pending(pay: Env) -> None:
    h = pay.new_user()
    body = await _topup(pay, h, 700)
    pid = body["payment"]["payment_intent_id"]
    status, _ = await pay.send(pay.stripe.payment_intent_succeeded_event(pid))
    assert status == 200  # no sender ran: nothing on chain yet
    wallet = await (await pay.client.get("/api/wallet", headers=h)).json()
    assert wallet["credit_units"] == 0 and wallet["pending_credit_units"] == 7_000_000
    await drain_outbox(pay.runtime)
    wallet = await (await pay.client.get("/api/wallet", headers=h)).json()
    assert wallet["credit_units"] == 7_000_000 and wallet["pending_credit_units"] == 0
    for _ in range(5):  # index the mint's Transfer/CreditMinted events
        await pay.runtime.indexer.run_once()
    hist = await (await pay.client.get("/api/wallet/transactions?limit=1", headers=h)).json()
    assert len(hist["items"]) == 1 and hist["next_cursor"]
    rest = await (
        await pay.client.get(f"/api/wallet/transactions?cursor={hist['next_cursor']}", headers=h)
    ).json()
    types = {i["type"] for i in hist["items"] + rest["items"]}
    assert "payment.topup" in types and "chain.CreditMinted" in types, types
    csv = await pay.client.get("/api/wallet/transactions?format=csv", headers=h)
    assert csv.status == 200 and csv.content_type == "text/csv"
    assert "receipts/payment" in await csv.text()


async def test_event_not_ours_is_ignored(pay: Env) -> None:
    pi = pay.stripe._create_payment_intent({"amount": "900", "currency": "usd"})  # another integration's
    status, text = await pay.send(pay.stripe.payment_intent_succeeded_event(pi["id"]))
    assert status == 200 and "not_ours" in text
    assert await count(pay.runtime, LedgerEntry, LedgerEntry.business_key == pi["id"]) == 0
