"""The aiohttp application factory. The only module that assembles ``web.Application``.

``create_app(runtime)`` stores the runtime's clients under typed keys (:mod:`api.keys`), installs the
middlewares and every route table, and runs background tasks (the outbox sender) through ``cleanup_ctx``:
started with the app, asked to stop through an :class:`asyncio.Event` on shutdown, cancelled if it does
not stop within :data:`BACKGROUND_STOP_TIMEOUT`. The scheduler (:mod:`engine.scheduler`) is one more such
context: it campaigns for leadership and runs the periodic jobs while it leads (``app[SCHEDULER]``).
The app does not close the runtime; its owner does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from api import console
from api.cors import setup_cors
from api.keys import CHAIN, METRICS, ROUTE_SPECS, RUNTIME, SCHEDULER, SESSIONMAKER, SchedulerHolder
from api.limits import restore_recursion_limit
from api.metrics import Metrics
from api.middlewares import MIDDLEWARES
from api.openapi import RouteTable
from api.ratelimit import RATE_LIMITER, RateLimiter
from api.routes import ROUTE_TABLES, identity, payments, workloads
from api.routes.identity import IdentityOptions
from billing.autotopup import card_charger
from billing.context import BillingContext
from billing.reconcile import reconcile
from engine.alerts.jobs import bind as bind_alerts
from engine.alliances.jobs import bind as bind_alliance_collect
from engine.autotopup.jobs import bind as bind_auto_top_up
from engine.deployments.jobs import bind as bind_funding_job
from engine.monitoring.jobs import bind as bind_balance_scan
from engine.notifications.delivery import DeliveryWorker
from engine.runtime import Runtime
from engine.scaling.jobs import bind as bind_scaling_jobs
from engine.scheduler import JobDeps, build_jobs, running_scheduler
from engine.scheduler.runs import recorded
from engine.sla.jobs import bind as bind_sla
from engine.sla.jobs import bind_probe as bind_sla_probe
from engine.staking.jobs import bind as bind_staking_spend
from engine.workloads.heartbeats import LivenessPolicy
from engine.workloads.jobs import maintain

log = logging.getLogger(__name__)

BACKGROUND_STOP_TIMEOUT = 10.0


async def _outbox_sender(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(app[RUNTIME].sender.run_forever(stop), name="outbox-sender")
    task.add_done_callback(_report_crash)
    yield
    stop.set()
    done, _ = await asyncio.wait({task}, timeout=BACKGROUND_STOP_TIMEOUT)
    if not done:
        log.warning("outbox sender did not stop in time; cancelling")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _indexer(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(_run_indexer(app[RUNTIME], stop), name="chain-indexer")
    task.add_done_callback(_report_crash)
    yield
    stop.set()
    done, _ = await asyncio.wait({task}, timeout=BACKGROUND_STOP_TIMEOUT)
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _run_indexer(runtime: Runtime, stop: asyncio.Event) -> None:
    """Follow chain events. A reorg deeper than the window needs a decision: in dev (a reset local chain)
    the index is rebuilt from scratch; in production the indexer stops and says so (an operator runs
    the reset after looking)."""
    from engine.indexer.errors import ReorgTooDeep
    from engine.indexer.store import reset_chain

    while not stop.is_set():
        try:
            await runtime.indexer.run_forever(stop)
        except ReorgTooDeep:
            if runtime.settings.is_production:
                log.error("reorg deeper than the indexer window: indexer stopped; reset the index")
                return
            log.warning("chain history changed under the index (dev chain reset?): rebuilding the index")
            async with runtime.sessionmaker() as session, session.begin():
                await reset_chain(session, runtime.chain.chain_id)


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    """Periodic jobs (engine.scheduler), run only by the elected leader process. Entered after the
    billing context exists (payments.setup's cleanup_ctx comes first) and left before it is closed."""
    runtime, billing = app[RUNTIME], app[payments.BILLING].ctx
    deployment_jobs = bind_scaling_jobs(runtime.context)
    deps = JobDeps(
        runtime.settings,
        reconcile=functools.partial(reconcile, billing) if billing is not None else None,
        reversals=billing.reversals if billing is not None else None,
        workloads=functools.partial(
            maintain, runtime.sessionmaker, runtime.hub, LivenessPolicy.from_settings(runtime.settings)
        ),
        failover=deployment_jobs.failover,
        autoscale=deployment_jobs.autoscale,
        funding=bind_funding_job(runtime.context),
        notifications=DeliveryWorker.from_context(runtime.context).run_once,
        balance_scan=bind_balance_scan(runtime.context),
        alerts=bind_alerts(runtime.context),
        auto_top_up=bind_auto_top_up(runtime.context, card_charger(billing) if billing is not None else None),
        staking_spend=bind_staking_spend(runtime.context),
        sla_probe=bind_sla_probe(runtime.context),
        sla=bind_sla(runtime.context) if runtime.contracts.escrow and runtime.contracts.registry else None,
        alliance_collect=bind_alliance_collect(runtime.context) if runtime.contracts.alliances else None,
    )
    # runs recorded for GET /api/cloud-operator/jobs, and counted for /metrics
    jobs = recorded(app[METRICS].instrument_jobs(build_jobs(deps)), runtime.sessionmaker)
    if not runtime.settings.scheduler_enabled or not jobs:
        yield
        return
    async with running_scheduler(runtime.settings, jobs) as service:
        app[SCHEDULER].service = service
        leader_gauge = asyncio.create_task(app[METRICS].follow_leadership(service.elector))
        try:
            yield
        finally:
            app[SCHEDULER].service = None
            leader_gauge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await leader_gauge


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s crashed", task.get_name(), exc_info=task.exception())


async def _restore_recursion_limit(app: web.Application) -> None:
    restore_recursion_limit()


_heap_frozen = False  # per process: see freeze_startup_heap


async def freeze_startup_heap(app: web.Application) -> None:
    """Once per process, after the first app's start-up: ``gc.collect()`` then ``gc.freeze()``. The
    objects alive by then (imported modules, ABIs, the runtime: most of the heap) move to the permanent
    generation, so the cyclic GC's full collections no longer walk them: shorter pauses, which is what a
    p99 of the long-poll wake-ups contained (bench/longpoll_http.py measures with and without)."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.collect()
        gc.freeze()


def create_app(
    runtime: Runtime,
    *,
    extra_routes: Sequence[RouteTable] = (),
    background: bool = True,
    identity_options: IdentityOptions | None = None,
    billing: BillingContext | None = None,
) -> web.Application:
    """Build the service app. ``extra_routes`` (tests) are installed like the service's own tables;
    ``identity_options`` (tests) replace the identity configuration read from the runtime's settings;
    ``billing`` (tests) replaces the billing context built from the settings (Stripe key, fees)."""
    restore_recursion_limit()  # py_ecc raised it to 100,000 at import (see api.limits)
    settings = runtime.settings
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=settings.max_body_bytes)
    app.on_startup.append(_restore_recursion_limit)  # again, after anything imported since
    app[RATE_LIMITER] = RateLimiter.from_settings(settings)
    setup_cors(app, settings.cors_origins)
    app[RUNTIME] = runtime
    app[SESSIONMAKER] = runtime.sessionmaker
    app[CHAIN] = runtime.chain
    app[METRICS] = Metrics()
    app[ROUTE_SPECS] = []
    for table in (*ROUTE_TABLES, *extra_routes):
        table.install(app, app[ROUTE_SPECS])
    identity.setup(app, identity_options)
    payments.setup(app, billing)
    workloads.setup(app)
    console.setup(app, settings)  # the web console at / (innermost middleware; not an API route)
    app[SCHEDULER] = SchedulerHolder()
    app.on_startup.append(freeze_startup_heap)  # last start-up step (after the background contexts)
    if background:
        app.cleanup_ctx.append(_outbox_sender)
        app.cleanup_ctx.append(_indexer)
        app.cleanup_ctx.append(_scheduler)
    return app
