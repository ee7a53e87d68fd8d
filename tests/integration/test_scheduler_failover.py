"""Two service processes on one PostgreSQL: the scheduler's jobs run once per period, and when the leader
is killed (SIGKILL: no step-down, no unlock) the other process takes over within the lock's retry
interval; counted from the scheduler's own run records (``scheduler_job_periods``, ``scheduler_job_runs``),
no period is run twice and none is lost.

Each process runs the service's scheduler (:func:`engine.scheduler.running_scheduler` over
:func:`engine.scheduler.recorded` jobs from :func:`engine.scheduler.build_jobs`, as ``api.app`` does) with
the jobs that need only the database (notifications delivery, workload maintenance, alert evaluation);
the chain jobs are left out so that no chain has to be started. Periods are short (settings through the
environment) so the test runs in seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import db
from engine.scheduler.models import JobPeriod, JobRun
from tests.support.postgres import PgCluster

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
INTERVAL = 1.0  # seconds per period
RETRY = 0.2  # the lock's retry interval: the takeover bound
JOBS = ("notifications.deliver", "workloads.maintain", "alerts.evaluate")
WAIT = 30  # generous bound for outcomes; nothing asserts durations

PROCESS = r"""
import asyncio, functools, signal
from engine import db
from engine.alerts.jobs import bind as bind_alerts
from engine.context import Context
from engine.notifications.delivery import DeliveryWorker
from engine.notify import LocalHub
from engine.scheduler import JobDeps, build_jobs, running_scheduler
from engine.scheduler.runs import recorded
from engine.settings import load_settings
from engine.workloads.heartbeats import LivenessPolicy
from engine.workloads.jobs import maintain

async def main() -> None:
    settings = load_settings()
    engine = db.make_engine(settings.effective_database_url)
    sessionmaker = db.make_sessionmaker(engine)
    hub = LocalHub()
    # alerts.evaluate reads only the database: no chain, contracts or manifest in this process
    ctx = Context(settings, sessionmaker, None, None, None, "", hub=hub)  # type: ignore[arg-type]
    deps = JobDeps(
        settings,
        workloads=functools.partial(maintain, sessionmaker, hub, LivenessPolicy.from_settings(settings)),
        notifications=DeliveryWorker(sessionmaker, settings, None).run_once,
        alerts=bind_alerts(ctx),
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with running_scheduler(settings, recorded(build_jobs(deps), sessionmaker)):
        print("started", flush=True)
        while not stop.is_set():
            await asyncio.sleep(0.05)
    await engine.dispose()

asyncio.run(main())
"""


@pytest.fixture
async def url(pg_cluster: PgCluster) -> AsyncIterator[str]:
    dsn = pg_cluster.createdb(f"sched_{uuid.uuid4().hex[:8]}")
    await db.upgrade(dsn)
    yield dsn


def _env(url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDMARKET_")}
    env.update(
        CLOUDMARKET_DATABASE_URL=url,
        CLOUDMARKET_DATA_DIR=str(data_dir),
        CLOUDMARKET_SCHEDULER_RETRY_INTERVAL=str(RETRY),
        CLOUDMARKET_SCHEDULER_NOTIFICATIONS_INTERVAL=str(INTERVAL),
        CLOUDMARKET_SCHEDULER_WORKLOADS_INTERVAL=str(INTERVAL),
        CLOUDMARKET_SCHEDULER_ALERTS_INTERVAL=str(INTERVAL),
        CLOUDMARKET_LOG_LEVEL="WARNING",
    )
    return env


async def _periods(url: str) -> list[JobPeriod]:
    eng = db.make_engine(url)
    try:
        async with db.make_sessionmaker(eng)() as session:
            return list(
                (await session.scalars(select(JobPeriod).order_by(JobPeriod.job_id, JobPeriod.period))).all()
            )
    finally:
        await eng.dispose()


async def _until(url: str, done: Callable[[list[JobPeriod]], bool], what: str) -> list[JobPeriod]:
    try:
        async with asyncio.timeout(WAIT):
            while True:
                rows = await _periods(url)
                if done(rows):
                    break
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(what) from None
    return rows


def _pid(runner: str) -> int:
    return int(runner.rsplit(":", 1)[1])


@pytest.mark.timeout(60)
async def test_each_job_once_per_period_and_a_killed_leader_is_replaced(url: str, tmp_path: Path) -> None:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PROCESS,
            cwd=ROOT,
            env=_env(url, tmp_path / name),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            async with asyncio.timeout(WAIT):
                assert (await proc.stdout.readline()).strip() == b"started"
        # both processes are up; the leader has run each job for at least two periods
        rows = await _until(
            url,
            lambda rs: all(sum(r.job_id == j for r in rs) >= 2 for j in JOBS),
            "the leader did not run its jobs",
        )
        leaders = {_pid(r.runner) for r in rows}
        assert len(leaders) == 1, "two processes ran jobs at once"
        (leader_pid,) = leaders
        leader = next(p for p in procs if p.pid == leader_pid)
        follower = next(p for p in procs if p.pid != leader_pid)

        # kill the leader right after it claimed a period (so the next period starts a full interval
        # later, more than the follower's retry interval), without any chance to release its lock
        seen = len(rows)
        await _until(url, lambda rs: len(rs) > seen, "no new period")
        leader.send_signal(signal.SIGKILL)
        await leader.wait()
        before = len(await _periods(url))

        rows = await _until(
            url,
            lambda rs: all(
                sum(r.job_id == j and _pid(r.runner) == follower.pid for r in rs) >= 3 for j in JOBS
            ),
            "the follower did not take over",
        )
        assert len(rows) > before
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            async with asyncio.timeout(WAIT):
                _, err = await proc.communicate()
            assert b"Traceback" not in err or proc is leader, err.decode()[-2000:]

    rows = await _periods(url)
    eng = db.make_engine(url)
    try:
        async with db.make_sessionmaker(eng)() as session:
            runs = {r.job_id: r for r in (await session.scalars(select(JobRun))).all()}
    finally:
        await eng.dispose()
    for job in JOBS:
        mine = [r for r in rows if r.job_id == job]
        periods = [r.period for r in mine]
        # no period lost: one row per period from the first to the last, across the takeover
        assert periods == list(range(periods[0], periods[-1] + 1)), (job, periods)
        # leader first, then the follower, never interleaved (never both in one stretch)
        owners = [_pid(r.runner) for r in mine]
        switch = owners.index(follower.pid)
        assert set(owners[:switch]) == {leader_pid} and set(owners[switch:]) == {follower.pid}, owners
        # no run without its period claim: the finished runs counted by scheduler_job_runs are the rows
        # that finished (ok/failed); a run cut by the kill or the stop stays "running"/"cancelled"
        finished = sum(r.outcome in ("ok", "failed") for r in mine)
        assert runs[job].runs == finished, (job, runs[job].runs, finished)
        assert runs[job].failures == 0
        assert _pid(runs[job].runner) == follower.pid
