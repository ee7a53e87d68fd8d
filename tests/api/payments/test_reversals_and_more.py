"""Refund before/after mint (managed: clawback on chain; linked: flag), disputes, invoice.paid once,
reconciliation of a missed webhook, the same Idempotency-Key after a crash, and ownership (404)."""

from __future__ import annotations

from eth_account import Account

from billing.reconcile import reconcile
from billing.services import BillingService, payment_key
from chain.contracts import CreditTokenClient
from engine.identity.services import link_wallet
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.payments.models import LedgerEntry, Payment, Reversal
from engine.payments.services import can_create_deployments, get_entry, mint_ref
from tests.api.payments.conftest import Env
from tests.api.payments.helpers import count, drain_outbox


async def _paid(pay: Env, h: dict[str, str], amount: int = 1_000) -> tuple[str, LedgerEntry]:
    r = await pay.client.post("/api/payments/create-intent", json={"amount_cents": amount}, headers=h)
    pid = (await r.json())["payment"]["payment_intent_id"]
    status, text = await pay.send(pay.stripe.payment_intent_succeeded_event(pid))
    assert status == 200, text
    async with pay.runtime.sessionmaker() as s:
        entry = await get_entry(s, pid)
    assert entry is not None
    return pid, entry


def _token(pay: Env) -> CreditTokenClient:
    return CreditTokenClient(pay.runtime.chain.w3, pay.runtime.manifest.address("CreditToken"))


async def _user_id(pay: Env, h: dict[str, str]) -> int:
    return int((await (await pay.client.get("/api/auth/session", headers=h)).json())["user_id"])


async def test_refund_before_mint_cancels_the_mint(pay: Env) -> None:
    h = pay.new_user()
    pid, entry = await _paid(pay, h)
    refund_event = pay.stripe.event(
        "charge.refunded", pay.stripe.objects[pay.stripe._create_refund({"payment_intent": pid})["charge"]]
    )
    assert (await pay.send(refund_event))[0] == 200
    async with pay.runtime.sessionmaker() as s:
        from engine.outbox.services import get_by_key

        row = await get_by_key(s, entry.mint_key)
    assert row is not None and row.status is OutboxStatus.FAILED and "cancelled" in (row.last_error or "")
    await drain_outbox(pay.runtime)
    assert await _token(pay).balance_of(entry.wallet_address) == 0
    assert not await _token(pay).ref_used(mint_ref(pid))
    async with pay.runtime.sessionmaker() as s:
        assert (await can_create_deployments(s, entry.user_id))[0] is True


