"""Currency swap routes (the work is in :mod:`engine.swaps.commands`).

================================================  ========================================================
POST /api/wallet/swap/quote                       cloud-user: amount out (the router's getAmountsOut),
                                                  price impact in bps and route for ``amount_in`` of
                                                  ``token_in`` (token symbols, amounts in token units)
POST /api/wallet/swap                             cloud-user: with a required ``amount_out_min`` and
                                                  ``deadline``: the unsigned approve + swap for a linked
                                                  wallet; a managed wallet gets 409
                                                  ``managed_swap_unsupported`` (not built: it would
                                                  have to send outside the outbox)
================================================  ========================================================
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_USER
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.validation import validated_body
from engine.swaps import commands
from engine.swaps.models import Quote, QuoteRequest, SwapRequest, SwapResult

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
    summary="Swap tokens with a slippage bound and deadline (unsigned txs, or sent from the managed wallet)",
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
        ),
    )
    return web.json_response(_swap_json(done))
