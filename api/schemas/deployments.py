"""Schemas and renderers of the deployment routes (:mod:`api.routes.deployments`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.render import iso_utc
from api.validation import MAX_PATH_ID
from chain.contracts import UnsignedTx
from engine.deployments import models as m
from engine.deployments.commands import (
    Catalog,
    CreatedDeployment,
    DeploymentAction,
    DeploymentDetail,
    DeploymentQuoteView,
    DeploymentView,
    LeaseBalance,
    TransitionEvent,
)
from engine.deployments.services import DeploymentQuote
from engine.money import MAX_CREDIT_UNITS
from engine.pagination import Page
from engine.scaling.commands import AutoscalePolicy
from engine.staking.models import DiscountPreview

ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
# the BIGINT cap of the amount columns: nothing that passes validation overflows at INSERT
AMOUNT = {"type": "integer", "minimum": 1, "maximum": MAX_CREDIT_UNITS, "description": "credit units"}
OBJ = {"type": "object"}
TXS = {"type": "array", "items": OBJ}
REPLICAS = {"type": "integer", "minimum": 1, "maximum": 1_000}

CREATE_REQUEST = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": OBJ,
        "deposit_per_replica": AMOUNT,
        "duration_seconds": {"type": "integer", "minimum": 1, "maximum": 10 * 365 * 86_400},
        "wallet": ADDRESS,
    },
    "additionalProperties": False,
}
DEPLOYMENT = {
    "type": "object",
    "required": ["id", "status", "spec_hash", "leases"],
    "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string"},
        "spec_hash": {"type": "string"},
        "leases": TXS,
    },
}
DEPLOYMENTS = {
    "type": "object",
    "required": ["deployments", "next_cursor"],
    "properties": {
        "deployments": {"type": "array", "items": DEPLOYMENT},
        "next_cursor": {
            "type": ["string", "null"],
            "description": "pass as ?cursor= for the next page; null: no more",
        },
    },
}
LIST_QUERY = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 200},
    "cursor": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"},
}
QUOTE = {
    "type": "object",
    "required": [
        "rate_per_replica",
        "platform_fee_bps",
        "platform_fee_per_second",
        "provider_per_second",
        "total_rate_per_second",
        "deposit_per_replica",
        "total_deposit",
        "platform_fee_of_deposit",
        "provider_of_deposit",
    ],
    "properties": {
        "rate_per_replica": {"type": "array", "items": {"type": "integer"}},
        "platform_fee_bps": {"type": "integer"},
        "platform_fee_per_second": {"type": "integer", "description": "one second settled alone"},
        "provider_per_second": {"type": "integer"},
        "total_rate_per_second": {"type": "integer"},
        "deposit_per_replica": {"type": "array", "items": {"type": "integer"}},
        "total_deposit": {"type": "integer"},
        "platform_fee_of_deposit": {
            "type": "integer",
            "description": "the escrow's fee on the deposits, each lease settled in one go",
        },
        "provider_of_deposit": {"type": "integer"},
    },
}
# issue 13: the payer's staking discount, applied by the escrow at open (null: none possible)
STAKING_DISCOUNT = {
    "type": ["object", "null"],
    "properties": {
        "payer": {"type": "string"},
        "discount_bps": {"type": "integer"},
        "charged_rate_per_replica": {"type": "array", "items": {"type": "integer"}},
        "total_charged_rate_per_second": {"type": "integer"},
    },
}
QUOTE_RESPONSE = {
    "type": "object",
    "required": ["quote", "replicas"],
    "properties": {
        "quote": QUOTE,
        "replicas": {"type": "array", "items": OBJ},
        "staking_discount": STAKING_DISCOUNT,
    },
}
CATALOG_RESPONSE = {
    "type": "object",
    "required": ["regions", "gpu_models", "floor_prices", "certified_premium_bps", "platform_fee_bps"],
    "properties": {
        "regions": {"type": "array", "items": {"type": "string"}},
        "gpu_models": {"type": "array", "items": {"type": "string"}},
        "floor_prices": OBJ,
        "price_scale": {"type": "integer"},
        "certified_premium_bps": {"type": "integer"},
        "platform_fee_bps": {"type": ["integer", "null"]},
        "max_replicas": {"type": "integer"},
    },
}
CREATE_RESPONSE = {
    "type": "object",
    "required": ["deployment", "quote", "transactions"],
    "properties": {
        "deployment": DEPLOYMENT,
        "quote": QUOTE,
        "transactions": TXS,
        "staking_discount": STAKING_DISCOUNT,
    },
}
TOP_UP_REQUEST = {
    "type": "object",
    "required": ["amount"],
    "properties": {"amount": AMOUNT},
    "additionalProperties": False,
}
ACTION_RESPONSE = {
    "type": "object",
    "required": ["deployment", "transactions"],
    "properties": {"deployment": DEPLOYMENT, "transactions": TXS},
}
EVENTS_QUERY = {
    "after": {"type": "integer", "minimum": 0, "maximum": MAX_PATH_ID},
    "max_seconds": {"type": "integer", "minimum": 0, "maximum": 3600},
}
TRANSITION_EVENT = {
    "type": "string",
    "description": "SSE: `id: <transition id>`, `event: status`, `data: {from, to, reason, at}`; "
    "`: keep-alive` comments. Resume with the Last-Event-ID header or ?after=.",
}
METRICS_QUERY = {"seconds": {"type": "integer", "minimum": 1, "maximum": 7 * 86_400}}
METRICS_RESPONSE = {
    "type": "object",
    "required": ["deployment_id", "since", "replicas"],
    "properties": {
        "deployment_id": {"type": "integer"},
        "since": {"type": "string"},
        "replicas": {"type": "array", "items": OBJ},
    },
}
SCALE_REQUEST = {
    "type": "object",
    "required": ["replicas"],
    "properties": {"replicas": REPLICAS, "deposit_per_replica": AMOUNT},
    "additionalProperties": False,
}
AUTOSCALE_REQUEST = {
    "type": "object",
    "required": ["min_replicas", "max_replicas", "cpu_target_bps", "cooldown_seconds"],
    "properties": {
        "min_replicas": REPLICAS,
        "max_replicas": REPLICAS,
        "cpu_target_bps": {"type": "integer", "minimum": 100, "maximum": 10_000},
        "cooldown_seconds": {"type": "integer", "minimum": 0, "maximum": 86_400},
    },
    "additionalProperties": False,
}
AUTOSCALE_RESPONSE = {
    "type": "object",
    "required": ["deployment_id", "min_replicas", "max_replicas", "cpu_target_bps", "cooldown_seconds"],
    "properties": {
        "deployment_id": {"type": "integer"},
        "min_replicas": {"type": "integer"},
        "max_replicas": {"type": "integer"},
        "cpu_target_bps": {"type": "integer"},
        "cooldown_seconds": {"type": "integer"},
    },
}
EARNINGS_RESPONSE = {
    "type": "object",
    "required": ["nodes", "total"],
    "properties": {"nodes": TXS, "total": {"type": "integer"}},
}
WITHDRAW_RESPONSE = {
    "type": "object",
    "required": ["node_id", "owed", "transactions"],
    "properties": {"node_id": {"type": "integer"}, "owed": {"type": "integer"}, "transactions": TXS},
}


# ---- renderers --------------------------------------------------------------------------------------
def balance_json(b: LeaseBalance) -> dict[str, int | None]:
    return {
        "balance": b.balance,
        "due_now": b.due_now,
        "balance_now": b.balance_now,
        "rate_per_second": b.rate_per_second,
        "settled_at": b.settled_at,
        "open": int(b.open),
        "runway_seconds": b.runway_seconds,
    }


def lease_json(lease: m.Lease | m.LeaseRow, balance: LeaseBalance | None = None) -> dict[str, Any]:
    retired = lease.role == m.RETIRED
    out: dict[str, Any] = {
        # a retired lease: the index it served under (the row keeps -id to free the index); None when
        # retired before that was recorded
        "replica_index": lease.retired_index if retired else lease.replica_index,
        "retired": retired,
        "role": lease.role,
        "node_id": lease.node_id,
        "chain_node_id": lease.chain_node_id,
        "lease_id": lease.chain_lease_id,
        "rate_per_second": lease.rate_per_second,
        "deposit": lease.deposit,
        "status": lease.status,
        "opened_block": lease.opened_block,
        "closed_block": lease.closed_block,
        "refund": lease.refund,
        "quote_expiry": lease.quote_expiry,
        "stopped_at": lease.stopped_at,
        "stopped_block": lease.stopped_block,
    }
    if balance is not None:
        out["chain"] = balance_json(balance)
    return out


def deployment_json(
    dep: m.Deployment | m.DeploymentRow, leases: Sequence[m.Lease | m.LeaseRow]
) -> dict[str, Any]:
    return {
        "id": dep.id,
        "status": dep.status,
        "spec": dep.spec,
        "spec_hash": dep.spec_hash,
        "replicas": dep.replicas,
        "rate_per_second": dep.rate_per_second,
        "payer": dep.payer,
        "funding": dep.funding,
        "created_at": iso_utc(dep.created_at),
        "updated_at": iso_utc(dep.updated_at),
        "leases": [lease_json(x) for x in leases],
    }


def detail_json(d: DeploymentDetail) -> dict[str, Any]:
    out = deployment_json(d.deployment, [])
    out["leases"] = [lease_json(x, d.balances.get(x.id)) for x in d.leases]
    out["runway_seconds"] = d.runway_seconds
    out["transitions"] = [
        {"from": t.from_status, "to": t.to_status, "reason": t.reason, "at": iso_utc(t.at)}
        for t in d.transitions
    ]
    # why it is in its status (e.g. the decoded revert of a failed funding): the latest move into it
    moves = [t for t in d.transitions if t.to_status == d.deployment.status and t.from_status != t.to_status]
    out["status_reason"] = moves[-1].reason if moves else None
    return out


def page_json(page: Page[DeploymentView]) -> dict[str, Any]:
    return {
        "deployments": [deployment_json(v.deployment, v.leases) for v in page.items],
        "next_cursor": page.next_cursor,
    }


def quote_json(q: DeploymentQuote) -> dict[str, Any]:
    return {
        "rate_per_replica": list(q.rate_per_replica),
        "platform_fee_bps": q.platform_fee_bps,
        "platform_fee_per_second": q.platform_fee_per_second,
        "provider_per_second": q.provider_per_second,
        "total_rate_per_second": q.total_rate_per_second,
        "deposit_per_replica": list(q.deposit_per_replica),
        "total_deposit": q.total_deposit,
        "platform_fee_of_deposit": q.platform_fee_of_deposit,
        "provider_of_deposit": q.provider_of_deposit,
    }


def discount_json(d: DiscountPreview | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "payer": d.payer,
        "discount_bps": d.discount_bps,
        "charged_rate_per_replica": list(d.charged_rate_per_replica),
        "total_charged_rate_per_second": d.total_charged_rate_per_second,
    }


def quote_view_json(v: DeploymentQuoteView) -> dict[str, Any]:
    return {
        "staking_discount": discount_json(v.discount),
        "quote": quote_json(v.quote),
        "replicas": [
            {
                "replica_index": r.replica_index,
                "role": r.role,
                "chain_node_id": r.chain_node_id,
                "region": r.region,
                "rate_per_second": r.rate_per_second,
                "deposit": r.deposit,
            }
            for r in v.replicas
        ],
    }


def catalog_json(c: Catalog) -> dict[str, Any]:
    return {
        "regions": list(c.regions),
        "gpu_models": list(c.gpu_models),
        "floor_prices": {
            "per_cpu_millicore": c.floor.floor_per_cpu_millicore,
            "per_memory_mb": c.floor.floor_per_memory_mb,
            "per_disk_gb": c.floor.floor_per_disk_gb,
            "per_gpu": c.floor.floor_per_gpu,
        },
        "price_scale": c.price_scale,
        "certified_premium_bps": c.floor.certified_premium_bps,
        "platform_fee_bps": c.platform_fee_bps,
        "max_replicas": c.max_replicas,
    }


def txs_json(txs: list[UnsignedTx]) -> list[dict[str, Any]]:
    return [t.to_json() for t in txs]


def created_json(c: CreatedDeployment) -> dict[str, Any]:
    return {
        "deployment": deployment_json(c.deployment, c.leases),
        "quote": quote_json(c.quote),
        "transactions": txs_json(c.transactions),
        "staking_discount": discount_json(c.discount),
    }


def action_json(a: DeploymentAction) -> dict[str, Any]:
    return {"deployment": deployment_json(a.deployment, a.leases), "transactions": txs_json(a.transactions)}


def transition_json(t: TransitionEvent) -> dict[str, Any]:
    data: dict[str, Any] = {
        "from": t.from_status,
        "to": t.to_status,
        "reason": t.reason,
        "at": iso_utc(t.at),
    }
    if t.transactions is not None:  # a wallet-connected payer's txs to sign (failover, orphan close)
        data["transactions"] = t.transactions
    return data


def autoscale_json(p: AutoscalePolicy) -> dict[str, int]:
    return {
        "deployment_id": p.deployment_id,
        "min_replicas": p.min_replicas,
        "max_replicas": p.max_replicas,
        "cpu_target_bps": p.cpu_target_bps,
        "cooldown_seconds": p.cooldown_seconds,
    }
