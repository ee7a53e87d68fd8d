"""SLA views (issue 13).

=====================================================  =====================================================
GET /api/cloud-user/deployments/{deployment_id}/sla    cloud-user, own deployment: policy, each lease's
                                                       uptime in the current period, breach records
GET /api/cloud-provider/sla                            cloud-provider: own nodes' uptime this period and the
                                                       breach records against them
GET /api/cloud-operator/sla                            cloud-operator: totals and the newest breach records
=====================================================  =====================================================
"""

from __future__ import annotations

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_OPERATOR, CLOUD_PROVIDER, CLOUD_USER
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.schemas import sla as schemas
from api.validation import id_segment, path_id
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
