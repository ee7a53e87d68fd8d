"""``GET /api/chain``: what a wallet or frontend needs to talk to our contracts (public, no auth).

Chain id, the RPC URL for wallets (``public_rpc_url`` setting, default the URL the service uses), the
confirmations a write waits for, and every deployed contract's address and ABI
(:func:`engine.meta.commands.chain_info`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.keys import RUNTIME
from api.openapi import RouteTable
from engine.meta.commands import chain_info
from engine.meta.models import ChainInfo

routes = RouteTable(tag="chain")

CHAIN_INFO_SCHEMA = {
    "type": "object",
    "required": ["chain_id", "rpc_url", "confirmations", "contracts"],
    "properties": {
        "chain_id": {"type": "integer"},
        "rpc_url": {"type": "string"},
        "confirmations": {"type": "integer"},
        "contracts": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["address", "abi"],
                "properties": {"address": {"type": "string"}, "abi": {"type": "array"}},
            },
        },
    },
}


def chain_info_json(info: ChainInfo) -> dict[str, Any]:
    return {
        "chain_id": info.chain_id,
        "rpc_url": info.rpc_url,
        "confirmations": info.confirmations,
        "contracts": {name: {"address": c.address, "abi": c.abi} for name, c in info.contracts.items()},
    }


@routes.get(
    "/api/chain",
    public=True,
    summary="Chain id, RPC URL for wallets, contract addresses and ABIs",
    response=CHAIN_INFO_SCHEMA,
)
async def get_chain(request: web.Request) -> web.Response:
    return web.json_response(chain_info_json(chain_info(request.app[RUNTIME].context)))
