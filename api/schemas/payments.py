"""Schemas and renderers of the payment routes (:mod:`api.routes.payments`).

Amount bounds agree with the engine: a plan's credit is ``engine.money.MAX_CENTS`` at most, its price
Stripe's largest USD ``unit_amount``; a top-up's upper bound is the operator's fee schedule (at most
``MAX_CENTS``), checked by :func:`billing.commands.create_intent` so the answer keeps its
``invalid_amount`` code and ``reason``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from api.render import iso_utc_or_none as _ts
from api.schemas.common import page_schema
from billing.commands import (
    MAX_PLAN_ID,
    MAX_PRICE_CENTS,
    MIN_PRICE_CENTS,
    CreatedIntent,
    Receipt,
    SavedMethods,
    SetupIntent,
)
from engine.money import MAX_CENTS, Quote
from engine.pagination import Page
from engine.payments.models import Payment, PaymentStatus, Plan, Subscription


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
        "refunded_cents": p.refunded_cents or 0,
        "payment_intent_id": p.payment_intent_id,
        "created_at": _ts(p.created_at),
    }


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    e = receipt.entry
    refunded = e.refunded_cents or 0
    if refunded <= 0:
        status = "paid"
    elif refunded >= e.amount_cents:
        status = PaymentStatus.REFUNDED.value
    else:
        status = PaymentStatus.PARTIALLY_REFUNDED.value
    return {
        "id": e.id,
        "kind": e.kind,
        "status": status,
        "refunded_cents": refunded,
        "currency": e.currency,
        "amount_cents": e.amount_cents,
        "credit_units": e.credit_units,
        "stripe_id": e.business_key,
        "receipt_url": e.receipt_url,
        "wallet_address": e.wallet_address,
        "wallet_kind": e.wallet_kind,
        "mint_ref": e.mint_ref,
        "mint_status": None if receipt.mint_status is None else receipt.mint_status.value,
        "created_at": _ts(e.created_at),
    }


def plans_json(page: Page[Plan]) -> dict[str, Any]:
    return {"plans": [plan_json(p) for p in page.items], "next_cursor": page.next_cursor}


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
        "current_period_end": _ts(s.current_period_end),
        "last_payment_error": s.last_payment_error,
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
        "amount_cents": {"type": "integer", "minimum": 1},  # upper bound: the fee schedule (invalid_amount)
        "currency": {"type": "string", "minLength": 3, "maxLength": 3},
    },
}
PAYMENT_STATUSES = [s.value for s in PaymentStatus]
PAYMENT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string", "enum": PAYMENT_STATUSES},
        "refunded_cents": {"type": "integer", "minimum": 0},
        "payment_intent_id": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
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
        "status": {"type": "string", "enum": ["paid", "partially_refunded", "refunded"]},
        "amount_cents": {"type": "integer"},
        "refunded_cents": {"type": "integer", "minimum": 0},
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
        "price_cents": {"type": "integer", "minimum": MIN_PRICE_CENTS, "maximum": MAX_PRICE_CENTS},
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
        "plan_id": {"type": "integer", "minimum": 1, "maximum": MAX_PLAN_ID},
        "payment_method": {"type": "string", "maxLength": 64},
    },
}
SUBSCRIPTION = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string"},
        "cancel_at_period_end": {"type": "boolean"},
        "current_period_end": {"type": ["string", "null"], "format": "date-time"},
        "last_payment_error": {
            "type": ["string", "null"],
            "description": "why the latest renewal failed (cleared once it is paid)",
        },
    },
}
PLANS = page_schema("plans", PLAN)
SUBSCRIPTIONS = {"type": "object", "properties": {"subscriptions": {"type": "array", "items": SUBSCRIPTION}}}
WEBHOOK_RESPONSE = {
    "type": "object",
    "properties": {"received": {"type": "boolean"}, "outcome": {"type": "string"}},
}


def quote_json(q: Quote) -> dict[str, Any]:
    return {
        "amount_cents": q.amount_cents,
        "charge_cents": q.charge_cents,
        "fee_cents": q.fee_cents,
        "credit_units": q.credit_units,
        "fee_bearer": q.fee_bearer.value,
    }


def methods_json(saved: SavedMethods) -> dict[str, Any]:
    return {"default": saved.default, "methods": [dataclasses.asdict(m) for m in saved.methods]}


def setup_json(seti: SetupIntent) -> dict[str, Any]:
    return dataclasses.asdict(seti)


def created_intent_json(created: CreatedIntent) -> dict[str, Any]:
    return {
        "payment": payment_json(created.payment),
        "client_secret": created.payment.client_secret,
        "quote": quote_json(created.quote),
    }


def subscriptions_json(subs: list[Subscription]) -> dict[str, Any]:
    return {"subscriptions": [subscription_json(s) for s in subs]}
