"""Schemas and renderers of the staking routes (:mod:`api.routes.staking`).

Platform-token amounts (18 decimals) are decimal strings of base units: they exceed 2**53.
"""

from __future__ import annotations

from typing import Any

from api.openapi import named
from api.schemas.common import UNSIGNED_TXS
from chain.staking import MAX_DISCOUNT_BPS, MAX_LOCK, MAX_TIERS, Tier
from engine.staking.models import (
    IndexedPosition,
    MyStaking,
    NextTier,
    PendingTiers,
    RelayedStaking,
    ScheduledTiers,
    StakingHistoryItem,
    StakingTxs,
    TierSetRequest,
    TiersView,
    TierView,
)

Schema = dict[str, Any]
_AMOUNT: Schema = {"type": "string", "pattern": "^[0-9]{1,29}$", "description": "platform token base units"}
_ADDRESS: Schema = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
_INT: Schema = {"type": "integer"}
_WALLET: Schema = {**_ADDRESS, "description": "stake from this linked wallet (default: as deployments pay)"}

TIER: Schema = named(
    "StakingTier",
    {
        "type": "object",
        "required": ["level", "min_stake", "min_lock", "discount_bps", "effective_discount_bps"],
        "properties": {
            "level": _INT,
            "min_stake": _AMOUNT,
            "min_lock": {
                **_INT,
                "description": "seconds the stake must still be locked at an open (0: none)",
            },
            "discount_bps": _INT,
            "effective_discount_bps": {**_INT, "description": "as applied by the escrow (its cap)"},
        },
    },
)
TIERS: Schema = named(
    "StakingTiers",
    {
        "type": "object",
        "required": [
            "staking_address",
            "token_address",
            "tiers",
            "cover_per_token",
            "cooldown",
            "tier_delay",
        ],
        "properties": {
            "staking_address": _ADDRESS,
            "token_address": _ADDRESS,
            "tiers": {"type": "array", "items": TIER},
            "cover_per_token": {
                **_AMOUNT,
                "description": "credit units per second of lease rate one whole staked token covers",
            },
            "pending": {
                "type": ["object", "null"],
                "properties": {
                    "tiers": {"type": "array", "items": TIER},
                    "cover_per_token": _AMOUNT,
                    "activates_at": _INT,
                },
            },
            "cooldown": _INT,
            "tier_delay": _INT,
            "escrow_max_discount_bps": _INT,
        },
    },
)
RELAYED: Schema = {
    "type": ["object", "null"],
    "description": "a managed wallet's request, signed by its key and sent by the engine (outbox)",
    "required": ["outbox_id", "function", "status", "nonce", "deadline"],
    "properties": {
        "outbox_id": _INT,
        "function": {"type": "string", "enum": ["stakeBySig", "requestUnstakeBySig", "withdrawBySig"]},
        "status": {"type": "string", "enum": ["pending", "done", "failed"]},
        "nonce": _INT,
        "deadline": {**_INT, "description": "chain time after which the signed request is void"},
        "tx_hash": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"], "description": "the decoded revert of a failed request"},
    },
}
HISTORY_ITEM: Schema = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": ["staked", "unstake_requested", "withdrawn"]},
        "amount": _AMOUNT,
        "active_after": {"type": ["string", "null"]},
        "until": {"type": ["integer", "null"], "description": "lock end (staked) or cooldown end"},
        "block_number": _INT,
        "tx_hash": {"type": "string"},
    },
}
ME: Schema = named(
    "MyStaking",
    {
        "type": "object",
        "required": ["address", "stake", "level", "discount_bps", "covered_rate", "next_tier"],
        "properties": {
            "address": _ADDRESS,
            "funding": {"type": "string", "enum": ["wallet", "managed"]},
            "token_balance": _AMOUNT,
            "allowance": _AMOUNT,
            "stake": {
                "type": "object",
                "properties": {
                    "active": _AMOUNT,
                    "cooling": _AMOUNT,
                    "cooling_end": _INT,
                    "locked_until": _INT,
                },
            },
            "level": _INT,
            "discount_bps": _INT,
            "effective_discount_bps": _INT,
            "covered_rate": {**_INT, "description": "credit units per second the active stake covers"},
            "reported_spend_rate": _INT,
            "open_rate": _INT,
            "withdrawable": {"type": "boolean"},
            "indexed": {
                "type": ["object", "null"],
                "description": "the stake as the indexed events leave it (may trail the chain)",
                "properties": {
                    "active": _AMOUNT,
                    "cooling": _AMOUNT,
                    "cooling_end": _INT,
                    "locked_until": _INT,
                    "staked_total": _AMOUNT,
                    "withdrawn_total": _AMOUNT,
                    "as_of_block": _INT,
                },
            },
            "history": {"type": "array", "items": HISTORY_ITEM, "description": "newest indexed events first"},
            "relay": RELAYED,
            "next_tier": {
                "type": ["object", "null"],
                "properties": {
                    "level": _INT,
                    "discount_bps": _INT,
                    "min_stake": _AMOUNT,
                    "stake_needed": _AMOUNT,
                    "min_lock": _INT,
                    "lock_until_needed": _INT,
                },
            },
        },
    },
)
TXS: Schema = named(
    "StakingTransactions",
    {
        "type": "object",
        "required": ["address", "transactions"],
        "properties": {
            "address": _ADDRESS,
            "transactions": {**UNSIGNED_TXS, "description": "to sign and send (empty for a managed wallet)"},
            "relayed": RELAYED,
        },
    },
)
STAKE_REQUEST: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["amount"],
    "properties": {
        "amount": _AMOUNT,
        "lock_until": {
            "type": "integer",
            "minimum": 0,
            "maximum": 2**32 - 1,
            "description": "lock all active stake until this unix time (extends only; 0: keep)",
        },
        "wallet": _WALLET,
    },
}
UNSTAKE_REQUEST: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["amount"],
    "properties": {"amount": _AMOUNT, "wallet": _WALLET},
}
WITHDRAW_REQUEST: Schema = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"wallet": _WALLET},
}
TIER_SET_REQUEST: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tiers", "cover_per_token"],
    "properties": {
        "tiers": {
            "type": "array",
            "maxItems": MAX_TIERS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["min_stake", "discount_bps"],
                "properties": {
                    "min_stake": _AMOUNT,
                    "min_lock": {"type": "integer", "minimum": 0, "maximum": MAX_LOCK},
                    "discount_bps": {"type": "integer", "minimum": 0, "maximum": MAX_DISCOUNT_BPS},
                },
            },
        },
        "cover_per_token": _AMOUNT,
    },
}
SCHEDULED: Schema = named(
    "ScheduledStakingTiers",
    {
        "type": "object",
        "required": ["outbox_id", "status", "earliest_activation"],
        "properties": {
            "outbox_id": _INT,
            "status": {"type": "string"},
            "tiers": {"type": "array", "items": {"type": "object"}},
            "cover_per_token": _AMOUNT,
            "earliest_activation": _INT,
        },
    },
)


