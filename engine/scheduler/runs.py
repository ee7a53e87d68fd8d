"""The run record of scheduled jobs, for ``GET /api/cloud-operator/jobs``.

:func:`recorded` wraps each :class:`~engine.scheduler.jobs.JobSpec` so that a run writes its start
(outcome ``running``) and its end (``ok`` / ``failed`` / ``cancelled``, duration, error, the next run of
an interval trigger) into ``scheduler_job_runs``, one row per job id, tagged with the process that ran it
(``<host>:<pid>``). A failure to write the record is logged and never fails the job. :func:`list_jobs`
reads the rows for any process; :func:`jobs_view` adds this process's schedule and the process that leads
now (the holder of the leader lock, :meth:`~engine.scheduler.leader.LeaderLock.holder`; the runner of the
latest run when the lock cannot tell).

Before an interval job runs, it claims its period in ``scheduler_job_periods`` (insert-or-nothing on
``(job_id, start // interval)``): a period already claimed, by this process or another one, is skipped
(not counted as a run). Interval triggers are aligned to the epoch (:mod:`engine.scheduler.scheduler`),
so every process computes the same periods, and a new leader catching up runs the current period only if
the old leader had not. If the claim cannot be written the job runs anyway (the jobs are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.context import Context
from engine.scheduler.jobs import JobSpec
from engine.scheduler.leader import leader_lock_for, this_process
from engine.scheduler.models import CANCELLED, FAILED, OK, RUNNING, JobPeriod, JobRun

if TYPE_CHECKING:
    from engine.scheduler.scheduler import SchedulerService

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PERIODS_KEPT = timedelta(days=1)  # claims older than this are pruned


def interval_of(spec: JobSpec) -> float | None:
    """The interval in seconds of an interval trigger, else ``None``."""
    seconds = spec.trigger_args.get("seconds") if spec.trigger == "interval" else None
    return None if seconds is None else float(seconds)


def period_of(at: datetime, seconds: float) -> int:
    """``at // seconds`` since the epoch, in whole microseconds (exact: the trigger's fire times are
    multiples of the interval since the epoch, so a run started at or after one belongs to it)."""
    step = max(1, round(seconds * 1_000_000))
    return ((_utc(at) or at) - EPOCH) // timedelta(microseconds=1) // step


def _utc(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class LocalJob:
    """A job this process has registered, and when its scheduler fires it next (``None``: paused)."""

    id: str
    next_run_at: datetime | None


@dataclass(frozen=True)
class JobView:
    id: str
    outcome: str | None  # None: never ran
    last_started_at: datetime | None
    last_finished_at: datetime | None
    duration_ms: int | None
    error: str | None
    next_run_at: datetime | None
    runs: int
    failures: int
    ran_by: str | None


@dataclass(frozen=True)
class JobsView:
    jobs: list[JobView]
    this_process: str
    this_process_leads: bool
    leader: str | None  # the process that leads now (or, when unknown, the one that started the latest run)


def recorded(
    specs: Sequence[JobSpec],
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    runner: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[JobSpec]:
    """``specs`` whose funcs record their runs (same ids and triggers)."""
    who = runner or this_process()
    return [replace(s, func=_Recorder(s, sessionmaker, who, clock)) for s in specs]


@dataclass(frozen=True)
class _Recorder:
    spec: JobSpec
    sessionmaker: async_sessionmaker[AsyncSession]
    runner: str
    clock: Callable[[], datetime]

    async def __call__(self) -> object:
        started, t0 = self.clock(), time.monotonic()
        seconds = interval_of(self.spec)
        period = None if seconds is None else period_of(started, seconds)
        if period is not None and not await self._claim(period, started):
            log.info("%s: period %d already ran; skipped", self.spec.id, period)
            return None
        await self._write(started, RUNNING, None, None, period)
        try:
            result = await self.spec.func()
        except asyncio.CancelledError:
            await asyncio.shield(self._write(started, CANCELLED, t0, "cancelled", period))
            raise
        except Exception as exc:
            await self._write(started, FAILED, t0, repr(exc), period)
            raise
        await self._write(started, OK, t0, None, period)
        return result

    async def _claim(self, period: int, started: datetime) -> bool:
        """Insert the (job, period) claim; ``False`` when it exists (the period ran already)."""
        try:
            async with self.sessionmaker() as session, session.begin():
                dialect = session.get_bind().dialect.name
                insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
                won = await session.scalar(
                    insert(JobPeriod)
                    .values(
                        job_id=self.spec.id,
                        period=period,
                        runner=self.runner,
                        outcome=RUNNING,
                        started_at=started,
                    )
                    .on_conflict_do_nothing(index_elements=["job_id", "period"])
                    .returning(JobPeriod.period)
                )
                seconds = interval_of(self.spec) or 1.0
                keep = max(2, int(PERIODS_KEPT.total_seconds() / seconds))
                await session.execute(
                    delete(JobPeriod).where(
                        JobPeriod.job_id == self.spec.id, JobPeriod.period < period - keep
                    )
                )
            return won is not None
        except Exception:
            log.exception("could not claim period %d of %s; running it anyway", period, self.spec.id)
            return True

    async def _write(
        self, started: datetime, outcome: str, t0: float | None, error: str | None, period: int | None = None
    ) -> None:
        seconds = self.spec.trigger_args.get("seconds") if self.spec.trigger == "interval" else None
        try:
            async with self.sessionmaker() as session, session.begin():
                if period is not None and t0 is not None:
                    await session.execute(
                        update(JobPeriod)
                        .where(JobPeriod.job_id == self.spec.id, JobPeriod.period == period)
                        .values(outcome=outcome, finished_at=self.clock())
                    )
                row = await session.get(JobRun, self.spec.id)
                if row is None:
                    row = JobRun(job_id=self.spec.id, runs=0, failures=0)
                    session.add(row)
                row.runner, row.outcome, row.started_at, row.error = self.runner, outcome, started, error
                row.finished_at = None if t0 is None else self.clock()
                row.duration_ms = None if t0 is None else int((time.monotonic() - t0) * 1000)
                row.next_run_at = None if seconds is None else started + timedelta(seconds=float(seconds))
                if outcome in (OK, FAILED):
                    row.runs += 1
                    row.failures += outcome == FAILED
        except Exception:
            log.exception("could not record a run of %s", self.spec.id)


async def jobs_view(ctx: Context, service: SchedulerService | None) -> JobsView:
    """``GET /api/cloud-operator/jobs``: :func:`list_jobs` with this process's scheduler (``None``: the
    scheduler is off here) and the current leader. Raises nothing."""
    if service is None:  # no scheduler here (disabled): ask the lock who holds it
        lock = leader_lock_for(ctx.settings)
        try:
            return await list_jobs(ctx, [], False, leader=await lock.holder())
        finally:
            await lock.release()
    local = [LocalJob(j.id, j.next_run_time) for j in service.scheduler.jobs()]
    return await list_jobs(ctx, local, service.is_leader, leader=await service.leader())


async def list_jobs(
    ctx: Context, local: Sequence[LocalJob], leading: bool, *, leader: str | None = None
) -> JobsView:
    """Every job this process knows of or that has a run record, with its last run and next run (the
    local scheduler's time when this process leads, else the one the leader recorded). Raises nothing."""
    async with ctx.sessionmaker() as session:
        rows = {r.job_id: r for r in await session.scalars(select(JobRun))}
    nexts = {j.id: j.next_run_at for j in local}
    views = []
    for job_id in sorted(set(rows) | set(nexts)):
        row = rows.get(job_id)
        upcoming = nexts.get(job_id) if leading else None
        views.append(
            JobView(
                job_id,
                None if row is None else row.outcome,
                None if row is None else _utc(row.started_at),
                None if row is None else _utc(row.finished_at),
                None if row is None else row.duration_ms,
                None if row is None else row.error,
                upcoming or (None if row is None else _utc(row.next_run_at)),
                0 if row is None else row.runs,
                0 if row is None else row.failures,
                None if row is None else row.runner,
            )
        )
    latest = max(
        rows.values(), key=lambda r: _utc(r.started_at) or datetime.min.replace(tzinfo=UTC), default=None
    )
    if leader is None and latest is not None:
        leader = latest.runner
    return JobsView(views, this_process(), leading, leader)
