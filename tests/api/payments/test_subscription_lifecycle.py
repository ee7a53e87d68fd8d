"""Subscriptions follow Stripe's lifecycle (issue 11 §3): a failed renewal reads ``past_due`` and is told
to the user (``last_payment_error`` + a notification), a subscription Stripe ended reads ``canceled``,
events that arrive twice, late or out of order never move a subscription backwards, the reconciliation job
refreshes status from Stripe, and a half-created subscription is retried with its Idempotency-Key or
marked ``failed`` after the last attempt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from billing.reconcile import reconcile
from billing.services import MAX_CREATE_ATTEMPTS, BillingService
from billing.subscriptions import PAYMENT_FAILED_NOTICE, apply_remote
from engine.nodes.models import Notification
from engine.payments.models import Plan, Subscription
from tests.api.payments.conftest import Env
from tests.api.payments.helpers import count, drain_outbox


async def _user_id(pay: Env, h: dict[str, str]) -> int:
    return int((await (await pay.client.get("/api/auth/session", headers=h)).json())["user_id"])


@pytest.fixture(autouse=True)
async def _settled(pay: Env) -> AsyncIterator[None]:
    yield
    await drain_outbox(pay.runtime)  # the chain is shared: leave no period's mint in flight


async def _subscribed(pay: Env) -> tuple[dict[str, str], int, dict[str, Any]]:
    """A user with a saved card subscribed to a new plan (first invoice paid): headers, user id, the
    subscription as the API shows it."""
    op = pay.headers("dev|operator-lifecycle", ("cloud-operator",))
    r = await pay.client.post(
        "/api/cloud-operator/plans",
        json={"name": "Pro", "price_cents": 2_000, "credit_cents": 2_500},
        headers=op,
    )
    assert r.status == 201, await r.text()
    plan = await r.json()
    h = pay.new_user()
    uid = await _user_id(pay, h)
    seti = (await (await pay.client.post("/api/payments/methods", headers=h)).json())["setup_intent_id"]
    pm = pay.stripe.complete_setup_intent(seti)["payment_method"]
    assert (await pay.client.post(f"/api/payments/methods/{pm}/default", headers=h)).status == 200
    r = await pay.client.post("/api/payments/subscriptions", json={"plan_id": plan["id"]}, headers=h)
    assert r.status == 201, await r.text()
    sub = await r.json()
    assert sub["status"] == "active" and sub["last_payment_error"] is None
    return h, uid, sub


async def _sub(pay: Env, h: dict[str, str]) -> dict[str, Any]:
    r = await pay.client.get("/api/payments/subscriptions", headers=h)
    assert r.status == 200
    (only,) = (await r.json())["subscriptions"]
    return dict(only)


async def test_failed_renewal_reads_past_due_tells_the_user_once_and_clears_when_paid(pay: Env) -> None:
    h, uid, sub = await _subscribed(pay)
    sid = sub["stripe_subscription_id"]
    invoice = pay.stripe.renew_subscription(sid, decline="insufficient_funds")
    assert invoice["status"] == "open"
    failed = pay.stripe.invoice_payment_failed_event(invoice["id"])
    for event in (failed, failed, pay.stripe.invoice_payment_failed_event(invoice["id"])):
        status, text = await pay.send(event)
        assert status == 200, text
    shown = await _sub(pay, h)
    assert shown["status"] == "past_due"
    assert "declined" in shown["last_payment_error"] and "insufficient_funds" in shown["last_payment_error"]
    assert shown["current_period_end"].endswith("+00:00") and shown["created_at"].endswith("+00:00")
    # told once per attempt, whatever the number of deliveries
    assert (
        await count(
            pay.runtime, Notification, Notification.user_id == uid, Notification.kind == PAYMENT_FAILED_NOTICE
        )
        == 1
    )
    # Stripe's next attempt succeeds: invoice.paid clears the failure and the subscription is active again
    pay.stripe.retry_invoice(invoice["id"])
    assert (await pay.send(pay.stripe.invoice_paid_event(invoice["id"])))[0] == 200
    shown = await _sub(pay, h)
    assert shown["status"] == "active" and shown["last_payment_error"] is None
    # the failure's event delivered again days later (a new delivery id, the old snapshot): Stripe's
    # invoice is paid now, so nothing moves back and the user is not told again
    late = pay.stripe.event("invoice.payment_failed", failed["data"]["object"])
    assert (await pay.send(late))[0] == 200
    shown = await _sub(pay, h)
    assert shown["status"] == "active" and shown["last_payment_error"] is None
    assert (
        await count(
            pay.runtime, Notification, Notification.user_id == uid, Notification.kind == PAYMENT_FAILED_NOTICE
        )
        == 1
    )


async def test_subscription_stripe_ended_reads_canceled_and_a_late_update_does_not_revive_it(
    pay: Env,
) -> None:
    h, _, sub = await _subscribed(pay)
    sid = sub["stripe_subscription_id"]
    r = await pay.client.delete(f"/api/payments/subscriptions/{sub['id']}", headers=h)
    assert r.status == 200 and (await r.json())["cancel_at_period_end"] is True
    # Stripe's update event of the cancellation, held back by the network
    stale_update = pay.stripe.subscription_updated_event(
        sid, previous_attributes={"cancel_at_period_end": False}
    )
    pay.stripe.end_subscription(sid)  # the period is over: Stripe ends it
    assert (await pay.send(pay.stripe.subscription_deleted_event(sid)))[0] == 200
    assert (await _sub(pay, h))["status"] == "canceled"
    status, _ = await pay.send(stale_update)  # arrives last, says "active"
    assert status == 200
    shown = await _sub(pay, h)
    assert shown["status"] == "canceled"
    await reconcile(pay.billing, since=0)
    assert (await _sub(pay, h))["status"] == "canceled"


async def test_a_stale_read_never_moves_a_subscription_backwards() -> None:
    later, earlier = 1_800_000_000, 1_797_000_000
    row = Subscription(
        user_id=1,
        plan_id=1,
        status="past_due",
        stripe_subscription_id="sub_1",
        current_period_end=datetime.fromtimestamp(later, UTC),
    )
    old = {"id": "sub_1", "status": "active", "items": {"data": [{"current_period_end": earlier}]}}
    assert apply_remote(row, old) is False and row.status == "past_due"
    assert apply_remote(row, {**old, "status": "canceled"}) is True and row.status == "canceled"
    newer = {"id": "sub_1", "status": "active", "current_period_end": later + 2_592_000}
    assert apply_remote(row, newer) is False and row.status == "canceled"  # Stripe never reopens it


async def test_reconcile_refreshes_subscription_status_without_webhooks(pay: Env) -> None:
    h, _, sub = await _subscribed(pay)
    sid = sub["stripe_subscription_id"]
    pay.stripe.renew_subscription(sid, decline="card_declined")  # no webhook arrives
    report = await reconcile(pay.billing, since=0)
    assert sub["id"] in report.subscriptions.refreshed
    assert (await _sub(pay, h))["status"] == "past_due"
    pay.stripe.end_subscription(sid)
    await reconcile(pay.billing, since=0)
    assert (await _sub(pay, h))["status"] == "canceled"


async def test_half_created_subscription_is_retried_with_the_same_key(pay: Env) -> None:
    h, uid, sub = await _subscribed(pay)
    plan_id = sub["plan_id"]
    async with pay.runtime.sessionmaker() as s, s.begin():
        row = Subscription(user_id=uid, plan_id=plan_id, status="created")
        s.add(row)
        await s.flush()
        row_id = row.id
    async with pay.runtime.sessionmaker() as s:
        plan = await s.get(Plan, plan_id)
    assert plan is not None and plan.stripe_price_id
    customer = await BillingService(pay.billing).customer_id(uid)
    assert customer is not None
    # the create went out, Stripe made the subscription, the process died before storing the answer
    lost = await pay.billing.stripe.create_subscription(
        customer=customer,
        price=plan.stripe_price_id,
        idempotency_key=f"cm-subscription-{row_id}",  # type: ignore[arg-type]
        metadata={"user_id": uid, "subscription_id": row_id, "plan_id": plan_id},
    )
    report = await reconcile(pay.billing, since=0, subscription_retry_after=0)
    assert row_id in report.subscriptions.retried
    async with pay.runtime.sessionmaker() as s:
        fresh = await s.get(Subscription, row_id)
    assert fresh is not None and fresh.stripe_subscription_id == lost["id"] and fresh.status == "active"
    sent = [
        r
        for r in pay.stripe.requests_to("POST", "/v1/subscriptions")
        if r.idempotency_key == f"cm-subscription-{row_id}"
    ]
    assert len(sent) == 2 and sent[1].replayed
    assert (
        sum(
            1
            for s in pay.stripe.of_kind("subscription")
            if s["metadata"].get("subscription_id") == str(row_id)
        )
        == 1
    )
    assert [
        x["id"]
        for x in (await (await pay.client.get("/api/payments/subscriptions", headers=h)).json())[
            "subscriptions"
        ]
    ] == [sub["id"], row_id]


async def test_half_created_subscription_is_marked_failed_after_the_last_attempt(pay: Env) -> None:
    h, uid, _ = await _subscribed(pay)
    async with pay.runtime.sessionmaker() as s, s.begin():
        plan = Plan(
            name="Gone",
            price_cents=1_000,
            credit_cents=1_000,
            currency="usd",
            interval="month",
            stripe_price_id="price_deleted_at_stripe",
        )
        s.add(plan)
        await s.flush()
        row = Subscription(user_id=uid, plan_id=plan.id, status="created")
        s.add(row)
        await s.flush()
        row_id = row.id
    for attempt in range(1, MAX_CREATE_ATTEMPTS + 1):
        report = await reconcile(pay.billing, since=0, subscription_retry_after=0)
        async with pay.runtime.sessionmaker() as s:
            fresh = await s.get(Subscription, row_id)
        assert fresh is not None and fresh.create_attempts == attempt
        assert f"subscription:{row_id}" in report.subscriptions.errors
        assert fresh.status == ("failed" if attempt == MAX_CREATE_ATTEMPTS else "created")
    assert row_id in report.subscriptions.failed
    shown = [
        x
        for x in (await (await pay.client.get("/api/payments/subscriptions", headers=h)).json())[
            "subscriptions"
        ]
        if x["id"] == row_id
    ]
    assert shown[0]["status"] == "failed" and "subscribing failed" in shown[0]["last_payment_error"]
    keys = {
        r.idempotency_key
        for r in pay.stripe.requests_to("POST", "/v1/subscriptions")
        if r.idempotency_key == f"cm-subscription-{row_id}"
    }
    assert keys == {f"cm-subscription-{row_id}"}
    await reconcile(pay.billing, since=0, subscription_retry_after=0)  # failed is final: no more calls
    async with pay.runtime.sessionmaker() as s:
        fresh = await s.get(Subscription, row_id)
    assert fresh is not None and fresh.create_attempts == MAX_CREATE_ATTEMPTS
