"""Schemas and renderers of the alliance routes (:mod:`api.routes.alliances`).

Amounts are credit units (10**-6 credit), read on chain; weights are capacity units
(:mod:`engine.alliances.services`). Every action answers ``{alliance_id, step, transactions, details}``:
the unsigned transactions for the provider's own wallet, in order.
"""

from __future__ import annotations

from typing import Any

from api.render import iso_utc
from api.schemas.common import UNSIGNED_TXS, Schema
from engine.alliances.commands import AllianceSummary, AllianceTxs, AllianceView, MemberAction, MemberView
from engine.alliances.models import Alliance, AllianceMember, AllianceNode

_ADDRESS: Schema = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
_INT: Schema = {"type": "integer"}
_INT_OR_NULL: Schema = {"type": ["integer", "null"]}
_TEXT: Schema = {"type": "string", "minLength": 1, "pattern": "\\S"}

CREATE_REQUEST: Schema = {
    "type": "object",
    "required": ["wallet", "name", "terms"],
    "properties": {
        "wallet": {**_ADDRESS, "description": "the proposer (first member): one of the caller's wallets"},
        "name": {**_TEXT, "maxLength": 200},
        "terms": {**_TEXT, "maxLength": 20_000, "description": "members accept its keccak256 on chain"},
        "admin": {**_ADDRESS, "description": "invites members; default: the proposer"},
        "notice_period": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1, "default": 7 * 86_400},
        "max_units_per_node": {"type": "integer", "minimum": 1, "maximum": 2**32 - 1, "default": 1_000},
    },
    "additionalProperties": False,
}
INVITE_REQUEST: Schema = {
    "type": "object",
    "required": ["account"],
    "properties": {"account": _ADDRESS},
    "additionalProperties": False,
}
NODE_REQUEST: Schema = {
    "type": "object",
    "required": ["node_id"],
    "properties": {"node_id": {"type": "integer", "minimum": 1, "maximum": 2**53}},
    "additionalProperties": False,
}
COLLECT_REQUEST: Schema = {
    "type": "object",
    "required": ["chain_node_id"],
    "properties": {"chain_node_id": {"type": "integer", "minimum": 1, "maximum": 2**64 - 1}},
    "additionalProperties": False,
}
TXS_RESPONSE: Schema = {
    "type": "object",
    "required": ["alliance_id", "step", "transactions", "details"],
    "properties": {
        "alliance_id": _INT_OR_NULL,
        "step": {"type": "string"},
        "transactions": UNSIGNED_TXS,
        "details": {"type": "object"},
    },
    "additionalProperties": False,
}
ALLIANCE_SCHEMA: Schema = {
    "type": "object",
    "required": ["id", "name", "admin", "proposer", "total_shares", "received"],
    "properties": {
        "id": _INT,
        "name": {"type": ["string", "null"]},
        "name_hash": {"type": "string"},
        "terms_hash": {"type": "string"},
        "admin": _ADDRESS,
        "proposer": _ADDRESS,
        "notice_period": _INT,
        "max_units_per_node": _INT,
        "total_shares": _INT,
        "received": {**_INT, "description": "credit units booked to the alliance (indexed)"},
        "created_block": _INT,
        "created_at": {"type": "string"},
    },
}
MEMBER_SCHEMA: Schema = {
    "type": "object",
    "required": ["account", "status", "weight", "claimable", "claimed", "earned"],
    "properties": {
        "account": _ADDRESS,
        "status": {"type": "string"},
        "weight": _INT,
        "units": _INT,
        "nodes": _INT,
        "leave_at": _INT_OR_NULL,
        "claimed": _INT,
        "claimable": _INT,
        "earned": _INT,
    },
}
NODE_SCHEMA: Schema = {
    "type": "object",
    "properties": {"chain_node_id": _INT, "member": _ADDRESS, "units": _INT, "exit_at": _INT_OR_NULL},
}
LIST_RESPONSE: Schema = {
    "type": "object",
    "required": ["alliances"],
    "properties": {"alliances": {"type": "array", "items": ALLIANCE_SCHEMA}},
}
DETAIL_RESPONSE: Schema = {
    "type": "object",
    "required": ["alliance", "members", "nodes"],
    "properties": {
        "alliance": ALLIANCE_SCHEMA,
        "members": {"type": "array", "items": MEMBER_SCHEMA},
        "nodes": {"type": "array", "items": NODE_SCHEMA},
    },
}


