"""Scheduler job of the alliance room: ``alliances.collect`` (every ``scheduler_alliance_collect_interval``
seconds: one keeper run, :func:`engine.alliances.keeper.collect_revenue`). The composition root passes it
to :class:`engine.scheduler.jobs.JobDeps` (``alliance_collect=``) when the chain has an ``AllianceSplits``."""

from __future__ import annotations

import functools

from engine.alliances.keeper import CollectRound, collect_revenue
from engine.context import Context
from engine.scheduler import JobFunc


async def collect(ctx: Context) -> CollectRound:
    return await collect_revenue(ctx)


def bind(ctx: Context) -> JobFunc:
    return functools.partial(collect, ctx)
