"""The SLA prober's checks against real local listeners (engine.sla.probe): a TCP connect per ``tcp`` port,
an HTTP request per ``http`` port (up below 500), nothing for ``udp``; and the probe host's validation."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from engine.sla.commands import check_host
from engine.sla.errors import BadEndpoint
from engine.sla.probe import HTTP, TCP, Target, check_all, probed_ports, targets_for

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def listener(handler: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


def http_answer(status: str) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        assert request.startswith(b"GET / HTTP/1.1\r\n") and b"\r\nHost: 127.0.0.1:" in request
        writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    return handle


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()  # a TCP service that is no HTTP server


async def ssh_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")  # answers, but not HTTP
    await writer.drain()
    writer.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nobody listens once the socket is closed


def test_the_spec_declares_which_ports_are_probed_and_how() -> None:
    spec = {"ports": [8080, {"port": 53, "protocol": "udp"}, {"port": 80, "protocol": "http"}, {"port": 22}]}
    assert probed_ports(spec) == [(TCP, 22), (HTTP, 80), (TCP, 8080)]
    assert [t.name for t in targets_for("h", spec)] == ["tcp:22", "http:80", "tcp:8080"]
    assert probed_ports({"ports": [True, {"port": "80"}]}) == [] and probed_ports({}) == []


async def test_tcp_and_http_checks_against_real_listeners() -> None:
    async with (
        listener(hang_up) as tcp_up,
        listener(http_answer("200 OK")) as http_ok,
        listener(http_answer("404 Not Found")) as http_404,
        listener(http_answer("503 Service Unavailable")) as http_503,
        listener(ssh_banner) as ssh,
    ):
        down = closed_port()
        targets = [
            Target("127.0.0.1", tcp_up, TCP),
            Target("127.0.0.1", down, TCP),
            Target("127.0.0.1", http_ok, HTTP),
            Target("127.0.0.1", http_404, HTTP),
            Target("127.0.0.1", http_503, HTTP),
            Target("127.0.0.1", ssh, HTTP),  # TCP answers, HTTP does not
            Target("127.0.0.1", down, HTTP),
        ]
        got = await check_all(targets, timeout=5.0)
    summary = {(t.kind, t.port): (r.ok, r.detail) for t, r in got.items()}
    assert summary[(TCP, tcp_up)] == (True, "")
    assert summary[(TCP, down)][0] is False and "ConnectionRefused" in summary[(TCP, down)][1]
    assert summary[(HTTP, http_ok)] == (True, "HTTP 200")
    assert summary[(HTTP, http_404)] == (True, "HTTP 404")
    assert summary[(HTTP, http_503)] == (False, "HTTP 503")
    assert summary[(HTTP, ssh)] == (False, "not an HTTP answer")
    assert summary[(HTTP, down)][0] is False


async def test_a_server_that_never_answers_times_out() -> None:
    closed = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads until the prober gives up and closes
        closed.set()
        writer.close()

    async with listener(silent) as port:
        (result,) = (await check_all([Target("127.0.0.1", port, HTTP)], timeout=0.2)).values()
        await closed.wait()
    assert (result.ok, result.detail) == (False, "timeout")


@pytest.mark.parametrize(
    ("host", "want"),
    [
        ("node1.example.com", "node1.example.com"),
        ("Node1.Example.COM", "node1.example.com"),
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("127.0.0.1", "127.0.0.1"),  # dev: loopback allowed
    ],
)
def test_host_names_and_ip_literals_are_accepted(host: str, want: str) -> None:
    assert check_host(host, production=False) == want


@pytest.mark.parametrize(
    "host",
    [
        "http://node1.example.com",
        "node1.example.com:8080",
        "node1.example.com/health",
        "[2001:db8::1]",
        "fe80::1%eth0",
        "user@node1.example.com",
        " node1.example.com",
        "-bad.example.com",
        "1.2.3",
        "a" * 64 + ".example.com",
        ("a" * 60 + ".") * 5,
        "",
    ],
)
def test_urls_ports_paths_and_junk_are_refused(host: str) -> None:
    with pytest.raises(BadEndpoint):
        check_host(host, production=False)


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.5", "169.254.169.254", "::1", "0.0.0.0"])  # noqa: S104 — refused, not bound
def test_production_refuses_non_global_ip_literals(host: str) -> None:
    with pytest.raises(BadEndpoint):
        check_host(host, production=True)
    assert check_host("203.0.114.7", production=True) == "203.0.114.7"
