"""Schemas and renderers of the auto top-up routes (:mod:`api.routes.autotopup`)."""

from __future__ import annotations

from typing import Any

from api.openapi import named
from api.render import iso_utc
from api.schemas.common import UNSIGNED_TXS
from engine.autotopup.commands import MAX_SECONDS
from engine.autotopup.models import Action, AutoTopUpStatus, OnChainBound, RuleRequest, RuleView, Source
from engine.money import MAX_CREDIT_UNITS, CreditUnits

Schema = dict[str, Any]
_SECONDS: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_SECONDS}
_UNITS: Schema = {"type": "integer", "minimum": 0}

SOURCE: Schema = named(
    "AutoTopUpSource",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind"],
        "properties": {
            "kind": {"type": "string", "enum": ["credit", "card"]},
            "payment_method": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "description": "a saved payment method of the caller (card sources only)",
            },
        },
    },
)
RULE_REQUEST: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["floor_seconds", "target_seconds", "monthly_cap", "sources"],
    "properties": {
        "floor_seconds": _SECONDS,
        "target_seconds": _SECONDS,
        "monthly_cap": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_CREDIT_UNITS,
            "description": "credit units per UTC month",
        },
        "sources": {"type": "array", "minItems": 1, "maxItems": 2, "items": SOURCE},
    },
}
RULE: Schema = named(
    "AutoTopUpRule",
    {
        "type": "object",
        "required": ["floor_seconds", "target_seconds", "monthly_cap", "sources", "state"],
        "properties": {
            "floor_seconds": {"type": "integer"},
            "target_seconds": {"type": "integer"},
            "monthly_cap": {"type": "integer"},
            "cap_used": {"type": "integer"},
            "sources": {"type": "array", "items": SOURCE},
            "state": {"type": "string", "enum": ["healthy", "failing"]},
            "failure_reason": {"type": ["string", "null"]},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
)
ACTION: Schema = named(
    "AutoTopUpAction",
    {
        "type": "object",
        "required": ["id", "deployment_id", "lease_id", "source", "amount", "status", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "deployment_id": {"type": "integer"},
            "lease_id": {"type": "integer"},
            "period": {"type": "integer"},
            "source": {"type": "string", "enum": ["credit", "card"]},
            "amount": _UNITS,
            "runway_seconds": {"type": "integer"},
            "status": {"type": "string"},
            "failure_reason": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
)
BOUND: Schema = {
    "type": "object",
    "required": ["payer", "max_per_day", "available"],
    "properties": {
        "payer": {"type": "string"},
        "max_per_day": _UNITS,
        "available": _UNITS,
        "allowance": _UNITS,
        "balance": _UNITS,
        "pullable": _UNITS,
    },
}
STATUS: Schema = {
    "type": "object",
    "required": ["rule", "actions", "next_cursor", "on_chain", "transactions"],
    "properties": {
        "rule": {"anyOf": [RULE, {"type": "null"}]},
        "actions": {"type": "array", "items": ACTION},
        "next_cursor": {"type": ["string", "null"]},
        "on_chain": {"type": "array", "items": BOUND},
        "suggested_max_per_day": _UNITS,
        "transactions": UNSIGNED_TXS,
        "relayed": {
            "type": "array",
            "items": {"type": "string"},
            "description": "managed wallets: funded through the relay (topUpBySig with a permit)",
        },
    },
}


def rule_request(body: dict[str, Any]) -> RuleRequest:
    return RuleRequest(
        floor_seconds=int(body["floor_seconds"]),
        target_seconds=int(body["target_seconds"]),
        monthly_cap=CreditUnits(int(body["monthly_cap"])),
        sources=[Source(str(s["kind"]), s.get("payment_method")) for s in body["sources"]],
    )


def rule_json(rule: RuleView) -> dict[str, Any]:
    return {
        "floor_seconds": rule.floor_seconds,
        "target_seconds": rule.target_seconds,
        "monthly_cap": rule.monthly_cap,
        "cap_used": rule.cap_used,
        "sources": [s.to_json() for s in rule.sources],
        "state": rule.state,
        "failure_reason": rule.failure_reason,
        "updated_at": iso_utc(rule.updated_at),
    }


def _action_json(a: Action) -> dict[str, Any]:
    return {
        "id": a.id,
        "deployment_id": a.deployment_id,
        "lease_id": a.lease_id,
        "period": a.period,
        "source": a.source,
        "amount": a.amount,
        "runway_seconds": a.runway_seconds,
        "status": a.status,
        "failure_reason": a.failure_reason,
        "created_at": iso_utc(a.created_at),
    }


def _bound_json(b: OnChainBound) -> dict[str, Any]:
    return {
        "payer": b.payer,
        "max_per_day": b.max_per_day,
        "available": b.available,
        "allowance": b.allowance,
        "balance": b.balance,
        "pullable": b.pullable,
    }


def status_json(st: AutoTopUpStatus) -> dict[str, Any]:
    return {
        "rule": None if st.rule is None else rule_json(st.rule),
        "actions": [_action_json(a) for a in st.actions],
        "next_cursor": st.next_cursor,
        "on_chain": [_bound_json(b) for b in st.bounds],
        "suggested_max_per_day": st.suggested_max_per_day,
        "transactions": [tx.to_json() for tx in st.transactions],
        "relayed": st.relayed,
    }
