"""Schemas shared by several route modules, each a named OpenAPI component (:func:`api.openapi.named`):
code generators make one type of each, wherever a route uses it.

=========================  =================================================================================
schema                     what
=========================  =================================================================================
:data:`DEPLOYMENT_SPEC`    ``DeploymentSpec``: a deployment spec as submitted and as stored (canonical form)
:data:`LEASE`              ``Lease``: one replica's lease (``api.schemas.deployments.lease_json``)
:data:`LEASE_BALANCE`      ``LeaseBalance``: its escrow account read from the chain (``balance_json``)
:data:`UNSIGNED_TX`        ``UnsignedTransaction``: a transaction for the user's wallet to sign
:data:`UNSIGNED_TXS`       a list of them (the ``transactions`` of create, top-up, close, withdraw ...)
:data:`EXACTLY_ONE_FUNDING`  merge into a create / quote request: exactly one of ``deposit_per_replica`` and
                           ``duration_seconds``
:data:`PAGE_QUERY`         the ``limit`` and ``cursor`` query parameters of every list route (read them with
                           :func:`page_args`); :func:`page_schema` the response: items and ``next_cursor``
=========================  =================================================================================

Lists are pages, newest first (:mod:`engine.pagination`): ``?limit=`` 1..200 (default 50), ``?cursor=`` a
previous page's ``next_cursor`` (opaque; ``null`` on the last page). A cursor the service did not issue is
400 ``bad_cursor``; one that is not even cursor-shaped is 400 ``invalid_request``.

:data:`DEPLOYMENT_SPEC` gives every field's type but leaves bounds, required fields and unknown keys to the
engine's spec parser (:func:`engine.deployments.spec.parse_spec`), so a bad spec still answers 400
``invalid_spec`` with its per-field codes; nullable types cover the stored canonical form (``null`` for an
absent optional, ``"v"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.openapi import named
from engine.pagination import DEFAULT_LIMIT, MAX_LIMIT

Schema = dict[str, Any]

_INT: Schema = {"type": "integer"}
_INT_OR_NULL: Schema = {"type": ["integer", "null"]}
_STRINGS: Schema = {"type": "array", "items": {"type": "string"}}
_ADDRESS: Schema = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}

DEPLOYMENT_SPEC: Schema = named(
    "DeploymentSpec",
    {
        "type": "object",
        "description": "What to run and where; bounds and required fields are checked by the engine "
        "(400 invalid_spec lists every bad field). Stored specs carry every field (null when absent) "
        "and the canonical encoding version v.",
        "properties": {
            "v": {"type": "integer", "description": "canonical encoding version (stored specs only)"},
            "image": {"type": ["string", "null"], "description": "OCI reference; image, command or both"},
            "command": {"type": ["array", "null"], "items": {"type": "string"}},
            "env": {"type": "object", "additionalProperties": {"type": "string"}},
            "ports": {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"type": "integer"},
                        {
                            "type": "object",
                            "properties": {
                                "port": _INT,
                                "protocol": {"type": "string", "enum": ["tcp", "udp", "http"]},
                            },
                        },
                    ]
                },
            },
            "resources": {
                "type": "object",
                "description": "what one replica needs",
                "properties": {
                    "cpu_millicores": _INT,
                    "memory_mb": _INT,
                    "disk_gb": _INT,
                    "gpu": {
                        "type": ["object", "null"],
                        "properties": {"model": {"type": "string"}, "count": _INT},
                    },
                },
            },
            "replicas": _INT,
            "regions": {**_STRINGS, "description": "empty or absent: any region"},
            "countries": {**_STRINGS, "description": "ISO 3166 alpha-2; empty or absent: any country"},
            "max_price_per_second": {
                "type": ["integer", "null"],
                "description": "credit units per second for one replica; null or absent: no cap",
            },
            "min_uptime_bps": {**_INT, "description": "0..10000"},
            "required_attributes": _STRINGS,
            "preferred_alliance": {"type": ["string", "null"]},
            "backup": {
                "type": "object",
                "properties": {"enabled": {"type": "boolean"}, "different_region": {"type": "boolean"}},
            },
        },
    },
)

LEASE_BALANCE: Schema = named(
    "LeaseBalance",
    {
        "type": "object",
        "description": "The lease's escrow account read from the chain now (credit units)",
        "required": ["balance", "due_now", "balance_now", "rate_per_second", "settled_at", "open"],
        "properties": {
            "balance": _INT,
            "due_now": {**_INT, "description": "accrued to the provider, not yet settled"},
            "balance_now": {**_INT, "description": "balance - due_now"},
            "rate_per_second": _INT,
            "settled_at": {**_INT, "description": "unix time of the last settlement"},
            "open": {"type": "integer", "enum": [0, 1]},
        },
    },
)

LEASE: Schema = named(
    "Lease",
    {
        "type": "object",
        "required": [
            "replica_index",
            "retired",
            "role",
            "node_id",
            "chain_node_id",
            "lease_id",
            "rate_per_second",
            "deposit",
            "status",
            "opened_block",
            "closed_block",
            "refund",
            "quote_expiry",
            "stopped_at",
            "stopped_block",
        ],
        "properties": {
            "replica_index": {
                **_INT_OR_NULL,
                "description": "the replica it serves (a retired lease: the one it served; null if unknown)",
            },
            "retired": {"type": "boolean"},
            "role": {"type": "string"},
            "node_id": _INT,
            "chain_node_id": _INT,
            "lease_id": {"type": ["string", "null"], "description": "the escrow's lease id, once opened"},
            "rate_per_second": {**_INT, "description": "credit units per second"},
            "deposit": {**_INT, "description": "credit units"},
            "status": {"type": "string"},
            "opened_block": _INT_OR_NULL,
            "closed_block": _INT_OR_NULL,
            "refund": {**_INT_OR_NULL, "description": "credit units returned on close"},
            "quote_expiry": {
                **_INT_OR_NULL,
                "description": "unix (chain) time the engine's signed quote for this lease's open expires",
            },
            "stopped_at": {
                **_INT_OR_NULL,
                "description": "unix (chain) time the lease's node stopped being active: it charges nothing "
                "more, is not topped up and can be closed for a refund of the rest",
            },
            "stopped_block": _INT_OR_NULL,
            "chain": LEASE_BALANCE,
        },
    },
)

UNSIGNED_TX: Schema = named(
    "UnsignedTransaction",
    {
        "type": "object",
        "description": "eth_sendTransaction fields for the user's own wallet to sign, in order",
        "required": ["to", "data", "value", "chainId", "description"],
        "properties": {
            "to": _ADDRESS,
            "data": {"type": "string", "pattern": "^0x([0-9a-fA-F]{2})*$"},
            "value": {**_INT, "minimum": 0, "description": "wei"},
            "chainId": _INT,
            "description": {"type": "string"},
            "from": _ADDRESS,
        },
    },
)
UNSIGNED_TXS: Schema = {"type": "array", "items": UNSIGNED_TX}

# Exactly one of the two ways to fund a deployment (JSON Schema ``oneOf``: neither or both is 400
# ``invalid_request`` before anything else is checked). Merge into the request object:
# ``{"type": "object", ..., **EXACTLY_ONE_FUNDING}``.
EXACTLY_ONE_FUNDING: Schema = {
    "oneOf": [{"required": ["deposit_per_replica"]}, {"required": ["duration_seconds"]}],
}


PAGE_QUERY: dict[str, Schema] = {
    "limit": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_LIMIT,
        "description": f"page size, default {DEFAULT_LIMIT}",
    },
    "cursor": {
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "pattern": "^[A-Za-z0-9_-]+$",
        "description": "a previous page's next_cursor",
    },
}
NEXT_CURSOR: Schema = {
    "type": ["string", "null"],
    "description": "pass as ?cursor= for the next page; null: no more",
}


def page_schema(key: str, item: Schema) -> Schema:
    """The response of a list route: ``{key: [item, ...], "next_cursor": ...}``."""
    return {
        "type": "object",
        "required": [key, "next_cursor"],
        "properties": {key: {"type": "array", "items": item}, "next_cursor": NEXT_CURSOR},
    }


def page_args(query: Mapping[str, Any]) -> dict[str, Any]:
    """``limit`` and ``cursor`` from a validated query (:data:`PAGE_QUERY`), as a list command takes them."""
    return {"limit": query.get("limit", DEFAULT_LIMIT), "cursor": query.get("cursor")}
