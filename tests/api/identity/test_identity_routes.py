"""Identity routes over HTTP on a real runtime (eth-tester chain, SQLite / PostgreSQL).

The service app (identity routes are wired in ``create_app``) with test identity options and a test-only
node-agent route. Tokens come from the dev issuer (a key in a temp data dir).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from eth_account import Account
from eth_account.messages import encode_defunct

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.auth.middleware import require_node
from api.openapi import RouteTable
from api.routes import identity
from engine.identity.siwe_message import SiweMessage
from engine.runtime import Runtime
from tests.api.conftest import serve

node_agent = RouteTable(tag="test-node-agent")


@node_agent.get("/api/cloud-provider/nodes/{node_id}/test-agent", summary="test only: require_node")
async def agent_probe(request: web.Request) -> web.Response:
    node_id = int(request.match_info["node_id"])
    principal = await require_node(request, node_id)
    return web.json_response({"node_id": principal.node_id})


@pytest.fixture
async def env(eth_runtime: Runtime, tmp_path: Path) -> AsyncIterator[tuple[object, DevIssuer, Runtime]]:
    options = identity.IdentityOptions(
        env="dev",
        data_dir=tmp_path,
        chain_id=eth_runtime.chain.chain_id,
        dev_issuer=True,
        siwe_domain="app.test",
        siwe_uri="https://app.test",
    )
    app = create_app(eth_runtime, extra_routes=[node_agent], background=False, identity_options=options)
    async with serve(app) as client:
        yield client, DevIssuer(tmp_path), eth_runtime


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_session_creates_user_and_reports_roles(env) -> None:
    client, dev, _ = env
    tok = dev.mint(["cloud-user", "cloud-provider"], sub="dev|route-alice")
    r = await client.get("/api/auth/session", headers=bearer(tok))
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["sub"] == "dev|route-alice"
    assert body["roles"] == ["cloud-provider", "cloud-user"]
    r2 = await client.get("/api/auth/session", headers=bearer(dev.mint([], sub="dev|route-alice")))
    assert (await r2.json())["user_id"] == body["user_id"] and (await r2.json())["roles"] == []
    r3 = await client.get("/api/auth/session")
    assert r3.status == 401 and (await r3.json())["error"]["code"] == "unauthorized"


async def test_settings_roundtrip_and_validation(env) -> None:
    client, dev, _ = env
    h = bearer(dev.mint(["cloud-user"], sub="dev|route-settings"))
    r = await client.put("/api/me/settings", json={"settings": {"theme": "dark", "n": 3}}, headers=h)
    assert r.status == 200
    assert (await (await client.get("/api/me/settings", headers=h)).json()) == {
        "settings": {"theme": "dark", "n": 3}
    }
    bad = await client.put("/api/me/settings", json={"settings": [1]}, headers=h)
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_request"  # schema: object


async def test_siwe_wallet_sign_in_then_session_token(env) -> None:
    client, _, runtime = env
    acct = Account.create()
    n = await client.post("/api/auth/siwe/nonce")
    assert n.status == 201
    nonce = (await n.json())["nonce"]
    text = SiweMessage(
        domain="app.test",
        address=acct.address,
        uri="https://app.test/login",
        version="1",
        chain_id=runtime.chain.chain_id,
        nonce=nonce,
        issued_at="2020-01-01T00:00:00Z",
    ).to_text()
    sig = "0x" + acct.sign_message(encode_defunct(text=text)).signature.hex()
    r = await client.post("/api/auth/siwe/verify", json={"message": text, "signature": sig})
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["address"] == acct.address and body["linked"] is False
    s = await client.get("/api/auth/session", headers=bearer(body["session_token"]))
    sess = await s.json()
    assert sess["roles"] == ["cloud-user"] and sess["wallets"] == [acct.address]
    again = await client.post("/api/auth/siwe/verify", json={"message": text, "signature": sig})
    assert again.status == 401  # nonce used
    bad = await client.post("/api/auth/siwe/verify", json={"message": "hello", "signature": "0x00"})
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "siwe_malformed"


async def test_nodes_tokens_and_role_matrix(env) -> None:
    client, dev, _ = env
    prov = bearer(dev.mint(["cloud-provider"], sub="dev|route-prov"))
    user = bearer(dev.mint(["cloud-user"], sub="dev|route-user"))
    oper = bearer(dev.mint(["cloud-operator"], sub="dev|route-oper"))
    other_prov = bearer(dev.mint(["cloud-provider"], sub="dev|route-prov2"))
    r = await client.post("/api/cloud-provider/nodes", json={"name": "rack-1"}, headers=prov)
    assert r.status == 201
    node_id = (await r.json())["id"]
    t = await client.post(f"/api/cloud-provider/nodes/{node_id}/tokens", headers=prov)
    assert t.status == 201
    issued = await t.json()
    node = bearer(issued["token"])

    matrix = [
        ("GET", "/api/auth/session", {None: 401, "user": 200, "prov": 200, "oper": 200, "node": 403}),
        ("GET", "/api/me/settings", {None: 401, "user": 200, "prov": 200, "oper": 200, "node": 403}),
        ("GET", "/api/cloud-provider/nodes", {None: 401, "user": 403, "prov": 200, "oper": 403, "node": 403}),
        (
            "POST",
            f"/api/cloud-provider/nodes/{node_id}/tokens",
            {None: 401, "user": 403, "prov": 201, "oper": 403, "node": 403, "prov2": 404},
        ),
        (
            "GET",
            f"/api/cloud-provider/nodes/{node_id}/test-agent",
            {None: 401, "user": 403, "prov": 403, "oper": 403, "node": 200},
        ),
        ("GET", f"/api/cloud-provider/nodes/{node_id + 1000}/test-agent", {"node": 403}),
    ]
    who = {None: {}, "user": user, "prov": prov, "oper": oper, "node": node, "prov2": other_prov}
    for method, path, expected in matrix:
        for role, status in expected.items():
            resp = await client.request(method, path, headers=who[role])
            assert resp.status == status, (method, path, role, await resp.text())

    d = await client.delete(f"/api/cloud-provider/nodes/{node_id}/tokens/{issued['id']}", headers=prov)
    assert d.status == 200
    after = await client.get(f"/api/cloud-provider/nodes/{node_id}/test-agent", headers=node)
    assert after.status == 401


async def test_dev_jwks_served_and_bad_tokens_401(env, tmp_path_factory) -> None:
    client, dev, _ = env
    r = await client.get("/api/auth/dev/jwks.json")
    assert (await r.json()) == dev.jwks()
    other = DevIssuer(tmp_path_factory.mktemp("other-dev-issuer"))  # a key the service does not trust
    for token in ("garbage", other.mint(["cloud-user"]), "cmn_nope"):
        resp = await client.get("/api/auth/session", headers=bearer(token))
        assert resp.status == 401, token
