"""Scheduler job of the auto top-up room: ``autotopup.tick`` (every ``scheduler_auto_top_up_interval``
seconds) runs :func:`engine.autotopup.commands.tick` over the engine's :class:`~engine.context.Context`,
with the card step injected (``billing.autotopup.card_charger``; ``None`` without Stripe: card sources
wait). The composition root passes it to :class:`engine.scheduler.jobs.JobDeps` (``auto_top_up=``)."""

from __future__ import annotations

import functools

from engine.autotopup.commands import CardCharger, tick
from engine.autotopup.models import TickResult
from engine.context import Context
from engine.scheduler import JobFunc


async def auto_top_up(ctx: Context, card: CardCharger | None) -> TickResult:
    return await tick(ctx, card=card)


def bind(ctx: Context, card: CardCharger | None = None) -> JobFunc:
    return functools.partial(auto_top_up, ctx, card)
