"""Scheduler job of the deployments room, bound to the engine's :class:`~engine.context.Context`:
``deployments.funding`` (every ``scheduler_funding_interval`` seconds) advances the managed payers' relay
(a relayed open that reverted fails its deployment) and expires reservations nobody funded within
``reservation_ttl`` (:mod:`engine.deployments.lifecycle`). The composition root passes it to
:class:`engine.scheduler.jobs.JobDeps` (``funding=``)."""

from __future__ import annotations

import functools

from engine.context import Context
from engine.deployments import lifecycle
from engine.scheduler.jobs import JobFunc


async def funding(ctx: Context) -> None:
    await lifecycle.check_relay(ctx)
    await lifecycle.expire_reservations(ctx)


def bind(ctx: Context) -> JobFunc:
    return functools.partial(funding, ctx)
