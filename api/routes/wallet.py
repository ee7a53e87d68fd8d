"""Wallet routes: balances and one merged history.

================================================  ========================================================
GET /api/wallet                                   cloud-user: every wallet of the caller (linked + managed)
                                                  with on-chain credit and native balance, pending credit
                                                  (ledger entries whose mint is not confirmed) and where
                                                  the next top-up will be minted
GET /api/wallet/transactions?cursor=&limit=       cloud-user: fiat payments (with Stripe receipt_url) and
    &format=csv                                   the caller's indexed on-chain events (mints, transfers),
                                                  newest first; ``next_cursor``; CSV export
================================================  ========================================================

Balances are one read for all the caller's wallets: a single ``Multicall.aggregate`` ``eth_call`` carries
every ``balanceOf`` and one ``getEthBalances`` (:func:`read_balances`, through
:class:`chain.reads.BatchReader` on the runtime's own connection), never a request per wallet.

The history is merged in memory from the newest ``HISTORY_WINDOW`` ledger entries and indexed events per
wallet (a bound, documented: older items are not reachable through this route). Chain events are dated by
their block's timestamp (one JSON-RPC batch per page). The cursor is the last item's sort key.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_USER
from api.errors import BadRequest
from api.keys import RUNTIME
from api.openapi import RouteTable
from billing.services import user_ledger
from chain import jsonrpc as rpc
from chain.contracts import CreditTokenClient, MulticallClient
from chain.errors import BatchReadError, ChainError
from chain.reads import BatchReader
from engine.identity.services import wallet_links
from engine.indexer.interfaces import IndexedEvent
from engine.indexer.services import events_for_account
from engine.outbox import services as outbox_services
from engine.payments.ledger import pending_credit_units
from engine.runtime import Runtime

routes = RouteTable(tag="wallet")
HISTORY_WINDOW = 500
CSV_FIELDS = [
    "time",
    "type",
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
    },
}
HISTORY = {
    "type": "object",
    "required": ["items"],
    "properties": {"items": {"type": "array"}, "next_cursor": {"type": ["string", "null"]}},
}


async def read_balances(runtime: Runtime, addresses: Sequence[str]) -> tuple[list[int], list[int]]:
    """Credit units and native wei of every address, in order, in one ``eth_call``.

    On the in-process eth-tester chain the native balances are read directly instead: eth-tester charges
    an ``eth_call``'s gas to its account 0, so ``getEthBalances`` would under-report that account there
    (and there is no network round trip to save).
    """
    if not addresses:
        return [], []
    token = CreditTokenClient(runtime.chain.w3, runtime.manifest.address("CreditToken"))
    multicall = MulticallClient(runtime.chain.w3, runtime.manifest.address("Multicall"))
    in_process = runtime.chain.kind == "eth-tester"
    calls = [(token.address, token.encode("balanceOf", a)) for a in addresses]
    if not in_process:
        calls.append((multicall.address, multicall.encode("getEthBalances", list(addresses))))
    async with BatchReader(runtime.chain, multicall.address, transport="multicall") as reader:
        answers = await reader.call_many(calls)
        failures = {
            i: (c[0], a)
            for i, (c, a) in enumerate(zip(calls, answers, strict=True))
            if isinstance(a, ChainError)
        }
        if failures:
            raise BatchReadError("wallet balances", failures)
        raw = [a for a in answers if isinstance(a, bytes)]
        credits = [int.from_bytes(r, "big") for r in raw[: len(addresses)]]
        if in_process:
            natives = await reader.eth_balances(addresses)
        else:
            (balances,) = multicall.function("getEthBalances", 1).decode(raw[-1])
            natives = [int(b) for b in balances]
    return credits, natives


@routes.get(
    "/api/wallet", summary="The caller's wallets: credit, native balance, pending credit", response=WALLET
)
async def get_wallet(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    runtime = request.app[RUNTIME]
    async with runtime.sessionmaker() as s:
        links = await wallet_links(s, principal.user_id)
        pending = await pending_credit_units(s, principal.user_id)
    credits, natives = await read_balances(runtime, [link.address for link in links])
    wallets: list[dict[str, Any]] = [
        {"address": link.address, "kind": link.kind, "credit_units": credit, "native_wei": str(native)}
        for link, credit, native in zip(links, credits, natives, strict=True)
    ]
    linked = [w for w in wallets if w["kind"] != "managed"]
    managed = [w for w in wallets if w["kind"] == "managed"]
    dest = (linked or managed)[0] if (linked or managed) else None
    return web.json_response(
        {
            "wallets": wallets,
            "credit_units": sum(int(w["credit_units"]) for w in wallets),
            "pending_credit_units": pending,
            "mint_destination": None if dest is None else {"address": dest["address"], "kind": dest["kind"]},
        }
    )


def _cursor_key(item: dict[str, Any]) -> tuple[int, str]:
    return (int(item["time"]), str(item["id"]))


def _encode(key: tuple[int, str]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}|{key[1]}".encode()).decode()


def _decode(cursor: str) -> tuple[int, str]:
    try:
        t, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return int(t), ident
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("invalid cursor", code="invalid_cursor") from exc


async def _history(request: web.Request, user_id: int) -> list[dict[str, Any]]:
    runtime = request.app[RUNTIME]
    chain_id = runtime.chain.chain_id
    items: list[dict[str, Any]] = []
    async with runtime.sessionmaker() as s:
        entries = await user_ledger(s, user_id, HISTORY_WINDOW)
        mints = await outbox_services.rows_by_keys(s, [e.mint_key for e in entries])
        links = await wallet_links(s, user_id)
        events: list[tuple[str, IndexedEvent]] = []
        for link in links:
            page = await events_for_account(s, chain_id, link.address, limit=HISTORY_WINDOW)
            events.extend((link.address, e) for e in page.events)
    for e in entries:
        mint = mints.get(e.mint_key)
        items.append(
            {
                "id": f"payment:{e.id}",
                "type": f"payment.{e.kind}",
                "time": int(e.created_at.timestamp()),
                "amount_cents": e.amount_cents,
                "credit_units": e.credit_units,
                "status": "mint_" + (str(mint.status) if mint is not None else "unknown"),
                "receipt_url": e.receipt_url,
                "tx_hash": mint.tx_hash if mint is not None else None,
                "wallet": e.wallet_address,
                "receipt_id": e.id,
                "from": None,
                "to": e.wallet_address,
            }
        )
    blocks = sorted({ev.block_number for _, ev in events})
    stamps: dict[int, int] = {}
    if blocks:
        results = await rpc.batch(runtime.chain, [("eth_getBlockByNumber", [hex(b), False]) for b in blocks])
        for b, r in zip(blocks, results, strict=True):
            stamps[b] = int(r.result["timestamp"], 16) if r.ok and r.result else 0
    seen: set[tuple[str, int]] = set()
    for wallet, ev in events:
        if (ev.tx_hash, ev.log_index) in seen:
            continue
        seen.add((ev.tx_hash, ev.log_index))
        amount = ev.args.get("value", ev.args.get("amount"))
        items.append(
            {
                "id": f"chain:{ev.block_number}:{ev.log_index}",
                "type": f"chain.{ev.event}",
                "time": stamps.get(ev.block_number, 0),
                "amount_cents": None,
                "credit_units": int(amount) if amount is not None else None,
                "status": "final" if ev.final else "unconfirmed",
                "receipt_url": None,
                "tx_hash": ev.tx_hash,
                "wallet": wallet,
                "from": ev.args.get("from"),
                "to": ev.args.get("to"),
                "receipt_id": None,
            }
        )
    items.sort(key=_cursor_key, reverse=True)
    return items


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
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= HISTORY_WINDOW:
        raise BadRequest(f"limit must be 1..{HISTORY_WINDOW}", code="invalid_limit")
    items = await _history(request, principal.user_id)
    cursor = request.query.get("cursor")
    if cursor:
        after = _decode(cursor)
        items = [i for i in items if _cursor_key(i) < after]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for item in items:
            writer.writerow(item)
        return web.Response(
            text=buf.getvalue(),
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="wallet-history.csv"'},
        )
    limit = int(raw_limit)
    page = items[:limit]
    next_cursor = _encode(_cursor_key(page[-1])) if len(items) > limit else None
    return web.json_response({"items": page, "next_cursor": next_cursor})
