"""The scheduler: an APScheduler ``AsyncIOScheduler`` that runs its jobs only while this process leads.

:class:`JobScheduler` is built once at start with the registry's jobs (:mod:`engine.scheduler.jobs`), every
one with its deterministic id, ``replace_existing=True``, ``coalesce=True`` (runs missed while busy or
paused collapse into one), ``max_instances=1`` (a slow run is never overlapped by the next) and a
``misfire_grace_time``. Interval triggers start at the epoch (unless a spec names its own ``start_date``),
so their fire times are multiples of the interval in every process: a period is the same period whoever
leads, which is what :mod:`engine.scheduler.runs` claims once. It is started *paused*; the
:class:`~engine.scheduler.leader.LeaderElector` resumes it on election and pauses it (cancelling running
jobs) when leadership is lost.

No job store: the default in-memory store is deliberate. Jobs are code, registered at every start from
the registry, and their state (what was reconciled, which reversals are pending) lives in the database,
keyed so that a repeated run does nothing twice. A persistent store would only add pickled callables
that break across deployments and a second source of truth for "what runs when".

:func:`running_scheduler` is the lifecycle as an async context manager (used by ``api.app``'s
``cleanup_ctx``): on exit the elector stops and releases the lock, running jobs get ``stop_timeout``
seconds to finish and are then cancelled; no task is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_SHUTDOWN,
    JobEvent,
)
from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_STOPPED

from engine.scheduler.jobs import JobSpec
from engine.scheduler.leader import LeaderElector, LeaderLock, leader_lock_for
from engine.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_STOP_TIMEOUT = 10.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # interval triggers fire at multiples of their interval from here
ELECTOR_TASK_NAME = "scheduler-leader"
JOB_TASK_PREFIX = "scheduler-job:"


@dataclass
class JobStats:
    """In-memory counters per job (this process only): for /metrics, logs and tests."""

    runs: int = 0
    failures: int = 0
    cancelled: int = 0
    running: int = 0
    skipped: int = 0  # runs not started: previous run still busy (max_instances) or missed beyond grace
    last_started: float | None = None  # unix seconds
    last_finished: float | None = None
    last_error: str | None = None


class JobScheduler:
    """APScheduler with leader-gated execution. Build, :meth:`start` (paused), then :meth:`lead` /
    :meth:`follow` as leadership comes and goes, and :meth:`shutdown` once."""

    def __init__(
        self,
        jobs: Sequence[JobSpec] = (),
        *,
        misfire_grace_time: int = 60,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        self.misfire_grace_time = misfire_grace_time
        self.stop_timeout = stop_timeout
        self.stats: dict[str, JobStats] = {}
        self._running: set[asyncio.Task[Any]] = set()
        self._used = False
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._aps.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        for spec in jobs:
            self.add(spec)

    def add(self, spec: JobSpec) -> None:
        """Register (or replace: same id, one instance) a job."""
        trigger_args = dict(spec.trigger_args)
        if spec.trigger == "interval":
            trigger_args.setdefault("start_date", EPOCH)
        self._aps.add_job(
            self._run,
            spec.trigger,
            args=(spec,),
            id=spec.id,
            name=spec.id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=spec.misfire_grace_time or self.misfire_grace_time,
            **trigger_args,
        )
        self.stats.setdefault(spec.id, JobStats())

    def _skipped(self, event: JobEvent) -> None:
        self.stats.setdefault(event.job_id, JobStats()).skipped += 1

    def jobs(self) -> list[Job]:
        return list(self._aps.get_jobs())

    @property
    def running(self) -> bool:
        """Started and not shut down (whether paused or not)."""
        return bool(self._aps.state != STATE_STOPPED)

    def start(self) -> None:
        """Start paused: triggers are computed, nothing runs until :meth:`lead`. Once per instance
        (APScheduler's shutdown drops the in-memory jobs; build a new scheduler instead)."""
        if self._used:
            raise RuntimeError("a JobScheduler is started once; build a new one")
        self._used = True
        self._aps.start(paused=True)

    async def lead(self) -> None:
        self._aps.resume()

    async def follow(self) -> None:
        """Stop running jobs at once: another process may lead now."""
        self._aps.pause()
        await self._finish_running(grace=0.0)

    async def shutdown(self) -> None:
        if not self.running:
            return
        self._aps.pause()
        await self._finish_running(grace=self.stop_timeout)
        stopped = asyncio.Event()
        self._aps.add_listener(lambda _event: stopped.set(), EVENT_SCHEDULER_SHUTDOWN)
        # AsyncIOScheduler.shutdown is scheduled on the loop (call_soon_threadsafe): wait until it ran.
        self._aps.shutdown(wait=False)
        await stopped.wait()

    async def _finish_running(self, *, grace: float) -> None:
        """Give running jobs ``grace`` seconds, then cancel them and wait until they have ended."""
        tasks = set(self._running)
        if not tasks:
            return
        if grace > 0:
            _, pending = await asyncio.wait(tasks, timeout=grace)
        else:
            pending = tasks
        for task in pending:
            task.cancel()
        if pending:
            log.warning("cancelling %d running scheduled job(s)", len(pending))
            await asyncio.wait(pending)

    async def _run(self, spec: JobSpec) -> None:
        """Run one job: count it, log failures (a failed run does not stop the schedule)."""
        task = asyncio.current_task()
        assert task is not None
        task.set_name(JOB_TASK_PREFIX + spec.id)
        self._running.add(task)
        stats = self.stats.setdefault(spec.id, JobStats())
        stats.running += 1
        stats.last_started = time.time()
        try:
            result = await spec.func()
        except asyncio.CancelledError:
            # Our own cancellation (step-down or shutdown): end quietly, APScheduler need not log it.
            stats.cancelled += 1
            return
        except Exception as exc:
            stats.failures += 1
            stats.last_error = repr(exc)
            log.exception("scheduled job %s failed", spec.id)
            return
        finally:
            stats.running -= 1
            stats.last_finished = time.time()
            self._running.discard(task)
        stats.runs += 1
        log.debug("scheduled job %s done: %r", spec.id, result)


class SchedulerService:
    """A :class:`JobScheduler` driven by a :class:`LeaderElector`: what the service runs."""

    def __init__(self, scheduler: JobScheduler, elector: LeaderElector) -> None:
        self.scheduler = scheduler
        self.elector = elector

    @property
    def is_leader(self) -> bool:
        return self.elector.is_leader

    async def leader(self) -> str | None:
        """The process that leads now, ``<host>:<pid>`` (whichever process asks); ``None``: nobody/unknown."""
        return await self.elector.lock.holder()

    @classmethod
    def build(
        cls,
        jobs: Sequence[JobSpec],
        *,
        lock: LeaderLock,
        retry_interval: float,
        misfire_grace_time: int = 60,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> SchedulerService:
        scheduler = JobScheduler(jobs, misfire_grace_time=misfire_grace_time, stop_timeout=stop_timeout)
        elector = LeaderElector(
            lock, retry_interval=retry_interval, on_elected=scheduler.lead, on_lost=scheduler.follow
        )
        return cls(scheduler, elector)

    @classmethod
    def from_settings(cls, settings: Settings, jobs: Sequence[JobSpec]) -> SchedulerService:
        return cls.build(
            jobs,
            lock=leader_lock_for(settings),
            retry_interval=settings.scheduler_retry_interval,
            misfire_grace_time=settings.scheduler_misfire_grace,
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SchedulerService]:
        """Start paused, campaign for leadership in a task; on exit stop everything and release the lock."""
        stop = asyncio.Event()
        self.scheduler.start()
        task = asyncio.create_task(self.elector.run(stop), name=ELECTOR_TASK_NAME)
        try:
            yield self
        finally:
            stop.set()
            try:
                await task  # steps down (pauses, cancels running jobs) and releases the lock
            finally:
                await self.scheduler.shutdown()


@contextlib.asynccontextmanager
async def running_scheduler(settings: Settings, jobs: Sequence[JobSpec]) -> AsyncIterator[SchedulerService]:
    """The service's scheduler for ``jobs`` with the lock and intervals from ``settings``."""
    async with SchedulerService.from_settings(settings, jobs).running() as service:
        yield service
