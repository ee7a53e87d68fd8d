"""Rate limits: token buckets per client IP (public endpoints) and per caller (expensive ones).

A route opts in with its :class:`api.openapi.RouteTable` decorator: ``rate_limit="public"`` (keyed by the
client IP, checked before anything else) or ``rate_limit="expensive"`` (keyed by the authenticated caller,
checked right after authentication and before the body is read). Over the limit the answer is
``429 rate_limited`` in the error envelope with a ``Retry-After`` header (whole seconds).

Limits are per minute, from the settings ``CLOUDMARKET_RATE_LIMIT_PUBLIC_PER_MINUTE`` and
``CLOUDMARKET_RATE_LIMIT_EXPENSIVE_PER_MINUTE`` (0 switches a scope off). A bucket holds up to one minute's
allowance and refills continuously, so a client may burst the whole minute's allowance at once and then
gets one request every ``60 / limit`` seconds.

**The buckets live in memory, per process**: with N service processes behind a load balancer a client gets
up to N times the limit. That bounds abuse of one process (the parsers, the SIWE nonce table, the dev
issuer) without a shared store; a deployment that needs a global limit puts one in its proxy.

Client IP: the TCP peer address. ``X-Forwarded-For`` is honoured only when the peer is one of
``CLOUDMARKET_TRUSTED_PROXIES`` (comma-separated addresses or CIDR blocks): the client is then the
right-most address in the header that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web

from api.errors import ApiError
from engine.settings import Settings

PUBLIC = "public"
EXPENSIVE = "expensive"
SCOPES = (PUBLIC, EXPENSIVE)
# buckets kept before idle (full) ones are dropped; bounds memory under a flood of distinct keys
MAX_KEYS = 100_000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(
            "too many requests; retry later",
            details={"scope": scope, "retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class TokenBuckets:
    """``per_minute`` requests per key and minute (burst: the whole minute's allowance)."""

    per_minute: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.per_minute / 60.0

    def _refill(self, bucket: _Bucket, now: float) -> None:
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now

    def take(self, key: str) -> int:
        """Take one token for ``key``: 0 when allowed, else the seconds to wait (at least 1)."""
        if self.per_minute <= 0:
            return 0
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.per_minute), now)
        else:
            self._refill(bucket, now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))

    def _prune(self, now: float) -> None:
        """Drop buckets that have refilled (forgetting them changes nothing); if none has, the oldest half."""
        for key, bucket in list(self._buckets.items()):
            self._refill(bucket, now)
            if bucket.tokens >= self.per_minute:
                del self._buckets[key]
        if len(self._buckets) >= MAX_KEYS:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].updated)
            for key in oldest[: len(oldest) // 2]:
                del self._buckets[key]


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.1, 192.168.0.0/16"`` -> networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(addr: ipaddress.IPv4Address | ipaddress.IPv6Address | None, proxies: Iterable[Network]) -> bool:
    return addr is not None and any(addr in net for net in proxies)


def client_ip(request: web.Request, trusted_proxies: tuple[Network, ...] = ()) -> str:
    """The caller's address: the peer, or (behind a trusted proxy) the right-most untrusted
    ``X-Forwarded-For`` entry."""
    peer = request.remote or "unknown"
    if not trusted_proxies or not _trusted(_ip(peer), trusted_proxies):
        return peer
    hops = [h.strip() for v in request.headers.getall("X-Forwarded-For", []) for h in v.split(",")]
    for hop in reversed(hops):
        addr = _ip(hop)
        if addr is None:
            return peer  # a forged or garbled entry: fall back to what we know
        if not _trusted(addr, trusted_proxies):
            return str(addr)
    return peer


@dataclass
class RateLimiter:
    """The buckets of every scope, and how to find the client IP."""

    public: TokenBuckets
    expensive: TokenBuckets
    trusted_proxies: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float] = time.monotonic) -> RateLimiter:
        return cls(
            public=TokenBuckets(settings.rate_limit_public_per_minute, clock),
            expensive=TokenBuckets(settings.rate_limit_expensive_per_minute, clock),
            trusted_proxies=parse_networks(settings.trusted_proxies),
        )

    def check_public(self, request: web.Request) -> None:
        """Raise :class:`RateLimited` if the client IP is over the public limit."""
        wait = self.public.take(client_ip(request, self.trusted_proxies))
        if wait:
            raise RateLimited(PUBLIC, wait)

    def check_caller(self, key: str) -> None:
        """Raise :class:`RateLimited` if the caller (``user:1``, ``node:7``) is over the expensive limit."""
        wait = self.expensive.take(key)
        if wait:
            raise RateLimited(EXPENSIVE, wait)


RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
