"""``GET /api/chain``: what a wallet or frontend needs to talk to our contracts (public, no auth).

Chain id, the RPC URL for wallets (``public_rpc_url`` setting, default the URL the service uses), the
confirmations a write waits for, and every deployed contract's address and ABI
(:func:`engine.meta.commands.chain_info`).

The document only changes with the deployment of the suite (one :class:`~engine.context.Context` per
runtime), so it is rendered ONCE per context, with a strong ``ETag`` (SHA-256 of the body); a request whose
``If-None-Match`` names it gets ``304 Not Modified`` without a body.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from api.keys import RUNTIME
from api.openapi import RouteTable
from engine.context import Context
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


@dataclass(frozen=True)
class _Rendered:
    context: Context
    body: bytes
    etag: str


_rendered: _Rendered | None = None


def rendered(ctx: Context) -> _Rendered:
    """The JSON body and ETag for ``ctx``, rendered on first use (one slot: the process's context)."""
    global _rendered
    doc = _rendered
    if doc is None or doc.context is not ctx:
        body = json.dumps(chain_info_json(chain_info(ctx)), separators=(",", ":")).encode()
        doc = _rendered = _Rendered(ctx, body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return doc


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


@routes.get(
    "/api/chain",
    public=True,
    summary="Chain id, RPC URL for wallets, contract addresses and ABIs",
    response=CHAIN_INFO_SCHEMA,
)
async def get_chain(request: web.Request) -> web.Response:
    doc = rendered(request.app[RUNTIME].context)
    headers = {"ETag": doc.etag, "Cache-Control": "no-cache"}
    inm = request.headers.get("If-None-Match")
    if inm is not None and _matches(inm, doc.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=doc.body, content_type="application/json", headers=headers)
