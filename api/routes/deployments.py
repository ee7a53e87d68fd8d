"""Deployment routes (cloud users) and provider earnings.

================================================  ==============================================
route                                             who
================================================  ==============================================
GET  /api/cloud-user/deployments                  cloud-user (own deployments only; ?limit=&cursor=)
POST /api/cloud-user/deployments                  cloud-user (account not flagged)
POST /api/cloud-user/deployments/quote            cloud-user: dry run of create, reserves nothing
GET  /api/catalog                                 public: regions, GPU models, floor prices, premium
GET  /api/cloud-user/deployments/{id}             cloud-user owning it (else 404)
GET  /api/cloud-user/deployments/{id}/events      cloud-user owning it: SSE status transitions
GET  /api/cloud-user/deployments/{id}/metrics     cloud-user owning it: usage per replica
POST /api/cloud-user/deployments/{id}/top-up      cloud-user owning it
POST /api/cloud-user/deployments/{id}/close       cloud-user owning it
POST /api/cloud-user/deployments/{id}/scale       cloud-user owning it (engine.scaling)
PUT  /api/cloud-user/deployments/{id}/autoscale   cloud-user owning it (engine.scaling.autoscale)
GET  /api/cloud-provider/earnings                 cloud-provider (own nodes)
POST /api/cloud-provider/nodes/{id}/withdraw      cloud-provider owning the node
================================================  ==============================================

Each handler authenticates, validates, calls one command of :mod:`engine.deployments.commands` or
:mod:`engine.scaling.commands` and renders (:mod:`api.schemas.deployments`). Engine errors carry their own
code and kind (``invalid_spec`` 400, ``account_flagged`` 403, ``no_node_fits`` 409,
``max_price_below_floor`` 422, ``no_wallet`` 400, ``not_found`` 404, ``wrong_state`` 409, ...); the
error middleware renders them.

Create = validate the spec → account check → quote + placement → record (status ``funding``) → escrow open
per replica. A wallet-connected payer gets ``transactions`` (an ERC-20 approve when the allowance is short,
then one ``open`` per replica) to sign; a managed payer's opens are signed by the engine (EIP-712 + EIP-2612
permit) and relayed through the outbox (``funding: "managed"``, no transactions). Either way the lease is
recorded when its ``LeaseOpened`` event is indexed. Validation, account, placement and funding errors write
nothing.
"""

from __future__ import annotations

from aiohttp import web

from api import sse
from api.auth.middleware import require_role
from api.auth.principal import CLOUD_PROVIDER, CLOUD_USER, Principal
from api.errors import BadRequest
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.render import iso_utc
from api.schemas import deployments as schemas
from api.schemas.deployments import action_json, txs_json
from api.validation import id_segment, path_id, validated_body, validated_query
from engine.deployments import commands
from engine.deployments.commands import DeploymentRequest
from engine.money import CreditUnits
from engine.scaling import commands as scaling
from engine.scaling.commands import AutoscaleRequest, ScaleRequest

routes = RouteTable(tag="deployments", roles=(CLOUD_USER,))

BASE = "/api/cloud-user/deployments"
ONE = f"{BASE}/{id_segment('deployment_id')}"


def _user(principal: Principal) -> int:
    assert principal.user_id is not None
    return int(principal.user_id)


def _deployment_id(request: web.Request) -> int:
    return path_id(request, "deployment_id")


