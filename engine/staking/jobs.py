"""Scheduler job of the staking room: ``staking.spend_rates`` (every ``scheduler_staking_interval`` seconds)
runs :func:`engine.staking.commands.report_spend_rates`."""

from __future__ import annotations

import functools

from engine.context import Context
from engine.scheduler.jobs import JobFunc
from engine.staking.commands import report_spend_rates


def bind(ctx: Context) -> JobFunc:
    return functools.partial(report_spend_rates, ctx)
