"""The job registry: which periodic jobs the leader runs, with deterministic ids and their triggers.

Adding a job is one line in :func:`build_jobs`: ``JobSpec("<room>.<what>", <async callable>, {trigger
kwargs})``. The id is fixed (not generated), so registering a job again replaces it instead of adding a
second copy (``replace_existing=True``), and logs and metrics name it the same in every process.

Jobs get what they use through :class:`JobDeps`, filled by the composition root (``api.app``): the engine
never imports ``billing`` (imports point ``api -> billing -> engine``), so the billing reconciliation comes
in as a ready-bound callable (``functools.partial(billing.reconcile.reconcile, ctx)``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.payments.commands import ReversalProcessor
from engine.settings import Settings

JobFunc = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class JobSpec:
    """One periodic job. ``trigger``/``trigger_args`` are APScheduler's (``"interval"``, ``{"seconds": 60}``;
    ``"cron"``, ``{"minute": "*/5"}``). ``misfire_grace_time`` (seconds) defaults to the scheduler's."""

    id: str
    func: JobFunc
    trigger_args: Mapping[str, Any] = field(default_factory=dict)
    trigger: str = "interval"
    misfire_grace_time: int | None = None


@dataclass(frozen=True)
class JobDeps:
    """What jobs may use. ``None`` parts switch their jobs off (no Stripe: no billing jobs)."""

    settings: Settings
    reconcile: JobFunc | None = None  # billing.reconcile.reconcile bound to the billing context
    reversals: ReversalProcessor | None = None  # the billing context's reversal processor
    workloads: JobFunc | None = None  # engine.workloads.jobs.maintain bound to the runtime
    failover: JobFunc | None = None  # engine.scaling.jobs.bind(runtime.context).failover
    autoscale: JobFunc | None = None  # engine.scaling.jobs.bind(runtime.context).autoscale
    funding: JobFunc | None = None  # engine.deployments.jobs.bind(runtime.context)
    notifications: JobFunc | None = None  # engine.notifications.delivery.DeliveryWorker.run_once
    balance_scan: JobFunc | None = None  # engine.monitoring.jobs.bind(runtime.context)
    alerts: JobFunc | None = None  # engine.alerts.jobs.bind(runtime.context)
    auto_top_up: JobFunc | None = None  # engine.autotopup.jobs.bind(runtime.context, card charger)
    staking_spend: JobFunc | None = None  # engine.staking.jobs.bind(runtime.context)
    sla_probe: JobFunc | None = None  # engine.sla.jobs.bind_probe(runtime.context)
    sla: JobFunc | None = None  # engine.sla.jobs.bind(runtime.context): sla.evaluate
    alliance_collect: JobFunc | None = None  # engine.alliances.jobs.bind(runtime.context)


def every(seconds: float) -> dict[str, Any]:
    """Interval trigger kwargs."""
    return {"seconds": seconds}


def build_jobs(deps: JobDeps) -> list[JobSpec]:
    """The jobs this process would run as leader (only real jobs; nothing when nothing is configured)."""
    s, jobs = deps.settings, list[JobSpec]()
    if (reconcile := deps.reconcile) is not None:
        jobs.append(JobSpec("billing.reconcile", reconcile, every(s.scheduler_reconcile_interval)))
    if (rev := deps.reversals) is not None:
        jobs.append(JobSpec("billing.reversals", rev.process_pending, every(s.scheduler_reversals_interval)))
    if (maintain := deps.workloads) is not None:
        jobs.append(JobSpec("workloads.maintain", maintain, every(s.scheduler_workloads_interval)))
    if (failover := deps.failover) is not None:
        jobs.append(JobSpec("deployments.failover", failover, every(s.scheduler_failover_interval)))
    if (autoscale := deps.autoscale) is not None:
        jobs.append(JobSpec("deployments.autoscale", autoscale, every(s.scheduler_autoscale_interval)))
    if (funding := deps.funding) is not None:
        jobs.append(JobSpec("deployments.funding", funding, every(s.scheduler_funding_interval)))
    if (deliver := deps.notifications) is not None:
        jobs.append(JobSpec("notifications.deliver", deliver, every(s.scheduler_notifications_interval)))
    if (scan := deps.balance_scan) is not None:
        jobs.append(JobSpec("monitoring.balance_scan", scan, every(s.scheduler_balance_scan_interval)))
    if (alerts := deps.alerts) is not None:
        jobs.append(JobSpec("alerts.evaluate", alerts, every(s.scheduler_alerts_interval)))
    if (top_up := deps.auto_top_up) is not None:
        jobs.append(JobSpec("autotopup.tick", top_up, every(s.scheduler_auto_top_up_interval)))
    if (spend := deps.staking_spend) is not None:
        jobs.append(JobSpec("staking.spend_rates", spend, every(s.scheduler_staking_interval)))
    if (sla_probe := deps.sla_probe) is not None:
        jobs.append(JobSpec("sla.probe", sla_probe, every(s.sla_probe_interval)))
    if (sla := deps.sla) is not None:
        jobs.append(JobSpec("sla.evaluate", sla, every(s.scheduler_sla_interval)))
    if (collect := deps.alliance_collect) is not None:
        jobs.append(JobSpec("alliances.collect", collect, every(s.scheduler_alliance_collect_interval)))
    return jobs
