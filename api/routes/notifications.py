"""Notification routes: the in-app inbox (list, mark read, SSE) and the caller's signed webhooks.

==============================================  ===============================================
route                                           who
==============================================  ===============================================
GET    /api/notifications[?unread=&limit=&cursor=]  any signed-in user: own notifications, newest first
POST   /api/notifications/{id}/read             the owner (another user's: 404)
POST   /api/notifications/read-all              any signed-in user: own unread ones
GET    /api/notifications/stream                any signed-in user: SSE of new notifications (and
                                                ``wallet`` events: balances changed)
GET    /api/me/webhooks                         any signed-in user: own endpoints (no secrets)
POST   /api/me/webhooks                         any signed-in user: register; the secret is shown once
DELETE /api/me/webhooks/{id}                    the owner (another user's: 404)
GET    /api/me/webhooks/{id}/deliveries         the owner: delivery log, newest first
POST   /api/me/webhooks/{id}/test               the owner: enqueue a signed ``webhook.test`` delivery
==============================================  ===============================================

Deliveries are signed ``Cloudmarket-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
(:mod:`engine.notifications.signing`) and retried with exponential backoff for a day
(:mod:`engine.notifications.delivery`). Engine errors carry their codes (``invalid_webhook_url`` 400,
``invalid_webhook_events`` 400, ``too_many_webhooks`` 409, ``not_found`` 404).
"""

from __future__ import annotations

from aiohttp import web

from api import sse
from api.access import SIGNED_IN
from api.auth.middleware import require_user
from api.errors import BadRequest
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.schemas import notifications as schemas
from api.schemas.common import PAGE_QUERY, page_args
from api.validation import id_segment, path_id, validated_body, validated_query
from engine.notifications import commands
from engine.notify import topics

routes = RouteTable(tag="notifications", roles=SIGNED_IN)

INBOX = "/api/notifications"
HOOKS = "/api/me/webhooks"
HOOK = f"{HOOKS}/{id_segment('webhook_id')}"


async def _user_id(request: web.Request) -> int:
    principal = await require_user(request)
    assert principal.user_id is not None
    return int(principal.user_id)


# ---- in-app ----------------------------------------------------------------------------------------
@routes.get(
    INBOX,
    summary="The caller's notifications, newest first, a page at a time, and the unread count",
    query=schemas.NOTIFICATIONS_QUERY,
    response=schemas.NOTIFICATIONS,
)
async def list_notifications(request: web.Request) -> web.Response:
    user_id = await _user_id(request)
    query = validated_query(request)
    page = await commands.list_notifications(
        request.app[RUNTIME].context,
        user_id,
        unread_only=bool(query.get("unread", False)),
        **page_args(query),
    )
    return web.json_response(schemas.notifications_json(page))


@routes.post(
    f"{INBOX}/{id_segment('notification_id')}/read",
    summary="Mark one of the caller's notifications read",
    response=schemas.NOTIFICATION,
)
async def mark_read(request: web.Request) -> web.Response:
    user_id = await _user_id(request)
    view = await commands.mark_read(
        request.app[RUNTIME].context, user_id, path_id(request, "notification_id")
    )
    return web.json_response(schemas.notification_json(view))


@routes.post(
    f"{INBOX}/read-all", summary="Mark all the caller's notifications read", response=schemas.READ_ALL
)
async def mark_all_read(request: web.Request) -> web.Response:
    user_id = await _user_id(request)
    return web.json_response({"marked": await commands.mark_all_read(request.app[RUNTIME].context, user_id)})


@routes.get(
    f"{INBOX}/stream",
    summary="New notifications as server-sent events (resume with Last-Event-ID)",
    query=schemas.STREAM_QUERY,
    response=schemas.STREAM_EVENT,
    content_type=sse.CONTENT_TYPE,
)
async def stream(request: web.Request) -> web.StreamResponse:
    """The stream ends after ``max_seconds`` (default 300; 0: replay only)."""
    user_id = await _user_id(request)
    query = validated_query(request)
    after = sse.last_event_id(request, query.get("after"))
    if after is None:
        raise BadRequest("Last-Event-ID must be a notification id", code="bad_last_event_id")
    resumed = "after" in query or bool(request.headers.get("Last-Event-ID", "").strip())
    ctx = request.app[RUNTIME].context
    reader = await commands.notification_stream(ctx, user_id, after if resumed else None)

    async def read(last: int) -> list[sse.Event]:
        return [
            sse.Event(n.id, "notification", schemas.notification_json(n)) for n in await reader.read(last)
        ]

    return await sse.follow(
        request,
        ctx.hub,
        reader.topic,
        reader.after,
        read,
        lambda: False,
        max_seconds=query.get("max_seconds", 300),
        signals={topics.wallet(user_id): _wallet_event},
    )


def _wallet_event(payload: str) -> tuple[str, dict[str, object]]:
    """``event: wallet``: the indexer committed events naming one of the caller's wallets (block: the
    newest of them); re-read ``GET /api/wallet`` (engine.wallets.live). Its id is the last notification's."""
    return "wallet", {"block": int(payload) if payload.isdigit() else None}


# ---- webhooks --------------------------------------------------------------------------------------
@routes.get(
    HOOKS, summary="The caller's webhook endpoints (secrets are not shown)", response=schemas.WEBHOOKS
)
async def list_webhooks(request: web.Request) -> web.Response:
    user_id = await _user_id(request)
    hooks = await commands.list_webhooks(request.app[RUNTIME].context, user_id)
    return web.json_response({"webhooks": [schemas.webhook_json(h) for h in hooks]})


@routes.post(
    HOOKS,
    summary="Register a webhook endpoint; the response holds its signing secret, shown only once",
    request=schemas.WEBHOOK_CREATE,
    response=schemas.WEBHOOK_CREATED,
    status=201,
)
async def create_webhook(request: web.Request) -> web.Response:
    user_id = await _user_id(request)
    body = validated_body(request)
    created = await commands.create_webhook(
        request.app[RUNTIME].context, user_id, body["url"], body["events"], body.get("description", "")
    )
    return web.json_response(
        {"webhook": schemas.webhook_json(created.webhook), "secret": created.secret}, status=201
    )


@routes.delete(HOOK, summary="Remove a webhook endpoint and its delivery log", response=schemas.DELETED)
async def delete_webhook(request: web.Request) -> web.Response:
    user_id = await _user_id(request)
    await commands.delete_webhook(request.app[RUNTIME].context, user_id, path_id(request, "webhook_id"))
    return web.json_response({"deleted": True})


@routes.get(
    HOOK + "/deliveries",
    summary="The endpoint's delivery log, newest first, a page at a time",
    query=PAGE_QUERY,
    response=schemas.DELIVERIES,
)
async def list_deliveries(request: web.Request) -> web.Response:
    user_id = await _user_id(request)
    query = validated_query(request)
    page = await commands.list_deliveries(
        request.app[RUNTIME].context, user_id, path_id(request, "webhook_id"), **page_args(query)
    )
    return web.json_response(schemas.deliveries_json(page))


@routes.post(
    HOOK + "/test",
    summary="Enqueue a signed webhook.test delivery to the endpoint",
    response=schemas.DELIVERY,
    status=202,
)
async def test_webhook(request: web.Request) -> web.Response:
    user_id = await _user_id(request)
    view = await commands.send_test_delivery(
        request.app[RUNTIME].context, user_id, path_id(request, "webhook_id")
    )
    return web.json_response(schemas.delivery_json(view), status=202)
