"""The role matrix: every registered route x every kind of caller gets exactly the expected status.

The table lives in :mod:`tests.api.role_matrix` (how to extend it is in its docstring). Routes are read
from the app's registry, so a route added without a matrix row fails here. A test-only node-agent route
(node tokens are accepted only on such routes, and the service has none yet) is added to the app and to
the table locally, to check node-token scoping.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.auth.middleware import require_node
from api.keys import ROUTE_SPECS, RUNTIME
from api.openapi import RouteTable
from api.routes import identity
from engine.runtime import Runtime
from tests.api.conftest import serve
from tests.api.payments.conftest import make_billing
from tests.api.role_matrix import (
    CALLERS,
    MATRIX,
    NODE,
    OTHER_PROVIDER,
    OTHER_USER,
    OWNERSHIP,
    PAY,
    PROVIDER,
    USER,
    USER_ROLES,
    Body,
    Call,
    Probe,
    Row,
    World,
    add_billing_objects,
    add_marketplace_objects,
    node_only,
)
from tests.support.stripe_server import StripeTestServer

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


async def make_world(client, dev: DevIssuer, stripe: StripeTestServer) -> World:  # type: ignore[no-untyped-def]
    world = World(client)
    world.headers = {"anonymous": {}}
    run = uuid.uuid4().hex[:8]  # fresh users per test: the runtime's database is shared by the session
    for r in USER_ROLES:
        world.headers[r] = bearer(dev.mint([r], sub=f"dev|matrix-{r}-{run}"))
    world.headers[OTHER_PROVIDER] = bearer(dev.mint([PROVIDER], sub=f"dev|matrix-other-provider-{run}"))
    world.headers[OTHER_USER] = bearer(dev.mint([USER], sub=f"dev|matrix-other-user-{run}"))

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
        "swap_id": 999_999,  # no relayed swap exists on eth-tester (no router): the allowed caller gets 404
    }
    await add_marketplace_objects(world, client.app[RUNTIME].sessionmaker)
    await add_billing_objects(world, stripe)
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
    async with StripeTestServer() as stripe:  # billing on, against the local Stripe wire server
        billing = make_billing(eth_runtime, stripe)
        app = create_app(
            eth_runtime, extra_routes=[agent], background=False, identity_options=options, billing=billing
        )
        try:
            async with serve(app) as client:
                yield app, await make_world(client, DevIssuer(tmp_path), stripe)
        finally:
            await billing.aclose()


async def _body(body: Body, world: World) -> object:
    return await body(world) if callable(body) else body


def _request_path(path: str, row: Row) -> str:
    """The row's own request path (a :class:`Call`), checked to be the same route as ``path``."""
    if not isinstance(row, Call):
        return path
    shape = re.compile(r"\{[^}]+\}")
    assert shape.sub("{}", row.path.partition("?")[0]) == shape.sub("{}", path), (row.path, path)
    return row.path


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
            status, text = await _call(world, method, _request_path(path, row), who, row.body)
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
    # the other user's cards, default and subscription are as they were
    other = world.headers[OTHER_USER]
    methods = await (await world.client.get(PAY + "/methods", headers=other)).json()
    assert {m["id"] for m in methods["methods"]} == {
        world.ids["other_pm_id"],
        world.ids["other_default_pm_id"],
    }
    assert methods["default"] == world.ids["other_default_pm_id"]
    subs = (await (await world.client.get(PAY + "/subscriptions", headers=other)).json())["subscriptions"]
    assert [(s["id"], s["cancel_at_period_end"]) for s in subs] == [(world.ids["other_sub_id"], False)]
    mine = await (await world.client.get(PAY + "/subscriptions", headers=world.headers[USER])).json()
    assert len(mine["subscriptions"]) == 1  # the probe's subscribe with another's card created none
