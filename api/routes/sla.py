"""SLA views (issue 13).

=====================================================  =====================================================
GET /api/cloud-user/deployments/{deployment_id}/sla    cloud-user, own deployment: policy, each lease's
                                                       uptime in the current period, breach records
GET /api/cloud-provider/sla                            cloud-provider: own nodes' uptime this period and the
                                                       breach records against them
GET /api/cloud-operator/sla                            cloud-operator: totals and the newest breach records
GET|PUT /api/cloud-provider/nodes/{node_id}/sla-endpoint  cloud-provider, own node: the host the prober
                                                       checks the node's workloads' declared ports on
=====================================================  =====================================================
"""

from __future__ import annotations

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_OPERATOR, CLOUD_PROVIDER, CLOUD_USER
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.schemas import sla as schemas
from api.validation import id_segment, path_id, validated_body
from engine.sla import commands

routes = RouteTable(tag="sla")


@routes.get(
    f"/api/cloud-user/deployments/{id_segment('deployment_id')}/sla",
    summary="SLA of one of the caller's deployments: uptime this period and breach records",
    response=schemas.DEPLOYMENT_SLA,
    roles=(CLOUD_USER,),
)
async def deployment_sla(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    deployment_id = path_id(request, "deployment_id")
    view = await commands.deployment_sla(request.app[RUNTIME].context, principal.user_id, deployment_id)
    return web.json_response(schemas.deployment_json(deployment_id, view))


@routes.get(
    "/api/cloud-provider/sla",
    summary="The caller's nodes' uptime this period and the SLA breach records against them",
    response=schemas.PROVIDER_SLA,
    roles=(CLOUD_PROVIDER,),
)
async def provider_sla(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    view = await commands.provider_sla(request.app[RUNTIME].context, principal.user_id)
    return web.json_response(schemas.provider_json(view))


@routes.get(
    "/api/cloud-operator/sla",
    summary="SLA overview: totals per status and the newest breach records",
    response=schemas.OPERATOR_SLA,
    roles=(CLOUD_OPERATOR,),
)
async def operator_sla(request: web.Request) -> web.Response:
    await require_role(request, CLOUD_OPERATOR)
    view = await commands.operator_overview(request.app[RUNTIME].context)
    return web.json_response(schemas.operator_json(view))


ENDPOINT = f"/api/cloud-provider/nodes/{id_segment('node_id')}/sla-endpoint"


@routes.get(
    ENDPOINT,
    summary="The host the SLA prober checks the caller's node's workloads on (null: not set)",
    response=schemas.ENDPOINT,
    roles=(CLOUD_PROVIDER,),
)
async def get_endpoint(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    ctx = request.app[RUNTIME].context
    got = await commands.probe_endpoint(ctx, principal.user_id, path_id(request, "node_id"))
    return web.json_response(schemas.endpoint_json(got))


@routes.put(
    ENDPOINT,
    summary="Set the host (DNS name or IP literal) the SLA prober checks the caller's node's workloads on",
    request=schemas.ENDPOINT_PUT,
    response=schemas.ENDPOINT,
    roles=(CLOUD_PROVIDER,),
)
async def put_endpoint(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    host = validated_body(request)["host"]
    ctx = request.app[RUNTIME].context
    got = await commands.set_probe_endpoint(ctx, principal.user_id, path_id(request, "node_id"), host)
    return web.json_response(schemas.endpoint_json(got))
