"""The independent prober: checks of the ports a workload declares (``spec.ports``), from the engine.

* ``tcp`` ports (a bare port number, or ``{"port": p, "protocol": "tcp"}``): a TCP connect;
* ``http`` ports (``{"port": p, "protocol": "http"}``): a TCP connect, then ``GET / HTTP/1.1`` and the
  status line of the answer: up when it is an HTTP status below 500 (a 404 still proves the server
  serves; a 5xx, a timeout or anything that is not HTTP is down);
* ``udp`` ports are not probed (a datagram without an application answer proves nothing); their leases
  are judged by the node's heartbeat alone.

Each check is bounded by ``timeout`` seconds (connect and answer together) and all checks of one round run
concurrently, at most ``parallel`` at once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TCP = "tcp"
HTTP = "http"
PROBED = (TCP, HTTP)
_STATUS_LINE = re.compile(rb"^HTTP/1\.[01] ([0-9]{3})[ \r\n]")
MAX_STATUS_LINE = 1024


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    kind: str = TCP  # "tcp" | "http"

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.port}"


@dataclass(frozen=True)
class Result:
    target: Target
    ok: bool
    detail: str


def probed_ports(spec: dict[str, Any]) -> list[tuple[str, int]]:
    """The (kind, port) checks a stored (canonical or submitted) spec asks for, sorted, distinct."""
    out: set[tuple[str, int]] = set()
    for p in spec.get("ports") or []:
        if isinstance(p, int) and not isinstance(p, bool):
            out.add((TCP, p))
        elif isinstance(p, dict) and isinstance(p.get("port"), int) and p.get("protocol", TCP) in PROBED:
            out.add((str(p.get("protocol", TCP)), int(p["port"])))
    return sorted(out, key=lambda kp: (kp[1], kp[0]))


def tcp_ports(spec: dict[str, Any]) -> list[int]:
    """The TCP-connect ports a spec declares (``http`` ports are probed with a request instead)."""
    return [port for kind, port in probed_ports(spec) if kind == TCP]


def targets_for(host: str, spec: dict[str, Any]) -> list[Target]:
    return [Target(host, port, kind) for kind, port in probed_ports(spec)]


def _error(exc: BaseException) -> str:
    return (type(exc).__name__ + ": " + str(exc))[:120]


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass


async def _tcp(target: Target) -> Result:
    _, writer = await asyncio.open_connection(target.host, target.port)
    await _close(writer)
    return Result(target, True, "")


async def _http(target: Target) -> Result:
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        host = f"[{target.host}]" if ":" in target.host else target.host
        writer.write(
            f"GET / HTTP/1.1\r\nHost: {host}:{target.port}\r\nUser-Agent: cloudmarket-sla-prober\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n".encode("ascii")
        )
        await writer.drain()
        line = await reader.readline()
    finally:
        await _close(writer)
    match = _STATUS_LINE.match(line[:MAX_STATUS_LINE])
    if match is None:
        return Result(target, False, "not an HTTP answer")
    status = int(match.group(1))
    return Result(target, status < 500, f"HTTP {status}")


async def check(target: Target, timeout: float) -> Result:  # noqa: ASYNC109 — bounded per check
    """One check of ``target`` (its ``kind``), given up after ``timeout`` seconds. Raises nothing."""
    try:
        return await asyncio.wait_for(_http(target) if target.kind == HTTP else _tcp(target), timeout)
    except TimeoutError:
        return Result(target, False, "timeout")
    except (OSError, ValueError, asyncio.LimitOverrunError, asyncio.IncompleteReadError) as exc:
        return Result(target, False, _error(exc))


async def check_tcp(target: Target, timeout: float) -> Result:  # noqa: ASYNC109 — bounded per check
    return await check(Target(target.host, target.port, TCP), timeout)


async def check_all(targets: Sequence[Target], timeout: float, parallel: int = 64) -> dict[Target, Result]:  # noqa: ASYNC109
    gate = asyncio.Semaphore(parallel)

    async def one(t: Target) -> Result:
        async with gate:
            return await check(t, timeout)

    results = await asyncio.gather(*(one(t) for t in dict.fromkeys(targets)))
    return {r.target: r for r in results}
