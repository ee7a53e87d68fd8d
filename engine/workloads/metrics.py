"""Usage series per replica of a deployment (from ``usage_samples``), for ``GET .../metrics``.

Each sample carries the cumulative CPU time (ms) and RSS; ``cpu_millicores`` is derived between
consecutive samples of the same workload and lease (``1000 * delta_cpu_ms / delta_ms``, integer, floor;
0 when the counter went back, i.e. the process restarted). The window is bounded by the caller and by
retention (:mod:`engine.workloads.heartbeats`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.workloads import models as wm
from engine.workloads.heartbeats import _aware


async def usage_series(session: AsyncSession, deployment_id: int, *, since: datetime) -> list[dict[str, Any]]:
    samples = (
        await session.scalars(
            select(wm.UsageSample)
            .where(wm.UsageSample.deployment_id == deployment_id, wm.UsageSample.at >= since)
            .order_by(
                wm.UsageSample.workload_id, wm.UsageSample.node_id, wm.UsageSample.at, wm.UsageSample.id
            )
        )
    ).all()
    states = {
        (s.workload_id, s.node_id): s
        for s in (
            await session.scalars(
                select(wm.WorkloadState).where(wm.WorkloadState.deployment_id == deployment_id)
            )
        ).all()
    }
    series: dict[tuple[str, int], dict[str, Any]] = {}
    last: dict[tuple[str, int], wm.UsageSample] = {}
    for s in samples:
        key = (s.workload_id, s.node_id)
        entry = series.get(key)
        if entry is None:
            st = states.get(key)
            entry = series[key] = {
                "workload_id": s.workload_id,
                "replica": s.replica,
                "role": s.role,
                "node_id": s.node_id,
                "state": st.state if st is not None else None,
                "restarts": st.restarts if st is not None else 0,
                "samples": [],
            }
        prev = last.get(key)
        millicores = 0
        if prev is not None:
            dt_ms = int((_aware(s.at) - _aware(prev.at)).total_seconds() * 1000)
            d_cpu = s.cpu_ms - prev.cpu_ms
            if dt_ms > 0 and d_cpu > 0:
                millicores = d_cpu * 1000 // dt_ms
        last[key] = s
        entry["samples"].append(
            {
                "at": _aware(s.at).isoformat(),
                "cpu_seconds": s.cpu_ms / 1000,
                "cpu_millicores": millicores,
                "rss_bytes": s.rss_bytes,
            }
        )
    return list(series.values())