# ---- create ----------------------------------------------------------------------------------------
@routes.post(
    BASE,
    rate_limit="expensive",
    errors=(422,),
    summary="Create a deployment: quote, place, and open escrow per replica",
    request=schemas.CREATE_REQUEST,
    response=schemas.CREATE_RESPONSE,
    status=201,
)
async def create(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    body = DeploymentRequest.from_json(validated_body(request))
    created = await commands.create_deployment(request.app[RUNTIME].context, user_id, body)
    return web.json_response(schemas.created_json(created), status=201)


@routes.post(
    BASE + "/quote",
    rate_limit="expensive",
    errors=(422,),
    summary="Dry-run quote: validation, placement and pricing of a create; reserves and writes nothing",
    request=schemas.CREATE_REQUEST,
    response=schemas.QUOTE_RESPONSE,
)
async def quote(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    body = DeploymentRequest.from_json(validated_body(request))
    quoted = await commands.quote_deployment(request.app[RUNTIME].context, user_id, body)
    return web.json_response(schemas.quote_view_json(quoted))


@routes.get(
    "/api/catalog",
    public=True,
    summary="What can be deployed: regions, GPU models, floor unit prices, certified premium, platform fee",
    response=schemas.CATALOG_RESPONSE,
)
async def catalog(request: web.Request) -> web.Response:
    return web.json_response(schemas.catalog_json(await commands.catalog(request.app[RUNTIME].context)))


# ---- read ------------------------------------------------------------------------------------------
@routes.get(
    BASE,
    summary="The caller's deployments, newest first, a page at a time",
    query=schemas.LIST_QUERY,
    response=schemas.DEPLOYMENTS,
)
async def list_deployments(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    query = validated_query(request)
    page = await commands.list_deployments(
        request.app[RUNTIME].context, user_id, limit=query.get("limit", 50), cursor=query.get("cursor")
    )
    return web.json_response(schemas.page_json(page))


@routes.get(
    ONE,
    summary="One of the caller's deployments, with leases and on-chain balances",
    response=schemas.DEPLOYMENT,
)
async def get_deployment(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    ctx = request.app[RUNTIME].context
    detail = await commands.get_deployment(ctx, user_id, _deployment_id(request))
    return web.json_response(schemas.detail_json(detail))


# ---- status stream and metrics ------------------------------------------------------------------------
@routes.get(
    ONE + "/events",
    summary="The deployment's status transitions as server-sent events (replay, then live)",
    query=schemas.EVENTS_QUERY,
    response=schemas.TRANSITION_EVENT,
    content_type=sse.CONTENT_TYPE,
)
async def events(request: web.Request) -> web.StreamResponse:
    """Owner only (404 otherwise). The stream ends after ``max_seconds`` (default 300; 0: replay only)
    or once the deployment is closed and everything was sent."""
    user_id = _user(await require_role(request, CLOUD_USER))
    deployment_id = _deployment_id(request)
    query = validated_query(request)
    after = sse.last_event_id(request, query.get("after"))
    if after is None:
        raise BadRequest("Last-Event-ID must be a transition id", code="bad_last_event_id")
    ctx = request.app[RUNTIME].context
    stream = await commands.deployment_events(ctx, user_id, deployment_id)

    async def read(last: int) -> list[sse.Event]:
        return [sse.Event(t.id, "status", schemas.transition_json(t)) for t in await stream.read(last)]

    return await sse.follow(
        request,
        ctx.hub,
        stream.topic,
        after,
        read,
        lambda: stream.finished,
        max_seconds=int(query.get("max_seconds", 300)),
    )


@routes.get(
    ONE + "/metrics",
    summary="Usage per replica (CPU, RSS) from the node agents' heartbeats, over a bounded window",
    query=schemas.METRICS_QUERY,
    response=schemas.METRICS_RESPONSE,
)
async def metrics(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    seconds = int(validated_query(request).get("seconds", 3600))
    ctx = request.app[RUNTIME].context
    out = await commands.deployment_metrics(ctx, user_id, _deployment_id(request), seconds)
    return web.json_response(
        {"deployment_id": out.deployment_id, "since": iso_utc(out.since), "replicas": out.replicas}
    )


# ---- top-up / close ---------------------------------------------------------------------------------
@routes.post(
    ONE + "/top-up",
    summary="Add credit to the deployment's open leases (split evenly)",
    request=schemas.TOP_UP_REQUEST,
    response=schemas.ACTION_RESPONSE,
)
async def top_up(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    amount = CreditUnits(int(validated_body(request)["amount"]))
    ctx = request.app[RUNTIME].context
    done = await commands.top_up_deployment(ctx, user_id, _deployment_id(request), amount)
    return web.json_response(action_json(done))


@routes.post(
    ONE + "/close",
    summary="Close the deployment: its leases are closed and the rest refunded",
    response=schemas.ACTION_RESPONSE,
)
async def close(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    done = await commands.close_deployment(request.app[RUNTIME].context, user_id, _deployment_id(request))
    return web.json_response(action_json(done))


# ---- scale / autoscale -------------------------------------------------------------------------------
@routes.post(
    ONE + "/scale",
    summary="Scale to a number of replicas: one placement and one lease each (anti-affinity)",
    request=schemas.SCALE_REQUEST,
    response=schemas.ACTION_RESPONSE,
)
async def scale(request: web.Request) -> web.Response:
    """Managed wallets: the engine opens/closes the leases. Wallet-connected payers: the unsigned txs
    (approve + open per new replica; close per removed replica, highest index first)."""
    user_id = _user(await require_role(request, CLOUD_USER))
    body = ScaleRequest.from_json(validated_body(request))
    ctx = request.app[RUNTIME].context
    done = await scaling.scale_deployment(ctx, user_id, _deployment_id(request), body)
    return web.json_response(action_json(done))


@routes.put(
    ONE + "/autoscale",
    summary="Set the autoscale policy (managed wallets scale; wallet users get recommendations)",
    request=schemas.AUTOSCALE_REQUEST,
    response=schemas.AUTOSCALE_RESPONSE,
)
async def put_autoscale(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    body = AutoscaleRequest.from_json(validated_body(request))
    ctx = request.app[RUNTIME].context
    policy = await scaling.set_autoscale(ctx, user_id, _deployment_id(request), body)
    return web.json_response(schemas.autoscale_json(policy))


# ---- provider earnings --------------------------------------------------------------------------------
@routes.get(
    "/api/cloud-provider/earnings",
    roles=(CLOUD_PROVIDER,),
    summary="Settled earnings owed to each of the provider's nodes",
    response=schemas.EARNINGS_RESPONSE,
)
async def earnings(request: web.Request) -> web.Response:
    provider_id = _user(await require_role(request, CLOUD_PROVIDER))
    out = await commands.provider_earnings(request.app[RUNTIME].context, provider_id)
    nodes = [
        {"node_id": n.node_id, "chain_node_id": n.chain_node_id, "payee": n.payee, "owed": n.owed}
        for n in out.nodes
    ]
    return web.json_response({"nodes": nodes, "total": out.total})


@routes.post(
    f"/api/cloud-provider/nodes/{id_segment('node_id')}/withdraw",
    roles=(CLOUD_PROVIDER,),
    summary="The unsigned withdraw(nodeId) tx for the node's payee",
    response=schemas.WITHDRAW_RESPONSE,
)
async def withdraw(request: web.Request) -> web.Response:
    provider_id = _user(await require_role(request, CLOUD_PROVIDER))
    ctx = request.app[RUNTIME].context
    out = await commands.withdraw_earnings(ctx, provider_id, path_id(request, "node_id"))
    return web.json_response(
        {"node_id": out.node_id, "owed": out.owed, "transactions": txs_json(out.transactions)}
    )
