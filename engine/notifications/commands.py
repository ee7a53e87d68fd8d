"""What the API calls: the caller's in-app notifications and webhook endpoints.

Each command owns its transaction; ids of other users' objects are "not found" (404), never "forbidden".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from engine.context import Context
from engine.notifications import models as m
from engine.notifications import services, signing
from engine.notifications.errors import NotificationNotFound, TooManyWebhooks, WebhookNotFound
from engine.notify import topics
from engine.pagination import Page, clamp_limit, decode_cursor

MAX_EVENTS_PER_READ = 100


@dataclass(frozen=True)
class NotificationView:
    id: int
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True)
class NotificationPage:
    page: Page[NotificationView]
    unread: int


@dataclass(frozen=True)
class WebhookView:
    id: int
    url: str
    events: list[str]
    description: str
    created_at: datetime


@dataclass(frozen=True)
class CreatedWebhook:
    webhook: WebhookView
    secret: str  # shown once


@dataclass(frozen=True)
class DeliveryView:
    id: int
    event: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None  # None once delivered or given up
    delivered_at: datetime | None


def _view(row: m.Notification) -> NotificationView:
    return NotificationView(
        row.id, row.kind, row.title, row.body, dict(row.payload or {}), row.created_at, row.read_at
    )


def _webhook(row: m.WebhookEndpoint) -> WebhookView:
    return WebhookView(row.id, row.url, list(row.events), row.description, row.created_at)


def _delivery(row: m.Delivery) -> DeliveryView:
    return DeliveryView(
        row.id,
        row.event,
        row.status,
        row.attempts,
        row.last_status_code,
        row.last_error,
        row.created_at,
        row.last_attempt_at,
        row.next_attempt_at if row.status == m.PENDING else None,
        row.delivered_at,
    )


# ---- in-app ----------------------------------------------------------------------------------------
async def list_notifications(
    ctx: Context,
    user_id: int,
    *,
    unread_only: bool = False,
    limit: int | None = None,
    cursor: str | None = None,
) -> NotificationPage:
    """The user's notifications, newest first, a page at a time, and how many are unread.

    Raises: ``BadCursor`` (400)."""
    limit, after = clamp_limit(limit), decode_cursor(cursor)
    stmt = select(m.Notification).where(m.Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(m.Notification.read_at.is_(None))
    if after is not None:
        stmt = stmt.where(m.Notification.id < after)
    async with ctx.sessionmaker() as session:
        rows = (await session.scalars(stmt.order_by(m.Notification.id.desc()).limit(limit + 1))).all()
        unread = await session.scalar(
            select(func.count())
            .select_from(m.Notification)
            .where(m.Notification.user_id == user_id, m.Notification.read_at.is_(None))
        )
    return NotificationPage(Page.of([_view(r) for r in rows], limit, lambda v: v.id), int(unread or 0))


async def mark_read(ctx: Context, user_id: int, notification_id: int) -> NotificationView:
    """Mark one of the user's notifications read (again: no change).

    Raises: ``NotificationNotFound`` (404, also for another user's)."""
    async with ctx.sessionmaker() as session, session.begin():
        row = await session.get(m.Notification, notification_id)
        if row is None or row.user_id != user_id:
            raise NotificationNotFound(notification_id)
        if row.read_at is None:
            row.read_at = ctx.clock()
        view = _view(row)
    return view


async def mark_all_read(ctx: Context, user_id: int) -> int:
    """Mark every unread notification of the user read; returns how many. Raises nothing."""
    async with ctx.sessionmaker() as session, session.begin():
        return await services.mark_read(session, user_id, None, ctx.clock())


@dataclass
class NotificationStream:
    """Reader of a user's new notifications for SSE (ids ascending after the last one sent)."""

    ctx: Context
    user_id: int
    topic: str
    after: int  # the stream starts after this notification id

    async def read(self, after: int) -> list[NotificationView]:
        async with self.ctx.sessionmaker() as session:
            rows = await session.scalars(
                select(m.Notification)
                .where(m.Notification.user_id == self.user_id, m.Notification.id > after)
                .order_by(m.Notification.id)
                .limit(MAX_EVENTS_PER_READ)
            )
            return [_view(r) for r in rows]


async def notification_stream(ctx: Context, user_id: int, after: int | None) -> NotificationStream:
    """A reader for the user's notification SSE stream (hub topic ``notifications:<user>``), starting
    after ``after`` (``None``: after the newest existing one, i.e. only new notifications). Raises
    nothing."""
    if after is None:
        async with ctx.sessionmaker() as session:
            newest = await session.scalar(
                select(func.max(m.Notification.id)).where(m.Notification.user_id == user_id)
            )
        after = int(newest or 0)
    return NotificationStream(ctx, user_id, topics.notifications(user_id), after)


# ---- webhooks --------------------------------------------------------------------------------------
async def create_webhook(
    ctx: Context, user_id: int, url: str, events: Sequence[str], description: str = ""
) -> CreatedWebhook:
    """Register an endpoint; its signing secret is in the result and never shown again.

    Raises: ``BadWebhookUrl`` (400), ``BadWebhookEvents`` (400), ``TooManyWebhooks`` (409)."""
    url = services.check_url(url, allow_loopback_http=not ctx.settings.is_production)
    kinds = services.check_events(events)
    async with ctx.sessionmaker() as session, session.begin():
        count = await session.scalar(
            select(func.count()).select_from(m.WebhookEndpoint).where(m.WebhookEndpoint.user_id == user_id)
        )
        if int(count or 0) >= ctx.settings.max_webhooks_per_user:
            raise TooManyWebhooks(ctx.settings.max_webhooks_per_user)
        row = m.WebhookEndpoint(
            user_id=user_id,
            url=url,
            events=kinds,
            secret=signing.new_secret(),
            description=description[:200],
            created_at=ctx.clock(),
        )
        session.add(row)
        await session.flush()
        created = CreatedWebhook(_webhook(row), row.secret)
    return created


async def list_webhooks(ctx: Context, user_id: int) -> list[WebhookView]:
    """The user's endpoints, oldest first (secrets are not shown). Raises nothing."""
    async with ctx.sessionmaker() as session:
        rows = await session.scalars(
            select(m.WebhookEndpoint)
            .where(m.WebhookEndpoint.user_id == user_id)
            .order_by(m.WebhookEndpoint.id)
        )
        return [_webhook(r) for r in rows]


async def _own(session: Any, user_id: int, webhook_id: int) -> m.WebhookEndpoint:
    row = await session.get(m.WebhookEndpoint, webhook_id)
    if row is None or row.user_id != user_id:
        raise WebhookNotFound(webhook_id)
    assert isinstance(row, m.WebhookEndpoint)
    return row


async def delete_webhook(ctx: Context, user_id: int, webhook_id: int) -> None:
    """Remove an endpoint and its delivery log (pending deliveries are dropped).

    Raises: ``WebhookNotFound`` (404, also for another user's)."""
    async with ctx.sessionmaker() as session, session.begin():
        row = await _own(session, user_id, webhook_id)
        for delivery in await session.scalars(select(m.Delivery).where(m.Delivery.endpoint_id == row.id)):
            await session.delete(delivery)
        await session.delete(row)


async def send_test_delivery(ctx: Context, user_id: int, webhook_id: int) -> DeliveryView:
    """Enqueue a signed ``webhook.test`` delivery to the endpoint (sent by the next delivery run).

    Raises: ``WebhookNotFound`` (404, also for another user's)."""
    async with ctx.sessionmaker() as session, session.begin():
        row = await _own(session, user_id, webhook_id)
        delivery = services.probe_delivery(row, ctx.clock())
        session.add(delivery)
        await session.flush()
        view = _delivery(delivery)
    return view


async def list_deliveries(
    ctx: Context, user_id: int, webhook_id: int, *, limit: int | None = None, cursor: str | None = None
) -> Page[DeliveryView]:
    """The endpoint's delivery log, newest first, a page at a time.

    Raises: ``WebhookNotFound`` (404, also for another user's), ``BadCursor`` (400)."""
    limit, after = clamp_limit(limit), decode_cursor(cursor)
    async with ctx.sessionmaker() as session:
        await _own(session, user_id, webhook_id)
        stmt = select(m.Delivery).where(m.Delivery.endpoint_id == webhook_id)
        if after is not None:
            stmt = stmt.where(m.Delivery.id < after)
        rows = (await session.scalars(stmt.order_by(m.Delivery.id.desc()).limit(limit + 1))).all()
    return Page.of([_delivery(r) for r in rows], limit, lambda v: v.id)
