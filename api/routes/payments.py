"""Payment routes: quote, top-up intents, payment methods, subscriptions, plans, receipts, the webhook.

=======================================================  ==============================================
route                                                    who
=======================================================  ==============================================
GET  /api/payments/quote?amount_cents=&currency=         cloud-user
POST /api/payments/create-intent                         cloud-user
GET  /api/payments/intents/{id}                          cloud-user owning it (else 404)
GET  /api/payments/methods, POST (SetupIntent)           cloud-user (own customer only)
DELETE /api/payments/methods/{pm}                        cloud-user owning the method (else 404)
POST /api/payments/methods/{pm}/default                  cloud-user owning the method (else 404)
GET  /api/payments/plans                                 cloud-user (active plans)
GET  /api/payments/subscriptions, POST {plan_id}         cloud-user
DELETE /api/payments/subscriptions/{id}                  cloud-user owning it: cancel at period end
POST /api/payments/subscriptions/{id}/cancel             same as DELETE
GET  /api/payments/receipts/{id}                         cloud-user owning the ledger entry (else 404)
GET  /api/cloud-operator/plans, POST                     cloud-operator (POST creates the Stripe price)
POST /api/payments/webhook                               public; Stripe-Signature over the raw body
=======================================================  ==============================================

Without ``CLOUDMARKET_STRIPE_SECRET_KEY`` every route here answers 503 ``payments_disabled``.
Money in and out is integer cents / credit units; floats and strings for amounts are refused (400).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_OPERATOR, CLOUD_USER
from api.errors import ApiError, BadRequest, NotFound, read_json
from api.keys import RUNTIME
from api.openapi import RouteTable
from billing.context import BillingContext, build_billing
from billing.errors import (
    BillingError,
    CardDeclinedError,
    MalformedEventError,
    SignatureError,
    StripeCallError,
)
from billing.handlers import build_dispatcher, handle_event
from billing.services import BillingService, NotOwned, quote_json
from billing.webhooks import Dispatcher, parse_event, verify_signature
from engine.money import MAX_CENTS, MoneyError
from engine.payments.errors import PaymentsError
from engine.payments.models import LedgerEntry, Payment, Plan, Subscription

log = logging.getLogger(__name__)
routes = RouteTable(tag="payments")
MAX_ID = 2**31 - 1  # our id columns are 32-bit: a larger id names nothing (404, never a database error)
MAX_PRICE_CENTS = 99_999_999  # Stripe's largest unit_amount for a USD price


class BillingHolder:
    """Filled at start-up by :func:`setup`'s cleanup context (``None``: payments are off)."""

    def __init__(self) -> None:
        self.ctx: BillingContext | None = None
        self.dispatcher: Dispatcher[BillingContext] = build_dispatcher()


BILLING = web.AppKey("billing", BillingHolder)


def setup(app: web.Application, ctx: BillingContext | None = None) -> None:
    """Install the billing context: ``ctx`` (tests) or one built from the runtime's settings."""
    holder = BillingHolder()
    app[BILLING] = holder

    async def _ctx(app: web.Application) -> AsyncIterator[None]:
        built = ctx if ctx is not None else build_billing(app[RUNTIME])
        holder.ctx = built
        try:
            yield
        finally:
            holder.ctx = None
            if built is not None and ctx is None:
                await built.aclose()

    app.cleanup_ctx.append(_ctx)


def _billing(request: web.Request) -> BillingContext:
    holder = request.app[BILLING]
    if holder.ctx is None:
        raise ApiError(
            "payments are disabled on this server (no Stripe secret key configured)",
            code="payments_disabled",
            status=503,
        )
    return holder.ctx


async def _user(request: web.Request) -> tuple[BillingService, int]:
    ctx = _billing(request)
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    return BillingService(ctx), principal.user_id


def _money_error(exc: MoneyError) -> ApiError:
    return BadRequest(str(exc), code="invalid_amount", details={"reason": exc.reason})


