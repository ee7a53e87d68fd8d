"""The deployment status stream (SSE): replay after Last-Event-ID / ?after=, then live transitions through
the hub, owner only."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from engine.runtime import Runtime
from tests.api.workloads.support import make_deployment, make_node, open_lease
from tests.api.workloads.test_heartbeat import beat, report, send, user_headers


async def next_event(resp: Any) -> dict[str, Any]:
    """The next SSE event (keep-alive comments skipped)."""
    fields: dict[str, str] = {}
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), 30)).decode()
        assert line, "stream ended"
        line = line.rstrip("\n")
        if line == "":
            if fields:
                return {"id": int(fields["id"]), "event": fields["event"], "data": json.loads(fields["data"])}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(": ")
        fields[key] = value


async def test_replay_then_live_and_resume(agent_env: Any, eth_runtime: Runtime) -> None:
    client, dev = agent_env
    headers, user = await user_headers(client, dev, "dev|sse-owner")
    node = await make_node(eth_runtime)
    dep_id, _ = await make_deployment(eth_runtime, user, [node])
    lease = await open_lease(eth_runtime, dep_id, node)  # funding -> starting
    url = f"/api/cloud-user/deployments/{dep_id}/events"

    resp = await client.get(url, headers=headers, params={"max_seconds": 0})
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    created, started = await next_event(resp), await next_event(resp)
    assert (
        created["event"] == "status"
        and created["data"]["to"] == "funding"
        and created["data"]["from"] is None
    )
    assert started["data"] == {
        "from": "funding",
        "to": "starting",
        "reason": "every lease opened on chain",
        "at": started["data"]["at"],
    }
    assert started["id"] > created["id"]
    assert await resp.content.read() == b""  # replay only: the stream ended
    resp.close()

    # reconnect after the first event: the second is replayed, then a new transition arrives live
    live = await client.get(
        url, headers={**headers, "Last-Event-ID": str(created["id"])}, params={"max_seconds": 60}
    )
    assert live.status == 200
    assert (await next_event(live))["id"] == started["id"]
    await send(client, node, beat([report(dep_id, lease, "running")]))  # commit, then publish
    running = await next_event(live)
    assert running["data"]["from"] == "starting" and running["data"]["to"] == "running"
    assert running["id"] > started["id"]
    live.close()

    resumed = await client.get(url, headers=headers, params={"after": started["id"], "max_seconds": 0})
    assert [(await next_event(resumed))["id"]] == [running["id"]]
    resumed.close()


async def test_events_are_owner_only(agent_env: Any, eth_runtime: Runtime) -> None:
    client, dev = agent_env
    owner, user = await user_headers(client, dev, "dev|sse-owner-2")
    other, _ = await user_headers(client, dev, "dev|sse-other")
    node = await make_node(eth_runtime)
    dep_id, _ = await make_deployment(eth_runtime, user, [node])
    resp = await client.get(f"/api/cloud-user/deployments/{dep_id}/events?max_seconds=0", headers=other)
    assert resp.status == 404
    bad = await client.get(
        f"/api/cloud-user/deployments/{dep_id}/events", headers={**owner, "Last-Event-ID": "x"}
    )
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "bad_last_event_id"
