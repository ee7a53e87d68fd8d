"""``GET /api/cloud-operator/jobs``: the running service's scheduler jobs with their last run (outcome,
duration, who ran it), next run and which process leads; a failing job shows its failure."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.routes import identity
from engine.runtime import Runtime
from engine.scheduler import JobSpec
from engine.scheduler.runs import recorded, this_process
from tests.api.conftest import serve

FAST = 0.1


async def _jobs(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    resp = await client.get("/api/cloud-operator/jobs", headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def test_jobs_show_last_run_next_run_and_the_leader(eth_runtime: Runtime, tmp_path: Path) -> None:
    settings = eth_runtime.settings.with_(
        scheduler_retry_interval=FAST, scheduler_notifications_interval=FAST
    )
    runtime = dataclasses.replace(eth_runtime, settings=settings)
    options = identity.IdentityOptions(env="dev", data_dir=tmp_path, chain_id=runtime.chain.chain_id)
    dev = DevIssuer(tmp_path)
    operator = {"Authorization": f"Bearer {dev.mint(['cloud-operator'], sub='dev|jobs-operator')}"}
    user = {"Authorization": f"Bearer {dev.mint(['cloud-user'], sub='dev|jobs-user')}"}
    async with serve(create_app(runtime, identity_options=options)) as client:
        assert (await client.get("/api/cloud-operator/jobs", headers=user)).status == 403
        async with asyncio.timeout(60):
            while True:
                view = await _jobs(client, operator)
                jobs = {j["id"]: j for j in view["jobs"]}
                deliver = jobs.get("notifications.deliver")
                if view["this_process_leads"] and deliver and deliver["runs"] >= 2:
                    break
                await asyncio.sleep(0.05)
    assert view["this_process"] == this_process() and view["leader"] == this_process()
    assert {"workloads.maintain", "deployments.funding", "notifications.deliver"} <= set(jobs)
    assert deliver["failures"] == 0
    last = deliver["last_run"]
    assert last["ran_by"] == this_process() and last["duration_ms"] is not None
    assert deliver["outcome"] in ("ok", "running")
    assert deliver["next_run"] is not None


async def test_a_failing_job_is_recorded_as_failed(eth_runtime: Runtime, tmp_path: Path) -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    async def fine() -> int:
        return 1

    now = [datetime(2026, 12, 6, tzinfo=UTC)]
    wrapped = recorded(
        [JobSpec("test.broken", broken, {"seconds": 60}), JobSpec("test.fine", fine, {"seconds": 30})],
        eth_runtime.sessionmaker,
        runner="elsewhere:1",
        clock=lambda: now[0],
    )
    for spec in wrapped:
        try:
            await spec.func()
        except RuntimeError:
            pass
    assert await wrapped[1].func() is None  # the same 30-second period again: claimed already, skipped
    now[0] += timedelta(seconds=30)
    assert await wrapped[1].func() == 1  # the next period runs; the result passes through
    options = identity.IdentityOptions(env="dev", data_dir=tmp_path, chain_id=eth_runtime.chain.chain_id)
    operator = {
        "Authorization": f"Bearer {DevIssuer(tmp_path).mint(['cloud-operator'], sub='dev|jobs-op-2')}"
    }
    async with serve(create_app(eth_runtime, background=False, identity_options=options)) as client:
        view = await _jobs(client, operator)
    jobs = {j["id"]: j for j in view["jobs"]}
    assert view["this_process_leads"] is False  # no scheduler in this app
    broken_job, fine_job = jobs["test.broken"], jobs["test.fine"]
    assert (broken_job["outcome"], broken_job["failures"]) == ("failed", 1)
    assert "boom" in broken_job["last_run"]["error"] and broken_job["last_run"]["ran_by"] == "elsewhere:1"
    assert (fine_job["outcome"], fine_job["runs"], fine_job["failures"]) == ("ok", 2, 0)
    assert fine_job["next_run"] is not None
