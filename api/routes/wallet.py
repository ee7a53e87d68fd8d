"""Wallet routes: balances and one merged history (the work is in :mod:`engine.wallets.commands`).

================================================  ========================================================
GET /api/wallet                                   cloud-user: every wallet of the caller (linked + managed)
                                                  with on-chain credit and native balance, pending credit
                                                  (ledger entries whose mint is not confirmed) and where
                                                  the next top-up will be minted, the account's
                                                  ``runway_seconds`` and ``burn_rate_per_second``
GET /api/wallet/history?from=&to=&step=           cloud-user: the balance series for a chart (unix seconds;
                                                  one point per ``step`` that has a sample)
GET /api/wallet/transactions?cursor=&limit=       cloud-user: fiat payments (with Stripe receipt_url),
    &format=csv                                   their refunds, and the caller's on-chain credit movements,
                                                  each with ``direction`` (in/out) and ``kind``
                                                  (card_top_up, mint, lease_deposit, ...), newest first;
                                                  ``next_cursor`` (opaque: pass it back as ``cursor``; a
                                                  keyset walk, every entry reachable); CSV: every entry
================================================  ========================================================
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_USER
from api.errors import BadRequest
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.render import iso_utc
from api.validation import validated_query
from engine.monitoring.commands import balance_history
from engine.monitoring.models import BalancePoint
from engine.wallets.commands import (
    HISTORY_WINDOW,
    HistoryItem,
    WalletBalance,
    wallet_history,
    wallet_overview,
)

routes = RouteTable(tag="wallet", roles=(CLOUD_USER,))
CSV_FIELDS = [
    "time",
    "type",
    "kind",
    "direction",
    "amount_cents",
    "credit_units",
    "status",
    "receipt_url",
    "tx_hash",
    "from",
    "to",
    "wallet",
    "id",
]

WALLET = {
    "type": "object",
    "required": ["wallets", "credit_units", "pending_credit_units"],
    "properties": {
        "wallets": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "address": {"type": "string"},
                    "kind": {"type": "string"},
                    "credit_units": {"type": "integer"},
                    "native_wei": {"type": "string"},
                },
            },
        },
        "credit_units": {"type": "integer"},
        "pending_credit_units": {"type": "integer"},
        "mint_destination": {"type": ["object", "null"]},
        "runway_seconds": {"type": ["integer", "null"]},
        "burn_rate_per_second": {"type": "integer"},
    },
}
BALANCE_POINT = {
    "type": "object",
    "required": ["at", "credit_units", "lease_units", "burn_rate_per_second", "runway_seconds"],
    "properties": {
        "at": {"type": "integer"},
        "sampled_at": {"type": "integer"},
        "credit_units": {"type": "integer"},
        "lease_units": {"type": "integer"},
        "native_wei": {"type": "string"},
        "burn_rate_per_second": {"type": "integer"},
        "runway_seconds": {"type": ["integer", "null"]},
    },
}
BALANCE_SERIES = {
    "type": "object",
    "required": ["from", "to", "step", "points"],
    "properties": {
        "from": {"type": "integer"},
        "to": {"type": "integer"},
        "step": {"type": "integer"},
        "points": {"type": "array", "items": BALANCE_POINT},
    },
}
UNIX_SECONDS = {"type": "integer", "minimum": 0, "maximum": 2**40}
HISTORY_KINDS = [
    "card_top_up",
    "refund",
    "mint",
    "burn",
    "lease_deposit",
    "lease_refund",
    "withdrawal",
    "clawback",
    "transfer",
]
HISTORY_ITEM = {
    "type": "object",
    "required": ["id", "type", "kind", "direction", "time"],
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string"},
        "kind": {"type": "string", "enum": HISTORY_KINDS},
        "direction": {"type": "string", "enum": ["in", "out"]},
        "time": {"type": ["string", "null"], "format": "date-time"},
        "amount_cents": {"type": ["integer", "null"]},
        "credit_units": {"type": ["integer", "null"]},
        "status": {"type": "string"},
    },
}
HISTORY = {
    "type": "object",
    "required": ["items"],
    "properties": {
        "items": {"type": "array", "items": HISTORY_ITEM},
        "next_cursor": {"type": ["string", "null"]},
    },
}


def _wallet_json(w: WalletBalance) -> dict[str, Any]:
    return {
        "address": w.address,
        "kind": w.kind,
        "credit_units": w.credit_units,
        "native_wei": str(w.native_wei),
    }


def _point_json(p: BalancePoint) -> dict[str, Any]:
    return {
        "at": p.at,
        "sampled_at": p.sampled_at,
        "credit_units": p.credit_units,
        "lease_units": p.lease_units,
        "native_wei": str(p.native_wei),
        "burn_rate_per_second": p.burn_rate_per_second,
        "runway_seconds": p.runway_seconds,
    }


def _item_json(i: HistoryItem) -> dict[str, Any]:
    return {
        "id": i.id,
        "type": i.type,
        "kind": i.kind,
        "direction": i.direction,
        "time": iso_utc(datetime.fromtimestamp(i.time, UTC)) if i.time else None,
        "amount_cents": i.amount_cents,
        "credit_units": i.credit_units,
        "status": i.status,
        "receipt_url": i.receipt_url,
        "tx_hash": i.tx_hash,
        "wallet": i.wallet,
        "receipt_id": i.receipt_id,
        "from": i.from_address,
        "to": i.to_address,
    }


@routes.get(
    "/api/wallet", summary="The caller's wallets: credit, native balance, pending credit", response=WALLET
)
async def get_wallet(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    overview = await wallet_overview(request.app[RUNTIME].context, principal.user_id)
    dest = overview.mint_destination
    return web.json_response(
        {
            "wallets": [_wallet_json(w) for w in overview.wallets],
            "credit_units": overview.credit_units,
            "pending_credit_units": overview.pending_credit_units,
            "mint_destination": None if dest is None else {"address": dest.address, "kind": dest.kind},
            "runway_seconds": overview.runway_seconds,
            "burn_rate_per_second": overview.burn_rate_per_second,
        }
    )


@routes.get(
    "/api/wallet/history",
    summary="The caller's balance series (credit, lease balances, burn rate, runway) for a chart",
    response=BALANCE_SERIES,
    query={"from": UNIX_SECONDS, "to": UNIX_SECONDS, "step": UNIX_SECONDS},
)
async def balance_history_route(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    query = validated_query(request)
    series = await balance_history(
        request.app[RUNTIME].context,
        principal.user_id,
        start=query.get("from"),
        end=query.get("to"),
        step=query.get("step"),
    )
    return web.json_response(
        {
            "from": series.start,
            "to": series.end,
            "step": series.step,
            "points": [_point_json(p) for p in series.points],
        }
    )


@routes.get(
    "/api/wallet/transactions",
    summary="The caller's merged payment and on-chain history",
    response=HISTORY,
    alt_content={"text/csv": {"type": "string"}},
    query={
        "cursor": {"type": "string"},
        "limit": {"type": "integer"},
        "format": {"type": "string", "enum": ["json", "csv"]},
    },
)
async def transactions(request: web.Request) -> web.StreamResponse:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise BadRequest("format must be json or csv", code="invalid_format")
    raw_limit = request.query.get("limit", "50")
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= HISTORY_WINDOW:
        raise BadRequest(f"limit must be 1..{HISTORY_WINDOW}", code="invalid_limit")
    page = await wallet_history(
        request.app[RUNTIME].context,
        principal.user_id,
        cursor=request.query.get("cursor") or None,
        limit=None if fmt == "csv" else int(raw_limit),
    )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for item in page.items:
            writer.writerow(_item_json(item))
        return web.Response(
            text=buf.getvalue(),
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="wallet-history.csv"'},
        )
    return web.json_response({"items": [_item_json(i) for i in page.items], "next_cursor": page.next_cursor})