def _stripe_error(exc: StripeCallError) -> ApiError:
    details = {"stripe_code": exc.stripe_code, "request_id": exc.request_id}
    if isinstance(exc, CardDeclinedError):
        return ApiError(
            str(exc), code="card_declined", status=402, details={**details, "decline_code": exc.decline_code}
        )
    if exc.retryable:
        return ApiError(
            "Stripe is unavailable; retry later", code="stripe_unavailable", status=503, details=details
        )
    return ApiError(str(exc), code="stripe_error", status=502, details=details)


def _ts(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def payment_json(p: Payment) -> dict[str, Any]:
    return {
        "id": p.id,
        "status": p.status,
        "currency": p.currency,
        "amount_cents": p.amount_cents,
        "charge_cents": p.charge_cents,
        "fee_cents": p.fee_cents,
        "credit_units": p.credit_units,
        "fee_bearer": p.fee_bearer,
        "payment_intent_id": p.payment_intent_id,
        "created_at": _ts(p.created_at),
    }


def receipt_json(e: LedgerEntry, mint_status: str | None) -> dict[str, Any]:
    return {
        "id": e.id,
        "kind": e.kind,
        "currency": e.currency,
        "amount_cents": e.amount_cents,
        "credit_units": e.credit_units,
        "stripe_id": e.business_key,
        "receipt_url": e.receipt_url,
        "wallet_address": e.wallet_address,
        "wallet_kind": e.wallet_kind,
        "mint_ref": e.mint_ref,
        "mint_status": mint_status,
        "created_at": _ts(e.created_at),
    }


def plan_json(p: Plan) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "price_cents": p.price_cents,
        "credit_cents": p.credit_cents,
        "currency": p.currency,
        "interval": p.interval,
        "stripe_price_id": p.stripe_price_id,
        "active": p.active,
    }


def subscription_json(s: Subscription) -> dict[str, Any]:
    return {
        "id": s.id,
        "plan_id": s.plan_id,
        "status": s.status,
        "cancel_at_period_end": s.cancel_at_period_end,
        "stripe_subscription_id": s.stripe_subscription_id,
        "created_at": _ts(s.created_at),
    }


QUOTE = {
    "type": "object",
    "required": ["amount_cents", "charge_cents", "fee_cents", "credit_units", "fee_bearer"],
    "properties": {
        "amount_cents": {"type": "integer"},
        "charge_cents": {"type": "integer"},
        "fee_cents": {"type": "integer"},
        "credit_units": {"type": "integer"},
        "fee_bearer": {"type": "string", "enum": ["user", "platform"]},
    },
}
CREATE_INTENT_REQUEST = {
    "type": "object",
    "required": ["amount_cents"],
    "additionalProperties": False,
    "properties": {
        "amount_cents": {"type": "integer", "minimum": 1},
        "currency": {"type": "string", "minLength": 3, "maxLength": 3},
    },
}
PAYMENT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string"},
        "payment_intent_id": {"type": ["string", "null"]},
    },
}
CREATE_INTENT_RESPONSE = {
    "type": "object",
    "required": ["payment", "client_secret", "quote"],
    "properties": {"payment": PAYMENT, "client_secret": {"type": "string"}, "quote": QUOTE},
}
METHODS = {
    "type": "object",
    "required": ["methods"],
    "properties": {"default": {"type": ["string", "null"]}, "methods": {"type": "array"}},
}
SETUP_RESPONSE = {
    "type": "object",
    "required": ["setup_intent_id", "client_secret"],
    "properties": {
        "setup_intent_id": {"type": "string"},
        "client_secret": {"type": "string"},
        "customer": {"type": "string"},
    },
}
OK = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
RECEIPT = {
    "type": "object",
    "required": ["id", "amount_cents", "credit_units"],
    "properties": {
        "id": {"type": "integer"},
        "amount_cents": {"type": "integer"},
        "credit_units": {"type": "integer"},
        "receipt_url": {"type": ["string", "null"]},
        "mint_status": {"type": ["string", "null"]},
    },
}
PLAN = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "price_cents": {"type": "integer"},
        "credit_cents": {"type": "integer"},
    },
}
PLAN_REQUEST = {
    "type": "object",
    "required": ["name", "price_cents", "credit_cents"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "price_cents": {"type": "integer", "minimum": 50, "maximum": MAX_PRICE_CENTS},
        "credit_cents": {"type": "integer", "minimum": 1, "maximum": MAX_CENTS},
        "currency": {"type": "string", "enum": ["usd"]},
        "interval": {"type": "string", "enum": ["month"]},
    },
}
SUBSCRIBE_REQUEST = {
    "type": "object",
    "required": ["plan_id"],
    "additionalProperties": False,
    "properties": {
        "plan_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        "payment_method": {"type": "string", "maxLength": 64},
    },
}
SUBSCRIPTION = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string"},
        "cancel_at_period_end": {"type": "boolean"},
    },
}
WEBHOOK_RESPONSE = {
    "type": "object",
    "properties": {"received": {"type": "boolean"}, "outcome": {"type": "string"}},
}


