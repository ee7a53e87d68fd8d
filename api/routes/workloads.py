"""Server side of the node-agent protocol (the desired-state long-poll and the heartbeat), node tokens only.

The program that runs on provider nodes and calls these routes is :mod:`api.nodeagent`.

==================================================  =========================================
route                                               who
==================================================  =========================================
GET  /api/cloud-provider/nodes/{id}/workloads       the node's own token (``cmn_...``)
POST /api/cloud-provider/nodes/{id}/heartbeat       the node's own token
==================================================  =========================================

``GET .../workloads?wait=0..60&cursor=...`` answers at once without a cursor or when the cursor is stale;
with the current cursor it is held (one held poll per node: a newer poll answers the older at once) until
the desired state changes or ``wait`` seconds pass (``changed: false``, full list anyway). See
:mod:`engine.workloads.longpoll` and :mod:`engine.workloads.desired`.

``POST .../heartbeat`` records liveness, per-workload state and usage (:mod:`engine.workloads.heartbeats`),
then re-derives the health of the deployments it reported on (:mod:`engine.workloads.health`) and
publishes their status changes after the commit.
"""

from __future__ import annotations

from aiohttp import web

from api.access import NODE_ONLY
from api.auth.middleware import require_node
from api.keys import METRICS, RUNTIME
from api.openapi import RouteTable
from api.render import iso_utc
from api.validation import validated_body, validated_query
from engine.workloads.commands import node_desired_state, record_node_heartbeat
from engine.workloads.desired import DesiredState
from engine.workloads.longpoll import MAX_WAIT, NodePolls

routes = RouteTable(tag="node-agent", roles=NODE_ONLY)

NODE = r"/api/cloud-provider/nodes/{node_id:\d+}"
MAX_ID = 2**31 - 1
DEFAULT_WAIT = 30
POLLS = web.AppKey("node_polls", NodePolls)

_INT = {"type": "integer", "minimum": 0, "maximum": 2**62}
RESOURCES = {
    "type": "object",
    "required": ["cpu_millicores", "memory_mb", "disk_gb", "gpu_count"],
    "properties": {k: {"type": "integer"} for k in ("cpu_millicores", "memory_mb", "disk_gb", "gpu_count")},
}
WORKLOAD = {
    "type": "object",
    "required": [
        "workload_id",
        "deployment_id",
        "replica",
        "role",
        "lease_id",
        "chain_node_id",
        "spec_hash",
        "command",
        "image",
        "env",
        "ports",
        "resources",
        "restart_policy",
    ],
    "properties": {
        "workload_id": {"type": "string"},
        "deployment_id": {"type": "integer"},
        "replica": {"type": "integer"},
        "role": {"type": "string", "enum": ["primary", "backup"]},
        "lease_id": {"type": "string"},
        "chain_node_id": {"type": "integer"},
        "spec_hash": {"type": "string"},
        "command": {"type": ["array", "null"], "items": {"type": "string"}},
        "image": {"type": ["string", "null"]},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "ports": {"type": "array", "items": {"type": "integer"}},
        "resources": RESOURCES,
        "restart_policy": {"type": "string", "enum": ["always", "on-failure", "never"]},
    },
}
WORKLOADS_RESPONSE = {
    "type": "object",
    "required": ["node_id", "cursor", "changed", "workloads"],
    "properties": {
        "node_id": {"type": "integer"},
        "cursor": {"type": "string"},
        "changed": {"type": "boolean"},
        "workloads": {"type": "array", "items": WORKLOAD},
    },
}
HEARTBEAT_REQUEST = {
    "type": "object",
    "required": ["resources", "workloads", "agent"],
    "properties": {
        "resources": {
            "type": "object",
            "required": ["cpu_millicores_used", "memory_mb_used", "disk_gb_used"],
            "properties": {k: _INT for k in ("cpu_millicores_used", "memory_mb_used", "disk_gb_used")},
        },
        "workloads": {
            "type": "array",
            "maxItems": 1000,
            "items": {
                "type": "object",
                "required": ["workload_id", "lease_id", "state"],
                "properties": {
                    "workload_id": {"type": "string", "maxLength": 64},
                    "lease_id": {"type": "string", "pattern": "^[0-9]{1,78}$"},
                    "state": {
                        "type": "string",
                        "enum": ["starting", "running", "exited", "crashed", "stopped", "rejected"],
                    },
                    "restarts": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                    "cpu_seconds": {"type": "number", "minimum": 0, "maximum": 10**12},
                    "rss_bytes": _INT,
                    "exit_code": {"type": ["integer", "null"], "minimum": -(2**31), "maximum": 2**31 - 1},
                    "reason": {"type": ["string", "null"], "maxLength": 1000},
                },
            },
        },
        "agent": {
            "type": "object",
            "required": ["version"],
            "properties": {"version": {"type": "string", "maxLength": 64}},
        },
    },
}
HEARTBEAT_RESPONSE = {
    "type": "object",
    "required": ["ok", "server_time", "heartbeat_interval"],
    "properties": {
        "ok": {"type": "boolean"},
        "server_time": {"type": "string"},
        "heartbeat_interval": {"type": "integer"},
        "ignored": {"type": "array", "items": {"type": "string"}},
    },
}


