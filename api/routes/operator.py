"""Operator routes: provider requests (approve through the outbox, reject), settings and pricing.

=========================================================  ===============
route                                                      who
=========================================================  ===============
GET  /api/cloud-operator/provider-requests[?status=&limit=&cursor=]  cloud-operator
POST /api/cloud-operator/provider-requests/{id}/approve    cloud-operator
POST /api/cloud-operator/provider-requests/{id}/reject     cloud-operator
GET  /api/cloud-operator/settings[?version=]               cloud-operator
PUT  /api/cloud-operator/settings                          cloud-operator
GET  /api/cloud-operator/settings/history                  cloud-operator
GET  /api/cloud-operator/pricing[?version=]                cloud-operator
PUT  /api/cloud-operator/pricing                           cloud-operator
GET  /api/cloud-operator/pricing/history                   cloud-operator
GET  /api/cloud-operator/jobs                              cloud-operator (scheduler jobs, runs, leader)
POST /api/cloud-operator/escrow/pause, .../escrow/unpause  cloud-operator (escrow.setPaused, outbox)
=========================================================  ===============

PUT merges the given keys into the current values and creates a new version (never an update in place),
with an audit row; ``expected_version`` guards against lost updates (409). A settings PUT that changes a
contract limit also enqueues ``registry.setConfig`` / ``escrow.setFeeParams`` (backend signer, admin role)
in the same transaction (:mod:`engine.operator.onchain`). Approve answers 409 while the
provider's ``register`` transaction has not been indexed (nothing to approve on chain yet).
"""

from __future__ import annotations

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_OPERATOR
from api.keys import RUNTIME, SCHEDULER
from api.openapi import RouteTable
from api.render import iso_utc
from api.schemas.common import page_args
from api.schemas.notifications import JOBS, jobs_json
from api.schemas.operator import (
    ESCROW_PAUSE_SCHEMA,
    HISTORY_SCHEMA,
    PRICING_PUT,
    REJECT_SCHEMA,
    REQUEST_SCHEMA,
    REQUESTS_SCHEMA,
    SETTINGS_PUT,
    STATUS_QUERY,
    VERSION_QUERY,
    VERSION_SCHEMA,
    escrow_pause_json,
    pricing_json,
    request_json,
    settings_json,
)
from api.validation import id_segment, path_id, validated_body, validated_query
from engine.operator import commands
from engine.operator import services as operator
from engine.providers import commands as providers
from engine.scheduler.runs import jobs_view

routes = RouteTable(tag="operator", roles=(CLOUD_OPERATOR,))

BASE = "/api/cloud-operator"


# ---- provider requests ----------------------------------------------------------------------------
@routes.get(
    f"{BASE}/provider-requests",
    summary="Provider requests (optionally by status), newest first, a page at a time",
    query=STATUS_QUERY,
    response=REQUESTS_SCHEMA,
)
async def list_provider_requests(request: web.Request) -> web.Response:
    await require_role(request, CLOUD_OPERATOR)
    query = validated_query(request)
    page = await providers.list_provider_requests(
        request.app[RUNTIME].context, status=query.get("status"), **page_args(query)
    )
    return web.json_response(
        {"requests": [request_json(v) for v in page.items], "next_cursor": page.next_cursor}
    )


@routes.post(
    f"{BASE}/provider-requests/{id_segment('request_id')}/approve",
    summary="Approve: enqueue registry.approveProvider (signed by the backend signer)",
    response=REQUEST_SCHEMA,
)
async def approve_provider_request(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_OPERATOR)
    assert principal.user_id is not None
    ctx = request.app[RUNTIME].context
    view = await providers.approve_provider_request(ctx, path_id(request, "request_id"), principal.user_id)
    return web.json_response(request_json(view))


@routes.post(
    f"{BASE}/provider-requests/{id_segment('request_id')}/reject",
    summary="Reject a pending request",
    request=REJECT_SCHEMA,
    response=REQUEST_SCHEMA,
)
async def reject_provider_request(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_OPERATOR)
    assert principal.user_id is not None
    reason = validated_body(request).get("reason")
    ctx = request.app[RUNTIME].context
    view = await providers.reject_provider_request(
        ctx, path_id(request, "request_id"), principal.user_id, reason
    )
    return web.json_response(request_json(view))


