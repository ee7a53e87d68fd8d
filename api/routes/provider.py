"""Provider routes: registration request, nodes, maintenance windows.

==============================================  ==============================================
route                                           who
==============================================  ==============================================
POST /api/cloud-provider/register               cloud-provider (wallet must be one of theirs)
GET  /api/cloud-provider/provider-requests      cloud-provider (their own requests only; ?limit=&cursor=)
GET  /api/cloud-provider/nodes                  cloud-provider (their own nodes only; ?limit=&cursor=)
POST /api/cloud-provider/nodes                  cloud-provider
POST /api/cloud-provider/maintenance            cloud-provider owning the node
POST /api/cloud-provider/maintenance/cancel     cloud-provider owning the node
==============================================  ==============================================

Providers are wallet-connected: these routes never sign. ``register``, ``nodes`` (with a ``wallet``),
``maintenance`` and ``maintenance/cancel`` answer with ``transactions``: unsigned
``{to, data, value, chainId, from, description}`` for the provider's wallet to sign and send, in order (an
ERC-20 ``approve`` of the collateral comes first when the wallet's allowance to the registry is short).
The engine learns the outcome from indexed events (``ProviderRegistered``, ``NodeAdded``,
``MaintenanceScheduled``, ``MaintenanceCancelled``; see ``engine.providers.subscriber``). Each handler
calls one command (:mod:`engine.providers.commands`, :mod:`engine.nodes.commands`); engine errors carry
their own code and status. The operator's approval goes through the outbox (``api.routes.operator``).
"""

from __future__ import annotations

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_PROVIDER
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.schemas.common import PAGE_QUERY, page_args, page_schema
from api.schemas.operator import REQUESTS_SCHEMA, request_json
from api.schemas.provider import (
    MAINTENANCE_CANCEL,
    MAINTENANCE_CANCEL_RESPONSE,
    MAINTENANCE_REQUEST,
    MAINTENANCE_RESPONSE,
    NODE_CREATE,
    NODE_SCHEMA,
    REGISTER_REQUEST,
    REGISTER_RESPONSE,
    added_node_json,
    maintenance_json,
    node_json,
)
from api.validation import validated_body, validated_query
from engine.money import CreditUnits
from engine.nodes import commands as nodes
from engine.nodes.services import NodeSpec
from engine.providers import commands as providers

routes = RouteTable(tag="provider", roles=(CLOUD_PROVIDER,))

BASE = "/api/cloud-provider"


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
    registration = providers.Registration(
        wallet=body["wallet"],
        company=body["company"],
        contact_name=body["contact_name"],
        contact_email=body["contact_email"],
        collateral=CreditUnits(body["collateral"]),
        details=body.get("details") or {},
    )
    done = await providers.register_provider(
        request.app[RUNTIME].context, principal.user_id, principal.wallets, registration
    )
    out = {"request": request_json(done.view), "transactions": [t.to_json() for t in done.transactions]}
    return web.json_response(out, status=201)


@routes.get(
    f"{BASE}/provider-requests",
    summary="The caller's own provider requests, newest first, a page at a time",
    query=PAGE_QUERY,
    response=REQUESTS_SCHEMA,
)
async def my_requests(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    page = await providers.list_provider_requests(
        request.app[RUNTIME].context, user_id=principal.user_id, **page_args(validated_query(request))
    )
    return web.json_response(
        {"requests": [request_json(v) for v in page.items], "next_cursor": page.next_cursor}
    )


# ---- nodes ----------------------------------------------------------------------------------------
@routes.get(
    f"{BASE}/nodes",
    summary="The provider's nodes, newest first, a page at a time",
    query=PAGE_QUERY,
    response=page_schema("nodes", NODE_SCHEMA),
)
async def list_nodes(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    page = await nodes.list_nodes(
        request.app[RUNTIME].context, principal.user_id, **page_args(validated_query(request))
    )
    return web.json_response({"nodes": [node_json(v) for v in page.items], "next_cursor": page.next_cursor})


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
    spec = NodeSpec.from_json(validated_body(request))
    added = await nodes.add_node(request.app[RUNTIME].context, principal.user_id, principal.wallets, spec)
    return web.json_response(added_node_json(added), status=201)


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
    start, end = body["start"], body["end"]
    scheduled = await nodes.schedule_maintenance(
        request.app[RUNTIME].context, principal.user_id, body["node_id"], start, end
    )
    return web.json_response(maintenance_json(scheduled, start, end))


@routes.post(
    f"{BASE}/maintenance/cancel",
    summary="Cancel the node's window that has not started; returns the unsigned tx",
    request=MAINTENANCE_CANCEL,
    response=MAINTENANCE_CANCEL_RESPONSE,
)
async def cancel_maintenance(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    body = validated_body(request)
    cancelled = await nodes.cancel_maintenance(
        request.app[RUNTIME].context, principal.user_id, body["node_id"]
    )
    return web.json_response(maintenance_json(cancelled))
