"""Prometheus metrics (``prometheus-client``): what the process counts, and what ``GET /metrics`` reads.

One :class:`Metrics` per app (``app[METRICS]``), each with its own :class:`CollectorRegistry` (so tests that
build many apps in one process count apart). Series (labels in brackets):

* ``cloudmarket_http_request_duration_seconds`` histogram [``method``, ``route`` = the route template,
  never the path (``unmatched`` for 404/405), ``status`` = ``2xx`` .. ``5xx``]; a method outside the
  standard ones is ``other``. Long-polls and SSE streams are requests too (held on purpose).
* ``cloudmarket_longpolls_held`` gauge: node-agent polls that carry a cursor and a wait (the ones that
  may be held), from their start to their answer.
* ``cloudmarket_sse_streams_open`` gauge: server-sent event streams open now.
* ``cloudmarket_scheduler_leader`` gauge: 1 while this process leads the scheduler, else 0.
* ``cloudmarket_scheduler_job_runs_total`` counter [``job``, ``outcome`` = ``ok``/``failed``/
  ``cancelled``]; a period another process already ran is not a run.
* at scrape time: ``cloudmarket_outbox_transactions`` [``status``, the open ones: pending, signed,
  broadcast, mined], ``cloudmarket_outbox_depth`` (open rows), ``cloudmarket_outbox_oldest_age_seconds``
  (0 when none), ``cloudmarket_sender_nonce_lag`` (nonces signed but not mined yet),
  ``cloudmarket_indexer_lag_blocks`` (chain head minus the indexer's cursor),
  ``cloudmarket_chain_reachable`` (1 when the chain answered the scrape; the two lags are left out when
  it did not, or when the sender never signed / the indexer never ran).

The scrape-time gauges come from the database and the chain (:func:`engine.meta.commands.service_gauges`:
two queries and one JSON-RPC batch); they are the same whichever process answers, so they are rendered
from the snapshot by a throw-away collector and never written to the multi-process files.

**Several processes** (``serve --workers N`` under gunicorn): when ``PROMETHEUS_MULTIPROC_DIR`` is set
(before ``prometheus_client`` is first imported, i.e. in the environment of the gunicorn master), every
process writes its series to files in that directory and a scrape, whichever worker answers it, sums
them with :class:`~prometheus_client.multiprocess.MultiProcessCollector`. Gauges: held polls and SSE
streams are ``livesum`` (the total over live processes); the scheduler leader is ``liveall``: one series
per live process (label ``pid``), so the scrape shows WHICH process leads. The gunicorn master must call
:func:`child_exit` when a worker exits (``child_exit = api.metrics.child_exit`` in the gunicorn config),
which drops the dead worker's live gauges. The directory must be emptied before the master starts.

Hot path: :meth:`Metrics.observe` is one dict lookup (the labelled child is cached per method, route and
status) and one histogram observe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from engine.meta.models import ServiceGauges
from engine.scheduler import JobSpec, LeaderElector

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "child_exit", "multiprocess_dir"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. API answers are ms; long-polls and SSE streams (held for up to minutes) land in the top buckets.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


def multiprocess_dir() -> str | None:
    """The multi-process directory when the service runs several processes, else ``None``."""
    return os.environ.get(MULTIPROC_ENV) or None


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn ``child_exit`` hook (runs in the master): forget the dead worker's live gauges."""
    if multiprocess_dir() is not None:
        mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def status_class(status: int) -> str:
    return _STATUS_CLASS.get(status // 100, "other")


class _Collected:
    """A collector over fixed sources (a registry, the multi-process files, a snapshot's families)."""

    def __init__(self, sources: Sequence[Any], extra: Sequence[Metric]) -> None:
        self.sources = sources
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()
        yield from self.extra


class Metrics:
    """This process's series and their rendering (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.request_seconds = Histogram(
            "cloudmarket_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status class.",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.long_polls = Gauge(
            "cloudmarket_longpolls_held",
            "Node-agent workload polls waiting for a change (or their wait) now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.sse_streams = Gauge(
            "cloudmarket_sse_streams_open",
            "Server-sent event streams open now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.scheduler_leader = Gauge(
            "cloudmarket_scheduler_leader",
            "1 while this process leads the scheduler (runs the periodic jobs), else 0.",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.job_runs = Counter(
            "cloudmarket_scheduler_job_runs",
            "Scheduled job runs by job id and outcome (ok, failed, cancelled).",
            ("job", "outcome"),
            registry=r,
        )
        self.scheduler_leader.set(0)
        self._children: dict[tuple[str, str, int], Any] = {}

    # ---- hot path --------------------------------------------------------------------------------
    def observe(self, method: str, route: str, status: int, duration_ms: float) -> None:
        """One answered request (called once per request by the access-log middleware)."""
        key = (method, route, status)
        child = self._children.get(key)
        if child is None:
            shown = method if method in _METHODS else "other"  # a junk method must not grow the label set
            child = self._children[key] = self.request_seconds.labels(shown, route, status_class(status))
        child.observe(duration_ms / 1000.0)

    # ---- what other parts of the app report ------------------------------------------------------
    @contextlib.contextmanager
    def sse_stream(self) -> Iterator[None]:
        self.sse_streams.inc()
        try:
            yield
        finally:
            self.sse_streams.dec()

    @contextlib.contextmanager
    def long_poll(self) -> Iterator[None]:
        self.long_polls.inc()
        try:
            yield
        finally:
            self.long_polls.dec()

    def instrument_jobs(self, specs: Iterable[JobSpec]) -> list[JobSpec]:
        """``specs`` whose runs are counted by outcome (same ids and triggers). Wrap the specs BEFORE
        :func:`engine.scheduler.runs.recorded`, so a period another process already ran is not a run."""
        return [replace(spec, func=self._counted(spec.id, spec.func)) for spec in specs]

    def _counted(self, job: str, func: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
        ok, failed, cancelled = (self.job_runs.labels(job, o) for o in ("ok", "failed", "cancelled"))

        async def run() -> object:
            try:
                result = await func()
            except asyncio.CancelledError:
                cancelled.inc()
                raise
            except Exception:
                failed.inc()
                raise
            ok.inc()
            return result

        return run

    async def follow_leadership(self, elector: LeaderElector) -> None:
        """Keep ``cloudmarket_scheduler_leader`` equal to ``elector.is_leader`` (a task for the
        scheduler's life; it leaves 0 behind when cancelled)."""
        try:
            while True:
                leads = elector.is_leader
                self.scheduler_leader.set(1 if leads else 0)
                async with elector.changed:
                    while elector.is_leader == leads:
                        await elector.changed.wait()
        finally:
            self.scheduler_leader.set(0)

    # ---- scrape ----------------------------------------------------------------------------------
    def render(self, gauges: ServiceGauges | None = None) -> bytes:
        """The text exposition: this process's series (or every process's, in multi-process mode)
        followed by the scrape-time gauges."""
        extra = list(_snapshot_families(gauges)) if gauges is not None else []
        path = multiprocess_dir()
        if path is None:
            return generate_latest(_Collected([self.registry], extra))
        files = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(files, path=path)  # type: ignore[no-untyped-call]
        return generate_latest(_Collected([files], extra))


def _gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        family = GaugeMetricFamily(name, doc)
        family.add_metric([], value)
        yield family


def _snapshot_families(g: ServiceGauges) -> Iterator[Metric]:
    by_status = GaugeMetricFamily(
        "cloudmarket_outbox_transactions", "Open outbox rows by status.", labels=["status"]
    )
    for status, row in sorted(g.outbox.items()):
        by_status.add_metric([status], row.count)
    yield by_status
    yield from _gauge(
        "cloudmarket_outbox_depth",
        "Open outbox rows (not yet confirmed or failed).",
        sum(row.count for row in g.outbox.values()),
    )
    ages = [row.oldest_age_seconds for row in g.outbox.values() if row.oldest_age_seconds is not None]
    yield from _gauge(
        "cloudmarket_outbox_oldest_age_seconds",
        "Age of the oldest open outbox row (0: none).",
        max(ages, default=0.0),
    )
    yield from _gauge(
        "cloudmarket_chain_reachable", "1 when the chain answered this scrape.", 1 if g.chain_reachable else 0
    )
    yield from _gauge(
        "cloudmarket_sender_nonce_lag", "Nonces the outbox sender signed that are not mined yet.", g.nonce_lag
    )
    yield from _gauge(
        "cloudmarket_indexer_lag_blocks",
        "Chain head minus the last block the indexer stored.",
        g.indexer_lag_blocks,
    )
