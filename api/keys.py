"""Typed keys for what the app and each request carry (``app[RUNTIME]``, ``request[REQUEST_ID]``).

Handlers read their collaborators through these keys; they never construct clients themselves.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.metrics import Metrics
from api.openapi import RouteSpec
from chain.connect import ChainConnection
from engine.runtime import Runtime
from engine.scheduler import SchedulerService

RUNTIME = web.AppKey("runtime", Runtime)
SESSIONMAKER = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
CHAIN = web.AppKey("chain", ChainConnection)
METRICS = web.AppKey("metrics", Metrics)
ROUTE_SPECS = web.AppKey("route_specs", list[RouteSpec])


class SchedulerHolder:
    """The running scheduler (``None`` when disabled or when there is no job to run)."""

    def __init__(self) -> None:
        self.service: SchedulerService | None = None


SCHEDULER = web.AppKey("scheduler", SchedulerHolder)

REQUEST_ID = web.RequestKey("request_id", str)