def tier_json(t: TierView) -> dict[str, Any]:
    return {
        "level": t.level,
        "min_stake": str(t.min_stake),
        "min_lock": t.min_lock,
        "discount_bps": t.discount_bps,
        "effective_discount_bps": t.effective_discount_bps,
    }


def _pending_json(p: PendingTiers | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "tiers": [tier_json(t) for t in p.tiers],
        "cover_per_token": str(p.cover_per_token),
        "activates_at": p.activates_at,
    }


def tiers_json(v: TiersView) -> dict[str, Any]:
    return {
        "staking_address": v.staking_address,
        "token_address": v.token_address,
        "tiers": [tier_json(t) for t in v.tiers],
        "cover_per_token": str(v.cover_per_token),
        "pending": _pending_json(v.pending),
        "cooldown": v.cooldown,
        "tier_delay": v.tier_delay,
        "escrow_max_discount_bps": v.escrow_max_discount_bps,
    }


def _next_json(n: NextTier | None) -> dict[str, Any] | None:
    if n is None:
        return None
    return {
        "level": n.level,
        "discount_bps": n.discount_bps,
        "min_stake": str(n.min_stake),
        "stake_needed": str(n.stake_needed),
        "min_lock": n.min_lock,
        "lock_until_needed": n.lock_until_needed,
    }


def relayed_json(r: RelayedStaking | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "outbox_id": r.outbox_id,
        "function": r.function,
        "status": r.status,
        "nonce": r.nonce,
        "deadline": r.deadline,
        "tx_hash": r.tx_hash,
        "error": r.error,
    }


def _indexed_json(p: IndexedPosition | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "active": str(p.active),
        "cooling": str(p.cooling),
        "cooling_end": p.cooling_end,
        "locked_until": p.locked_until,
        "staked_total": str(p.staked_total),
        "withdrawn_total": str(p.withdrawn_total),
        "as_of_block": p.as_of_block,
    }


def _history_json(h: StakingHistoryItem) -> dict[str, Any]:
    return {
        "kind": h.kind,
        "amount": str(h.amount),
        "active_after": None if h.active_after is None else str(h.active_after),
        "until": h.until,
        "block_number": h.block_number,
        "tx_hash": h.tx_hash,
    }


def me_json(m: MyStaking) -> dict[str, Any]:
    return {
        "address": m.address,
        "funding": m.funding,
        "token_balance": str(m.token_balance),
        "allowance": str(m.allowance),
        "stake": {
            "active": str(m.stake.active),
            "cooling": str(m.stake.cooling),
            "cooling_end": m.stake.cooling_end,
            "locked_until": m.stake.locked_until,
        },
        "level": m.level,
        "discount_bps": m.discount_bps,
        "effective_discount_bps": m.effective_discount_bps,
        "covered_rate": m.covered_rate,
        "reported_spend_rate": m.reported_spend_rate,
        "open_rate": m.open_rate,
        "withdrawable": m.withdrawable,
        "next_tier": _next_json(m.next_tier),
        "indexed": _indexed_json(m.indexed),
        "history": [_history_json(h) for h in m.history],
        "relay": relayed_json(m.relay),
    }


def txs_json(t: StakingTxs) -> dict[str, Any]:
    return {
        "address": t.address,
        "transactions": [x.to_json() for x in t.transactions],
        "relayed": relayed_json(t.relayed),
    }


def tier_set_request(body: dict[str, Any]) -> TierSetRequest:
    return TierSetRequest(
        tiers=[
            Tier(int(t["min_stake"]), int(t.get("min_lock", 0)), int(t["discount_bps"]))
            for t in body["tiers"]
        ],
        cover_per_token=int(body["cover_per_token"]),
    )


def scheduled_json(s: ScheduledTiers) -> dict[str, Any]:
    return {
        "outbox_id": s.outbox_id,
        "status": s.status,
        "tiers": [
            {"min_stake": str(t.min_stake), "min_lock": t.min_lock, "discount_bps": t.discount_bps}
            for t in s.tiers
        ],
        "cover_per_token": str(s.cover_per_token),
        "earliest_activation": s.earliest_activation,
    }
