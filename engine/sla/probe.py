"""The independent prober: TCP connects to the ports a workload declares (``spec.ports``, protocol tcp).

UDP ports are not probed (a datagram without an application answer proves nothing); their leases are
judged by the node's heartbeat alone. Each check is bounded by ``timeout`` seconds and all checks of one
round run concurrently, at most ``parallel`` at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    host: str
    port: int

    @property
    def name(self) -> str:
        return f"tcp:{self.port}"


@dataclass(frozen=True)
class Result:
    target: Target
    ok: bool
    detail: str


def tcp_ports(spec: dict[str, Any]) -> list[int]:
    """The TCP ports a stored (canonical or submitted) spec declares, sorted, distinct."""
    out: set[int] = set()
    for p in spec.get("ports") or []:
        if isinstance(p, int) and not isinstance(p, bool):
            out.add(p)
        elif isinstance(p, dict) and p.get("protocol", "tcp") == "tcp" and isinstance(p.get("port"), int):
            out.add(int(p["port"]))
    return sorted(out)


async def check_tcp(target: Target, timeout: float) -> Result:  # noqa: ASYNC109 — bounded per check
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port), timeout)
    except TimeoutError:
        return Result(target, False, "timeout")
    except OSError as exc:
        return Result(target, False, (type(exc).__name__ + ": " + str(exc))[:120])
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return Result(target, True, "")


async def check_all(targets: Sequence[Target], timeout: float, parallel: int = 64) -> dict[Target, Result]:  # noqa: ASYNC109
    gate = asyncio.Semaphore(parallel)

    async def one(t: Target) -> Result:
        async with gate:
            return await check_tcp(t, timeout)

    results = await asyncio.gather(*(one(t) for t in dict.fromkeys(targets)))
    return {r.target: r for r in results}
