"""Interval jobs run once per period whoever runs them: periods are ``start // interval`` since the epoch
(the triggers are aligned to it), and a run claims its period in ``scheduler_job_periods`` first; a second
runner of the same period (another process during a split brain, a new leader catching up) skips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine import db
from engine.scheduler import JobScheduler, JobSpec
from engine.scheduler.models import JobPeriod, JobRun
from engine.scheduler.runs import period_of, recorded

BACKENDS = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_periods_are_exact_multiples_of_the_interval_since_the_epoch() -> None:
    assert period_of(T0, 60) == int(T0.timestamp()) // 60
    assert period_of(T0 - timedelta(microseconds=1), 60) == int(T0.timestamp()) // 60 - 1
    assert period_of(T0 + timedelta(seconds=0.3), 0.1) == int(T0.timestamp()) * 10 + 3  # not 2 (float error)


async def test_interval_triggers_fire_on_the_epoch_grid() -> None:
    async def job() -> None:
        return None

    scheduler = JobScheduler([JobSpec("grid", job, {"seconds": 7.5})])
    scheduler.start()
    try:
        (aps_job,) = scheduler.jobs()
        fire = aps_job.next_run_time
        assert fire is not None
        assert (fire - datetime(1970, 1, 1, tzinfo=UTC)) % timedelta(seconds=7.5) == timedelta(0)
    finally:
        await scheduler.shutdown()


@BACKENDS
async def test_a_period_runs_once_across_runners(database_url: str) -> None:
    calls: list[str] = []

    async def job() -> str:
        calls.append("ran")
        return "done"

    now = [T0]
    eng = db.make_engine(database_url)
    sessionmaker = db.make_sessionmaker(eng)
    try:
        spec = [JobSpec("test.once", job, {"seconds": 60})]
        a = recorded(spec, sessionmaker, runner="host-a:1", clock=lambda: now[0])[0]
        b = recorded(spec, sessionmaker, runner="host-b:2", clock=lambda: now[0])[0]
        assert await a.func() == "done"
        now[0] += timedelta(seconds=59)  # same period: the other process skips, so does the first
        assert await b.func() is None
        assert await a.func() is None
        now[0] += timedelta(seconds=1)  # the next period: whoever comes first runs it
        assert await b.func() == "done"
        assert calls == ["ran", "ran"]
        async with sessionmaker() as session:
            rows = (await session.scalars(select(JobPeriod).order_by(JobPeriod.period))).all()
            run = await session.get(JobRun, "test.once")
        base = int(T0.timestamp()) // 60
        assert [(r.period, r.runner, r.outcome) for r in rows] == [
            (base, "host-a:1", "ok"),
            (base + 1, "host-b:2", "ok"),
        ]
        assert run is not None and (run.runs, run.runner) == (2, "host-b:2")
    finally:
        await eng.dispose()
