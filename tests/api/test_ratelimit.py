"""Rate limits (api.ratelimit): public endpoints per client IP, expensive ones per caller; 429 with
Retry-After in the error envelope; X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from api.ratelimit import TokenBuckets, parse_networks
from engine.runtime import Runtime
from engine.settings import Settings, load_settings
from tests.api.test_hostile_input import DEPLOYMENTS, JSON, app_client, bearer, envelope

NONCE = "/api/auth/siwe/nonce"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_minutes_burst_then_one_request_per_interval() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(per_minute=6, clock=clock)  # one token every 10 s
    assert [buckets.take("a") for _ in range(6)] == [0] * 6
    assert buckets.take("a") == 10
    assert buckets.take("b") == 0  # keys are independent
    clock.now += 4
    assert buckets.take("a") == 6
    clock.now += 6
    assert buckets.take("a") == 0
    assert buckets.take("a") == 10
    clock.now += 3600  # refills up to one minute's allowance, no more
    assert [buckets.take("a") for _ in range(7)] == [0] * 6 + [10]
    assert TokenBuckets(per_minute=0, clock=clock).take("a") == 0  # 0: switched off


def test_limits_are_settings() -> None:
    assert Settings().rate_limit_public_per_minute > 0 and Settings().rate_limit_expensive_per_minute > 0
    s = load_settings(
        {
            "CLOUDMARKET_RATE_LIMIT_PUBLIC_PER_MINUTE": "7",
            "CLOUDMARKET_RATE_LIMIT_EXPENSIVE_PER_MINUTE": "3",
            "CLOUDMARKET_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16",
        }
    )
    assert (s.rate_limit_public_per_minute, s.rate_limit_expensive_per_minute) == (7, 3)
    assert parse_networks(s.trusted_proxies) == (
        ipaddress.ip_network("10.0.0.1/32"),
        ipaddress.ip_network("192.168.0.0/16"),
    )


async def _over_public_limit(client: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    resp = await client.post(NONCE, headers=headers or {})
    err = await envelope(resp, 429, "rate_limited")
    retry = int(resp.headers["Retry-After"])
    assert 1 <= retry <= 60 and err["details"]["retry_after"] == retry
    assert err["details"]["scope"] == "public"
    return err


async def test_public_endpoints_are_limited_per_client_ip(eth_runtime: Runtime, tmp_path: Path) -> None:
    async with app_client(eth_runtime, tmp_path, rate_limit_public_per_minute=3) as client:
        for _ in range(3):
            assert (await client.post(NONCE)).status == 201
        await _over_public_limit(client)
        # the same IP on the other public endpoints shares the bucket; unlimited public routes do not
        await envelope(await client.post("/api/auth/siwe/verify", json={}), 429, "rate_limited")
        await envelope(await client.get("/api/auth/dev/jwks.json"), 429, "rate_limited")
        assert (await client.get("/healthz")).status == 200
        # without trusted proxies a forged X-Forwarded-For changes nothing
        await _over_public_limit(client, {"X-Forwarded-For": "203.0.113.9"})


async def test_x_forwarded_for_counts_only_behind_a_trusted_proxy(
    eth_runtime: Runtime, tmp_path: Path
) -> None:
    async with app_client(
        eth_runtime, tmp_path, rate_limit_public_per_minute=2, trusted_proxies="127.0.0.1, ::1"
    ) as client:
        a = {"X-Forwarded-For": "203.0.113.9"}
        b = {"X-Forwarded-For": "198.51.100.7, 127.0.0.1"}  # right-most untrusted hop is the client
        for _ in range(2):
            assert (await client.post(NONCE, headers=a)).status == 201
        await _over_public_limit(client, a)
        for _ in range(2):
            assert (await client.post(NONCE, headers=b)).status == 201
        await _over_public_limit(client, b)
        # a client cannot dodge by prepending addresses: the right-most untrusted one is used
        await _over_public_limit(client, {"X-Forwarded-For": "192.0.2.1, 203.0.113.9"})


async def test_expensive_routes_are_limited_per_caller_after_authentication(
    eth_runtime: Runtime, tmp_path: Path
) -> None:
    async with app_client(eth_runtime, tmp_path, rate_limit_expensive_per_minute=2) as client:
        alice = bearer(client, "cloud-user", sub="dev|rate-alice")
        bob = bearer(client, "cloud-user", sub="dev|rate-bob")
        bad = {"spec": {}, "bogus": 1}
        for _ in range(2):
            await envelope(
                await client.post(DEPLOYMENTS, json=bad, headers={**JSON, **alice}), 400, "invalid_request"
            )
        resp = await client.post(DEPLOYMENTS, json=bad, headers=alice)
        err = await envelope(resp, 429, "rate_limited")
        assert err["details"]["scope"] == "expensive" and int(resp.headers["Retry-After"]) >= 1
        # the create-intent route is limited too (same caller bucket)
        await envelope(
            await client.post("/api/payments/create-intent", json={"amount_cents": 900}, headers=alice),
            429,
            "rate_limited",
        )
        # another user has their own allowance; anonymous callers are 401, never counted
        await envelope(await client.post(DEPLOYMENTS, json=bad, headers=bob), 400, "invalid_request")
        for _ in range(3):
            await envelope(await client.post(DEPLOYMENTS, json=bad), 401, "unauthorized")
        # cheap routes are not limited
        for _ in range(3):
            assert (await client.get(DEPLOYMENTS, headers=alice)).status == 200
