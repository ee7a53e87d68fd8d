"""The web console served by the service (api.console) and the freshness of its committed build.

The build check runs the real build script (esbuild from node_modules) and the console's node unit tests
(BigInt money formatting). Without node the check skips locally and fails in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from api.auth.devissuer import DEV_AUDIENCE, DEV_ISSUER

REPO_ROOT = Path(__file__).resolve().parents[2]
DIST = REPO_ROOT / "console" / "dist"


def _asset(kind: str) -> str:
    index = (DIST / "index.html").read_text()
    m = re.search(rf'/assets/([A-Za-z0-9_-]+-[A-Z0-9]+\.{kind})"', index)
    assert m, f"index.html names no .{kind} asset"
    return m.group(1)


async def test_root_is_the_console_index(client) -> None:
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    assert resp.headers["Cache-Control"] == "no-cache"
    body = await resp.text()
    assert '<div id="app">' in body and _asset("js") in body


async def test_hashed_asset_is_served_with_a_long_cache(client) -> None:
    name = _asset("js")
    resp = await client.get(f"/assets/{name}")
    assert resp.status == 200
    assert "javascript" in resp.headers["Content-Type"]
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert await resp.read() == (DIST / "assets" / name).read_bytes()
    css = await client.get(f"/assets/{_asset('css')}")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")


async def test_assets_go_out_pre_compressed_to_a_gzip_client(client) -> None:
    name = _asset("js")
    resp = await client.get(f"/assets/{name}", headers={"Accept-Encoding": "gzip"})
    assert resp.status == 200 and resp.headers["Content-Encoding"] == "gzip"  # the committed .gz sibling
    assert int(resp.headers["Content-Length"]) == (DIST / "assets" / f"{name}.gz").stat().st_size
    assert "javascript" in resp.headers["Content-Type"]
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert await resp.read() == (DIST / "assets" / name).read_bytes()  # the client inflated it
    plain = await client.get(f"/assets/{name}", headers={"Accept-Encoding": "identity"})
    assert (
        "Content-Encoding" not in plain.headers
        and await plain.read() == (DIST / "assets" / name).read_bytes()
    )


async def test_unknown_page_falls_back_to_the_index(client) -> None:
    for path in ("/deployments/12", "/wallet", "/assets/app-NOPE.js"):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert '<div id="app">' in await resp.text()
        assert resp.headers["Cache-Control"] == "no-cache"


async def test_no_file_outside_the_build_is_served(client) -> None:
    resp = await client.get("/assets/..%2f..%2f..%2fpyproject.toml")
    assert resp.status == 200
    assert '<div id="app">' in await resp.text()


async def test_api_paths_keep_their_json_errors(client) -> None:
    resp = await client.get("/api/no-such-thing")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get("/api")
    assert resp.status == 404
    # a POST to a page path is not the console's
    resp = await client.post("/wallet", json={})
    assert resp.status in (404, 405)
    assert "error" in await resp.json()
    # a registered API route is untouched (GET on a POST-only route: 405, not the index)
    resp = await client.get("/api/auth/siwe/nonce")
    assert resp.status == 405


async def test_console_config_shape(client) -> None:
    resp = await client.get("/console-config.json")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-cache"
    cfg = await resp.json()
    assert set(cfg) == {"api_base", "auth", "stripe", "chain"}
    assert cfg["api_base"] == ""  # same origin
    origin = f"http://{client.host}:{client.port}"
    assert cfg["auth"] == {
        "domain": f"{origin}/api/auth/dev",
        "issuer": DEV_ISSUER,
        "client_id": "cloudmarket-console",
        "audience": DEV_AUDIENCE,
        "dev": True,
    }
    assert cfg["stripe"] == {"publishable_key": None, "js_url": "https://js.stripe.com/v3/"}
    chain = await (await client.get("/api/chain")).json()
    assert cfg["chain"] == {"chain_id": chain["chain_id"], "rpc_url": chain["rpc_url"]}


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is required in CI to check the console build")
        pytest.skip("node not installed")
    if not (REPO_ROOT / "node_modules" / "esbuild").is_dir():
        if os.environ.get("CI"):
            pytest.fail("node_modules/esbuild is missing in CI (run `npm ci`)")
        pytest.skip("node_modules not installed")
    return node


def test_committed_build_is_fresh_and_money_tests_pass() -> None:
    r = subprocess.run(
        [_node(), str(REPO_ROOT / "console" / "build.mjs"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "console/dist is fresh" in r.stdout
