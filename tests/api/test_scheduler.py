"""The scheduler inside the running service: with Stripe configured it leads (one process), runs
``billing.reconcile`` against the local Stripe server and credits a payment whose webhook never came,
exactly once over many runs; the jobs stop with the app and no task is left behind. Without Stripe (or
with the scheduler disabled) there is nothing to run and no scheduler starts."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.keys import SCHEDULER
from api.routes import identity
from engine.outbox.models import OutboxTx
from engine.payments.models import LedgerEntry
from engine.runtime import Runtime
from engine.scheduler.scheduler import ELECTOR_TASK_NAME, JOB_TASK_PREFIX
from tests.api.conftest import serve
from tests.api.payments.conftest import make_billing
from tests.api.payments.helpers import count
from tests.support.stripe_server import StripeTestServer

FAST = 0.1
WAIT = 60.0  # safety net against hangs only


def _scheduler_tasks() -> list[asyncio.Task[object]]:
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and (t.get_name().startswith(JOB_TASK_PREFIX) or t.get_name() == ELECTOR_TASK_NAME)
    ]


async def _eventually(cond: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(WAIT):
            while not cond():  # noqa: ASYNC110 -- polls state that has no event to wait on
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


def _fast(runtime: Runtime, **more: object) -> Runtime:
    """The shared runtime's clients with short scheduler intervals (a shallow copy: same clients)."""
    settings = runtime.settings.with_(
        scheduler_retry_interval=FAST,
        scheduler_reconcile_interval=FAST,
        scheduler_reversals_interval=FAST,
        **more,
    )
    return dataclasses.replace(runtime, settings=settings)


async def test_reconcile_job_credits_a_missed_payment_once_and_stops_with_the_app(
    eth_runtime: Runtime, tmp_path: Path
) -> None:
    runtime = _fast(eth_runtime)
    options = identity.IdentityOptions(
        env="dev", data_dir=tmp_path, chain_id=runtime.chain.chain_id, dev_issuer=True
    )
    headers = {"Authorization": f"Bearer {DevIssuer(tmp_path).mint(['cloud-user'], sub='dev|sched-1')}"}
    async with StripeTestServer() as stripe:
        ctx = make_billing(runtime, stripe)
        app = create_app(runtime, identity_options=options, billing=ctx)
        try:
            async with serve(app) as client:
                service = app[SCHEDULER].service
                assert service is not None
                assert {j.id for j in service.scheduler.jobs()} == {
                    "billing.reconcile",
                    "billing.reversals",
                    "workloads.maintain",
                    "deployments.failover",
                    "deployments.autoscale",
                    "deployments.funding",
                    "notifications.deliver",
                    "monitoring.balance_scan",
                    "alerts.evaluate",
                    "autotopup.tick",
                    "staking.spend_rates",
                    "sla.probe",
                    "sla.evaluate",
                    "alliances.collect",
                }
                await _eventually(lambda: service.is_leader, "the only process becomes leader")

                r = await client.post(
                    "/api/payments/create-intent", json={"amount_cents": 900}, headers=headers
                )
                assert r.status in (200, 201), await r.text()
                pid = (await r.json())["payment"]["payment_intent_id"]
                stripe.succeed_payment_intent(pid)  # paid at Stripe; the webhook never arrives

                async with asyncio.timeout(WAIT):  # the reconcile job finds it and credits it
                    while await count(runtime, LedgerEntry, LedgerEntry.business_key == pid) == 0:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                stats = service.scheduler.stats["billing.reconcile"]
                seen = stats.runs
                await _eventually(lambda: stats.runs >= seen + 3, "reconcile runs again (and again)")
                assert stats.failures == 0, stats.last_error
                assert service.scheduler.stats["billing.reversals"].runs >= 1
                assert await count(runtime, LedgerEntry, LedgerEntry.business_key == pid) == 1
                assert await count(runtime, OutboxTx, OutboxTx.idempotency_key == f"mint:{pid}") == 1
                assert _scheduler_tasks() != []
            # the app stopped: no scheduler task left, the lock released, no more runs
            assert app[SCHEDULER].service is None
            assert _scheduler_tasks() == []
            assert not service.is_leader and not service.scheduler.running
            runs_at_stop = stats.runs
            listed_at_stop = len(stripe.requests_to("GET", "/v1/payment_intents"))
            await asyncio.sleep(FAST * 5)
            assert stats.runs == runs_at_stop
            assert len(stripe.requests_to("GET", "/v1/payment_intents")) == listed_at_stop
        finally:
            await ctx.aclose()


async def test_no_stripe_means_no_billing_jobs_and_disabled_means_no_scheduler(
    eth_runtime: Runtime, tmp_path: Path
) -> None:
    async with serve(create_app(_fast(eth_runtime))) as _client:  # no Stripe key: no billing job
        assert _client.app is not None
        service = _client.app[SCHEDULER].service
        assert service is not None
        assert {j.id for j in service.scheduler.jobs()} == {
            "workloads.maintain",
            "deployments.failover",
            "deployments.autoscale",
            "deployments.funding",
            "notifications.deliver",
            "monitoring.balance_scan",
            "alerts.evaluate",
            "autotopup.tick",
            "staking.spend_rates",
            "sla.probe",
            "sla.evaluate",
            "alliances.collect",
        }
    assert _scheduler_tasks() == []
    async with StripeTestServer() as stripe:
        ctx = make_billing(eth_runtime, stripe)
        try:
            app = create_app(_fast(eth_runtime, scheduler_enabled=False), billing=ctx)
            async with serve(app):
                assert app[SCHEDULER].service is None
                assert _scheduler_tasks() == []
        finally:
            await ctx.aclose()
