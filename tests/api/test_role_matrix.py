"""The role matrix: every registered route x every kind of caller gets exactly the expected status.

The table lives in :mod:`tests.api.role_matrix` (how to extend it is in its docstring). Routes are read
from the app's registry, so a route added without a matrix row fails here. A test-only node-agent route
(node tokens are accepted only on such routes, and the service has none yet) is added to the app and to
the table locally, to check node-token scoping.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.auth.middleware import require_node
from api.keys import ROUTE_SPECS
from api.openapi import RouteTable
from api.routes import identity
from engine.runtime import Runtime
from tests.api.conftest import serve
from tests.api.role_matrix import (
    CALLERS,
    MATRIX,
    NODE,
    OTHER_PROVIDER,
    OWNERSHIP,
    PROVIDER,
    USER_ROLES,
    Body,
    Probe,
    Row,
    World,
    node_only,
)

agent = RouteTable(tag="test-node-agent")
AGENT_PATH = "/api/cloud-provider/nodes/{node_id}/matrix-agent"


@agent.post(AGENT_PATH, summary="test only: a node-agent route")
async def matrix_agent(request: web.Request) -> web.Response:
    principal = await require_node(request, int(request.match_info["node_id"]))
    return web.json_response({"node_id": principal.node_id})


LOCAL_MATRIX: dict[tuple[str, str], Row] = {("POST", AGENT_PATH): Row(node_only())}
LOCAL_OWNERSHIP = [
    Probe(
        "a node token cannot act for another node",
        "POST",
        "/api/cloud-provider/nodes/{other_node_id}/matrix-agent",
        NODE,
        403,
    ),
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_world(client, dev: DevIssuer) -> World:  # type: ignore[no-untyped-def]
    world = World(client)
    world.headers = {"anonymous": {}}
    run = uuid.uuid4().hex[:8]  # fresh users per test: the runtime's database is shared by the session
    for r in USER_ROLES:
        world.headers[r] = bearer(dev.mint([r], sub=f"dev|matrix-{r}-{run}"))
    world.headers[OTHER_PROVIDER] = bearer(dev.mint([PROVIDER], sub=f"dev|matrix-other-provider-{run}"))

    async def post(path: str, who: str, **kw: object) -> dict:  # type: ignore[type-arg]
        resp = await client.post(path, headers=world.headers[who], **kw)
        assert resp.status == 201, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]

    node = await post("/api/cloud-provider/nodes", PROVIDER, json={"name": "matrix-own"})
    other = await post("/api/cloud-provider/nodes", OTHER_PROVIDER, json={"name": "matrix-other"})
    node_token = await post(f"/api/cloud-provider/nodes/{node['id']}/tokens", PROVIDER)
    revocable = await post(f"/api/cloud-provider/nodes/{node['id']}/tokens", PROVIDER)
    spare = await post(f"/api/cloud-provider/nodes/{node['id']}/tokens", PROVIDER)
    world.headers[NODE] = bearer(node_token["token"])
    world.ids = {
        "node_id": node["id"],
        "other_node_id": other["id"],
        "token_id": revocable["id"],
        "spare_token_id": spare["id"],
    }
    return world


@pytest.fixture
async def matrix_env(eth_runtime: Runtime, tmp_path: Path) -> AsyncIterator[tuple[object, World]]:
    options = identity.IdentityOptions(
        env="dev",
        data_dir=tmp_path,
        chain_id=eth_runtime.chain.chain_id,
        dev_issuer=True,
        siwe_domain="matrix.test",
        siwe_uri="https://matrix.test",
    )
    app = create_app(eth_runtime, extra_routes=[agent], background=False, identity_options=options)
    async with serve(app) as client:
        yield app, await make_world(client, DevIssuer(tmp_path))


async def _body(body: Body, world: World) -> object:
    return await body(world) if callable(body) else body


async def _call(world: World, method: str, path: str, who: str, body: Body) -> tuple[int, str]:
    kw = {} if body is None else {"json": await _body(body, world)}
    resp = await world.client.request(method, path.format(**world.ids), headers=world.headers[who], **kw)
    return resp.status, await resp.text()


async def test_every_route_for_every_caller(matrix_env) -> None:  # type: ignore[no-untyped-def]
    app, world = matrix_env
    table = MATRIX | LOCAL_MATRIX
    registered = {(s.method, s.openapi_path) for s in app[ROUTE_SPECS]}
    assert registered - set(table) == set(), "routes without a role-matrix row (tests/api/role_matrix.py)"
    assert set(table) - registered == set(), "role-matrix rows for routes that do not exist"

    wrong: list[str] = []
    for (method, path), row in sorted(table.items()):
        assert set(row.expect) == set(CALLERS), (method, path)
        for who in CALLERS:
            status, text = await _call(world, method, path, who, row.body)
            if status != row.expect[who]:
                wrong.append(f"{method} {path} as {who}: {status} != {row.expect[who]}: {text[:200]}")
    assert not wrong, "\n".join(wrong)


async def test_nobody_acts_on_anothers_objects(matrix_env) -> None:  # type: ignore[no-untyped-def]
    _, world = matrix_env
    wrong: list[str] = []
    for probe in (*OWNERSHIP, *LOCAL_OWNERSHIP):
        status, text = await _call(world, probe.method, probe.path, probe.caller, probe.body)
        if status != probe.status:
            wrong.append(f"{probe.why}: {probe.method} {probe.path} -> {status}: {text[:200]}")
    assert not wrong, "\n".join(wrong)
    # the probes changed nothing: the node token still works, the other provider sees only their node
    resp = await world.client.get("/api/cloud-provider/nodes", headers=world.headers[OTHER_PROVIDER])
    names = [n["name"] for n in (await resp.json())["nodes"]]
    assert names == ["matrix-other"]
    status, _ = await _call(world, "POST", AGENT_PATH, NODE, None)
    assert status == 200