async def test_refund_after_mint_managed_wallet_is_clawed_back_and_burned(pay: Env) -> None:
    h = pay.new_user()
    pid, entry = await _paid(pay, h, 1_000)
    await drain_outbox(pay.runtime)
    token = _token(pay)
    assert await token.balance_of(entry.wallet_address) == 10_000_000
    supply = await token.total_supply()
    charge_id = pay.stripe._create_refund({"payment_intent": pid, "amount": "250"})["charge"]  # partial
    assert (await pay.send(pay.stripe.charge_refunded_event(charge_id)))[0] == 200
    for _ in range(4):  # permit -> pull -> burn, each enqueued once the previous is confirmed
        await drain_outbox(pay.runtime)
        await pay.billing.reversals.process_pending()
    # proportional to the charge (grossed up for Stripe's fee), rounded up in the platform's favour
    taken = -((-10_000_000 * 250) // entry.amount_cents)
    assert await token.balance_of(entry.wallet_address) == 10_000_000 - taken
    assert await token.total_supply() == supply - taken
    async with pay.runtime.sessionmaker() as s:
        assert (await can_create_deployments(s, entry.user_id))[0] is True
    assert (
        await count(pay.runtime, Reversal, Reversal.ledger_entry_id == entry.id, Reversal.action == "done")
        == 1
    )
    # the rest refunded later: another reversal of the remaining credit, again clawed back
    pay.stripe._create_refund({"payment_intent": pid})
    assert (await pay.send(pay.stripe.charge_refunded_event(charge_id)))[0] == 200
    for _ in range(4):
        await drain_outbox(pay.runtime)
        await pay.billing.reversals.process_pending()
    assert await token.balance_of(entry.wallet_address) == 0
    assert (
        await count(
            pay.runtime,
            OutboxTx,
            OutboxTx.kind == "credit.clawback.burn",
            OutboxTx.status == OutboxStatus.CONFIRMED,
        )
        >= 2
    )


async def test_refund_after_mint_linked_wallet_flags_the_account(pay: Env) -> None:
    h = pay.new_user()
    uid = await _user_id(pay, h)
    own = Account.create().address
    async with pay.runtime.sessionmaker() as s:
        await link_wallet(s, uid, own)
    pid, entry = await _paid(pay, h)
    assert entry.wallet_address == own and entry.wallet_kind == "siwe"
    await drain_outbox(pay.runtime)
    charge = pay.stripe.objects[pay.stripe.objects[pid]["latest_charge"]]
    assert (await pay.send(pay.stripe.dispute_created_event(charge["id"])))[0] == 200
    async with pay.runtime.sessionmaker() as s:
        allowed, reason = await can_create_deployments(s, uid)
    assert allowed is False and reason and "10000000" in reason
    assert await _token(pay).balance_of(own) == 10_000_000  # the user's own tokens are not touched


async def test_invoice_paid_twice_grants_one_period(pay: Env) -> None:
    op = pay.headers("dev|operator-plans", ("cloud-operator",))
    r = await pay.client.post(
        "/api/cloud-operator/plans",
        json={"name": "Pro", "price_cents": 2_000, "credit_cents": 2_500},
        headers=op,
    )
    assert r.status == 201, await r.text()
    plan = await r.json()
    h = pay.new_user()
    uid = await _user_id(pay, h)
    svc = BillingService(pay.billing)
    cid = await svc.customer_id(uid)
    seti = (await (await pay.client.post("/api/payments/methods", headers=h)).json())["setup_intent_id"]
    pm = pay.stripe.complete_setup_intent(seti)["payment_method"]
    assert (await pay.client.post(f"/api/payments/methods/{pm}/default", headers=h)).status == 200
    r = await pay.client.post("/api/payments/subscriptions", json={"plan_id": plan["id"]}, headers=h)
    assert r.status == 201, await r.text()
    sub = await r.json()
    inv = pay.stripe.objects[pay.stripe.objects[sub["stripe_subscription_id"]]["latest_invoice"]]
    assert inv["status"] == "paid" and cid
    first = pay.stripe.invoice_paid_event(inv["id"])
    for event in (first, first, pay.stripe.invoice_paid_event(inv["id"])):
        assert (await pay.send(event))[0] == 200
    assert await count(pay.runtime, LedgerEntry, LedgerEntry.business_key == inv["id"]) == 1
    nxt = pay.stripe.renew_subscription(sub["stripe_subscription_id"])
    assert (await pay.send(pay.stripe.invoice_paid_event(nxt["id"])))[0] == 200
    assert await count(pay.runtime, LedgerEntry, LedgerEntry.user_id == uid) == 2
    r = await pay.client.delete(f"/api/payments/subscriptions/{sub['id']}", headers=h)
    assert r.status == 200 and (await r.json())["cancel_at_period_end"] is True


async def test_reconcile_credits_a_missed_webhook_once(pay: Env) -> None:
    h = pay.new_user()
    r = await pay.client.post("/api/payments/create-intent", json={"amount_cents": 800}, headers=h)
    pid = (await r.json())["payment"]["payment_intent_id"]
    pay.stripe.succeed_payment_intent(pid)  # the webhook never arrives
    report = await reconcile(pay.billing, since=0)
    assert pid in report.credited
    again = await reconcile(pay.billing, since=0)
    assert pid not in again.credited
    assert (await pay.send(pay.stripe.payment_intent_succeeded_event(pid)))[0] == 200  # late webhook
    assert await count(pay.runtime, LedgerEntry, LedgerEntry.business_key == pid) == 1
    assert await count(pay.runtime, OutboxTx, OutboxTx.idempotency_key == f"mint:{pid}") == 1


async def test_crash_between_stripe_create_and_store_reuses_the_key(pay: Env) -> None:
    h = pay.new_user()
    uid = await _user_id(pay, h)
    svc = BillingService(pay.billing)
    async with pay.runtime.sessionmaker() as s, s.begin():
        row = Payment(
            user_id=uid,
            currency="usd",
            amount_cents=1000,
            charge_cents=1000,
            fee_cents=59,
            credit_units=10_000_000,
            fee_bearer="platform",
            status="created",
        )
        s.add(row)
        await s.flush()
        payment_id = row.id
    customer = await svc.customer_id(uid)
    # the call went out, Stripe created the PaymentIntent, then the process died before storing it
    lost = await pay.billing.stripe.create_payment_intent(
        1000,
        "usd",
        customer,
        {"user_id": uid, "payment_id": payment_id},
        payment_key(payment_id),
        description=f"cloudmarket credit top-up #{payment_id}",
    )
    payment = await svc.open_payment(payment_id)  # the retry
    assert payment.payment_intent_id == lost["id"]
    reqs = pay.stripe.requests_to("POST", "/v1/payment_intents")
    assert [r.idempotency_key for r in reqs] == [f"cm-topup-{payment_id}"] * 2 and reqs[1].replayed
    assert (
        sum(
            1
            for pi in pay.stripe.of_kind("payment_intent")
            if pi["metadata"].get("payment_id") == str(payment_id)
        )
        == 1
    )


async def test_users_never_see_each_others_objects(pay: Env) -> None:
    alice, bob = pay.new_user(), pay.new_user()
    _, entry = await _paid(pay, alice)
    seti = (await (await pay.client.post("/api/payments/methods", headers=alice)).json())["setup_intent_id"]
    pm = pay.stripe.complete_setup_intent(seti)["payment_method"]
    listed = await (await pay.client.get("/api/payments/methods", headers=alice)).json()
    assert [m["id"] for m in listed["methods"]] == [pm]
    assert (await (await pay.client.get("/api/payments/methods", headers=bob)).json())["methods"] == []
    assert (await pay.client.delete(f"/api/payments/methods/{pm}", headers=bob)).status == 404
    assert (await pay.client.post(f"/api/payments/methods/{pm}/default", headers=bob)).status == 404
    assert (await pay.client.get(f"/api/payments/receipts/{entry.id}", headers=bob)).status == 404
    assert (await pay.client.get(f"/api/payments/intents/{entry.payment_id}", headers=bob)).status == 404
    hist = await (await pay.client.get("/api/wallet/transactions", headers=bob)).json()
    assert hist["items"] == []
    assert (await pay.client.get(f"/api/payments/receipts/{entry.id}", headers=alice)).status == 200
    assert (await pay.client.delete(f"/api/payments/methods/{pm}", headers=alice)).status == 200
    # roles: no token 401, wrong role 403
    assert (await pay.client.get("/api/wallet")).status == 401
    prov = pay.headers("dev|prov-only", ("cloud-provider",))
    assert (await pay.client.get("/api/wallet", headers=prov)).status == 403
    assert (
        await pay.client.post(
            "/api/cloud-operator/plans",
            json={"name": "x", "price_cents": 100, "credit_cents": 1},
            headers=alice,
        )
    ).status == 403


async def test_path_ids_in_non_ascii_digits_name_nothing(pay: Env) -> None:
    """``int("\\u0661")`` is 1 in Python: a path id in Arabic-Indic digits must not reach the row."""
    alice = pay.new_user()
    _, entry = await _paid(pay, alice)
    arabic = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    assert (await pay.client.get(f"/api/payments/receipts/{entry.id}", headers=alice)).status == 200
    for path in (f"/api/payments/receipts/{entry.id}", f"/api/payments/intents/{entry.payment_id}"):
        r = await pay.client.get(path.translate(arabic), headers=alice)
        assert r.status == 404, path
        assert (await r.json())["error"]["code"] == "not_found"
