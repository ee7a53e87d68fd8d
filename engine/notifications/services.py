"""The notifications room's services: :func:`notify` (what other rooms call), endpoint rules, reads.

:func:`notify` writes ONE in-app notification per (user, ``dedupe_key``) and, only when it is new, one
delivery row per channel of the user (email when the user has an address and did not turn email off;
each webhook endpoint subscribed to ``kind``), all in the caller's transaction: the notification and its
deliveries commit or vanish together, and the delivery worker sends what committed. "One alert per
condition per period" is the caller's choice of key, e.g. ``low_balance:acct:7:2026-12-06``.

After the commit the caller may call :func:`publish_noted` so that open SSE streams push at once (they
re-read every keep-alive interval anyway).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from engine.identity.models import User
from engine.notifications import models as m
from engine.notifications.errors import BadWebhookEvents, BadWebhookUrl
from engine.notify import Hub, topics

log = logging.getLogger(__name__)

RETRY_WINDOW = timedelta(days=1)
_NOTED = "cloudmarket.notifications"

# The event kinds a webhook endpoint may subscribe to ("*": all). Producers add theirs here.
EVENT_KINDS: tuple[str, ...] = (
    "*",
    "low_balance",
    "runway_low",
    "auto_top_up_failed",
    "auto_top_up_done",
    "deployment_closing",
    "maintenance_scheduled",
    "lease_stopped",  # engine.deployments.stops: a lease's node stopped on chain
    "subscription_payment_failed",
    m.TEST_EVENT,
)


@dataclass(frozen=True)
class Notified:
    notification_id: int
    created: bool  # False: the (user, dedupe_key) notification existed already; nothing was enqueued
    deliveries: int  # rows enqueued for email/webhooks


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def webhook_payload(notification: m.Notification) -> dict[str, Any]:
    """The JSON body of a webhook delivery (frozen at enqueue time)."""
    return {
        "id": f"evt_{notification.id}",
        "type": notification.kind,
        "created": int(notification.created_at.timestamp()),
        "data": {
            "notification_id": notification.id,
            "title": notification.title,
            "body": notification.body,
            **notification.payload,
        },
    }


def wants(endpoint: m.WebhookEndpoint, kind: str) -> bool:
    return "*" in endpoint.events or kind in endpoint.events or kind == m.TEST_EVENT


async def notify(
    session: AsyncSession,
    user_id: int,
    kind: str,
    dedupe_key: str,
    title: str,
    body: str,
    data: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> Notified:
    """Record a notification for ``user_id`` once per ``dedupe_key`` and enqueue its email and webhook
    deliveries. Runs in the caller's transaction (the caller commits). Raises nothing of its own."""
    now = now or m.utcnow()
    stmt = (
        _insert(session)(m.Notification)
        .values(
            user_id=user_id,
            kind=kind,
            dedupe_key=dedupe_key,
            title=title[:200],
            body=body,
            payload=dict(data or {}),
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["user_id", "dedupe_key"])
        .returning(m.Notification.id)
    )
    new_id = (await session.execute(stmt)).scalar_one_or_none()
    if new_id is None:
        existing = await session.scalar(
            select(m.Notification.id).where(
                m.Notification.user_id == user_id, m.Notification.dedupe_key == dedupe_key
            )
        )
        assert existing is not None
        return Notified(int(existing), False, 0)
    row = await session.get(m.Notification, new_id)
    assert row is not None
    deliveries = await _enqueue(session, row, now)
    session.info.setdefault(_NOTED, set()).add(user_id)
    return Notified(int(new_id), True, deliveries)


async def _enqueue(session: AsyncSession, row: m.Notification, now: datetime) -> int:
    user = await session.get(User, row.user_id)
    count = 0
    if user is not None and user.email and (user.settings or {}).get("email_notifications") is not False:
        payload = {"to": user.email, "subject": row.title, "text": row.body, "kind": row.kind}
        session.add(_delivery(row.user_id, m.EMAIL, None, row.kind, payload, now, row.id))
        count += 1
    endpoints = await session.scalars(
        select(m.WebhookEndpoint).where(m.WebhookEndpoint.user_id == row.user_id)
    )
    for endpoint in endpoints:
        if wants(endpoint, row.kind):
            session.add(
                _delivery(row.user_id, m.WEBHOOK, endpoint.id, row.kind, webhook_payload(row), now, row.id)
            )
            count += 1
    await session.flush()
    return count


def _delivery(
    user_id: int,
    channel: str,
    endpoint_id: int | None,
    event: str,
    payload: dict[str, Any],
    now: datetime,
    notification_id: int | None = None,
) -> m.Delivery:
    return m.Delivery(
        user_id=user_id,
        notification_id=notification_id,
        channel=channel,
        endpoint_id=endpoint_id,
        event=event,
        payload=payload,
        status=m.PENDING,
        attempts=0,
        next_attempt_at=now,
        give_up_at=now + RETRY_WINDOW,
        created_at=now,
    )


def probe_delivery(endpoint: m.WebhookEndpoint, now: datetime) -> m.Delivery:
    """A ``webhook.test`` delivery for ``endpoint`` (not an in-app notification)."""
    payload = {
        "id": f"evt_test_{secrets.token_hex(8)}",
        "type": m.TEST_EVENT,
        "created": int(now.timestamp()),
        "data": {"webhook_id": endpoint.id, "message": "a test delivery from cloudmarket"},
    }
    return _delivery(endpoint.user_id, m.WEBHOOK, endpoint.id, m.TEST_EVENT, payload, now)


async def publish_noted(hub: Hub | None, session: AsyncSession) -> None:
    """After the commit: wake the SSE streams of the users :func:`notify` wrote to. Never raises."""
    users = session.info.pop(_NOTED, set())
    if hub is None:
        return
    for user_id in sorted(users):
        try:
            await hub.publish(topics.notifications(user_id))
        except Exception:
            log.exception("notification wake-up failed", extra={"user_id": user_id})


async def mark_read(session: AsyncSession, user_id: int, ids: Sequence[int] | None, now: datetime) -> int:
    """Mark the user's unread notifications (``ids``, or all when ``None``) read; returns how many."""
    stmt = (
        update(m.Notification)
        .where(m.Notification.user_id == user_id, m.Notification.read_at.is_(None))
        .values(read_at=now)
    )
    if ids is not None:
        stmt = stmt.where(m.Notification.id.in_(list(ids)))
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


# ---- webhook endpoint rules ---------------------------------------------------------------------------
def check_url(url: str, *, allow_loopback_http: bool) -> str:
    """``url`` if acceptable: ``https://`` with a host, or ``http://`` to a loopback host when
    ``allow_loopback_http`` (dev). Raises :class:`BadWebhookUrl`."""
    if len(url) > 2048:
        raise BadWebhookUrl(url, "longer than 2048 characters")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise BadWebhookUrl(url, "no host")
    if parts.username or parts.password:
        raise BadWebhookUrl(url, "credentials in the URL")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and allow_loopback_http and _loopback(host):
        return url
    raise BadWebhookUrl(url, "must be https (http only to a loopback host in dev)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_events(events: Sequence[str]) -> list[str]:
    """The de-duplicated event kinds; raises :class:`BadWebhookEvents` when empty or unknown."""
    unknown = [e for e in events if e not in EVENT_KINDS]
    if unknown or not events:
        raise BadWebhookEvents(unknown, EVENT_KINDS)
    return list(dict.fromkeys(events))
