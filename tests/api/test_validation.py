"""Request validation from declared schemas (api.validation), on test routes and the service's routes.

Invalid input never reaches a handler: the test routes count their calls, and for the identity routes every
identity table's row count (and the caller's settings) is unchanged after a batch of invalid requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from aiohttp import web
from sqlalchemy import func, select

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.openapi import RouteTable
from api.routes import identity
from api.validation import validated_body, validated_query
from engine.identity.models import NodeToken, SiweNonce, User, WalletLink
from engine.nodes.models import Node
from engine.runtime import Runtime
from tests.api.conftest import serve

ITEM = {
    "type": "object",
    "required": ["name", "count"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "count": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
        "weight": {"type": "number", "minimum": 0},
        "ids": {"type": "array", "items": {"type": ["integer", "null"]}},
    },
    "additionalProperties": False,
}

table = RouteTable(tag="test-validation", public=True)
calls: list[Any] = []
JSON = {"Content-Type": "application/json"}


@table.post("/test/items", summary="test: body", request=ITEM, response=ITEM)
async def post_item(request: web.Request) -> web.Response:
    body = validated_body(request)
    calls.append(body)
    return web.json_response(body)


@table.get(
    "/test/items",
    summary="test: query",
    query={
        "limit": {"type": "integer", "minimum": 1, "maximum": 50},
        "q": {"type": "string"},
        "flag": {"type": "boolean"},
    },
)
async def list_items(request: web.Request) -> web.Response:
    query = validated_query(request)
    calls.append(query)
    return web.json_response(query)


@pytest.fixture
async def client(eth_runtime: Runtime, tmp_path: Path) -> AsyncIterator[Any]:
    options = identity.IdentityOptions(env="dev", data_dir=tmp_path, chain_id=eth_runtime.chain.chain_id)
    app = create_app(eth_runtime, extra_routes=[table], background=False, identity_options=options)
    calls.clear()
    async with serve(app) as c:
        c.dev = DevIssuer(tmp_path)  # type: ignore[attr-defined]
        yield c


async def _error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    err = (await resp.json())["error"]
    assert err["code"] == code, err
    return err  # type: ignore[no-any-return]


async def test_valid_body_reaches_the_handler_parsed(client: Any) -> None:
    resp = await client.post("/test/items", json={"name": "a", "count": 2, "tags": ["x"]})
    assert resp.status == 200
    assert calls == [{"name": "a", "count": 2, "tags": ["x"]}]
    assert (
        await client.post(
            "/test/items",
            data=b'{"name":"b","count":0}',
            headers={"Content-Type": "application/merge-patch+json"},
        )
        is not None
    )
    assert calls[-1] == {"name": "b", "count": 0}


async def test_schema_violations_list_every_error_with_its_path(client: Any) -> None:
    resp = await client.post("/test/items", json={"name": "", "count": -1, "tags": ["ok", 7], "extra": True})
    err = await _error(resp, 400, "invalid_request")
    found = sorted((e["path"], e["code"]) for e in err["details"]["errors"])
    assert found == [
        ("", "additionalProperties"),
        ("/count", "minimum"),
        ("/name", "minLength"),
        ("/tags/1", "type"),
    ]
    assert all(set(e) == {"path", "code", "message"} for e in err["details"]["errors"])
    assert all(isinstance(e["message"], str) and e["message"] for e in err["details"]["errors"])
    missing = await _error(await client.post("/test/items", json={}), 400, "invalid_request")
    assert [(e["path"], e["code"]) for e in missing["details"]["errors"]] == [("", "required")] * 2
    for not_object in (b"[]", b'"x"', b"1", b"null"):
        resp = await client.post("/test/items", data=not_object, headers=JSON)
        await _error(resp, 400, "invalid_request")
    assert calls == []


async def test_bad_json_and_wrong_content_types(client: Any) -> None:
    bad = await client.post("/test/items", data=b'{"name": ', headers=JSON)
    err = await _error(bad, 400, "invalid_json")
    assert err["details"]["line"] == 1
    await _error(await client.post("/test/items", data=b"\xff\xfe", headers=JSON), 400, "invalid_json")
    await _error(await client.post("/test/items", data=b"", headers=JSON), 400, "invalid_json")
    form = await client.post("/test/items", data={"name": "a", "count": "1"})
    assert (await _error(form, 415, "unsupported_media_type"))["details"]["content_type"] == (
        "application/x-www-form-urlencoded"
    )
    text = await client.post(
        "/test/items", data=b'{"name":"a","count":1}', headers={"Content-Type": "text/plain"}
    )
    await _error(text, 415, "unsupported_media_type")
    assert calls == []


async def test_query_parameters_are_converted_and_validated(client: Any) -> None:
    ok = await client.get("/test/items", params={"limit": "7", "q": "abc", "flag": "true", "other": "x"})
    assert ok.status == 200
    assert calls == [{"limit": 7, "q": "abc", "flag": True}]
    assert await (await client.get("/test/items")).json() == {}
    for params, path, code in (
        ({"limit": "seven"}, "query/limit", "type"),
        ({"limit": "0"}, "query/limit", "minimum"),
        ({"limit": "51"}, "query/limit", "maximum"),
        ({"limit": "1.5"}, "query/limit", "type"),
        ({"flag": "yes"}, "query/flag", "type"),
        ([("limit", "1"), ("limit", "2")], "query/limit", "repeated"),
    ):
        err = await _error(await client.get("/test/items", params=params), 400, "invalid_request")
        assert [(e["path"], e["code"]) for e in err["details"]["errors"]] == [(path, code)], params
    assert len(calls) == 2


async def test_integer_fields_take_only_integer_literals_and_numbers_stay_numbers(client: Any) -> None:
    for raw, path in (
        (b'{"name": "a", "count": 2.0}', "/count"),
        (b'{"name": "a", "count": 2e0}', "/count"),
        (b'{"name": "a", "count": 1, "ids": [1, 2.0]}', "/ids/1"),
    ):
        err = await _error(await client.post("/test/items", data=raw, headers=JSON), 400, "invalid_request")
        assert [(e["path"], e["code"]) for e in err["details"]["errors"]] == [(path, "type")], raw
        assert "not an integer" in err["details"]["errors"][0]["message"]
    assert calls == []
    ok = await client.post(
        "/test/items", data=b'{"name": "a", "count": 2, "weight": 2.0, "ids": [1, null]}', headers=JSON
    )
    assert ok.status == 200, await ok.text()
    assert calls == [{"name": "a", "count": 2, "weight": 2.0, "ids": [1, None]}]


async def test_numbers_json_cannot_carry_are_invalid_json(client: Any) -> None:
    for raw in (
        b'{"name": "a", "count": NaN}',
        b'{"name": "a", "count": 1, "weight": Infinity}',
        b'{"name": "a", "count": 1, "weight": -Infinity}',
        b'{"name": "a", "count": 1, "weight": 1e999}',
        b'{"name": "a", "count": 1' + b"0" * 5_000 + b"}",
    ):
        await _error(await client.post("/test/items", data=raw, headers=JSON), 400, "invalid_json")
    assert calls == []


def test_a_malformed_schema_fails_at_install(eth_runtime: Runtime) -> None:
    broken = RouteTable(tag="broken")

    @broken.post("/test/broken", summary="broken", request={"type": 12})
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    with pytest.raises(jsonschema_rs.ValidationError):
        create_app(eth_runtime, extra_routes=[broken], background=False)


async def _counts(runtime: Runtime) -> dict[str, int]:
    out = {}
    async with runtime.sessionmaker() as session:
        for model in (User, WalletLink, SiweNonce, NodeToken, Node):
            out[model.__tablename__] = (
                await session.execute(select(func.count()).select_from(model))
            ).scalar_one()
    return out


async def test_invalid_input_to_identity_routes_writes_nothing(client: Any, eth_runtime: Runtime) -> None:
    h = {"Authorization": f"Bearer {client.dev.mint(['cloud-provider'], sub='dev|validation-writes')}"}
    assert (await client.put("/api/me/settings", json={"settings": {"keep": 1}}, headers=h)).status == 200
    node = await (await client.post("/api/cloud-provider/nodes", json={"name": "n"}, headers=h)).json()
    nonce = (await (await client.post("/api/auth/siwe/nonce")).json())["nonce"]
    before = await _counts(eth_runtime)

    invalid: list[tuple[str, str, Any]] = [
        ("PUT", "/api/me/settings", {"settings": {"keep": 2}, "extra": 1}),
        ("PUT", "/api/me/settings", {"settings": [1]}),
        ("PUT", "/api/me/settings", {}),
        ("POST", "/api/cloud-provider/nodes", {"name": "n2", "owner": 1}),
        ("POST", "/api/cloud-provider/nodes", {"name": "   "}),
        ("POST", "/api/cloud-provider/nodes", {"name": "x" * 101}),
        ("POST", "/api/auth/siwe/verify", {"message": f"nonce {nonce}", "signature": "0x00", "more": 1}),
        ("POST", "/api/auth/siwe/verify", {"message": "m", "signature": "not-hex"}),
        ("POST", "/api/auth/siwe/verify", {"message": "m" * 8193, "signature": "0x"}),
    ]
    for method, path, body in invalid:
        resp = await client.request(method, path, json=body, headers=h)
        await _error(resp, 400, "invalid_request")
    raw = await client.request("PUT", "/api/me/settings", data=b"settings=1", headers=h)
    await _error(raw, 415, "unsupported_media_type")

    assert await _counts(eth_runtime) == before
    assert await (await client.get("/api/me/settings", headers=h)).json() == {"settings": {"keep": 1}}
    nodes = await (await client.get("/api/cloud-provider/nodes", headers=h)).json()
    assert [n["id"] for n in nodes["nodes"]] == [node["id"]]
    async with eth_runtime.sessionmaker() as session:
        row = await session.get(SiweNonce, nonce)
        assert row is not None and row.used_at is None  # the invalid verify did not burn the nonce
