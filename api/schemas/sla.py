"""Schemas and renderers of the SLA views (:mod:`api.routes.sla`)."""

from __future__ import annotations

from typing import Any

from api.openapi import named
from api.render import iso_utc
from engine.sla.commands import MAX_HOST, ProbeEndpoint, SlaView, record_json

Schema = dict[str, Any]

_INT = {"type": "integer"}
_BPS = {"type": ["integer", "null"], "minimum": 0, "maximum": 10_000}
POLICY: Schema = named(
    "SlaPolicy",
    {
        "type": "object",
        "required": ["target_bps", "period", "schedule"],
        "properties": {
            "target_bps": {"type": "integer", "description": "uptime target per period, basis points"},
            "period": {
                "type": "integer",
                "description": "period length, seconds (aligned to the Unix epoch)",
            },
            "schedule": {
                "type": "array",
                "items": {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2},
                "description": "[below_bps, credit_bps] bands: uptime below below_bps credits credit_bps of "
                "the period's charge",
            },
        },
    },
)
PERIOD: Schema = {
    "type": "object",
    "required": ["start", "end", "uptime_bps", "up_seconds", "down_seconds", "excluded_seconds"],
    "properties": {
        "start": _INT,
        "end": _INT,
        "uptime_bps": {**_BPS, "description": "so far in the period; null: not sampled yet"},
        "up_seconds": _INT,
        "down_seconds": _INT,
        "excluded_seconds": {"type": "integer", "description": "inside announced maintenance windows"},
    },
}
RECORD: Schema = named(
    "SlaRecord",
    {
        "type": "object",
        "required": [
            "id",
            "deployment_id",
            "lease_id",
            "node_id",
            "provider",
            "period_start",
            "period_end",
            "uptime_bps",
            "target_bps",
            "credit_bps",
            "charge",
            "rebate",
            "seized",
            "evidence_hash",
            "ref",
            "status",
            "evidence",
        ],
        "properties": {
            "id": _INT,
            "deployment_id": _INT,
            "lease_id": {"type": "string"},
            "node_id": _INT,
            "provider": {"type": "string"},
            "period_start": _INT,
            "period_end": _INT,
            "uptime_bps": _BPS,
            "target_bps": _INT,
            "credit_bps": _INT,
            "charge": {
                "type": "integer",
                "description": "credit units: rate x sampled seconds of the period",
            },
            "rebate": {"type": "integer", "description": "credit units credited to the tenant"},
            "seized": {
                "type": "integer",
                "description": "credit units seized from the provider's collateral",
            },
            "evidence_hash": {"type": "string", "description": "keccak256 of the canonical evidence JSON"},
            "ref": {"type": "string", "description": "the seize ref on chain (single use)"},
            "status": {
                "type": "string",
                "enum": ["seizing", "crediting", "credited", "paying", "paid", "no_credit", "failed"],
            },
            "evidence": {"type": "object"},
        },
    },
)
DEPLOYMENT_SLA: Schema = named(
    "DeploymentSla",
    {
        "type": "object",
        "required": ["deployment_id", "policy", "leases", "records"],
        "properties": {
            "deployment_id": _INT,
            "policy": POLICY,
            "leases": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["lease_id", "node_id", "status", "current_period"],
                    "properties": {
                        "lease_id": {"type": "string"},
                        "node_id": _INT,
                        "status": {"type": "string"},
                        "current_period": PERIOD,
                    },
                },
            },
            "records": {"type": "array", "items": RECORD},
        },
    },
)
PROVIDER_SLA: Schema = named(
    "ProviderSla",
    {
        "type": "object",
        "required": ["policy", "nodes", "records"],
        "properties": {
            "policy": POLICY,
            "nodes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["node_id", "chain_node_id", "name", "current_period"],
                    "properties": {
                        "node_id": _INT,
                        "chain_node_id": {"type": ["integer", "null"]},
                        "name": {"type": "string"},
                        "current_period": PERIOD,
                    },
                },
            },
            "records": {"type": "array", "items": RECORD},
        },
    },
)
OPERATOR_SLA: Schema = named(
    "OperatorSla",
    {
        "type": "object",
        "required": ["policy", "totals", "records"],
        "properties": {
            "policy": POLICY,
            "totals": {
                "type": "object",
                "required": ["records", "rebates", "seized"],
                "additionalProperties": {"type": "integer"},
                "description": "records, rebates and seized credit units, and records_<status> counts",
            },
            "records": {"type": "array", "items": RECORD, "description": "newest first"},
        },
    },
)


def deployment_json(deployment_id: int, view: SlaView) -> dict[str, Any]:
    return {
        "deployment_id": deployment_id,
        "policy": view.policy.to_json(),
        "leases": view.subjects,
        "records": [record_json(r) for r in view.records],
    }


def provider_json(view: SlaView) -> dict[str, Any]:
    return {
        "policy": view.policy.to_json(),
        "nodes": view.subjects,
        "records": [record_json(r) for r in view.records],
    }


def operator_json(view: SlaView) -> dict[str, Any]:
    return {
        "policy": view.policy.to_json(),
        "totals": dict(view.totals or {}),
        "records": [record_json(r) for r in view.records],
    }


ENDPOINT_PUT: Schema = {
    "type": "object",
    "required": ["host"],
    "properties": {
        "host": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_HOST,
            "pattern": "^[0-9A-Za-z.:-]+$",
            "description": "a DNS host name or an IP literal (no scheme, port or path): where the prober "
            "connects to the node's workloads' declared ports",
        }
    },
    "additionalProperties": False,
}
ENDPOINT: Schema = {
    "type": "object",
    "required": ["node_id", "host", "updated_at"],
    "properties": {
        "node_id": _INT,
        "host": {"type": ["string", "null"], "description": "null: not set (heartbeats alone count)"},
        "updated_at": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}


def endpoint_json(e: ProbeEndpoint) -> dict[str, Any]:
    return {
        "node_id": e.node_id,
        "host": e.host,
        "updated_at": iso_utc(e.updated_at) if e.updated_at is not None else None,
    }
