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

RUNTIME = web.AppKey("runtime", Runtime)
SESSIONMAKER = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
CHAIN = web.AppKey("chain", ChainConnection)
METRICS = web.AppKey("metrics", Metrics)
ROUTE_SPECS = web.AppKey("route_specs", list[RouteSpec])

REQUEST_ID = web.RequestKey("request_id", str)
