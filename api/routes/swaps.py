"""Currency swap routes (the work is in :mod:`engine.swaps.commands`).

================================================  ========================================================
POST /api/wallet/swap/quote                       cloud-user: amount out (the router's getAmountsOut),
                                                  price impact in bps and route for ``amount_in`` of
                                                  ``token_in`` (token symbols, amounts in token units)
POST /api/wallet/swap                             cloud-user: with a required ``amount_out_min`` and
                                                  ``deadline``: the unsigned approve + swap for a linked
                                                  wallet; a managed wallet's swap into credit is
                                                  relayed (``swap_id``). Optional ``lease_id`` /
                                                  ``deployment_id``: swap and top up that lease in one
                                                  transaction (the SwapTopUp adapter)
GET  /api/wallet/swaps/{swap_id}                  cloud-user: a relayed swap: pending / done (with
                                                  ``amount_out``) / failed (with the decoded revert)
================================================  ========================================================
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_USER
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.validation import id_segment, path_id, validated_body
from engine.swaps import commands
from engine.swaps.models import Quote, QuoteRequest, SwapRequest, SwapResult, SwapStatus

routes = RouteTable(tag="wallet", roles=(CLOUD_USER,))

UINT = {"type": "integer", "minimum": 1, "maximum": 2**255}
SYMBOL = {"type": "string", "minLength": 1, "maxLength": 32}
QUOTE_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["token_in", "token_out", "amount_in"],
    "properties": {"token_in": SYMBOL, "token_out": SYMBOL, "amount_in": UINT},
}
SWAP_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["token_in", "token_out", "amount_in", "amount_out_min", "deadline"],
    "properties": {
        "token_in": SYMBOL,
        "token_out": SYMBOL,
        "amount_in": UINT,
        "amount_out_min": UINT,
        "deadline": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        "wallet": {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"},
        # a chain lease id (payer << 64 | sequence: beyond JSON's exact integers, so a decimal string too)
        "lease_id": {
            "oneOf": [
                {"type": "string", "pattern": "^[1-9][0-9]{0,77}$"},
                {"type": "integer", "minimum": 1, "maximum": 2**255},
            ]
        },
        "deployment_id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    },
}
QUOTE = {
    "type": "object",
    "required": ["token_in", "token_out", "amount_in", "amount_out", "price_impact_bps", "route"],
    "properties": {
        "token_in": {"type": "string"},
        "token_out": {"type": "string"},
        "amount_in": {"type": "string"},
        "amount_out": {"type": "string"},
        "amounts": {"type": "array", "items": {"type": "string"}},
        "price_impact_bps": {"type": "integer"},
        "route": {"type": "array", "items": {"type": "string"}},
        "path": {"type": "array", "items": {"type": "string"}},
        "router": {"type": "string"},
    },
}
SWAP = {
    "type": "object",
    "required": ["quote", "wallet", "managed", "transactions", "tx_hashes"],
    "properties": {
        "quote": QUOTE,
        "wallet": {"type": "string"},
        "managed": {"type": "boolean"},
        "amount_out_min": {"type": "string"},
        "deadline": {"type": "integer"},
        "transactions": {"type": "array", "items": {"type": "object"}},
        "tx_hashes": {"type": "array", "items": {"type": "string"}},
        "amount_out": {"type": ["string", "null"]},
        "lease_id": {"type": ["string", "null"]},
        "swap_id": {"type": ["integer", "null"]},
        "status": {"type": ["string", "null"], "enum": ["pending", "done", "failed", None]},
    },
}
SWAP_STATUS = {
    "type": "object",
    "required": ["swap_id", "status", "wallet", "amount_in", "amount_out_min"],
    "properties": {
        "swap_id": {"type": "integer"},
        "status": {"type": "string", "enum": ["pending", "done", "failed"]},
        "wallet": {"type": "string"},
        "lease_id": {"type": ["string", "null"]},
        "amount_in": {"type": "string"},
        "amount_out_min": {"type": "string"},
        "amount_out": {"type": ["string", "null"]},
        "tx_hash": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]},
    },
}


def _quote_json(q: Quote) -> dict[str, Any]:
    # token amounts as strings: 18-decimal tokens exceed what JSON numbers carry exactly
    return {
        "token_in": q.token_in,
        "token_out": q.token_out,
        "amount_in": str(q.amount_in),
        "amount_out": str(q.amount_out),
        "amounts": [str(a) for a in q.amounts],
        "price_impact_bps": q.price_impact_bps,
        "route": q.route,
        "path": q.path,
        "router": q.router,
    }


def _swap_json(r: SwapResult) -> dict[str, Any]:
    return {
        "quote": _quote_json(r.quote),
        "wallet": r.wallet,
        "managed": r.managed,
        "amount_out_min": str(r.amount_out_min),
        "deadline": r.deadline,
        "transactions": [tx.to_json() for tx in r.transactions],
        "tx_hashes": r.tx_hashes,
        "amount_out": None if r.amount_out is None else str(r.amount_out),
        "lease_id": None if r.lease_id is None else str(r.lease_id),
        "swap_id": r.swap_id,
        "status": r.status,
    }


def _status_json(s: SwapStatus) -> dict[str, Any]:
    return {
        "swap_id": s.swap_id,
        "status": s.status,
        "wallet": s.wallet,
        "lease_id": None if s.lease_id is None else str(s.lease_id),
        "amount_in": str(s.amount_in),
        "amount_out_min": str(s.amount_out_min),
        "amount_out": None if s.amount_out is None else str(s.amount_out),
        "tx_hash": s.tx_hash,
        "error": s.error,
    }


@routes.post(
    "/api/wallet/swap/quote",
    errors=(422, 503),
    summary="Quote a token swap through the Uniswap V2 router: amount out, price impact, route",
    request=QUOTE_REQUEST,
    response=QUOTE,
)
async def quote(request: web.Request) -> web.Response:
    await require_role(request, CLOUD_USER)
    body = validated_body(request)
    quoted = await commands.quote_swap(
        request.app[RUNTIME].context,
        QuoteRequest(body["token_in"], body["token_out"], int(body["amount_in"])),
    )
    return web.json_response(_quote_json(quoted))


@routes.post(
    "/api/wallet/swap",
    errors=(404, 409, 422, 503),
    summary="Swap with a slippage bound and deadline, optionally topping up a lease in the same transaction "
    "(unsigned txs for a linked wallet, relayed for a managed wallet)",
    request=SWAP_REQUEST,
    response=SWAP,
)
async def swap(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    body = validated_body(request)
    done = await commands.swap(
        request.app[RUNTIME].context,
        principal.user_id,
        SwapRequest(
            token_in=body["token_in"],
            token_out=body["token_out"],
            amount_in=int(body["amount_in"]),
            amount_out_min=int(body["amount_out_min"]),
            deadline=int(body["deadline"]),
            wallet=body.get("wallet"),
            lease_id=int(body["lease_id"]) if "lease_id" in body else None,
            deployment_id=body.get("deployment_id"),
        ),
    )
    return web.json_response(_swap_json(done))


@routes.get(
    f"/api/wallet/swaps/{id_segment('swap_id')}",
    errors=(404,),
    summary="A managed wallet's relayed swap: pending, done (amount out) or failed (decoded revert)",
    response=SWAP_STATUS,
)
async def swap_status(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    found = await commands.swap_status(
        request.app[RUNTIME].context, principal.user_id, path_id(request, "swap_id")
    )
    return web.json_response(_status_json(found))
