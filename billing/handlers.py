"""Webhook handlers (registered on a :class:`billing.webhooks.Dispatcher`) and the crediting paths they
share with the reconciliation job.

Flow of one delivery (``handle_event``): a duplicate event id answers at once; otherwise the handler
re-reads the authoritative object from Stripe (events may be stale, out of order or days late), then
in ONE database transaction stores the event id (unique), the ledger entry (unique business key) and the
outbox mint (``engine.payments.services.credit_once``). The chain is not touched: the outbox sender mints
later, so the webhook answers 2xx even when the chain is down. Two deliveries racing on the same event
or business key serialize on those unique keys; the loser writes nothing.

Subscriptions' lifecycle events (``customer.subscription.updated`` / ``.deleted``,
``invoice.payment_failed``) are handled in :mod:`billing.subscriptions`; ``invoice.paid`` credits here and
then mirrors the subscription there.

Refunds and disputes carry no metadata of ours (disputes never do; charges of invoices neither), so
they are registered with ``require_marker=False`` and are ours exactly when a ledger entry exists for
their PaymentIntent / invoice. The rule applied to them is in ``engine.payments.commands``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from billing import subscriptions
from billing.context import BillingContext
from billing.webhooks import Dispatcher, Event, Outcome, is_ours
from engine.money import Cents, cents_to_credit
from engine.payments import services as ledger
from engine.payments.errors import AmountMismatch, UnknownPayment
from engine.payments.models import LedgerEntry, Payment, PaymentStatus, Plan, Subscription
from engine.payments.services import record_reversal, reversal_units

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]


def _id(value: object) -> str | None:
    """An expandable Stripe field: an id string or an object with ``id``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


async def _record_only(ctx: BillingContext, event: Event, outcome: str) -> None:
    async with ctx.sessionmaker() as s, s.begin():
        await ledger.record_event(s, event.id, event.type, outcome)


# ---- crediting (webhooks and reconciliation) ---------------------------------------------------------


async def credit_payment_intent(
    ctx: BillingContext, pi: Obj, *, source: str, event: Event | None = None
) -> bool:
    """Credit a succeeded PaymentIntent of ours once. ``True`` if this call wrote the ledger entry."""
    if pi.get("status") != "succeeded" or not is_ours(pi):
        if event is not None:
            await _record_only(ctx, event, "not_succeeded")
        return False
    meta = pi.get("metadata") or {}
    try:
        payment_id = int(meta.get("payment_id", ""))
    except ValueError:
        raise UnknownPayment(str(pi["id"]), "PaymentIntent has no payment_id metadata") from None
    async with ctx.sessionmaker() as s:
        payment = await s.get(Payment, payment_id)
    if payment is None or str(payment.user_id) != str(meta.get("user_id")):
        raise UnknownPayment(str(pi["id"]), f"payment {payment_id} is unknown or belongs to another user")
    if (
        int(pi.get("amount_received") or pi["amount"]) != payment.charge_cents
        or pi["currency"] != payment.currency
    ):
        raise AmountMismatch(str(pi["id"]), payment.charge_cents, Cents(int(pi.get("amount_received") or 0)))
    charge_id = _id(pi.get("latest_charge"))
    receipt_url = None
    if charge_id:
        charge = await ctx.stripe.retrieve_charge(charge_id)
        receipt_url = charge.get("receipt_url")
    credit = ledger.Credit(
        business_key=str(pi["id"]),
        user_id=payment.user_id,
        kind="topup",
        currency=payment.currency,
        amount_cents=payment.charge_cents,
        credit_units=payment.credit_units,
        source=source,
        payment_id=payment.id,
        charge_id=charge_id,
        receipt_url=receipt_url,
    )
    return await _credit(ctx, credit, event)


async def credit_invoice(
    ctx: BillingContext, invoice: Obj, *, source: str, event: Event | None = None
) -> bool:
    """Grant a paid subscription invoice's period credit once (business key: the invoice id)."""
    if invoice.get("status") != "paid" or not is_ours(invoice):
        if event is not None:
            await _record_only(ctx, event, "not_paid")
        return False
    sub_stripe_id = _id(invoice.get("subscription")) or _id(
        ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    )
    async with ctx.sessionmaker() as s:
        sub = (
            await s.execute(select(Subscription).where(Subscription.stripe_subscription_id == sub_stripe_id))
        ).scalar_one_or_none()
        if sub is None:  # the subscription id may not be stored yet (crash after create): use metadata
            meta = (invoice.get("subscription_details") or {}).get("metadata") or {}
            if str(meta.get("subscription_id", "")).isdigit():
                sub = await s.get(Subscription, int(meta["subscription_id"]))
        plan = None if sub is None else await s.get(Plan, sub.plan_id)
    if sub is None or plan is None:
        raise UnknownPayment(str(invoice["id"]), f"invoice of unknown subscription {sub_stripe_id}")
    credit = ledger.Credit(
        business_key=str(invoice["id"]),
        user_id=sub.user_id,
        kind="subscription",
        currency=str(invoice.get("currency") or plan.currency),
        amount_cents=Cents(int(invoice.get("amount_paid") or 0)),
        credit_units=cents_to_credit(plan.credit_cents),
        source=source,
        subscription_id=sub.id,
        charge_id=_id(invoice.get("charge")),
        receipt_url=invoice.get("hosted_invoice_url"),
    )
    return await _credit(ctx, credit, event)


