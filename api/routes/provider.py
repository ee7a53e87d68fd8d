"""Provider routes: registration request, nodes, maintenance windows.

==============================================  ==============================================
route                                           who
==============================================  ==============================================
POST /api/cloud-provider/register               cloud-provider (wallet must be one of theirs)
GET  /api/cloud-provider/provider-requests      cloud-provider (their own requests only)
GET  /api/cloud-provider/nodes                  cloud-provider (their own nodes only)
POST /api/cloud-provider/nodes                  cloud-provider
POST /api/cloud-provider/maintenance            cloud-provider owning the node
==============================================  ==============================================

Providers are wallet-connected: these routes never sign. ``register``, ``nodes`` (with a ``wallet``) and
``maintenance`` answer with ``transactions``: unsigned ``{to, data, value, chainId, from, description}``
for the provider's wallet to sign and send, in order (an ERC-20 ``approve`` of the collateral comes first
when the wallet's allowance to the registry is short). The engine learns the outcome from indexed events
(``ProviderRegistered``, ``NodeAdded``, ``MaintenanceScheduled``; see ``engine.providers.subscriber``).
The operator's approval goes through the outbox (``api.routes.operator``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth.errors import Conflict
from api.auth.middleware import require_role
from api.auth.principal import CLOUD_PROVIDER
from api.errors import ApiError, BadRequest, NotFound
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.routes.operator import REQUEST_SCHEMA, request_json
from api.validation import validated_body
from chain.contracts import CreditTokenClient, RegistryClient, UnsignedTx
from engine.nodes import services as nodes
from engine.nodes.errors import (
    InvalidNode,
    InvalidWindow,
    NodeError,
    NodeNotOnChain,
    NodeNotOwned,
    TooManyNodes,
    WalletNotLinked,
)
from engine.nodes.models import Node
from engine.operator import services as operator
from engine.providers import services as providers
from engine.providers.errors import CollateralTooLow, NotYourWallet, ProviderError, RequestExists
from engine.runtime import Runtime

routes = RouteTable(tag="provider")

BASE = "/api/cloud-provider"
ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
U53 = {"type": "integer", "minimum": 0, "maximum": 2**53}
PRICE = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
TX_SCHEMA = {
    "type": "object",
    "required": ["to", "data", "value", "chainId"],
    "properties": {
        "to": ADDRESS,
        "data": {"type": "string"},
        "value": {"type": "integer"},
        "chainId": {"type": "integer"},
        "from": ADDRESS,
        "description": {"type": "string"},
    },
    "additionalProperties": False,
}
TXS = {"type": "array", "items": TX_SCHEMA}

REGISTER_REQUEST = {
    "type": "object",
    "required": ["wallet", "company", "contact_name", "contact_email", "collateral"],
    "properties": {
        "wallet": ADDRESS,
        "company": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
        "contact_name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
        "contact_email": {"type": "string", "maxLength": 320, "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"},
        "collateral": {
            "type": "integer",
            "minimum": 1,
            "maximum": 2**63 - 1,
            "description": "credit units (10**-6 credit)",
        },
        "details": {"type": "object"},
    },
    "additionalProperties": False,
}
REGISTER_RESPONSE = {
    "type": "object",
    "required": ["request", "transactions"],
    "properties": {"request": REQUEST_SCHEMA, "transactions": TXS},
    "additionalProperties": False,
}
NODE_CREATE = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S"},
        "wallet": ADDRESS,
        "payee": ADDRESS,
        "resources": {
            "type": "object",
            "properties": {
                "cpu_millicores": U53,
                "memory_mb": U53,
                "disk_gb": U53,
                "bandwidth_mbps": U53,
                "gpu": {
                    "type": "object",
                    "properties": {
                        "model": {"type": "string", "minLength": 1, "maxLength": 64},
                        "count": U53,
                    },
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        },
        "region": {"type": "string", "minLength": 1, "maxLength": 32},
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "prices": {
            "type": "object",
            "description": "price units (10**-6 credit unit) per resource unit per second",
            "properties": {
                "per_cpu_millicore": PRICE,
                "per_memory_mb": PRICE,
                "per_disk_gb": PRICE,
                "per_gpu": PRICE,
            },
            "additionalProperties": False,
        },
        "attributes": {
            "type": "array",
            "maxItems": nodes.MAX_ATTRIBUTES,
            "items": {"type": "string", "minLength": 1, "maxLength": 64},
        },
    },
    "additionalProperties": False,
}
NODE_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "created_at", "status"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "created_at": {"type": "string"},
        "status": {"type": "string"},
        "wallet": {"type": ["string", "null"]},
        "payee": {"type": ["string", "null"]},
        "chain_node_id": {"type": ["integer", "null"]},
        "resources": {"type": "object"},
        "region": {"type": ["string", "null"]},
        "country": {"type": ["string", "null"]},
        "prices": {"type": "object"},
        "attributes": {"type": "array", "items": {"type": "string"}},
        "certified": {"type": "boolean"},
        "maintenance": {"type": "array", "items": {"type": "object"}},
        "transactions": TXS,
    },
    "additionalProperties": False,
}
MAINTENANCE_REQUEST = {
    "type": "object",
    "required": ["node_id", "start", "end"],
    "properties": {
        "node_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "start": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1, "description": "Unix seconds"},
        "end": {
            "type": "integer",
            "minimum": 0,
            "maximum": 2**32 - 1,
            "description": "Unix seconds, exclusive",
        },
    },
    "additionalProperties": False,
}
MAINTENANCE_RESPONSE = {
    "type": "object",
    "required": ["node_id", "chain_node_id", "start", "end", "transactions"],
    "properties": {
        "node_id": {"type": "integer"},
        "chain_node_id": {"type": "integer"},
        "start": {"type": "integer"},
        "end": {"type": "integer"},
        "transactions": TXS,
    },
    "additionalProperties": False,
}


def _registry(runtime: Runtime) -> RegistryClient:
    return RegistryClient(runtime.chain.w3, runtime.manifest.address("ProviderRegistry"))


def _error(exc: Exception) -> ApiError:
    if isinstance(exc, (NotYourWallet, WalletNotLinked)):
        return BadRequest(str(exc), code="wallet_not_linked", details={"address": exc.address})
    if isinstance(exc, CollateralTooLow):
        return BadRequest(
            str(exc),
            code="collateral_too_low",
            details={"collateral": exc.collateral, "minimum": exc.minimum},
        )
    if isinstance(exc, RequestExists):
        return Conflict(
            str(exc), code="request_exists", details={"request_id": exc.request_id, "status": exc.status}
        )
    if isinstance(exc, InvalidNode):
        code = "unknown_region" if exc.field == "region" else "invalid_node"
        return BadRequest(str(exc), code=code, details={"field": exc.field, "reason": exc.reason})
    if isinstance(exc, NodeNotOwned):
        return NotFound(str(exc), details={"node_id": exc.node_id})
    if isinstance(exc, NodeNotOnChain):
        return Conflict(str(exc), code="node_not_on_chain", details={"node_id": exc.node_id})
    if isinstance(exc, TooManyNodes):
        return Conflict(str(exc), code="too_many_nodes", details={"limit": exc.limit})
    if isinstance(exc, InvalidWindow):
        return BadRequest(str(exc), code=f"maintenance_{exc.reason}", details=exc.details)
    raise exc


def node_json(node: Node, windows: list[Any] | None = None) -> dict[str, Any]:
    return {
        "id": node.id,
        "name": node.name,
        "created_at": node.created_at.isoformat(),
        "status": node.status,
        "wallet": node.wallet_address,
        "payee": node.payee,
        "chain_node_id": node.chain_node_id,
        "resources": {
            "cpu_millicores": node.cpu_millicores,
            "memory_mb": node.memory_mb,
            "disk_gb": node.disk_gb,
            "bandwidth_mbps": node.bandwidth_mbps,
            "gpu": {"model": node.gpu_model, "count": node.gpu_count},
        },
        "region": node.region,
        "country": node.country,
        "prices": {
            "per_cpu_millicore": node.price_per_cpu_millicore,
            "per_memory_mb": node.price_per_memory_mb,
            "per_disk_gb": node.price_per_disk_gb,
            "per_gpu": node.price_per_gpu,
        },
        "attributes": list(node.attributes or ()),
        "certified": node.certified,
        "maintenance": [{"start": w.start_at, "end": w.end_at, "status": w.status} for w in windows or ()],
    }


async def _current_settings(runtime: Runtime, session: Any) -> dict[str, Any]:
    overrides = operator.overrides_from_settings(runtime.settings)[operator.SETTINGS]
    return (await operator.current(session, operator.SETTINGS, overrides=overrides)).values


# ---- registration ---------------------------------------------------------------------------------
@routes.post(
    f"{BASE}/register",
    summary="Ask to become a provider; returns the unsigned register tx(s)",
    request=REGISTER_REQUEST,
    response=REGISTER_RESPONSE,
    status=201,
)
async def register(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    body = validated_body(request)
    runtime = request.app[RUNTIME]
    registry = _registry(runtime)
    async with runtime.sessionmaker() as session:
        try:
            async with session.begin():
                cfg = await _current_settings(runtime, session)
                row = await providers.create_request(
                    session,
                    user_id=principal.user_id,
                    wallets=principal.wallets,
                    wallet_address=body["wallet"],
                    company=body["company"],
                    contact_name=body["contact_name"],
                    contact_email=body["contact_email"],
                    collateral=body["collateral"],
                    min_collateral=cfg["min_collateral"],
                    details=body.get("details"),
                )
        except ProviderError as exc:
            raise _error(exc) from exc
        status = await providers.chain_status(session, row.wallet_address)
    token = CreditTokenClient(runtime.chain.w3, runtime.manifest.address("CreditToken"))
    chain_id = runtime.chain.chain_id
    txs: list[UnsignedTx] = []
    if await token.allowance(row.wallet_address, registry.address) < row.collateral:
        txs.append(
            UnsignedTx(
                token.address,
                token.encode_approve(registry.address, row.collateral),
                chain_id,
                from_address=row.wallet_address,
                description="allow the registry to lock the collateral",
            )
        )
    txs.append(
        UnsignedTx(
            registry.address,
            registry.encode_register(row.collateral),
            chain_id,
            from_address=row.wallet_address,
            description="register as a provider",
        )
    )
    return web.json_response(
        {"request": request_json(row, status), "transactions": [t.to_json() for t in txs]}, status=201
    )


@routes.get(
    f"{BASE}/provider-requests",
    summary="The caller's own provider requests",
    response={
        "type": "object",
        "required": ["requests"],
        "properties": {"requests": {"type": "array", "items": REQUEST_SCHEMA}},
    },
)
async def my_requests(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    async with request.app[RUNTIME].sessionmaker() as session:
        rows = await providers.list_requests(session, user_id=principal.user_id)
        out = [request_json(r, await providers.chain_status(session, r.wallet_address)) for r in rows]
    return web.json_response({"requests": out})


# ---- nodes ----------------------------------------------------------------------------------------
@routes.get(
    f"{BASE}/nodes",
    summary="The provider's nodes",
    response={
        "type": "object",
        "required": ["nodes"],
        "properties": {"nodes": {"type": "array", "items": NODE_SCHEMA}},
    },
)
async def list_nodes(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    async with request.app[RUNTIME].sessionmaker() as session:
        rows = await nodes.list_nodes(session, principal.user_id)
        windows = await nodes.windows_for(session, [n.id for n in rows])
    return web.json_response({"nodes": [node_json(n, windows.get(n.id)) for n in rows]})


@routes.post(
    f"{BASE}/nodes",
    summary="Add a node; with a wallet, returns the unsigned addNode tx",
    request=NODE_CREATE,
    response=NODE_SCHEMA,
    status=201,
)
async def create_node(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    body = validated_body(request)
    runtime = request.app[RUNTIME]
    async with runtime.sessionmaker() as session:
        try:
            async with session.begin():
                cfg = await _current_settings(runtime, session)
                spec = nodes.validate_spec(
                    nodes.NodeSpec.from_json(body), wallets=principal.wallets, regions=cfg["regions"]
                )
                node = await nodes.create_node(
                    session, principal.user_id, spec, max_nodes=cfg["max_nodes_per_provider"]
                )
        except NodeError as exc:
            raise _error(exc) from exc
    out = node_json(node)
    if node.wallet_address is not None:
        registry = _registry(runtime)
        data = registry.encode_add_node(node.payee) + nodes.link_word(node.id)
        tx = UnsignedTx(
            registry.address,
            data,
            runtime.chain.chain_id,
            from_address=node.wallet_address,
            description=f"register node {node.id} on chain",
        )
        out["transactions"] = [tx.to_json()]
    else:
        out["transactions"] = []
    return web.json_response(out, status=201)


# ---- maintenance ----------------------------------------------------------------------------------
@routes.post(
    f"{BASE}/maintenance",
    summary="Validate a maintenance window; returns the unsigned tx",
    request=MAINTENANCE_REQUEST,
    response=MAINTENANCE_RESPONSE,
)
async def schedule_maintenance(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    body = validated_body(request)
    runtime = request.app[RUNTIME]
    block = await runtime.chain.w3.eth.get_block("latest")
    now = int(block["timestamp"])
    # the chain's own limits may be stricter than the settings (a settings change not yet applied on
    # chain, or a restart that reconciled the chain to other values): check against both
    chain_cfg = await _registry(runtime).config()
    async with runtime.sessionmaker() as session:
        cfg = await _current_settings(runtime, session)
        rules = nodes.WindowRules(cfg["maintenance_min_notice_s"], cfg["maintenance_max_window_s"]).stricter(
            chain_cfg.min_notice, chain_cfg.max_window_length
        )
        try:
            node = await nodes.check_maintenance(
                session, body["node_id"], principal.user_id, body["start"], body["end"], now=now, rules=rules
            )
        except NodeError as exc:
            raise _error(exc) from exc
    assert node.chain_node_id is not None and node.wallet_address is not None
    registry = _registry(runtime)
    tx = UnsignedTx(
        registry.address,
        registry.encode_schedule_maintenance(node.chain_node_id, body["start"], body["end"]),
        runtime.chain.chain_id,
        from_address=node.wallet_address,
        description="schedule maintenance",
    )
    return web.json_response(
        {
            "node_id": node.id,
            "chain_node_id": node.chain_node_id,
            "start": body["start"],
            "end": body["end"],
            "transactions": [tx.to_json()],
        }
    )
