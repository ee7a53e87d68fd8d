"""Every error is the JSON envelope; request ids are accepted or made, echoed, and logged."""

from __future__ import annotations

import json
import logging
import re

import pytest
from aiohttp import web

from api.app import create_app
from api.errors import NotFound, read_json
from api.logging import JsonFormatter
from api.openapi import RouteTable
from tests.api.conftest import serve

SECRET = "sk_live_do_not_leak"
test_routes = RouteTable(tag="test", public=True)


@test_routes.post("/test/echo", summary="echo a JSON object (read_json)")
async def echo(request: web.Request) -> web.Response:
    return web.json_response(await read_json(request))


@test_routes.post("/test/raw-json", summary="parse JSON the aiohttp way")
async def raw_json(request: web.Request) -> web.Response:
    return web.json_response(await request.json())


@test_routes.get("/test/boom", summary="raises an unexpected exception")
async def boom(request: web.Request) -> web.Response:
    raise RuntimeError(f"database password is {SECRET}")


@test_routes.get("/test/missing/{id}", summary="raises an ApiError")
async def missing(request: web.Request) -> web.Response:
    raise NotFound("no such thing", details={"id": request.match_info["id"]})


@test_routes.get("/test/bad", summary="raises an aiohttp HTTPException with its own text")
async def bad(request: web.Request) -> web.Response:
    raise web.HTTPBadRequest(text="limit must be positive")


@pytest.fixture
async def tclient(eth_runtime):
    async with serve(create_app(eth_runtime, extra_routes=[test_routes], background=False)) as c:
        yield c


def _envelope(body):
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


async def test_404_unknown_path(tclient):
    # under /api: other GET paths are the web console's (api.console: SPA fallback to index.html)
    resp = await tclient.get("/api/no/such/path")
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert _envelope(await resp.json())["code"] == "not_found"


async def test_405_names_allowed_methods(tclient):
    resp = await tclient.delete("/healthz")
    assert resp.status == 405
    err = _envelope(await resp.json())
    assert err["code"] == "method_not_allowed"
    assert err["details"]["allowed_methods"] == ["GET"]
    assert resp.headers["Allow"] == "GET"


@pytest.mark.parametrize("path", ["/test/echo", "/test/raw-json"])
async def test_bad_json_is_400(tclient, path):
    resp = await tclient.post(path, data=b'{"a": 1,,}', headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert _envelope(await resp.json())["code"] == "invalid_json"


async def test_good_json_round_trips(tclient):
    resp = await tclient.post("/test/echo", json={"amount": 10_000})
    assert resp.status == 200
    assert await resp.json() == {"amount": 10_000}


async def test_non_object_json_is_400(tclient):
    resp = await tclient.post("/test/echo", json=[1, 2])
    assert resp.status == 400
    assert _envelope(await resp.json())["code"] == "invalid_json"


async def test_api_error_carries_code_and_details(tclient):
    resp = await tclient.get("/test/missing/42")
    assert resp.status == 404
    err = _envelope(await resp.json())
    assert err == {"code": "not_found", "message": "no such thing", "details": {"id": "42"}}


async def test_http_exception_text_becomes_message(tclient):
    resp = await tclient.get("/test/bad")
    assert resp.status == 400
    err = _envelope(await resp.json())
    assert err["code"] == "bad_request"
    assert err["message"] == "limit must be positive"


async def test_500_is_internal_without_leaking_and_logged_with_request_id(tclient, caplog):
    caplog.set_level(logging.INFO)
    resp = await tclient.get("/test/boom", headers={"X-Request-ID": "req-500-check"})
    assert resp.status == 500
    text = await resp.text()
    assert SECRET not in text
    assert "Traceback" not in text
    err = _envelope(json.loads(text))
    assert err["code"] == "internal"
    assert err["details"] == {"request_id": "req-500-check"}
    assert resp.headers["X-Request-ID"] == "req-500-check"
    logged = [r for r in caplog.records if r.name == "api.errors"]
    assert len(logged) == 1
    assert logged[0].request_id == "req-500-check"  # type: ignore[attr-defined]
    assert logged[0].exc_info is not None


async def test_sane_request_id_is_echoed(client):
    resp = await client.get("/healthz", headers={"X-Request-ID": "abc-123.XYZ:7"})
    assert resp.headers["X-Request-ID"] == "abc-123.XYZ:7"


@pytest.mark.parametrize("incoming", [None, "has spaces", "x" * 200, 'quote"s'])
async def test_missing_or_insane_request_id_is_replaced(client, incoming):
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    resp = await client.get("/healthz", headers=headers)
    rid = resp.headers["X-Request-ID"]
    assert rid != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", rid)


async def test_one_access_log_line_per_request(client, caplog):
    caplog.set_level(logging.INFO, logger="api.access")
    resp = await client.get("/healthz?token=secret-in-query", headers={"X-Request-ID": "log-me"})
    assert resp.status == 200
    lines = [r for r in caplog.records if r.name == "api.access"]
    assert len(lines) == 1
    payload = json.loads(JsonFormatter().format(lines[0]))
    assert payload["method"] == "GET"
    assert payload["path"] == "/healthz"
    assert payload["status"] == 200
    assert payload["request_id"] == "log-me"
    assert isinstance(payload["duration_ms"], float)
    assert "secret-in-query" not in json.dumps(payload)


async def test_access_log_sees_converted_error_status(client, caplog):
    caplog.set_level(logging.INFO, logger="api.access")
    await client.get("/api/nothing-here")  # outside /api a GET is the console's
    (line,) = [r for r in caplog.records if r.name == "api.access"]
    assert line.status == 404  # type: ignore[attr-defined]
    assert line.route == "unmatched"  # type: ignore[attr-defined]
