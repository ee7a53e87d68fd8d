"""The delivery worker: sends due email and webhook deliveries (a scheduler job, ``notifications.deliver``).

Each run claims due rows (``pending``, ``next_attempt_at`` reached, not claimed by another run whose claim
is still valid) with a conditional UPDATE per row, so two processes never send the same row at once; a
crash leaves a claim that expires and the row is sent again (receivers deduplicate on the event ``id``,
as with any at-least-once webhook). A failure schedules the next attempt after ``base * 2**(n-1)``
seconds (at most ``max``) until the row's ``give_up_at`` (a day after it was enqueued); past that the
row is ``failed``. Webhook bodies are signed (:mod:`engine.notifications.signing`); only a 2xx answer
counts as delivered, redirects are not followed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.context import Context
from engine.notifications import models as m
from engine.notifications import signing
from engine.notifications.senders import EmailSender, build_message, email_sender_for
from engine.settings import Settings

log = logging.getLogger(__name__)

BATCH = 100
CONCURRENCY = 8
USER_AGENT = "cloudmarket-webhooks/1"


class DeliveryFailed(Exception):
    """One attempt failed (internal to the worker: recorded on the row, never raised out of a run)."""

    def __init__(self, message: str, status: int | None = None, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = permanent  # retrying cannot help (no email sender configured)


@dataclass(frozen=True)
class RunStats:
    delivered: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempts: int, base: float, cap: float) -> timedelta:
    """The pause after the ``attempts``-th failed attempt: ``base * 2**(attempts-1)``, at most ``cap``."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, min(attempts - 1, 40))))


@dataclass
class DeliveryWorker:
    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    email: EmailSender | None
    clock: Callable[[], datetime] = m.utcnow
    claim_for: timedelta = field(default=timedelta(minutes=5))

    @classmethod
    def from_context(cls, ctx: Context) -> DeliveryWorker:
        return cls(ctx.sessionmaker, ctx.settings, email_sender_for(ctx.settings), ctx.clock)

    async def run_once(self) -> RunStats:
        """Send every due delivery (up to a batch); returns what happened."""
        claimed = await self._claim()
        if not claimed:
            return RunStats()
        timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout)
        gate = asyncio.Semaphore(CONCURRENCY)
        async with aiohttp.ClientSession(timeout=timeout) as http:

            async def one(delivery_id: int) -> str:
                async with gate:
                    return await self._attempt(http, delivery_id)

            outcomes = await asyncio.gather(*(one(i) for i in claimed))
        return RunStats(outcomes.count(m.DELIVERED), outcomes.count(m.PENDING), outcomes.count(m.FAILED))

    async def _claim(self) -> list[int]:
        now = self.clock()
        async with self.sessionmaker() as session, session.begin():
            due = (
                await session.scalars(
                    select(m.Delivery.id)
                    .where(
                        m.Delivery.status == m.PENDING,
                        m.Delivery.next_attempt_at <= now,
                        or_(m.Delivery.claimed_until.is_(None), m.Delivery.claimed_until < now),
                    )
                    .order_by(m.Delivery.next_attempt_at, m.Delivery.id)
                    .limit(BATCH)
                )
            ).all()
            claimed = []
            for delivery_id in due:
                result = await session.execute(
                    update(m.Delivery)
                    .where(
                        m.Delivery.id == delivery_id,
                        m.Delivery.status == m.PENDING,
                        or_(m.Delivery.claimed_until.is_(None), m.Delivery.claimed_until < now),
                    )
                    .values(claimed_until=now + self.claim_for)
                )
                if getattr(result, "rowcount", 0) == 1:
                    claimed.append(int(delivery_id))
        return claimed

    async def _attempt(self, http: aiohttp.ClientSession, delivery_id: int) -> str:
        async with self.sessionmaker() as session:
            row = await session.get(m.Delivery, delivery_id)
            if row is None:
                return m.FAILED  # its endpoint was deleted meanwhile (cascade)
            endpoint = (
                None if row.endpoint_id is None else await session.get(m.WebhookEndpoint, row.endpoint_id)
            )
            channel, payload, event = row.channel, dict(row.payload), row.event
        status: int | None = None
        error: str | None = None
        permanent = False
        try:
            if channel == m.WEBHOOK:
                if endpoint is None:
                    raise DeliveryFailed("endpoint deleted")
                status = await self._post(http, endpoint, delivery_id, event, payload)
            else:
                await self._mail(delivery_id, payload)
        except DeliveryFailed as exc:
            error, status, permanent = str(exc), exc.status, exc.permanent
        except Exception as exc:  # any failure (refused, timeout, SMTP error) is a failed attempt: retried
            error = f"{type(exc).__name__}: {exc}"[:500]
        return await self._record(delivery_id, status, error, permanent)

    async def _post(
        self,
        http: aiohttp.ClientSession,
        endpoint: m.WebhookEndpoint,
        delivery_id: int,
        event: str,
        payload: dict[str, Any],
    ) -> int:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            signing.HEADER: signing.sign(endpoint.secret, body, timestamp),
            "Cloudmarket-Event": event,
            "Cloudmarket-Delivery": str(delivery_id),
        }
        async with http.post(endpoint.url, data=body, headers=headers, allow_redirects=False) as resp:
            await resp.read()
            if not 200 <= resp.status < 300:
                raise DeliveryFailed(f"receiver answered {resp.status}", resp.status)
            return resp.status

    async def _mail(self, delivery_id: int, payload: dict[str, Any]) -> None:
        if self.email is None:
            raise DeliveryFailed("no email sender configured (CLOUDMARKET_SMTP_HOST)", permanent=True)
        message = build_message(
            self.settings.smtp_from,
            str(payload["to"]),
            str(payload.get("subject") or "cloudmarket"),
            str(payload.get("text") or ""),
            f"delivery-{delivery_id}",
        )
        await self.email.send(message)

    async def _record(self, delivery_id: int, status: int | None, error: str | None, permanent: bool) -> str:
        now = self.clock()
        async with self.sessionmaker() as session, session.begin():
            row = await session.get(m.Delivery, delivery_id)
            if row is None:
                return m.FAILED
            row.attempts += 1
            row.last_attempt_at = now
            row.last_status_code = status
            row.claimed_until = None
            if error is None:
                row.status, row.delivered_at, row.last_error = m.DELIVERED, now, None
                return m.DELIVERED
            row.last_error = error[:500]
            retry_at = now + backoff(
                row.attempts, self.settings.notify_retry_base, self.settings.notify_retry_max
            )
            if permanent or retry_at > _aware(row.give_up_at):
                row.status = m.FAILED
                log.warning("delivery %s gave up after %d attempts: %s", delivery_id, row.attempts, error)
                return m.FAILED
            row.next_attempt_at = retry_at
            return m.PENDING


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns: read them as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
