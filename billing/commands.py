"""Billing commands: one function per payment route action, ``async def cmd(ctx: BillingContext, ...)``.

Each command takes the billing context built once at start-up and typed arguments, does the work through
:class:`billing.services.BillingService` (ownership checks, idempotency keys, the database rows) and
returns a typed result; a route renders it. Errors are :class:`billing.errors.BillingError` leaves, each
with its ``code`` and kind (``api.errors`` maps them to statuses); the ones a command can raise are in its
docstring. :func:`handle_webhook` is the webhook's one command: verify the signature over the raw bytes,
parse, dispatch on the event type.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from billing.context import BillingContext
from billing.errors import BillingError, InvalidBillingRequest, InvalidPlan, WebhookRetry
from billing.handlers import handle_event
from billing.services import BillingService
from billing.webhooks import Dispatcher, parse_event, verify_signature
from engine.money import MAX_CENTS, Cents, Quote
from engine.outbox.models import OutboxStatus
from engine.pagination import DEFAULT_LIMIT, Page, clamp_limit, decode_cursor
from engine.payments.errors import PaymentsError
from engine.payments.models import LedgerEntry, Payment, Plan, Subscription
from engine.payments.services import mint_status

log = logging.getLogger(__name__)

MAX_PLAN_ID = 2**31 - 1  # plan ids are 32-bit columns: a larger id names nothing
MAX_PRICE_CENTS = Cents(99_999_999)  # Stripe's largest unit_amount for a USD price
MIN_PRICE_CENTS = Cents(50)  # Stripe's smallest USD charge
MAX_PLAN_NAME = 100


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# ---- typed arguments and results ---------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedIntent:
    payment: Payment
    quote: Quote


@dataclass(frozen=True)
class SavedMethod:
    id: str
    type: str | None
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    default: bool


@dataclass(frozen=True)
class SavedMethods:
    default: str | None
    methods: list[SavedMethod]


@dataclass(frozen=True)
class SetupIntent:
    setup_intent_id: str
    client_secret: str
    customer: str


@dataclass(frozen=True)
class Receipt:
    entry: LedgerEntry
    mint_status: OutboxStatus | None


@dataclass(frozen=True)
class PlanDraft:
    """A plan to define (monthly, USD). :meth:`from_json` refuses anything else with ``invalid_plan``."""

    name: str
    price_cents: Cents
    credit_cents: Cents

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> PlanDraft:
        name, price, credit = body.get("name"), body.get("price_cents"), body.get("credit_cents")
        if (
            isinstance(name, str)
            and name.strip()
            and len(name) <= MAX_PLAN_NAME
            and _is_int(price)
            and MIN_PRICE_CENTS <= price <= MAX_PRICE_CENTS
            and _is_int(credit)
            and 1 <= credit <= MAX_CENTS
            and not set(body) - {"name", "price_cents", "credit_cents", "currency", "interval"}
            and body.get("currency", "usd") == "usd"
            and body.get("interval", "month") == "month"
        ):
            return cls(name=name.strip(), price_cents=Cents(price), credit_cents=Cents(credit))
        raise InvalidPlan("need name, integer price_cents and credit_cents (usd, monthly)")


@dataclass(frozen=True)
class SubscribeRequest:
    plan_id: int
    payment_method: str | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> SubscribeRequest:
        plan_id, pm = body.get("plan_id"), body.get("payment_method")
        if (
            _is_int(plan_id)
            and 1 <= plan_id <= MAX_PLAN_ID
            and (pm is None or isinstance(pm, str))
            and not set(body) - {"plan_id", "payment_method"}
        ):
            return cls(plan_id=plan_id, payment_method=pm)
        raise InvalidBillingRequest("need an integer plan_id (and optionally a payment_method id)")


# ---- top-ups -----------------------------------------------------------------------------------------


def quote_topup(ctx: BillingContext, amount_cents: object, currency: object = "usd") -> Quote:
    """What a top-up of ``amount_cents`` costs and yields. Raises :class:`~billing.errors.InvalidAmount`."""
    return BillingService(ctx).quote(amount_cents, currency)


async def create_intent(
    ctx: BillingContext, user_id: int, amount_cents: object, currency: object
) -> CreatedIntent:
    """Store our payment row, then open its PaymentIntent (idempotent on the row's id).

    Raises :class:`~billing.errors.InvalidAmount`, :class:`~billing.errors.StripeCallError` (card declined
    402, Stripe down 503, other 502)."""
    svc = BillingService(ctx)
    payment = await svc.create_payment(user_id, amount_cents, currency)
    return CreatedIntent(payment=payment, quote=svc.quote(payment.amount_cents, payment.currency))


async def get_intent(ctx: BillingContext, user_id: int, payment_id: int) -> Payment:
    """One of the user's top-ups. Raises :class:`~billing.errors.NotOwned`."""
    return await BillingService(ctx).get_payment(user_id, payment_id)


async def get_receipt(ctx: BillingContext, user_id: int, entry_id: int) -> Receipt:
    """A ledger entry of the user and the status of its mint. Raises :class:`~billing.errors.NotOwned`."""
    entry = await BillingService(ctx).receipt(user_id, entry_id)
    async with ctx.sessionmaker() as s:
        status = await mint_status(s, entry)
    return Receipt(entry=entry, mint_status=status)


# ---- payment methods ---------------------------------------------------------------------------------


async def list_methods(ctx: BillingContext, user_id: int) -> SavedMethods:
    """The user's saved payment methods and the default one.

    Raises :class:`~billing.errors.StripeCallError`."""
    raw = await BillingService(ctx).list_methods(user_id)
    return SavedMethods(default=raw["default"], methods=[SavedMethod(**m) for m in raw["methods"]])


async def add_method(ctx: BillingContext, user_id: int) -> SetupIntent:
    """A SetupIntent for Stripe Elements (the customer is created on first need).

    Raises :class:`~billing.errors.StripeCallError`."""
    raw = await BillingService(ctx).create_setup_intent(user_id)
    return SetupIntent(
        setup_intent_id=raw["setup_intent_id"], client_secret=raw["client_secret"], customer=raw["customer"]
    )


async def detach_method(ctx: BillingContext, user_id: int, pm_id: str) -> None:
    """Detach one of the user's methods. Raises :class:`~billing.errors.NotOwned`,
    :class:`~billing.errors.StripeCallError`."""
    await BillingService(ctx).detach_method(user_id, pm_id)


async def set_default_method(ctx: BillingContext, user_id: int, pm_id: str) -> None:
    """Make one of the user's methods the default. Raises :class:`~billing.errors.NotOwned`,
    :class:`~billing.errors.StripeCallError`."""
    await BillingService(ctx).set_default_method(user_id, pm_id)


# ---- plans and subscriptions -------------------------------------------------------------------------


async def list_plans(
    ctx: BillingContext, *, active_only: bool, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[Plan]:
    """A page of plans, newest first (only the active ones when ``active_only``): at most ``limit``
    (clamped to 1..200), after the one ``cursor`` names (a previous page's ``next_cursor``).

    Raises :class:`~engine.pagination.BadCursor` (400 ``bad_cursor``)."""
    before, limit = decode_cursor(cursor), clamp_limit(limit)
    rows = await BillingService(ctx).list_plans(active_only=active_only, limit=limit + 1, before_id=before)
    return Page.of(rows, limit, _plan_id)


def _plan_id(plan: Plan) -> int:
    return plan.id


async def create_plan(ctx: BillingContext, draft: PlanDraft) -> Plan:
    """Store the plan, then create its Stripe price. Raises :class:`~billing.errors.StripeCallError`."""
    return await BillingService(ctx).create_plan(
        name=draft.name, price_cents=draft.price_cents, credit_cents=draft.credit_cents
    )


async def list_subscriptions(ctx: BillingContext, user_id: int) -> list[Subscription]:
    """The user's subscriptions by id. Raises nothing of ours."""
    return await BillingService(ctx).list_subscriptions(user_id)


async def subscribe(ctx: BillingContext, user_id: int, request: SubscribeRequest) -> Subscription:
    """Subscribe the user to an active plan. Our row is written first (``created``); if the Stripe call
    fails the reconciliation job retries it with the same Idempotency-Key (``failed`` after the last
    attempt). Raises :class:`~billing.errors.NotOwned` (plan or payment method),
    :class:`~billing.errors.StripeCallError`."""
    return await BillingService(ctx).subscribe(user_id, request.plan_id, request.payment_method)


async def cancel_subscription(ctx: BillingContext, user_id: int, sub_id: int) -> Subscription:
    """Cancel at period end.

    Raises :class:`~billing.errors.NotOwned`, :class:`~billing.errors.StripeCallError`."""
    return await BillingService(ctx).cancel_subscription(user_id, sub_id)


# ---- webhook -----------------------------------------------------------------------------------------


async def handle_webhook(
    ctx: BillingContext,
    dispatcher: Dispatcher[BillingContext],
    raw: bytes,
    signature: str | None,
    *,
    now: int,
) -> str:
    """Verify ``Stripe-Signature`` over the raw bytes, parse, dispatch; the outcome (``credited``,
    ``duplicate``, ``not_ours`` ...).

    Raises :class:`~billing.errors.SignatureError`, :class:`~billing.errors.MalformedEventError` (400),
    :class:`~billing.errors.WebhookRetry` (503: nothing was committed, Stripe delivers the event again)."""
    event = parse_event(verify_signature(raw, signature, ctx.webhook_secrets, now=now))
    try:
        return await handle_event(ctx, dispatcher, event)
    except (BillingError, PaymentsError) as exc:
        log.warning("webhook %s (%s) not processed: %s", event.id, event.type, exc)
        raise WebhookRetry(event.id, event.type, exc) from exc