# ---- settings and pricing -------------------------------------------------------------------------
async def _history(request: web.Request, kind: str) -> web.Response:
    await require_role(request, CLOUD_OPERATOR)
    changes = await commands.history(request.app[RUNTIME].context, kind)
    return web.json_response(
        {
            "kind": kind,
            "changes": [
                {
                    "version": c.version,
                    "actor_user_id": c.actor_user_id,
                    "before": c.before,
                    "after": c.after,
                    "created_at": iso_utc(c.created_at),
                }
                for c in changes
            ],
        }
    )


@routes.get(
    f"{BASE}/settings",
    summary="Platform settings: current version or ?version=",
    query=VERSION_QUERY,
    response=VERSION_SCHEMA,
)
async def get_settings(request: web.Request) -> web.Response:
    await require_role(request, CLOUD_OPERATOR)
    version = validated_query(request).get("version")
    return web.json_response(
        settings_json(await commands.get_settings(request.app[RUNTIME].context, version))
    )


@routes.put(
    f"{BASE}/settings",
    summary="Change platform settings (new version + audit row; contract limits go to the chain)",
    request=SETTINGS_PUT,
    response=VERSION_SCHEMA,
)
async def put_settings(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_OPERATOR)
    body = validated_body(request)
    v = await commands.put_settings(
        request.app[RUNTIME].context,
        principal.user_id,
        body["values"],
        expected_version=body.get("expected_version"),
    )
    return web.json_response(settings_json(v))


@routes.get(f"{BASE}/settings/history", summary="Audit log of settings changes", response=HISTORY_SCHEMA)
async def settings_history(request: web.Request) -> web.Response:
    return await _history(request, operator.SETTINGS)


@routes.get(
    f"{BASE}/pricing",
    summary="Pricing floors and premiums: current version or ?version=",
    query=VERSION_QUERY,
    response=VERSION_SCHEMA,
)
async def get_pricing(request: web.Request) -> web.Response:
    await require_role(request, CLOUD_OPERATOR)
    version = validated_query(request).get("version")
    return web.json_response(pricing_json(await commands.get_pricing(request.app[RUNTIME].context, version)))


@routes.put(
    f"{BASE}/pricing",
    summary="Change pricing (new version + audit row)",
    request=PRICING_PUT,
    response=VERSION_SCHEMA,
)
async def put_pricing(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_OPERATOR)
    body = validated_body(request)
    v = await commands.put_pricing(
        request.app[RUNTIME].context,
        principal.user_id,
        body["values"],
        expected_version=body.get("expected_version"),
    )
    return web.json_response(pricing_json(v))


@routes.get(f"{BASE}/pricing/history", summary="Audit log of pricing changes", response=HISTORY_SCHEMA)
async def pricing_history(request: web.Request) -> web.Response:
    return await _history(request, operator.PRICING)


# ---- scheduler jobs ---------------------------------------------------------------------------------
@routes.get(
    f"{BASE}/jobs", summary="Scheduler jobs: last run, duration, outcome, next run, leader", response=JOBS
)
async def jobs(request: web.Request) -> web.Response:
    await require_role(request, CLOUD_OPERATOR)
    view = await jobs_view(request.app[RUNTIME].context, request.app[SCHEDULER].service)
    return web.json_response(jobs_json(view))


# ---- escrow emergency pause -------------------------------------------------------------------------
@routes.post(
    f"{BASE}/escrow/pause",
    summary="Pause the escrow: new opens and top-ups stop (503 escrow_paused); closes and refunds work",
    response=ESCROW_PAUSE_SCHEMA,
)
async def pause_escrow(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_OPERATOR)
    change = await commands.set_escrow_paused(request.app[RUNTIME].context, principal.user_id, True)
    return web.json_response(escrow_pause_json(change))


@routes.post(f"{BASE}/escrow/unpause", summary="Lift the escrow's pause", response=ESCROW_PAUSE_SCHEMA)
async def unpause_escrow(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_OPERATOR)
    change = await commands.set_escrow_paused(request.app[RUNTIME].context, principal.user_id, False)
    return web.json_response(escrow_pause_json(change))
