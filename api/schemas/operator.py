"""Schemas and renderers of the operator routes (:mod:`api.routes.operator`); the provider routes share
the provider-request shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.render import iso_utc, iso_utc_or_none
from api.schemas.common import PAGE_QUERY, page_schema
from engine.operator import commands
from engine.operator import services as operator
from engine.providers.commands import RequestView

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "user_id",
        "wallet",
        "company",
        "contact_name",
        "contact_email",
        "collateral",
        "status",
        "chain_status",
        "created_at",
    ],
    "properties": {
        "id": {"type": "integer"},
        "user_id": {"type": "integer"},
        "wallet": {"type": "string"},
        "company": {"type": "string"},
        "contact_name": {"type": "string"},
        "contact_email": {"type": "string"},
        "details": {"type": "object"},
        "collateral": {"type": "integer"},
        "status": {"type": "string", "enum": ["pending", "approved", "rejected"]},
        "chain_status": {
            "type": ["string", "null"],
            "description": "the wallet's registry status as indexed; null while not registered on chain",
        },
        "open_claims": {
            "type": "integer",
            "minimum": 0,
            "description": "SLA claims filed on chain against the wallet, not resolved (block withdrawal)",
        },
        "decision_reason": {"type": ["string", "null"]},
        "decided_at": {"type": ["string", "null"]},
        "created_at": {"type": "string"},
    },
    "additionalProperties": False,
}
REQUESTS_SCHEMA = page_schema("requests", REQUEST_SCHEMA)
ESCROW_PAUSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The escrow's emergency pause: setPaused signed by the backend signer through the outbox",
    "required": ["paused", "chain_paused", "outbox_key", "outbox_status"],
    "properties": {
        "paused": {"type": "boolean", "description": "the state asked for"},
        "chain_paused": {"type": "boolean", "description": "the escrow's state when asked"},
        "outbox_key": {
            "type": ["string", "null"],
            "description": "the outbox row carrying the change; null: already in that state, nothing sent",
        },
        "outbox_status": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}
REJECT_SCHEMA = {
    "type": "object",
    "properties": {"reason": {"type": "string", "maxLength": 500}},
    "additionalProperties": False,
}

_INT = {"type": "integer", "minimum": 0}


def _put_schema(fields: dict[str, operator.IntField], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        name: {"type": "integer", "minimum": f.minimum, "maximum": f.maximum, "description": f.doc}
        for name, f in fields.items()
    }
    props.update(extra or {})
    return {
        "type": "object",
        "properties": {
            "values": {
                "type": "object",
                "properties": props,
                "additionalProperties": False,
                "minProperties": 1,
            },
            "expected_version": _INT,
        },
        "required": ["values"],
        "additionalProperties": False,
    }


REGIONS_PROP = {
    "regions": {
        "type": "array",
        "minItems": 1,
        "maxItems": operator.MAX_REGIONS,
        "items": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,32}$"},
    }
}
THRESHOLDS_PROP = {
    operator.LOW_BALANCE_THRESHOLDS: {
        "type": "array",
        "minItems": 1,
        "maxItems": operator.MAX_THRESHOLDS,
        "items": {"type": "integer", "minimum": operator.MIN_THRESHOLD, "maximum": operator.MAX_THRESHOLD},
        "description": "default low-balance alert thresholds, seconds of runway (users may override)",
    }
}
SLA_SCHEDULE_PROP = {
    operator.SLA_CREDIT_SCHEDULE: {
        "type": "array",
        "minItems": 1,
        "maxItems": operator.MAX_SLA_BANDS,
        "items": {
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "items": {"type": "integer", "minimum": 0, "maximum": 10_000},
        },
        "description": "SLA credit bands [below_bps, credit_bps]: uptime below below_bps credits credit_bps "
        "of the period's charge to the tenant (the highest band that applies)",
    }
}
SETTINGS_PUT = _put_schema(operator.SETTINGS_FIELDS, {**REGIONS_PROP, **THRESHOLDS_PROP, **SLA_SCHEDULE_PROP})
PRICING_PUT = _put_schema(operator.PRICING_FIELDS)
VERSION_SCHEMA = {
    "type": "object",
    "required": ["kind", "version", "values"],
    "properties": {
        "kind": {"type": "string"},
        "version": {"type": "integer"},
        "values": {"type": "object"},
        "actor_user_id": {"type": ["integer", "null"]},
        "created_at": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}
HISTORY_SCHEMA = {
    "type": "object",
    "required": ["kind", "changes"],
    "properties": {
        "kind": {"type": "string"},
        "changes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["version", "actor_user_id", "before", "after", "created_at"],
                "properties": {
                    "version": {"type": "integer"},
                    "actor_user_id": {"type": ["integer", "null"]},
                    "before": {"type": "object"},
                    "after": {"type": "object"},
                    "created_at": {"type": "string"},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}
VERSION_QUERY = {"version": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}}
STATUS_QUERY = {"status": {"type": "string", "enum": ["pending", "approved", "rejected"]}, **PAGE_QUERY}


def request_json(view: RequestView) -> dict[str, Any]:
    row = view.request
    return {
        "id": row.id,
        "user_id": row.user_id,
        "wallet": row.wallet_address,
        "company": row.company,
        "contact_name": row.contact_name,
        "contact_email": row.contact_email,
        "details": row.details,
        "collateral": row.collateral,
        "status": row.status,
        "chain_status": view.chain_status,
        "open_claims": view.open_claims,
        "decision_reason": row.decision_reason,
        "decided_at": iso_utc_or_none(row.decided_at),
        "created_at": iso_utc(row.created_at),
    }


def _version_json(
    kind: str, version: int, values: dict[str, Any], actor: int | None, at: datetime | None
) -> dict[str, Any]:
    return {
        "kind": kind,
        "version": version,
        "values": values,
        "actor_user_id": actor,
        "created_at": iso_utc_or_none(at),
    }


def settings_json(v: commands.SettingsVersion) -> dict[str, Any]:
    return _version_json(operator.SETTINGS, v.version, v.settings.to_values(), v.actor_user_id, v.created_at)


def pricing_json(v: commands.PricingVersion) -> dict[str, Any]:
    return _version_json(operator.PRICING, v.version, v.pricing.to_values(), v.actor_user_id, v.created_at)


def escrow_pause_json(change: commands.EscrowPause) -> dict[str, Any]:
    return {
        "paused": change.paused,
        "chain_paused": change.chain_paused,
        "outbox_key": change.outbox_key,
        "outbox_status": change.outbox_status,
    }
