"""Scheduler job of the alerts room: ``alerts.evaluate`` (every ``scheduler_alerts_interval`` seconds) runs
:func:`engine.alerts.commands.evaluate_alerts` over the engine's :class:`~engine.context.Context`. The
composition root passes it to :class:`engine.scheduler.models.JobDeps` (``alerts=``).

A job of its own rather than a step at the end of ``monitoring.balance_scan``: the forecast it reads is
stored by the scan and aged to the evaluation time, so the two need not run together; a failing alert
run does not mark the scan failed (nor the reverse) in ``GET /api/cloud-operator/jobs``; and it has its
own period, so a failed top-up is reflected in the next evaluation, not only after the next scan.
"""

from __future__ import annotations

import functools

from engine.alerts.commands import evaluate_alerts
from engine.alerts.models import EvaluationResult
from engine.context import Context
from engine.scheduler import JobFunc


async def evaluate(ctx: Context) -> EvaluationResult:
    return await evaluate_alerts(ctx)


def bind(ctx: Context) -> JobFunc:
    return functools.partial(evaluate, ctx)
