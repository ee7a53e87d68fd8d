"""The run record of scheduled jobs, for ``GET /api/cloud-operator/jobs``.

:func:`recorded` wraps each :class:`~engine.scheduler.jobs.JobSpec` so that a run writes its start
(outcome ``running``) and its end (``ok`` / ``failed`` / ``cancelled``, duration, error, the next run of
an interval trigger) into ``scheduler_job_runs``, one row per job id, tagged with the process that ran it
(``<host>:<pid>``): only the leader runs jobs, so that row also says which process leads. A failure to
write the record is logged and never fails the job. :func:`list_jobs` reads the rows for any process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.context import Context
from engine.scheduler.jobs import JobSpec
from engine.scheduler.models import CANCELLED, FAILED, OK, RUNNING, JobRun

log = logging.getLogger(__name__)


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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
    leader: str | None  # the process that started the latest run


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
        await self._write(started, RUNNING, None, None)
        try:
            result = await self.spec.func()
        except asyncio.CancelledError:
            await asyncio.shield(self._write(started, CANCELLED, t0, "cancelled"))
            raise
        except Exception as exc:
            await self._write(started, FAILED, t0, repr(exc))
            raise
        await self._write(started, OK, t0, None)
        return result

    async def _write(self, started: datetime, outcome: str, t0: float | None, error: str | None) -> None:
        seconds = self.spec.trigger_args.get("seconds") if self.spec.trigger == "interval" else None
        try:
            async with self.sessionmaker() as session, session.begin():
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


async def list_jobs(ctx: Context, local: Sequence[LocalJob], leading: bool) -> JobsView:
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
    return JobsView(views, this_process(), leading, None if latest is None else latest.runner)