def setup(app: web.Application) -> None:
    """The app's held polls (built on the runtime's hub at start-up, released at shutdown)."""

    async def _ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app[POLLS] = NodePolls(app[RUNTIME].hub)
        yield
        app[POLLS].release_all()

    async def _release(app: web.Application) -> None:
        if POLLS in app:
            app[POLLS].release_all()  # answer held polls before the server waits for handlers

    app.cleanup_ctx.append(_ctx)
    app.on_shutdown.append(_release)


async def _node_id(request: web.Request) -> int:
    raw = int(request.match_info["node_id"])
    node_id = raw if raw <= MAX_ID else -1  # no token is for an id beyond the column: 403 below
    await require_node(request, node_id)
    return node_id


def _state_json(state: DesiredState, changed: bool) -> dict[str, object]:
    return {
        "node_id": state.node_id,
        "cursor": state.cursor,
        "changed": changed,
        "workloads": state.workloads,
    }


@routes.get(
    NODE + "/workloads",
    summary="Node agent: the node's desired workloads (long-poll with wait and cursor)",
    query={
        "wait": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT},
        "cursor": {"type": "string", "maxLength": 128},
    },
    response=WORKLOADS_RESPONSE,
)
async def workloads(request: web.Request) -> web.Response:
    node_id = await _node_id(request)
    query = validated_query(request)
    wait = int(query.get("wait", DEFAULT_WAIT))
    cursor = query.get("cursor")
    ctx = request.app[RUNTIME].context

    async def read(nid: int) -> DesiredState:
        return await node_desired_state(ctx, nid)

    if cursor is None or wait <= 0:  # answered at once
        result = await request.app[POLLS].poll(node_id, cursor, wait, read)
    else:
        with request.app[METRICS].long_poll():  # may be held (cloudmarket_longpolls_held)
            result = await request.app[POLLS].poll(node_id, cursor, wait, read)
    return web.json_response(_state_json(result.state, result.changed))


@routes.post(
    NODE + "/heartbeat",
    summary="Node agent: liveness, per-workload state and usage",
    request=HEARTBEAT_REQUEST,
    response=HEARTBEAT_RESPONSE,
)
async def heartbeat(request: web.Request) -> web.Response:
    node_id = await _node_id(request)
    body = validated_body(request)
    recorded = await record_node_heartbeat(request.app[RUNTIME].context, node_id, body)
    result = recorded.result
    out: dict[str, object] = {
        "ok": True,
        "server_time": iso_utc(recorded.server_time),
        "heartbeat_interval": recorded.heartbeat_interval,
    }
    if result.ignored:
        out["ignored"] = list(result.ignored)
    return web.json_response(out)
