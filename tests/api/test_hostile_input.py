"""Hostile input through the real HTTP stack (issue 11, section 1): nothing an anonymous or signed-in caller
sends reaches a 5xx or takes the process down.

* body size: ``CLOUDMARKET_MAX_BODY_BYTES`` -> 413 envelope, from Content-Length and while reading chunks;
* nesting: more than 64 levels -> 400 ``too_deep`` before ``json.loads``; 100,000 levels do not crash;
* integers: ``1000.0`` and values above a schema maximum in money fields -> 400;
* path ids: 5,000 digits or a Unicode digit -> 404;
* authentication before validation: no or bad credentials -> 401 whatever the body;
* SIWE nonces are pruned after expiry.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.auth.middleware import AUTHENTICATOR, TokenAuthenticator
from api.auth.principal import Principal
from api.keys import ROUTE_SPECS
from api.limits import MAX_JSON_DEPTH, SANE_RECURSION_LIMIT, nesting_depth_exceeds
from api.openapi import RouteSpec
from api.routes import identity
from engine.identity.models import SiweNonce
from engine.money import MAX_CREDIT_UNITS
from engine.runtime import Runtime
from engine.settings import Settings, load_settings
from tests.api.conftest import serve

DEPLOYMENTS = "/api/cloud-user/deployments"
INTENTS = "/api/payments/create-intent"
JSON = {"Content-Type": "application/json"}
SPEC = {"image": "nginx:1", "cpu": 1, "memory_mb": 256}


@asynccontextmanager
async def app_client(
    runtime: Runtime, tmp_path: Path, **settings: Any
) -> AsyncIterator[TestClient[Any, Any]]:
    """A fresh app on the shared runtime's clients with ``settings`` changed; ``client.dev`` mints tokens."""
    rt = dataclasses.replace(runtime, settings=runtime.settings.with_(**settings))
    options = identity.IdentityOptions(
        env="dev", data_dir=tmp_path, chain_id=rt.chain.chain_id, dev_issuer=True
    )
    async with serve(create_app(rt, background=False, identity_options=options)) as client:
        client.dev = DevIssuer(tmp_path)  # type: ignore[attr-defined]
        yield client


def bearer(client: Any, *roles: str, sub: str = "dev|hostile") -> dict[str, str]:
    return {"Authorization": f"Bearer {client.dev.mint(list(roles), sub=sub)}"}


async def envelope(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, (resp.status, await resp.text())
    body = await resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


def nested(depth: int) -> bytes:
    """``{"spec": [[[...]]]}`` with ``depth`` levels in all."""
    return b'{"spec": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


# ---- 1. body size ---------------------------------------------------------------------------------


def test_max_body_bytes_setting_defaults_to_one_mebibyte_and_reads_the_environment() -> None:
    assert Settings().max_body_bytes == 1_048_576
    assert load_settings({"CLOUDMARKET_MAX_BODY_BYTES": "4096"}).max_body_bytes == 4096


async def test_a_body_over_max_body_bytes_is_413_from_content_length_and_while_reading_chunks(
    eth_runtime: Runtime, tmp_path: Path
) -> None:
    async with app_client(eth_runtime, tmp_path, max_body_bytes=2_000) as client:
        big = json.dumps({"spec": {"image": "x" * 3_000}}).encode()
        # declared length: refused before authentication or any handler (anonymous caller)
        err = await envelope(await client.post(DEPLOYMENTS, data=big, headers=JSON), 413, "payload_too_large")
        assert err["details"]["max_bytes"] == 2_000
        assert err["details"]["content_length"] == len(big)
        # public route too
        await envelope(
            await client.post("/api/auth/siwe/verify", data=big, headers=JSON), 413, "payload_too_large"
        )

        # chunked (no Content-Length): counted while reading
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(big), 500):
                yield big[i : i + 500]

        user = bearer(client, "cloud-user")
        resp = await client.post(DEPLOYMENTS, data=chunks(), headers={**JSON, **user})
        assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
        await envelope(resp, 413, "payload_too_large")
        # under the limit the same route answers as usual (the body is read and validated)
        small = json.dumps({"spec": SPEC, "bogus": 1}).encode()
        await envelope(
            await client.post(DEPLOYMENTS, data=small, headers={**JSON, **user}), 400, "invalid_request"
        )
        assert (await client.get("/healthz")).status == 200


# ---- 2. nesting depth --------------------------------------------------------------------------------


