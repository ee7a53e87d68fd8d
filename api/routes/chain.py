"""``GET /api/chain``: what a wallet or frontend needs to talk to our contracts (public, no auth).

Chain id, the RPC URL for wallets (``public_rpc_url`` setting, default the URL the service uses), the
confirmations a write waits for, and every deployed contract's address and ABI (from the deployment
manifest and the compiled artifacts).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.keys import RUNTIME
from api.openapi import RouteTable
from chain.artifacts import load_artifact
from engine.runtime import Runtime

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


def chain_info(runtime: Runtime) -> dict[str, Any]:
    manifest = runtime.manifest
    contracts = {
        name: {"address": manifest.address(name), "abi": load_artifact(name).abi}
        for name in sorted(manifest.contracts)
    }
    return {
        "chain_id": runtime.chain.chain_id,
        "rpc_url": runtime.public_rpc_url,
        "confirmations": runtime.settings.effective_confirmations,
        "contracts": contracts,
    }


@routes.get(
    "/api/chain",
    summary="Chain id, RPC URL for wallets, contract addresses and ABIs",
    response=CHAIN_INFO_SCHEMA,
)
async def get_chain(request: web.Request) -> web.Response:
    return web.json_response(chain_info(request.app[RUNTIME]))
