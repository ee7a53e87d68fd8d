"""Scheduler jobs of the SLA room: ``sla.probe`` (every ``sla_probe_interval`` seconds: one tick of the
prober, :func:`engine.sla.commands.probe_round`) and ``sla.evaluate`` (every ``scheduler_sla_interval``
seconds: closed periods judged and breaches moved through the outbox,
:func:`engine.sla.commands.evaluate_sla`).
The composition root passes them to :class:`engine.scheduler.jobs.JobDeps` (``sla_probe=``, ``sla=``)."""

from __future__ import annotations

import functools

from engine.context import Context
from engine.scheduler import JobFunc
from engine.sla.commands import Evaluation, ProbeRound, evaluate_sla, probe_round


async def probe(ctx: Context) -> ProbeRound:
    return await probe_round(ctx)


async def evaluate(ctx: Context) -> Evaluation:
    return await evaluate_sla(ctx)


def bind_probe(ctx: Context) -> JobFunc:
    return functools.partial(probe, ctx)


def bind(ctx: Context) -> JobFunc:
    return functools.partial(evaluate, ctx)
