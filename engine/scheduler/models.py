"""``scheduler_job_runs``: the last run of every scheduled job, written by whichever process led when it
ran, so any process can answer ``GET /api/cloud-operator/jobs`` (see :mod:`engine.scheduler.runs`).

``scheduler_job_periods``: one row per (interval job, period) that ran, ``period = start // interval``
(interval triggers are aligned to the epoch, so every process computes the same periods). Inserting the
row is the run's claim: a second run of the same period (two leaders during a split brain, a new leader
catching up) finds it and does not run. Rows older than a day are pruned as runs go by."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base

OK = "ok"
FAILED = "failed"
CANCELLED = "cancelled"
RUNNING = "running"


class JobRun(Base):
    __tablename__ = "scheduler_job_runs"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    runner: Mapped[str] = mapped_column(String(200), nullable=False)  # "<host>:<pid>" of the leader
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # running | ok | failed | cancelled
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    runs: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class JobPeriod(Base):
    __tablename__ = "scheduler_job_periods"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # start // interval, microsecond-exact
    runner: Mapped[str] = mapped_column(String(200), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # running | ok | failed | cancelled
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