async def _credit(ctx: BillingContext, credit: ledger.Credit, event: Event | None) -> bool:
    async with ctx.sessionmaker() as s, s.begin():
        if event is not None and not await ledger.record_event(s, event.id, event.type, "credited"):
            return False  # a concurrent delivery of the same event won
        entry = await ledger.credit_once(s, credit, token=ctx.token, keyring=ctx.keyring)
    return entry is not None


# ---- refunds and disputes ----------------------------------------------------------------------------


async def _reverse(
    ctx: BillingContext, event: Event, charge: Obj, *, kind: str, key: str, reversed_cents: Cents
) -> None:
    business_key = _id(charge.get("invoice")) or _id(charge.get("payment_intent"))
    rid: int | None = None
    async with ctx.sessionmaker() as s, s.begin():
        entry = None if business_key is None else await ledger.get_entry(s, business_key)
        if not await ledger.record_event(s, event.id, event.type, "reversal" if entry else "not_ours"):
            return
        if entry is None:
            return
        if kind == "refund":
            payment = None if entry.payment_id is None else await s.get(Payment, entry.payment_id)
            _mark_refunded(entry, reversed_cents, payment)
        rev = await record_reversal(
            s,
            business_key=key,
            kind=kind,
            entry=entry,
            target_units=reversal_units(entry, reversed_cents, Cents(int(charge["amount"]))),
        )
        rid = None if rev is None else rev.id
    if rid is not None:
        try:  # best effort now; the reconciliation job finishes what is left (mint in flight, chain down)
            await ctx.reversals.process(rid)
        except Exception:
            log.exception("reversal %s: processing deferred", rid)


def _mark_refunded(entry: LedgerEntry, refunded: Cents, payment: Payment | None) -> None:
    """Record Stripe's cumulative ``amount_refunded`` (it only grows: a late event cannot lower it) on the
    entry and its payment; the payment reads ``refunded`` or ``partially_refunded``."""
    total = Cents(max(entry.refunded_cents or 0, refunded))
    entry.refunded_cents = total
    if payment is not None:
        payment.refunded_cents = total
        payment.status = (
            PaymentStatus.REFUNDED.value
            if total >= payment.charge_cents
            else PaymentStatus.PARTIALLY_REFUNDED.value
        )


async def on_charge_refunded(event: Event, ctx: BillingContext) -> None:
    charge = await ctx.stripe.retrieve_charge(str(event.object_id))
    refunded = Cents(int(charge.get("amount_refunded") or 0))
    await _reverse(
        ctx, event, charge, kind="refund", key=f"refund:{charge['id']}:{refunded}", reversed_cents=refunded
    )


async def on_dispute_created(event: Event, ctx: BillingContext) -> None:
    charge_id = _id(event.object.get("charge"))
    if charge_id is None:
        await _record_only(ctx, event, "not_ours")
        return
    charge = await ctx.stripe.retrieve_charge(charge_id)
    await _reverse(
        ctx,
        event,
        charge,
        kind="dispute",
        key=f"dispute:{event.object_id}",
        reversed_cents=Cents(int(event.object.get("amount") or charge["amount"])),
    )


# ---- payments ----------------------------------------------------------------------------------------


async def on_payment_intent_succeeded(event: Event, ctx: BillingContext) -> None:
    pi = await ctx.stripe.retrieve_payment_intent(str(event.object_id))
    await credit_payment_intent(ctx, pi, source=event.type, event=event)


async def on_checkout_completed(event: Event, ctx: BillingContext) -> None:
    pi_id = _id(event.object.get("payment_intent"))
    if pi_id is None:
        await _record_only(ctx, event, "no_payment_intent")
        return
    pi = await ctx.stripe.retrieve_payment_intent(pi_id)
    await credit_payment_intent(ctx, pi, source=event.type, event=event)


async def on_invoice_paid(event: Event, ctx: BillingContext) -> None:
    invoice = await ctx.stripe.retrieve_invoice(str(event.object_id))
    await credit_invoice(ctx, invoice, source=event.type, event=event)
    await subscriptions.after_invoice_paid(ctx, invoice)


def build_dispatcher() -> Dispatcher[BillingContext]:
    d: Dispatcher[BillingContext] = Dispatcher()
    d.register("payment_intent.succeeded", on_payment_intent_succeeded)
    d.register("checkout.session.completed", on_checkout_completed)
    d.register("invoice.paid", on_invoice_paid)
    d.register("invoice.payment_failed", subscriptions.on_invoice_payment_failed)
    d.register("customer.subscription.updated", subscriptions.on_subscription_changed)
    d.register("customer.subscription.deleted", subscriptions.on_subscription_changed)
    d.register("charge.refunded", on_charge_refunded, require_marker=False)
    d.register("charge.dispute.created", on_dispute_created, require_marker=False)
    return d


async def handle_event(ctx: BillingContext, dispatcher: Dispatcher[BillingContext], event: Event) -> str:
    """Dedupe by event id, dispatch, record ignored events. Returns the outcome."""
    async with ctx.sessionmaker() as s:
        if await ledger.event_seen(s, event.id):
            return "duplicate"
    outcome = await dispatcher.dispatch(event, ctx)
    if outcome is not Outcome.HANDLED:
        await _record_only(ctx, event, outcome.value)
    return outcome.value