def test_nesting_scan_counts_brackets_outside_strings_only() -> None:
    assert not nesting_depth_exceeds('{"a": "' + "[" * 1000 + '"}')
    assert not nesting_depth_exceeds('{"a": "\\"' + "[" * 1000 + '"}')
    assert nesting_depth_exceeds('{"a": "\\\\"' + "[" * 1000)  # the string closed before the brackets
    assert not nesting_depth_exceeds("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert nesting_depth_exceeds("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    assert nesting_depth_exceeds("[{" * 40)  # unbalanced counts as deep as it goes
    assert not nesting_depth_exceeds("[]" * 100_000)


async def test_deep_nesting_is_400_too_deep_before_parsing_and_the_process_survives(
    eth_runtime: Runtime, tmp_path: Path
) -> None:
    async with app_client(eth_runtime, tmp_path) as client:
        user = bearer(client, "cloud-user")
        bomb = nested(100_000)  # ~200 KB: segfaulted json.loads under py_ecc's recursion limit
        assert 190_000 < len(bomb) < 210_000
        for path in (DEPLOYMENTS, INTENTS):
            err = await envelope(
                await client.post(path, data=bomb, headers={**JSON, **user}), 400, "too_deep"
            )
            assert err["details"]["max_depth"] == MAX_JSON_DEPTH
        # 500 levels: jsonschema-rs used to answer 500 "Recursion limit reached"
        await envelope(
            await client.post(DEPLOYMENTS, data=nested(500), headers={**JSON, **user}), 400, "too_deep"
        )
        # an unclosed bomb is just as deep
        await envelope(
            await client.post(DEPLOYMENTS, data=b"[" * 100_000, headers={**JSON, **user}), 400, "too_deep"
        )
        # 64 levels are parsed (and then refused by the schema: spec must be an object)
        await envelope(
            await client.post(DEPLOYMENTS, data=nested(MAX_JSON_DEPTH), headers={**JSON, **user}),
            400,
            "invalid_request",
        )
        assert (await client.get("/healthz")).status == 200
    assert sys.getrecursionlimit() <= SANE_RECURSION_LIMIT


def test_the_recursion_limit_is_sane_after_the_app_is_built() -> None:
    """py_ecc raises the limit to 100,000 at import, where ``json.loads`` of 100,000 levels overflows the C
    stack (a segfault); after ``create_app``'s reset it raises RecursionError. In a child process, so a
    regression kills the child, not the test run."""
    code = textwrap.dedent(
        """
        import json, sys
        import api.app  # imports py_ecc
        from api.limits import restore_recursion_limit
        assert sys.getrecursionlimit() >= 100_000, sys.getrecursionlimit()
        restore_recursion_limit()
        try:
            json.loads("[" * 100_000 + "]" * 100_000)
        except RecursionError:
            print("refused")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.strip() == "refused"


# ---- 3. integers in money fields -------------------------------------------------------------------


async def test_money_fields_take_json_integers_within_the_column_range(
    eth_runtime: Runtime, tmp_path: Path
) -> None:
    async with app_client(eth_runtime, tmp_path) as client:
        user = bearer(client, "cloud-user")
        for value in (1000.0, 1e3, 2**96 - 1, MAX_CREDIT_UNITS + 1, 10**400, 1.5):
            raw = json.dumps({"spec": SPEC, "deposit_per_replica": value}).encode()
            resp = await client.post(DEPLOYMENTS, data=raw, headers={**JSON, **user})
            err = await envelope(resp, 400, "invalid_request")
            assert [e["path"] for e in err["details"]["errors"]] == ["/deposit_per_replica"], (value, err)
        for raw in (
            b'{"amount_cents": 1000.0}',
            b'{"amount_cents": 1' + b"0" * 5_000 + b"}",  # past CPython's int conversion limit
            b'{"amount_cents": 1e999}',
            b'{"amount_cents": NaN}',
        ):
            resp = await client.post(INTENTS, data=raw, headers={**JSON, **user})
            assert resp.status == 400, (raw[:40], resp.status, await resp.text())


# ---- 4. path ids -----------------------------------------------------------------------------------


async def test_junk_path_ids_are_404_not_500(eth_runtime: Runtime, tmp_path: Path) -> None:
    async with app_client(eth_runtime, tmp_path) as client:
        user = bearer(client, "cloud-user")
        for path in (
            f"{DEPLOYMENTS}/{'9' * 5000}",
            f"{DEPLOYMENTS}/%C2%B3",
            f"{DEPLOYMENTS}/{'9' * 19}",
            f"{DEPLOYMENTS}/99999999999",
            "/api/payments/receipts/%C2%B3",
            f"/api/payments/receipts/{'9' * 5000}",
        ):
            await envelope(await client.get(path, headers=user), 404, "not_found")


# ---- 5. authentication before validation ------------------------------------------------------------


async def test_protected_routes_answer_401_before_looking_at_the_body(
    eth_runtime: Runtime, tmp_path: Path
) -> None:
    async with app_client(eth_runtime, tmp_path) as client:
        specs: list[RouteSpec] = client.app[ROUTE_SPECS]
        protected = [s for s in specs if not s.public]
        with_body = [s for s in protected if s.request is not None]
        assert any(s.path == DEPLOYMENTS and s.method == "POST" for s in with_body)
        bad_token = {"Authorization": "Bearer not.a.jwt"}
        for spec in protected:
            path = "/".join("1" if seg.startswith("{") else seg for seg in spec.openapi_path.split("/"))
            for headers in ({}, bad_token):
                for data in (b'{"bogus": ', nested(100_000), b'{"unknown": 1}'):
                    resp = await client.request(spec.method, path, data=data, headers={**JSON, **headers})
                    await envelope(resp, 401, "unauthorized")
        # public routes still validate for anonymous callers
        await envelope(
            await client.post("/api/auth/siwe/verify", json={"message": "m"}), 400, "invalid_request"
        )


class CountingAuthenticator:
    """The app's real authenticator, counting how often a token is resolved."""

    def __init__(self, inner: TokenAuthenticator) -> None:
        self.inner = inner
        self.calls = 0

    async def authenticate(self, token: str) -> Principal:
        self.calls += 1
        return await self.inner.authenticate(token)


async def test_the_caller_is_resolved_once_per_request(eth_runtime: Runtime, tmp_path: Path) -> None:
    options = identity.IdentityOptions(env="dev", data_dir=tmp_path, chain_id=eth_runtime.chain.chain_id)
    app = create_app(eth_runtime, background=False, identity_options=options)
    counting = app[AUTHENTICATOR] = CountingAuthenticator(app[AUTHENTICATOR])
    user = {"Authorization": f"Bearer {DevIssuer(tmp_path).mint(['cloud-user'], sub='dev|once')}"}
    async with serve(app) as client:
        assert (await client.get(DEPLOYMENTS, headers=user)).status == 200
        assert counting.calls == 1  # the guard resolved it; require_role used the cached principal
        await envelope(
            await client.post(DEPLOYMENTS, json={"bogus": 1}, headers=user), 400, "invalid_request"
        )
        assert counting.calls == 2


def test_the_public_routes_are_the_few_that_need_no_credentials(eth_runtime: Runtime) -> None:
    app = create_app(eth_runtime, background=False)
    public = {(s.method, s.openapi_path) for s in app[ROUTE_SPECS] if s.public}
    assert public <= {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/api/chain"),
        ("GET", "/api/catalog"),
        ("GET", "/api/staking/tiers"),  # the public tier table (rate-limited per client like the others)
        ("POST", "/api/auth/siwe/nonce"),
        ("POST", "/api/auth/siwe/verify"),
        ("GET", "/api/auth/dev/jwks.json"),
        ("POST", "/api/payments/webhook"),
    }, public
    assert ("POST", "/api/auth/siwe/nonce") in public and ("POST", "/api/payments/webhook") in public


# ---- 7. SIWE nonces are pruned ----------------------------------------------------------------------


async def test_expired_siwe_nonces_are_pruned_when_a_nonce_is_issued(
    eth_runtime: Runtime, tmp_path: Path
) -> None:
    now = int(time.time())
    ttl = 600
    async with eth_runtime.sessionmaker() as session:
        session.add_all(
            [
                SiweNonce(nonce="prune-me-old", issued_at=now - 5 * ttl, expires_at=now - 4 * ttl),
                SiweNonce(
                    nonce="prune-me-used", issued_at=now - 5 * ttl, expires_at=now - 4 * ttl, used_at=now
                ),
                SiweNonce(nonce="keep-me-recent", issued_at=now - ttl - 5, expires_at=now - 5),
            ]
        )
        await session.commit()
    async with app_client(eth_runtime, tmp_path) as client:
        resp = await client.post("/api/auth/siwe/nonce")
        assert resp.status == 201, await resp.text()
        fresh = (await resp.json())["nonce"]
    async with eth_runtime.sessionmaker() as session:
        left = set((await session.execute(select(SiweNonce.nonce))).scalars())
    assert "prune-me-old" not in left and "prune-me-used" not in left
    assert {"keep-me-recent", fresh} <= left