def _int_id(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18 or int(raw) > MAX_ID:
        raise NotFound(f"no such {name}")
    return int(raw)


# ---- quote and top-ups -------------------------------------------------------------------------------


@routes.get(
    "/api/payments/quote",
    summary="Quote a top-up: Stripe fee, charge and credit",
    response=QUOTE,
    query={"amount_cents": {"type": "integer"}, "currency": {"type": "string"}},
)
async def get_quote(request: web.Request) -> web.Response:
    svc, _ = await _user(request)
    raw = request.query.get("amount_cents", "")
    if not raw.isdigit() or len(raw) > 13:
        raise BadRequest(
            "amount_cents must be a positive integer number of cents",
            code="invalid_amount",
            details={"reason": "not_an_integer"},
        )
    try:
        quote = svc.quote(int(raw), request.query.get("currency", "usd"))
    except MoneyError as exc:
        raise _money_error(exc) from exc
    return web.json_response(quote_json(quote))


@routes.post(
    "/api/payments/create-intent",
    summary="Start a top-up: our payment row, then a PaymentIntent",
    request=CREATE_INTENT_REQUEST,
    response=CREATE_INTENT_RESPONSE,
    status=201,
)
async def create_intent(request: web.Request) -> web.Response:
    svc, user_id = await _user(request)
    body = await read_json(request)
    unknown = set(body) - {"amount_cents", "currency"}
    if unknown:
        raise BadRequest("unknown fields", code="invalid_request", details={"fields": sorted(unknown)})
    try:
        payment = await svc.create_payment(user_id, body.get("amount_cents"), body.get("currency", "usd"))
    except MoneyError as exc:
        raise _money_error(exc) from exc
    except StripeCallError as exc:
        raise _stripe_error(exc) from exc
    quote = svc.quote(payment.amount_cents, payment.currency)
    return web.json_response(
        {
            "payment": payment_json(payment),
            "client_secret": payment.client_secret,
            "quote": quote_json(quote),
        },
        status=201,
    )


@routes.get("/api/payments/intents/{payment_id}", summary="One of the caller's top-ups", response=PAYMENT)
async def get_intent(request: web.Request) -> web.Response:
    svc, user_id = await _user(request)
    try:
        payment = await svc.get_payment(user_id, _int_id(request, "payment_id"))
    except NotOwned as exc:
        raise NotFound(str(exc)) from exc
    return web.json_response(payment_json(payment))


# ---- payment methods ---------------------------------------------------------------------------------


@routes.get("/api/payments/methods", summary="The caller's saved payment methods", response=METHODS)
async def list_methods(request: web.Request) -> web.Response:
    svc, user_id = await _user(request)
    try:
        return web.json_response(await svc.list_methods(user_id))
    except StripeCallError as exc:
        raise _stripe_error(exc) from exc


@routes.post(
    "/api/payments/methods",
    summary="Save a card: a SetupIntent for Stripe Elements (no body)",
    response=SETUP_RESPONSE,
    status=201,
)
async def add_method(request: web.Request) -> web.Response:
    svc, user_id = await _user(request)
    if request.can_read_body:
        body = await read_json(request)
        if body:
            raise BadRequest(
                "no fields are accepted", code="invalid_request", details={"fields": sorted(body)}
            )
    try:
        return web.json_response(await svc.create_setup_intent(user_id), status=201)
    except StripeCallError as exc:
        raise _stripe_error(exc) from exc


@routes.delete(
    "/api/payments/methods/{pm_id}", summary="Detach one of the caller's payment methods", response=OK
)
async def delete_method(request: web.Request) -> web.Response:
    svc, user_id = await _user(request)
    try:
        await svc.detach_method(user_id, request.match_info["pm_id"])
    except NotOwned as exc:
        raise NotFound(str(exc)) from exc
    except StripeCallError as exc:
        raise _stripe_error(exc) from exc
    return web.json_response({"ok": True})


@routes.post(
    "/api/payments/methods/{pm_id}/default", summary="Make a method the caller's default", response=OK
)
async def default_method(request: web.Request) -> web.Response:
    svc, user_id = await _user(request)
    try:
        await svc.set_default_method(user_id, request.match_info["pm_id"])
    except NotOwned as exc:
        raise NotFound(str(exc)) from exc
    except StripeCallError as exc:
        raise _stripe_error(exc) from exc
    return web.json_response({"ok": True})


# ---- plans and subscriptions -------------------------------------------------------------------------


@routes.get(
    "/api/cloud-operator/plans",
    summary="Subscription plans (operator)",
    response={"type": "object", "properties": {"plans": {"type": "array", "items": PLAN}}},
)
async def operator_plans(request: web.Request) -> web.Response:
    ctx = _billing(request)
    await require_role(request, CLOUD_OPERATOR)
    plans = await BillingService(ctx).list_plans()
    return web.json_response({"plans": [plan_json(p) for p in plans]})


@routes.post(
    "/api/cloud-operator/plans",
    summary="Define a plan (creates its Stripe price)",
    request=PLAN_REQUEST,
    response=PLAN,
    status=201,
)
async def create_plan(request: web.Request) -> web.Response:
    ctx = _billing(request)
    await require_role(request, CLOUD_OPERATOR)
    body = await read_json(request)
    name, price, credit = body.get("name"), body.get("price_cents"), body.get("credit_cents")
    if (
        not isinstance(name, str)
        or not name.strip()
        or len(name) > 100
        or isinstance(price, bool)
        or not isinstance(price, int)
        or not 50 <= price <= MAX_PRICE_CENTS
        or isinstance(credit, bool)
        or not isinstance(credit, int)
        or not 1 <= credit <= MAX_CENTS
        or set(body) - {"name", "price_cents", "credit_cents", "currency", "interval"}
        or body.get("currency", "usd") != "usd"
        or body.get("interval", "month") != "month"
    ):
        raise BadRequest(
            "need name, integer price_cents and credit_cents (usd, monthly)", code="invalid_plan"
        )
    try:
        plan = await BillingService(ctx).create_plan(
            name=name.strip(), price_cents=price, credit_cents=credit
        )
    except StripeCallError as exc:
        raise _stripe_error(exc) from exc
    return web.json_response(plan_json(plan), status=201)


@routes.get(
    "/api/payments/plans",
    summary="Active subscription plans",
    response={"type": "object", "properties": {"plans": {"type": "array", "items": PLAN}}},
)
async def user_plans(request: web.Request) -> web.Response:
    svc, _ = await _user(request)
    return web.json_response({"plans": [plan_json(p) for p in await svc.list_plans(active_only=True)]})


@routes.get(
    "/api/payments/subscriptions",
    summary="The caller's subscriptions",
    response={"type": "object", "properties": {"subscriptions": {"type": "array", "items": SUBSCRIPTION}}},
)
async def list_subscriptions(request: web.Request) -> web.Response:
    svc, user_id = await _user(request)
    subs = await svc.list_subscriptions(user_id)
    return web.json_response({"subscriptions": [subscription_json(s) for s in subs]})


@routes.post(
    "/api/payments/subscriptions",
    summary="Subscribe to a plan",
    request=SUBSCRIBE_REQUEST,
    response=SUBSCRIPTION,
    status=201,
)
async def subscribe(request: web.Request) -> web.Response:
    svc, user_id = await _user(request)
    body = await read_json(request)
    plan_id, pm = body.get("plan_id"), body.get("payment_method")
    if (
        isinstance(plan_id, bool)
        or not isinstance(plan_id, int)
        or not 1 <= plan_id <= MAX_ID
        or (pm is not None and not isinstance(pm, str))
        or set(body) - {"plan_id", "payment_method"}
    ):
        raise BadRequest(
            "need an integer plan_id (and optionally a payment_method id)", code="invalid_request"
        )
    try:
        sub = await svc.subscribe(user_id, plan_id, pm)
    except NotOwned as exc:
        raise NotFound(str(exc)) from exc
    except StripeCallError as exc:
        raise _stripe_error(exc) from exc
    return web.json_response(subscription_json(sub), status=201)


async def _cancel(request: web.Request) -> web.Response:
    svc, user_id = await _user(request)
    try:
        sub = await svc.cancel_subscription(user_id, _int_id(request, "sub_id"))
    except NotOwned as exc:
        raise NotFound(str(exc)) from exc
    except StripeCallError as exc:
        raise _stripe_error(exc) from exc
    return web.json_response(subscription_json(sub))


@routes.delete("/api/payments/subscriptions/{sub_id}", summary="Cancel at period end", response=SUBSCRIPTION)
async def delete_subscription(request: web.Request) -> web.Response:
    return await _cancel(request)


@routes.post(
    "/api/payments/subscriptions/{sub_id}/cancel", summary="Cancel at period end", response=SUBSCRIPTION
)
async def cancel_subscription(request: web.Request) -> web.Response:
    return await _cancel(request)


# ---- receipts ----------------------------------------------------------------------------------------


@routes.get(
    "/api/payments/receipts/{entry_id}", summary="A receipt (ledger entry) of the caller", response=RECEIPT
)
async def get_receipt(request: web.Request) -> web.Response:
    svc, user_id = await _user(request)
    try:
        entry = await svc.receipt(user_id, _int_id(request, "entry_id"))
    except NotOwned as exc:
        raise NotFound(str(exc)) from exc
    from engine.payments.ledger import mint_status

    async with svc.ctx.sessionmaker() as s:
        status = await mint_status(s, entry)
    return web.json_response(receipt_json(entry, None if status is None else status.value))


# ---- webhook -----------------------------------------------------------------------------------------


# no ``request=`` schema on purpose: the raw bytes are verified first and parsed only after the signature
@routes.post(
    "/api/payments/webhook", summary="Stripe webhook (signature over the raw body)", response=WEBHOOK_RESPONSE
)
async def webhook(request: web.Request) -> web.Response:
    ctx = _billing(request)
    raw = await request.read()
    try:
        body = verify_signature(
            raw, request.headers.get("Stripe-Signature"), ctx.webhook_secrets, now=int(time.time())
        )
        event = parse_event(body)
    except SignatureError as exc:
        raise BadRequest(str(exc), code="invalid_signature", details={"reason": exc.reason}) from exc
    except MalformedEventError as exc:
        raise BadRequest(str(exc), code="malformed_event", details={"reason": exc.reason}) from exc
    try:
        outcome = await handle_event(ctx, request.app[BILLING].dispatcher, event)
    except (StripeCallError, PaymentsError, BillingError) as exc:
        # nothing was committed; a non-2xx makes Stripe deliver again later
        log.warning("webhook %s (%s) not processed: %s", event.id, event.type, exc)
        raise ApiError(f"event {event.id} not processed: {exc}", code="webhook_retry", status=503) from exc
    return web.json_response({"received": True, "outcome": outcome})