def alliance_json(a: Alliance, total_shares: int | None = None) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "name_hash": a.name_hash,
        "terms_hash": a.terms_hash,
        "admin": a.admin,
        "proposer": a.proposer,
        "notice_period": a.notice_period,
        "max_units_per_node": a.max_units_per_node,
        "total_shares": a.total_shares if total_shares is None else total_shares,
        "received": a.received,
        "created_block": a.created_block,
        "created_at": iso_utc(a.created_at),
    }


def member_json(m: MemberView) -> dict[str, Any]:
    return {
        "account": m.account,
        "status": m.status,
        "weight": m.weight,
        "units": m.units,
        "nodes": m.nodes,
        "leave_at": m.leave_at,
        "claimed": m.claimed,
        "claimable": m.claimable,
        "earned": m.earned,
    }


def node_json(n: AllianceNode) -> dict[str, Any]:
    return {"chain_node_id": n.chain_node_id, "member": n.member, "units": n.units, "exit_at": n.exit_at}


def detail_json(v: AllianceView) -> dict[str, Any]:
    return {
        "alliance": alliance_json(v.alliance, v.total_shares),
        "members": [member_json(m) for m in v.members],
        "nodes": [node_json(n) for n in v.nodes],
    }


def txs_json(t: AllianceTxs) -> dict[str, Any]:
    return {
        "alliance_id": t.alliance_id,
        "step": t.step,
        "transactions": [tx.to_json() for tx in t.transactions],
        "details": dict(t.details or {}),
    }


# ---- the operator (suspend / reinstate through the outbox, overview) --------------------------------------
SUSPEND_REQUEST: Schema = {
    "type": "object",
    "properties": {
        "reason": {
            **_TEXT,
            "maxLength": 500,
            "description": "why (its keccak256 goes on chain with the suspension; the text is kept here)",
        }
    },
    "additionalProperties": False,
}
MEMBER_ACTION_RESPONSE: Schema = {
    "type": "object",
    "required": ["alliance_id", "account", "action", "chain_status", "outbox_key", "outbox_status"],
    "properties": {
        "alliance_id": _INT,
        "account": _ADDRESS,
        "action": {"type": "string", "enum": ["suspend", "reinstate"]},
        "chain_status": {"type": "string", "description": "the member's status on chain when asked"},
        "outbox_key": {
            "type": ["string", "null"],
            "description": "the outbox row sending it (null: already in that state, nothing enqueued)",
        },
        "outbox_status": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}
_OVERVIEW_FIELDS = ("account", "status", "weight", "units", "nodes", "leave_at", "claimed")
# a member as the operator overview shows it: MEMBER_SCHEMA's fields without the revenue figures
_OVERVIEW_MEMBER: Schema = {
    "type": "object",
    "required": ["account", "status", "weight", "units", "nodes", "claimed"],
    "properties": {k: MEMBER_SCHEMA["properties"][k] for k in _OVERVIEW_FIELDS},
}
OVERVIEW_RESPONSE: Schema = {
    "type": "object",
    "required": ["alliances"],
    "properties": {
        "alliances": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["alliance", "members", "nodes"],
                "properties": {
                    "alliance": ALLIANCE_SCHEMA,
                    "members": {"type": "array", "items": _OVERVIEW_MEMBER},
                    "nodes": {**_INT, "description": "nodes contributed now"},
                },
            },
        }
    },
}


def member_action_json(a: MemberAction) -> dict[str, Any]:
    return {
        "alliance_id": a.alliance_id,
        "account": a.account,
        "action": a.action,
        "chain_status": a.chain_status,
        "outbox_key": a.outbox_key,
        "outbox_status": a.outbox_status,
    }


def _overview_member(m: AllianceMember) -> dict[str, Any]:
    return {
        "account": m.account,
        "status": m.status,
        "weight": m.weight,
        "units": m.units,
        "nodes": m.nodes,
        "leave_at": m.leave_at,
        "claimed": m.claimed,
    }


def overview_json(rows: list[AllianceSummary]) -> dict[str, Any]:
    return {
        "alliances": [
            {
                "alliance": alliance_json(r.alliance),
                "members": [_overview_member(m) for m in r.members],
                "nodes": r.nodes,
            }
            for r in rows
        ]
    }
