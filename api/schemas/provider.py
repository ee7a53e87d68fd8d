"""Schemas and renderers of the provider routes (:mod:`api.routes.provider`).

Amount bounds agree with the engine: collateral is at most ``engine.money.MAX_CREDIT_UNITS`` (the
BIGINT column's cap), node prices at most ``engine.nodes.services.MAX_PRICE``.
"""

from __future__ import annotations

from typing import Any

from api.render import iso_utc
from api.schemas.operator import REQUEST_SCHEMA
from engine.money import MAX_CREDIT_UNITS
from engine.nodes import services as nodes
from engine.nodes.commands import AddedNode, MaintenanceTxs, NodeView

ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
U53 = {"type": "integer", "minimum": 0, "maximum": 2**53}
PRICE = {"type": "integer", "minimum": 0, "maximum": nodes.MAX_PRICE}
TX_SCHEMA = {
    "type": "object",
    "required": ["to", "data", "value", "chainId"],
    "properties": {
        "to": ADDRESS,
        "data": {"type": "string"},
        "value": {"type": "integer"},
        "chainId": {"type": "integer"},
        "from": ADDRESS,
        "description": {"type": "string"},
    },
    "additionalProperties": False,
}
TXS = {"type": "array", "items": TX_SCHEMA}

REGISTER_REQUEST = {
    "type": "object",
    "required": ["wallet", "company", "contact_name", "contact_email", "collateral"],
    "properties": {
        "wallet": ADDRESS,
        "company": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
        "contact_name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
        "contact_email": {"type": "string", "maxLength": 320, "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"},
        "collateral": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_CREDIT_UNITS,
            "description": "credit units (10**-6 credit)",
        },
        "details": {"type": "object"},
    },
    "additionalProperties": False,
}
REGISTER_RESPONSE = {
    "type": "object",
    "required": ["request", "transactions"],
    "properties": {"request": REQUEST_SCHEMA, "transactions": TXS},
    "additionalProperties": False,
}
NODE_CREATE = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S"},
        "wallet": ADDRESS,
        "payee": ADDRESS,
        "resources": {
            "type": "object",
            "properties": {
                "cpu_millicores": U53,
                "memory_mb": U53,
                "disk_gb": U53,
                "bandwidth_mbps": U53,
                "gpu": {
                    "type": "object",
                    "properties": {
                        "model": {"type": "string", "minLength": 1, "maxLength": 64},
                        "count": U53,
                    },
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        },
        "region": {"type": "string", "minLength": 1, "maxLength": 32},
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "prices": {
            "type": "object",
            "description": "price units (10**-6 credit unit) per resource unit per second",
            "properties": {
                "per_cpu_millicore": PRICE,
                "per_memory_mb": PRICE,
                "per_disk_gb": PRICE,
                "per_gpu": PRICE,
            },
            "additionalProperties": False,
        },
        "attributes": {
            "type": "array",
            "maxItems": nodes.MAX_ATTRIBUTES,
            "items": {"type": "string", "minLength": 1, "maxLength": 64},
        },
    },
    "additionalProperties": False,
}
NODE_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "created_at", "status"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "created_at": {"type": "string"},
        "status": {"type": "string"},
        "wallet": {"type": ["string", "null"]},
        "payee": {"type": ["string", "null"]},
        "chain_node_id": {"type": ["integer", "null"]},
        "resources": {"type": "object"},
        "region": {"type": ["string", "null"]},
        "country": {"type": ["string", "null"]},
        "prices": {"type": "object"},
        "attributes": {"type": "array", "items": {"type": "string"}},
        "certified": {"type": "boolean"},
        "maintenance": {"type": "array", "items": {"type": "object"}},
        "transactions": TXS,
    },
    "additionalProperties": False,
}
MAINTENANCE_REQUEST = {
    "type": "object",
    "required": ["node_id", "start", "end"],
    "properties": {
        "node_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "start": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1, "description": "Unix seconds"},
        "end": {
            "type": "integer",
            "minimum": 0,
            "maximum": 2**32 - 1,
            "description": "Unix seconds, exclusive",
        },
    },
    "additionalProperties": False,
}
MAINTENANCE_CANCEL = {
    "type": "object",
    "required": ["node_id"],
    "properties": {"node_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}},
    "additionalProperties": False,
}
MAINTENANCE_CANCEL_RESPONSE = {
    "type": "object",
    "required": ["node_id", "chain_node_id", "transactions"],
    "properties": {
        "node_id": {"type": "integer"},
        "chain_node_id": {"type": "integer"},
        "transactions": TXS,
    },
    "additionalProperties": False,
}
MAINTENANCE_RESPONSE = {
    "type": "object",
    "required": ["node_id", "chain_node_id", "start", "end", "transactions"],
    "properties": {
        "node_id": {"type": "integer"},
        "chain_node_id": {"type": "integer"},
        "start": {"type": "integer"},
        "end": {"type": "integer"},
        "transactions": TXS,
    },
    "additionalProperties": False,
}


def node_json(view: NodeView) -> dict[str, Any]:
    node = view.node
    return {
        "id": node.id,
        "name": node.name,
        "created_at": iso_utc(node.created_at),
        "status": node.status,
        "wallet": node.wallet_address,
        "payee": node.payee,
        "chain_node_id": node.chain_node_id,
        "resources": {
            "cpu_millicores": node.cpu_millicores,
            "memory_mb": node.memory_mb,
            "disk_gb": node.disk_gb,
            "bandwidth_mbps": node.bandwidth_mbps,
            "gpu": {"model": node.gpu_model, "count": node.gpu_count},
        },
        "region": node.region,
        "country": node.country,
        "prices": {
            "per_cpu_millicore": node.price_per_cpu_millicore,
            "per_memory_mb": node.price_per_memory_mb,
            "per_disk_gb": node.price_per_disk_gb,
            "per_gpu": node.price_per_gpu,
        },
        "attributes": list(node.attributes or ()),
        "certified": node.certified,
        "maintenance": [{"start": w.start_at, "end": w.end_at, "status": w.status} for w in view.windows],
    }


def added_node_json(added: AddedNode) -> dict[str, Any]:
    return {
        **node_json(NodeView(added.node)),
        "transactions": [t.to_json() for t in added.transactions],
    }


def maintenance_json(m: MaintenanceTxs, start: int | None = None, end: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "node_id": m.node_id,
        "chain_node_id": m.chain_node_id,
        "transactions": [t.to_json() for t in m.transactions],
    }
    if start is not None and end is not None:
        out |= {"start": start, "end": end}
    return out
