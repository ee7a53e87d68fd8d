"""Payment routes: quote, top-up intents, payment methods, subscriptions, plans, receipts, the webhook.

Each handler authenticates, validates, calls one :mod:`billing.commands` command and renders it
(:mod:`api.schemas.payments`); billing errors carry their own code and status.

* cloud-user: ``GET /api/payments/quote``, ``POST /api/payments/create-intent``, ``GET .../intents/{id}``,
  ``GET|POST /api/payments/methods``, ``DELETE .../methods/{pm}``, ``POST .../methods/{pm}/default``,
  ``GET /api/payments/plans``, ``GET|POST /api/payments/subscriptions``, ``DELETE .../subscriptions/{id}``
  (= ``POST .../{id}/cancel``: cancel at period end), ``GET /api/payments/receipts/{id}``. Another user's
  object answers 404.
* cloud-operator: ``GET|POST /api/cloud-operator/plans`` (POST creates the Stripe price).
* public: ``POST /api/payments/webhook`` (Stripe-Signature over the raw body).

Without ``CLOUDMARKET_STRIPE_SECRET_KEY`` every route here answers 503 ``payments_disabled``.
Money in and out is integer cents / credit units; floats and strings for amounts are refused (400).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_OPERATOR, CLOUD_USER
from api.errors import BadRequest, read_json
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.schemas import payments as schemas
from api.schemas.common import PAGE_QUERY, page_args
from api.validation import id_segment, path_id, validated_body, validated_query
from billing import commands
from billing.commands import PlanDraft, SubscribeRequest
from billing.context import BillingContext, build_billing
from billing.errors import PaymentsDisabledError
from billing.handlers import build_dispatcher
from billing.webhooks import Dispatcher

routes = RouteTable(tag="payments", roles=(CLOUD_USER,))
MAX_QUOTE_DIGITS = 13  # MAX_CENTS has 13 digits


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
    ctx = request.app[BILLING].ctx
    if ctx is None:
        raise PaymentsDisabledError()
    return ctx


async def _user(request: web.Request) -> tuple[BillingContext, int]:
    ctx = _billing(request)
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    return ctx, principal.user_id


async def _operator(request: web.Request) -> BillingContext:
    ctx = _billing(request)
    await require_role(request, CLOUD_OPERATOR)
    return ctx


# ---- quote and top-ups -------------------------------------------------------------------------------


@routes.get(
    "/api/payments/quote",
    summary="Quote a top-up: Stripe fee, charge and credit",
    response=schemas.QUOTE,
    query={"amount_cents": {"type": "integer"}, "currency": {"type": "string"}},
)
async def get_quote(request: web.Request) -> web.Response:
    ctx, _ = await _user(request)
    raw = request.query.get("amount_cents", "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_QUOTE_DIGITS:
        raise BadRequest(
            "amount_cents must be a positive integer number of cents",
            code="invalid_amount",
            details={"reason": "not_an_integer"},
        )
    return web.json_response(
        schemas.quote_json(commands.quote_topup(ctx, int(raw), request.query.get("currency", "usd")))
    )


@routes.post(
    "/api/payments/create-intent",
    rate_limit="expensive",
    summary="Start a top-up: our payment row, then a PaymentIntent",
    request=schemas.CREATE_INTENT_REQUEST,
    response=schemas.CREATE_INTENT_RESPONSE,
    status=201,
)
async def create_intent(request: web.Request) -> web.Response:
    ctx, user_id = await _user(request)
    body = validated_body(request)
    created = await commands.create_intent(
        ctx, user_id, body.get("amount_cents"), body.get("currency", "usd")
    )
    return web.json_response(schemas.created_intent_json(created), status=201)


@routes.get(
    f"/api/payments/intents/{id_segment('payment_id')}",
    summary="One of the caller's top-ups",
    response=schemas.PAYMENT,
)
async def get_intent(request: web.Request) -> web.Response:
    ctx, user_id = await _user(request)
    payment = await commands.get_intent(ctx, user_id, path_id(request, "payment_id"))
    return web.json_response(schemas.payment_json(payment))


# ---- payment methods ---------------------------------------------------------------------------------


@routes.get("/api/payments/methods", summary="The caller's saved payment methods", response=schemas.METHODS)
async def list_methods(request: web.Request) -> web.Response:
    ctx, user_id = await _user(request)
    return web.json_response(schemas.methods_json(await commands.list_methods(ctx, user_id)))


@routes.post(
    "/api/payments/methods",
    summary="Save a card: a SetupIntent for Stripe Elements (no body)",
    response=schemas.SETUP_RESPONSE,
    status=201,
)
async def add_method(request: web.Request) -> web.Response:
    ctx, user_id = await _user(request)
    if request.can_read_body:
        body = await read_json(request)
        if body:
            raise BadRequest(
                "no fields are accepted", code="invalid_request", details={"fields": sorted(body)}
            )
    return web.json_response(schemas.setup_json(await commands.add_method(ctx, user_id)), status=201)


@routes.delete(
    "/api/payments/methods/{pm_id}", summary="Detach one of the caller's payment methods", response=schemas.OK
)
async def delete_method(request: web.Request) -> web.Response:
    ctx, user_id = await _user(request)
    await commands.detach_method(ctx, user_id, request.match_info["pm_id"])
    return web.json_response({"ok": True})


@routes.post(
    "/api/payments/methods/{pm_id}/default", summary="Make a method the caller's default", response=schemas.OK
)
async def default_method(request: web.Request) -> web.Response:
    ctx, user_id = await _user(request)
    await commands.set_default_method(ctx, user_id, request.match_info["pm_id"])
    return web.json_response({"ok": True})


# ---- plans and subscriptions -------------------------------------------------------------------------


@routes.get(
    "/api/cloud-operator/plans",
    roles=(CLOUD_OPERATOR,),
    summary="Subscription plans (operator), newest first, a page at a time",
    query=PAGE_QUERY,
    response=schemas.PLANS,
)
async def operator_plans(request: web.Request) -> web.Response:
    ctx = await _operator(request)
    page = await commands.list_plans(ctx, active_only=False, **page_args(validated_query(request)))
    return web.json_response(schemas.plans_json(page))


@routes.post(
    "/api/cloud-operator/plans",
    roles=(CLOUD_OPERATOR,),
    summary="Define a plan (creates its Stripe price)",
    request=schemas.PLAN_REQUEST,
    response=schemas.PLAN,
    status=201,
)
async def create_plan(request: web.Request) -> web.Response:
    ctx = await _operator(request)
    plan = await commands.create_plan(ctx, PlanDraft.from_json(validated_body(request)))
    return web.json_response(schemas.plan_json(plan), status=201)


@routes.get("/api/payments/plans", summary="Active plans", query=PAGE_QUERY, response=schemas.PLANS)
async def user_plans(request: web.Request) -> web.Response:
    ctx, _ = await _user(request)
    page = await commands.list_plans(ctx, active_only=True, **page_args(validated_query(request)))
    return web.json_response(schemas.plans_json(page))


@routes.get(
    "/api/payments/subscriptions",
    summary="The caller's subscriptions",
    response=schemas.SUBSCRIPTIONS,
)
async def list_subscriptions(request: web.Request) -> web.Response:
    ctx, user_id = await _user(request)
    return web.json_response(schemas.subscriptions_json(await commands.list_subscriptions(ctx, user_id)))


@routes.post(
    "/api/payments/subscriptions",
    summary="Subscribe to a plan",
    request=schemas.SUBSCRIBE_REQUEST,
    response=schemas.SUBSCRIPTION,
    status=201,
)
async def subscribe(request: web.Request) -> web.Response:
    ctx, user_id = await _user(request)
    sub = await commands.subscribe(ctx, user_id, SubscribeRequest.from_json(validated_body(request)))
    return web.json_response(schemas.subscription_json(sub), status=201)


@routes.delete(
    f"/api/payments/subscriptions/{id_segment('sub_id')}",
    summary="Cancel at period end",
    response=schemas.SUBSCRIPTION,
)
@routes.post(
    f"/api/payments/subscriptions/{id_segment('sub_id')}/cancel",
    summary="Cancel at period end",
    response=schemas.SUBSCRIPTION,
)
async def cancel_subscription(request: web.Request) -> web.Response:
    ctx, user_id = await _user(request)
    sub = await commands.cancel_subscription(ctx, user_id, path_id(request, "sub_id"))
    return web.json_response(schemas.subscription_json(sub))


# ---- receipts ----------------------------------------------------------------------------------------


@routes.get(
    f"/api/payments/receipts/{id_segment('entry_id')}",
    summary="A receipt (ledger entry) of the caller",
    response=schemas.RECEIPT,
)
async def get_receipt(request: web.Request) -> web.Response:
    ctx, user_id = await _user(request)
    receipt = await commands.get_receipt(ctx, user_id, path_id(request, "entry_id"))
    return web.json_response(schemas.receipt_json(receipt))


# ---- webhook -----------------------------------------------------------------------------------------


# no ``request=`` schema on purpose: the raw bytes are verified first and parsed only after the signature
@routes.post(
    "/api/payments/webhook",
    public=True,
    summary="Stripe webhook (signature over the raw body)",
    response=schemas.WEBHOOK_RESPONSE,
)
async def webhook(request: web.Request) -> web.Response:
    ctx = _billing(request)
    outcome = await commands.handle_webhook(
        ctx,
        request.app[BILLING].dispatcher,
        await request.read(),
        request.headers.get("Stripe-Signature"),
        now=int(time.time()),
    )
    return web.json_response({"received": True, "outcome": outcome})
