"""Scheduler job of the monitoring room: ``monitoring.balance_scan`` (every
``scheduler_balance_scan_interval`` seconds) runs :func:`engine.monitoring.commands.scan_balances` over
the engine's :class:`~engine.context.Context`. The composition root passes it to
:class:`engine.scheduler.models.JobDeps` (``balance_scan=``)."""

from __future__ import annotations

import functools

from engine.context import Context
from engine.monitoring.commands import scan_balances
from engine.monitoring.models import ScanResult
from engine.scheduler import JobFunc


async def balance_scan(ctx: Context) -> ScanResult:
    return await scan_balances(ctx)


def bind(ctx: Context) -> JobFunc:
    return functools.partial(balance_scan, ctx)
