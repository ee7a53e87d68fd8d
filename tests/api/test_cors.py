"""CORS (api.cors): ``CLOUDMARKET_CORS_ORIGINS`` lists the browser origins that may call the API."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from api.app import create_app
from api.cors import CorsPolicy
from api.routes.identity import IdentityOptions
from engine.runtime import Runtime
from engine.settings import Settings, load_settings
from tests.api.conftest import serve
from tests.api.test_hostile_input import DEPLOYMENTS, app_client, bearer, envelope

APP = "https://app.example"
DEV = "http://localhost:5173"
EVIL = "https://evil.example"
ORIGINS = f"{APP}, {DEV}/"


def _preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


def _names(value: str) -> set[str]:
    return {v.strip().lower() for v in value.split(",") if v.strip()}


def test_cors_origins_setting() -> None:
    assert Settings().cors_origins == ""
    s = load_settings({"CLOUDMARKET_CORS_ORIGINS": ORIGINS})
    assert CorsPolicy.parse(s.cors_origins).origins == {APP, DEV}
    assert not CorsPolicy.parse("").enabled


async def test_preflight_from_a_listed_origin_is_allowed(eth_runtime: Runtime, tmp_path: Path) -> None:
    async with app_client(eth_runtime, tmp_path, cors_origins=ORIGINS) as client:
        for origin in (APP, DEV):
            resp = await client.options(DEPLOYMENTS, headers=_preflight(origin))
            assert resp.status == 204, await resp.text()
            h = resp.headers
            assert h["Access-Control-Allow-Origin"] == origin
            assert {"get", "post", "options"} <= _names(h["Access-Control-Allow-Methods"])
            assert {"authorization", "content-type", "last-event-id", "x-request-id"} <= _names(
                h["Access-Control-Allow-Headers"]
            )
            assert int(h["Access-Control-Max-Age"]) > 0
            assert "origin" in _names(h["Vary"])
            assert "Access-Control-Allow-Credentials" not in h


async def test_other_origins_get_no_allow_origin(eth_runtime: Runtime, tmp_path: Path) -> None:
    async with app_client(eth_runtime, tmp_path, cors_origins=ORIGINS) as client:
        pre = await client.options(DEPLOYMENTS, headers=_preflight(EVIL))
        await envelope(pre, 403, "cors_origin_not_allowed")
        assert "Access-Control-Allow-Origin" not in pre.headers
        for resp in (
            await client.get("/healthz", headers={"Origin": EVIL}),
            await client.get(DEPLOYMENTS, headers={"Origin": EVIL}),
            await client.get("/healthz", headers={"Origin": APP + ".evil.example"}),
        ):
            assert "Access-Control-Allow-Origin" not in resp.headers
            assert "origin" in _names(resp.headers["Vary"])
        # unknown path: the router's 404, not a preflight answer
        await envelope(await client.options("/no/such/path", headers=_preflight(APP)), 404, "not_found")


async def test_actual_responses_to_a_listed_origin_carry_allow_and_expose_headers(
    eth_runtime: Runtime, tmp_path: Path
) -> None:
    async with app_client(eth_runtime, tmp_path, cors_origins=ORIGINS) as client:
        user = bearer(client, "cloud-user", sub="dev|cors")
        for resp in (
            await client.get("/healthz", headers={"Origin": APP}),
            await client.get(DEPLOYMENTS, headers={"Origin": APP, **user}),
            await client.get(DEPLOYMENTS, headers={"Origin": APP}),  # errors too (401)
        ):
            assert resp.headers["Access-Control-Allow-Origin"] == APP
            assert {"x-request-id", "retry-after", "etag"} <= _names(
                resp.headers["Access-Control-Expose-Headers"]
            )
            assert "origin" in _names(resp.headers["Vary"])
        assert (await client.get(DEPLOYMENTS, headers={"Origin": APP})).status == 401


async def test_without_configured_origins_nothing_changes(eth_runtime: Runtime, tmp_path: Path) -> None:
    async with app_client(eth_runtime, tmp_path) as client:
        resp = await client.get("/healthz", headers={"Origin": APP})
        assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers
        pre = await client.options(DEPLOYMENTS, headers=_preflight(APP))
        assert pre.status == 405 and "Access-Control-Allow-Origin" not in pre.headers


def test_siwe_domain_and_uri_follow_the_first_listed_origin_unless_set() -> None:
    chain_id = 31337
    plain = IdentityOptions.from_settings(Settings(http_host="127.0.0.1", http_port=8080), chain_id)
    assert (plain.siwe_domain, plain.siwe_uri) == ("127.0.0.1:8080", "http://127.0.0.1:8080")
    front = IdentityOptions.from_settings(Settings(cors_origins=f" {APP}:8443/, {DEV}"), chain_id)
    assert (front.siwe_domain, front.siwe_uri) == ("app.example:8443", "https://app.example:8443")
    explicit = Settings(
        cors_origins=ORIGINS, siwe_domain="login.example", siwe_uri="https://login.example/in"
    )
    mine = IdentityOptions.from_settings(explicit, chain_id)
    assert (mine.siwe_domain, mine.siwe_uri) == ("login.example", "https://login.example/in")


async def test_siwe_nonces_name_the_frontend_origin(eth_runtime: Runtime) -> None:
    rt = dataclasses.replace(eth_runtime, settings=eth_runtime.settings.with_(cors_origins=ORIGINS))
    async with serve(create_app(rt, background=False)) as client:
        resp = await client.post("/api/auth/siwe/nonce", headers={"Origin": APP})
        assert resp.status == 201, await resp.text()
        nonce = await resp.json()
    assert (nonce["domain"], nonce["uri"]) == ("app.example", APP)
