"""Periodic jobs, run by exactly one process (the leader).

* :mod:`~engine.scheduler.jobs` — the registry: :class:`JobSpec` (deterministic id, async callable,
  trigger kwargs) and :func:`build_jobs` from :class:`JobDeps`.
* :mod:`~engine.scheduler.leader` — leader election: PostgreSQL advisory lock on a dedicated connection,
  or a ``flock`` in the data dir for SQLite; :class:`LeaderElector` follows/leads; :func:`is_leader` and
  :func:`on_leadership_change` tell the rest of the process (metrics) whether it leads.
* :mod:`~engine.scheduler.scheduler` — APScheduler (``AsyncIOScheduler``) gated by leadership, and its
  lifecycle (:func:`running_scheduler`).
"""

from engine.scheduler.jobs import JobDeps, JobFunc, JobSpec, build_jobs
from engine.scheduler.leader import (
    SCHEDULER_LOCK_KEY,
    FileLeaderLock,
    LeaderElector,
    LeaderLock,
    PgAdvisoryLock,
    is_leader,
    leader_lock_for,
    on_leadership_change,
    this_process,
)
from engine.scheduler.scheduler import JobScheduler, JobStats, SchedulerService, running_scheduler

__all__ = [
    "SCHEDULER_LOCK_KEY",
    "FileLeaderLock",
    "JobDeps",
    "JobFunc",
    "JobScheduler",
    "JobSpec",
    "JobStats",
    "LeaderElector",
    "LeaderLock",
    "PgAdvisoryLock",
    "SchedulerService",
    "build_jobs",
    "is_leader",
    "leader_lock_for",
    "on_leadership_change",
    "running_scheduler",
    "this_process",
]
