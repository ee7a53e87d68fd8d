"""The APScheduler wrapper: deterministic ids (registered twice, one instance), max one running instance,
jobs run only while leading, step-down and shutdown cancel running jobs and leave no task behind; two
services on one lock file: only the leader's jobs run. Also the job registry and the settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.scheduler import FileLeaderLock, JobDeps, JobScheduler, JobSpec, SchedulerService, build_jobs
from engine.scheduler.jobs import every
from engine.scheduler.scheduler import ELECTOR_TASK_NAME, JOB_TASK_PREFIX
from engine.settings import Settings, load_settings
from tests.unit.engine.scheduler.conftest import eventually

FAST = 0.02


def _scheduler_tasks() -> list[asyncio.Task[object]]:
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and (t.get_name().startswith(JOB_TASK_PREFIX) or t.get_name() == ELECTOR_TASK_NAME)
    ]


class Counter:
    def __init__(self) -> None:
        self.n = 0

    async def __call__(self) -> None:
        self.n += 1


async def test_a_job_registered_twice_keeps_one_instance_the_last() -> None:
    first, second = Counter(), Counter()
    sched = JobScheduler([JobSpec("demo.tick", first, every(FAST))])
    sched.add(JobSpec("demo.tick", second, every(FAST)))  # before start: pending jobs
    sched.start()
    try:
        sched.add(JobSpec("demo.tick", second, every(FAST)))  # after start: in the job store
        assert [j.id for j in sched.jobs()] == ["demo.tick"]
        job = sched.jobs()[0]
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 60)
        await sched.lead()
        await eventually(lambda: second.n >= 3, what="the registered job runs")
        assert first.n == 0
        assert sched.stats["demo.tick"].runs >= 3
    finally:
        await sched.shutdown()
    assert not sched.running


async def test_nothing_runs_before_lead_and_one_instance_at_a_time() -> None:
    release = asyncio.Event()
    concurrent = peak = 0

    async def slow() -> None:
        nonlocal concurrent, peak
        concurrent += 1
        peak = max(peak, concurrent)
        try:
            await release.wait()
        finally:
            concurrent -= 1

    sched = JobScheduler([JobSpec("demo.slow", slow, every(FAST))])
    sched.start()
    try:
        stats = sched.stats["demo.slow"]
        # paused (not leading): the trigger fires but nothing is started; check after a few periods
        await asyncio.sleep(FAST * 5)
        assert stats.last_started is None and peak == 0
        await sched.lead()
        await eventually(lambda: stats.skipped >= 3, what="runs skipped while one is busy")
        assert peak == 1 and stats.running == 1
        release.set()
        await eventually(lambda: stats.runs >= 2, what="runs again once free")
        assert peak == 1
    finally:
        await sched.shutdown()


async def test_step_down_cancels_a_running_job_and_shutdown_leaves_no_task() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    sched = JobScheduler([JobSpec("demo.forever", forever, every(FAST))], stop_timeout=0.01)
    sched.start()
    await sched.lead()
    await started.wait()
    assert len(_scheduler_tasks()) == 1
    await sched.follow()
    stats = sched.stats["demo.forever"]
    assert (stats.cancelled, stats.running, stats.runs) == (1, 0, 0)
    assert _scheduler_tasks() == []
    started.clear()
    await sched.lead()
    await started.wait()
    await sched.shutdown()  # the running job gets stop_timeout, then is cancelled
    assert stats.cancelled == 2 and _scheduler_tasks() == []
    assert not sched.running


async def test_failures_are_counted_and_the_schedule_goes_on() -> None:
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")

    sched = JobScheduler([JobSpec("demo.flaky", flaky, every(FAST))])
    sched.start()
    try:
        await sched.lead()
        stats = sched.stats["demo.flaky"]
        await eventually(lambda: stats.runs >= 2, what="runs after a failure")
        assert stats.failures == 1 and stats.last_error == "RuntimeError('boom')"
    finally:
        await sched.shutdown()


async def test_two_services_on_one_lock_only_the_leader_runs_jobs(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.lock"
    ca, cb = Counter(), Counter()

    def service(counter: Counter) -> SchedulerService:
        spec = JobSpec("demo.tick", counter, every(FAST))
        return SchedulerService.build([spec], lock=FileLeaderLock(path), retry_interval=FAST)

    a, b = service(ca), service(cb)
    async with a.running():
        await eventually(lambda: a.is_leader, what="a leads")
        async with b.running():
            await eventually(lambda: ca.n >= 3 and b.elector.attempts >= 3, what="a runs, b retries")
            assert not b.is_leader and cb.n == 0
    stopped_at = ca.n
    assert cb.n == 0 and _scheduler_tasks() == []
    b2 = service(cb)  # another process starting later
    async with b2.running():
        await eventually(lambda: cb.n >= 2, what="b runs once it leads")
    assert ca.n == stopped_at  # a stopped: its jobs did not run again
    assert _scheduler_tasks() == []
    with pytest.raises(RuntimeError, match="started once"):
        async with a.running():
            pass


def test_registry_only_real_jobs_with_intervals_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, scheduler_reconcile_interval=120.0, scheduler_reversals_interval=7.5
    )
    assert build_jobs(JobDeps(settings)) == []

    class Reversals:
        async def process_pending(self) -> dict[int, str]:
            return {}

    async def reconcile() -> None:
        return None

    rev = Reversals()
    jobs = build_jobs(JobDeps(settings, reconcile=reconcile, reversals=rev))  # type: ignore[arg-type]
    assert [(j.id, j.trigger, dict(j.trigger_args)) for j in jobs] == [
        ("billing.reconcile", "interval", {"seconds": 120.0}),
        ("billing.reversals", "interval", {"seconds": 7.5}),
    ]
    assert jobs[0].func is reconcile and jobs[1].func == rev.process_pending


def test_settings_from_the_environment(tmp_path: Path) -> None:
    s = load_settings(
        {
            "CLOUDMARKET_DATA_DIR": str(tmp_path),
            "CLOUDMARKET_SCHEDULER_ENABLED": "false",
            "CLOUDMARKET_SCHEDULER_RECONCILE_INTERVAL": "30",
            "CLOUDMARKET_SCHEDULER_RETRY_INTERVAL": "2.5",
        }
    )
    assert s.scheduler_enabled is False
    assert (s.scheduler_reconcile_interval, s.scheduler_retry_interval) == (30.0, 2.5)
    defaults = Settings()
    assert defaults.scheduler_enabled is True
    assert (defaults.scheduler_reconcile_interval, defaults.scheduler_reversals_interval) == (600.0, 60.0)
