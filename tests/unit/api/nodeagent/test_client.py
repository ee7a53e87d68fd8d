"""NodeApiClient against a real HTTP server (the protocol's server side, faked in tests/support): long-poll
cursors, retries with jittered backoff on 5xx and refused connections, 401/403 stop at once, the token
never shows in errors or reprs."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import aiohttp
import pytest

from api.nodeagent.client import Backoff, NodeApiClient, NodeApiError, NodeApiUnavailable, NodeAuthRejected
from tests.support.node_api_double import FakeNodeApi, free_port

TOKEN = "cmn_secret_token_value"
NODE = 7
CHAIN_INFO = {"chain_id": 31337, "rpc_url": "http://127.0.0.1:1", "confirmations": 0, "contracts": {}}


class Sleeps:
    """Injected sleep: records the backoff delays instead of waiting, optionally acts on a call."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.on_call: dict[int, object] = {}

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        action = self.on_call.get(len(self.delays))
        if action is not None:
            await action()  # type: ignore[operator]


@pytest.fixture
async def api() -> AsyncIterator[FakeNodeApi]:
    server = await FakeNodeApi(NODE, TOKEN, CHAIN_INFO).start()
    yield server
    await server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make_client(
    url: str,
    session: aiohttp.ClientSession,
    sleeps: Sleeps,
    *,
    node_id: int = NODE,
    token: str = TOKEN,
    max_attempts: int | None = None,
) -> NodeApiClient:
    backoff = Backoff(0.5, 4.0, rng=random.Random(1))
    return NodeApiClient(
        url, node_id, token, session=session, sleep=sleeps, backoff=backoff, max_attempts=max_attempts
    )


async def test_long_poll_answers_at_once_then_holds_until_change(
    api: FakeNodeApi, session: aiohttp.ClientSession
) -> None:
    client = make_client(api.url, session, Sleeps())
    first = await client.desired(None, wait=30)
    assert first.changed and first.workloads == [] and first.node_id == NODE
    held = asyncio.create_task(client.desired(first.cursor, wait=30))
    async with asyncio.timeout(30):
        while api.polls < 2:  # noqa: ASYNC110  (the held poll reached the server; no event to await)
            await asyncio.sleep(0.01)
    assert not held.done()
    api.set_workloads([{"workload_id": "d1-r0"}])
    second = await held
    assert second.changed and second.cursor != first.cursor
    assert second.workloads == [{"workload_id": "d1-r0"}]
    # Timeout of a held poll: same cursor, changed false, full list anyway.
    third = await client.desired(second.cursor, wait=1)
    assert not third.changed and third.cursor == second.cursor and len(third.workloads) == 1


async def test_5xx_is_retried_with_growing_jittered_backoff(
    api: FakeNodeApi, session: aiohttp.ClientSession
) -> None:
    sleeps = Sleeps()
    client = make_client(api.url, session, sleeps)
    api.fail_next = 4
    ack = await client.heartbeat({"resources": {}, "workloads": [], "agent": {"version": "t"}})
    assert ack.heartbeat_interval == api.heartbeat_interval
    assert api.failures_served == 4 and len(api.heartbeats) == 1
    ceilings = [0.5, 1.0, 2.0, 4.0]
    assert len(sleeps.delays) == 4
    assert all(c / 2 <= d <= c for d, c in zip(sleeps.delays, ceilings, strict=True)), sleeps.delays
    assert client.backoff.failures == 0  # reset after the success


async def test_connection_refused_then_server_comes_up(session: aiohttp.ClientSession) -> None:
    port = free_port()
    server = FakeNodeApi(NODE, TOKEN, CHAIN_INFO)
    sleeps = Sleeps()

    async def bring_up() -> None:
        await server.start(port)

    sleeps.on_call[2] = bring_up  # two refused attempts, then the server listens
    client = make_client(f"http://127.0.0.1:{port}", session, sleeps)
    try:
        state = await client.desired(None, wait=0)
        info = await client.chain_info()
    finally:
        await server.stop()
    assert state.changed and info["chain_id"] == 31337
    assert len(sleeps.delays) == 2


async def test_gives_up_after_max_attempts(session: aiohttp.ClientSession) -> None:
    client = make_client(f"http://127.0.0.1:{free_port()}", session, Sleeps(), max_attempts=3)
    with pytest.raises(NodeApiUnavailable) as info:
        await client.desired(None, wait=0)
    assert info.value.attempts == 3


async def test_401_and_403_stop_at_once_without_leaking_the_token(
    api: FakeNodeApi, session: aiohttp.ClientSession
) -> None:
    sleeps = Sleeps()
    wrong = make_client(api.url, session, sleeps, token="cmn_wrong_value")
    with pytest.raises(NodeAuthRejected) as info:
        await wrong.desired(None, wait=0)
    assert info.value.status == 401 and info.value.node_id == NODE
    assert "rejected the token" in str(info.value) and "invalid node token" in str(info.value)
    other = make_client(api.url, session, sleeps, node_id=NODE + 1)
    with pytest.raises(NodeAuthRejected) as info2:
        await other.heartbeat({})
    assert info2.value.status == 403
    assert sleeps.delays == []  # no retry
    for text in (str(info.value), str(info2.value), repr(other), repr(wrong)):
        assert TOKEN not in text and "cmn_wrong_value" not in text


async def test_other_4xx_is_an_error_not_a_retry(api: FakeNodeApi, session: aiohttp.ClientSession) -> None:
    sleeps = Sleeps()
    client = make_client(api.url + "/nope", session, sleeps)
    with pytest.raises(NodeApiError) as info:
        await client.desired(None, wait=0)
    assert info.value.status == 404 and sleeps.delays == []


def test_backoff_is_capped_and_resets() -> None:
    b = Backoff(1.0, 8.0, rng=random.Random(3))
    delays = [b.next_delay() for _ in range(10)]
    assert all(0.5 <= d <= 8.0 for d in delays) and max(delays[5:]) > 4.0
    b.reset()
    assert b.next_delay() <= 1.0
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)
