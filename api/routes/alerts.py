"""The caller's low-balance alert settings (the alerts themselves arrive as notifications).

=====================  ==========================================================================
GET /api/me/alerts     cloud-user: thresholds in force (own or the operator's default), on/off
PUT /api/me/alerts     cloud-user: ``enabled``, own ``thresholds_seconds`` (``null``: the operator's
                       default); a bad value is 400 ``invalid_thresholds`` and nothing is written
=====================  ==========================================================================
"""

from __future__ import annotations

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_USER
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.schemas import alerts as schemas
from api.validation import validated_body
from engine.alerts import commands

routes = RouteTable(tag="alerts", roles=(CLOUD_USER,))
ALERTS = "/api/me/alerts"


@routes.get(ALERTS, summary="The caller's low-balance alert thresholds", response=schemas.ALERT_SETTINGS)
async def get_alerts(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    view = await commands.alert_settings(request.app[RUNTIME].context, principal.user_id)
    return web.json_response(schemas.alert_settings_json(view))


@routes.put(
    ALERTS,
    summary="Change the caller's low-balance alerts: on/off, own thresholds or the operator's default",
    request=schemas.ALERT_SETTINGS_PUT,
    response=schemas.ALERT_SETTINGS,
)
async def put_alerts(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    body = validated_body(request)
    view = await commands.update_alert_settings(
        request.app[RUNTIME].context,
        principal.user_id,
        enabled=body.get("enabled"),
        thresholds=body.get("thresholds_seconds"),
        reset="thresholds_seconds" in body and body["thresholds_seconds"] is None,
    )
    return web.json_response(schemas.alert_settings_json(view))
