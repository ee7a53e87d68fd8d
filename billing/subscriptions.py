"""Subscriptions follow Stripe's lifecycle: webhook handlers, the state rule, and the reconciliation pass.

Stripe owns a subscription's state; our row mirrors it. Every path (``customer.subscription.updated`` and
``.deleted``, ``invoice.payment_failed``, ``invoice.paid``, the reconciliation job) re-reads the
subscription from Stripe and applies what it read through :func:`apply_remote`, so an event that arrives
late, twice or out of order carries no state of its own. The rule that keeps a late *read* from moving a
row backwards compares Stripe's objects, not event order:

* ``canceled`` and ``incomplete_expired`` are final at Stripe: a row in one of them never changes again,
  and a read that says so is always applied;
* otherwise a read whose current period ends before the stored one is older than what we have: ignored.
  (Within one period the newest read wins; each is authoritative at the time it was made.)

A failed renewal (``invoice.payment_failed`` for the subscription's latest invoice, still unpaid when
re-read) is told to the user twice: ``last_payment_error`` on the subscription (``GET
/api/payments/subscriptions``) and a ``subscription_payment_failed`` row in ``notifications`` (one per
invoice attempt). A later paid latest invoice clears ``last_payment_error``.

Half-created subscriptions (row ``created``, the Stripe call failed or its answer was lost) are retried by
:func:`reconcile_subscriptions` through :meth:`billing.services.BillingService.open_subscription`, with the
same Idempotency-Key and body; after ``billing.services.MAX_CREATE_ATTEMPTS`` failed attempts the row
reads ``failed``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.context import BillingContext
from billing.errors import BillingError
from billing.services import BillingService
from billing.webhooks import Event
from engine.nodes.models import Notification
from engine.payments import services as ledger
from engine.payments.models import (
    Subscription,
    SubscriptionStatus,
)

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]
PAYMENT_FAILED_NOTICE = "subscription_payment_failed"
# Stripe's own final states (``failed`` is ours: a row that never got a Stripe subscription)
STRIPE_FINAL = frozenset({SubscriptionStatus.CANCELED.value, SubscriptionStatus.INCOMPLETE_EXPIRED.value})
CREATE_RETRY_AFTER = 300  # seconds: leave a row alone while its own subscribe call may still be running


def _id(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def period_end(remote: Obj) -> datetime | None:
    """The end of the subscription's current period (top level before 2025 API versions, on its items
    since)."""
    end = remote.get("current_period_end")
    if not isinstance(end, int):
        items = (remote.get("items") or {}).get("data") or []
        end = items[0].get("current_period_end") if items else None
    return datetime.fromtimestamp(end, UTC) if isinstance(end, int) else None


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def apply_remote(row: Subscription, remote: Obj) -> bool:
    """Mirror a Stripe subscription read onto ``row`` unless the read is older than the row (see the
    module docstring). ``True`` if it was applied."""
    status = str(remote.get("status") or "")
    if row.status in STRIPE_FINAL or not status:
        return False
    end = period_end(remote)
    if (
        status not in STRIPE_FINAL
        and end is not None
        and row.current_period_end is not None
        and end < _aware(row.current_period_end)
    ):
        return False  # a stale read: the row already knows a later period
    if row.stripe_subscription_id is None:
        row.stripe_subscription_id = str(remote["id"])  # adopted (the create's answer was lost)
    row.status = status
    row.cancel_at_period_end = bool(remote.get("cancel_at_period_end"))
    if end is not None:
        row.current_period_end = end
    return True


async def find_row(session: AsyncSession, remote: Obj) -> Subscription | None:
    """Our row of a Stripe subscription: by its id, else by the ``subscription_id`` in its metadata
    (the id was never stored: a crash after Stripe created it) when the user matches too."""
    row = (
        await session.execute(
            select(Subscription).where(Subscription.stripe_subscription_id == str(remote["id"]))
        )
    ).scalar_one_or_none()
    if row is not None:
        return row
    meta = remote.get("metadata") or {}
    raw = str(meta.get("subscription_id", ""))
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return None
    row = await session.get(Subscription, int(raw))
    if row is None or row.stripe_subscription_id is not None or str(row.user_id) != str(meta.get("user_id")):
        return None
    return row


@dataclass(frozen=True)
class PaymentFailure:
    invoice_id: str
    attempt: int
    message: str
    amount_due_cents: int
    currency: str
    next_attempt: int | None


async def _failure(ctx: BillingContext, invoice: Obj) -> PaymentFailure:
    """What the user is told about a failed attempt on ``invoice`` (the PaymentIntent's error when the
    invoice names one)."""
    message, code = "the renewal payment failed", None
    pi_id = _id(invoice.get("payment_intent"))
    if pi_id is not None:
        error = (await ctx.stripe.retrieve_payment_intent(pi_id)).get("last_payment_error") or {}
        message = str(error.get("message") or message)
        code = error.get("decline_code") or error.get("code")
    next_attempt = invoice.get("next_payment_attempt")
    return PaymentFailure(
        invoice_id=str(invoice["id"]),
        attempt=int(invoice.get("attempt_count") or 1),
        message=f"{message} ({code})" if code else message,
        amount_due_cents=int(invoice.get("amount_due") or 0),
        currency=str(invoice.get("currency") or "usd"),
        next_attempt=next_attempt if isinstance(next_attempt, int) else None,
    )


async def _notify(session: AsyncSession, row: Subscription, failure: PaymentFailure) -> None:
    stmt = (
        ledger._insert(session)(Notification)
        .values(
            user_id=row.user_id,
            kind=PAYMENT_FAILED_NOTICE,
            dedupe_key=f"invoice_failed:{failure.invoice_id}:{failure.attempt}",
            payload={
                "subscription_id": row.id,
                "plan_id": row.plan_id,
                "invoice_id": failure.invoice_id,
                "amount_due_cents": failure.amount_due_cents,
                "currency": failure.currency,
                "message": failure.message,
                "next_payment_attempt": failure.next_attempt,
            },
        )
        .on_conflict_do_nothing(index_elements=["user_id", "dedupe_key"])
    )
    await session.execute(stmt)


async def sync(
    ctx: BillingContext,
    remote: Obj,
    *,
    event: Event | None = None,
    paid_invoice: str | None = None,
    failure: PaymentFailure | None = None,
) -> str:
    """Apply a fresh Stripe read in one transaction (with the event id when there is one). ``paid_invoice``
    / ``failure``: what the caller re-read about the latest invoice. Returns the outcome."""
    async with ctx.sessionmaker() as s, s.begin():
        row = await find_row(s, remote)
        outcome = "unknown_subscription" if row is None else "synced"
        if event is not None and not await ledger.record_event(s, event.id, event.type, outcome):
            return "duplicate"
        if row is None:
            return outcome
        apply_remote(row, remote)
        latest = _id(remote.get("latest_invoice"))
        if paid_invoice is not None and paid_invoice == latest:
            row.last_payment_error = None
        if failure is not None and failure.invoice_id == latest:
            row.last_payment_error = failure.message
            await _notify(s, row, failure)
            outcome = "payment_failed"
    return outcome


def _subscription_of(invoice: Obj) -> str | None:
    return _id(invoice.get("subscription")) or _id(
        ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    )


# ---- webhook handlers --------------------------------------------------------------------------------


async def on_subscription_changed(event: Event, ctx: BillingContext) -> None:
    """``customer.subscription.updated`` / ``.deleted``: re-read the subscription, mirror it."""
    await sync(ctx, await ctx.stripe.retrieve_subscription(str(event.object_id)), event=event)


async def on_invoice_payment_failed(event: Event, ctx: BillingContext) -> None:
    """Re-read the invoice; if it is still unpaid, tell the user and mirror the subscription (Stripe has
    moved it to ``past_due``, or ``incomplete`` for a first invoice)."""
    invoice = await ctx.stripe.retrieve_invoice(str(event.object_id))
    sub_id = _subscription_of(invoice)
    if sub_id is None:
        async with ctx.sessionmaker() as s, s.begin():
            await ledger.record_event(s, event.id, event.type, "no_subscription")
        return
    failure = None if invoice.get("status") != "open" else await _failure(ctx, invoice)
    remote = await ctx.stripe.retrieve_subscription(sub_id)
    await sync(ctx, remote, event=event, failure=failure)


async def after_invoice_paid(ctx: BillingContext, invoice: Obj) -> None:
    """After ``invoice.paid`` is credited: mirror the subscription, clear a told failure."""
    sub_id = _subscription_of(invoice)
    if sub_id is not None and invoice.get("status") == "paid":
        await sync(ctx, await ctx.stripe.retrieve_subscription(sub_id), paid_invoice=str(invoice["id"]))


# ---- reconciliation ----------------------------------------------------------------------------------


@dataclass
class SubscriptionsReport:
    refreshed: list[int] = field(default_factory=list)  # rows whose state changed
    retried: list[int] = field(default_factory=list)  # half-created rows now created at Stripe
    failed: list[int] = field(default_factory=list)  # half-created rows given up (``failed``)
    errors: dict[str, str] = field(default_factory=dict)


async def reconcile_subscriptions(
    ctx: BillingContext, *, retry_after: int = CREATE_RETRY_AFTER, now: datetime | None = None
) -> SubscriptionsReport:
    """Refresh every subscription that is not final from Stripe; retry the half-created ones older than
    ``retry_after`` seconds (same Idempotency-Key), or mark them ``failed`` after the last attempt."""
    report = SubscriptionsReport()
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=retry_after)
    final = [*STRIPE_FINAL, SubscriptionStatus.FAILED.value]
    async with ctx.sessionmaker() as s:
        rows = list(
            (
                await s.execute(
                    select(
                        Subscription.id,
                        Subscription.status,
                        Subscription.stripe_subscription_id,
                        Subscription.last_payment_error,
                    )
                    .where(Subscription.status.not_in(final))
                    .order_by(Subscription.id)
                )
            ).all()
        )
        created_at = {
            sid: _aware(at)
            for sid, at in (
                await s.execute(
                    select(Subscription.id, Subscription.created_at).where(
                        Subscription.stripe_subscription_id.is_(None)
                    )
                )
            ).all()
        }
    svc = BillingService(ctx)
    for sub_id, status, stripe_id, told in rows:
        try:
            if stripe_id is None:
                if created_at.get(sub_id, cutoff) > cutoff:
                    continue  # its subscribe call may still be running
                row = await svc.open_subscription(sub_id)
                (report.retried if row.stripe_subscription_id else report.failed).append(sub_id)
                continue
            remote = await ctx.stripe.retrieve_subscription(stripe_id)
            paid = None
            latest = _id(remote.get("latest_invoice"))
            if told and latest is not None and remote.get("status") == SubscriptionStatus.ACTIVE.value:
                invoice = await ctx.stripe.retrieve_invoice(latest)  # a told failure that was paid since
                paid = latest if invoice.get("status") == "paid" else None
            if await sync(ctx, remote, paid_invoice=paid) == "synced" and remote.get("status") != status:
                report.refreshed.append(sub_id)
        except BillingError as exc:
            async with ctx.sessionmaker() as s:
                row_now = await s.get(Subscription, sub_id)
            if row_now is not None and row_now.status == SubscriptionStatus.FAILED.value:
                report.failed.append(sub_id)
            report.errors[f"subscription:{sub_id}"] = str(exc)
    return report


__all__ = [
    "PAYMENT_FAILED_NOTICE",
    "SubscriptionsReport",
    "after_invoice_paid",
    "apply_remote",
    "on_invoice_payment_failed",
    "on_subscription_changed",
    "reconcile_subscriptions",
]
