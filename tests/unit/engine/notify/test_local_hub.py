"""LocalHub: topic isolation, latching, timeouts, 10,000 waiters, cleanup on every exit path."""

from __future__ import annotations

import asyncio

import pytest

from engine.notify import InvalidTopic, LocalHub, PayloadTooLarge, PostgresHub, make_hub
from engine.notify.topics import deployment, node


async def settle(rounds: int = 5) -> None:
    """Let woken tasks run (a few loop iterations; no wall-clock sleep)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def test_publish_wakes_only_its_topic() -> None:
    hub = LocalHub()
    async with hub.listener(node(1)) as one, hub.listener(node(2)) as two:
        waiter = asyncio.create_task(one.wait(10))
        await settle()
        await hub.publish(node(1), "placed")
        assert await waiter is True
        assert one.payload == "placed"
        assert await two.wait(0) is False


async def test_timeout_returns_false_and_leaves_subscription_usable() -> None:
    hub = LocalHub()
    async with hub.listener(deployment(3)) as sub:
        assert await sub.wait(0.01) is False
        await hub.publish(deployment(3))
        assert await sub.wait(0.01) is True


async def test_publication_before_wait_is_latched_and_coalesced() -> None:
    hub = LocalHub()
    async with hub.listener("node:5") as sub:
        await hub.publish("node:5", "a")
        await hub.publish("node:5", "b")
        assert await sub.wait(0) is True
        assert sub.payload == "b"
        assert await sub.wait(0) is False  # two publications, one wake-up


async def test_every_waiter_on_a_topic_is_woken() -> None:
    hub = LocalHub()
    subs = [hub.subscribe("deployment:1") for _ in range(3)]
    tasks = [asyncio.create_task(s.wait(10)) for s in subs]
    await settle()
    await hub.publish("deployment:1")
    assert await asyncio.gather(*tasks) == [True, True, True]
    for s in subs:
        s.close()
    assert hub.topic_count == 0


async def test_ten_thousand_waiters_one_publish_wakes_exactly_one() -> None:
    hub = LocalHub()
    count = 10_000

    async def poll(i: int) -> int:
        async with hub.listener(node(i)) as sub:
            await sub.wait(None)
            return i

    tasks = [asyncio.create_task(poll(i)) for i in range(count)]
    await settle()
    assert hub.subscription_count == count
    await hub.publish(node(4321))
    await settle()
    done = [t for t in tasks if t.done()]
    assert len(done) == 1
    assert done[0].result() == 4321
    for t in tasks:
        t.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert sum(isinstance(r, asyncio.CancelledError) for r in results) == count - 1
    assert hub.topic_count == 0
    assert hub.subscription_count == 0


async def test_cancellation_mid_wait_cleans_up() -> None:
    hub = LocalHub()
    entered = asyncio.Event()

    async def poll() -> None:
        async with hub.listener("node:9") as sub:
            entered.set()
            await sub.wait(None)

    task = asyncio.create_task(poll())
    await entered.wait()
    await settle()
    assert hub.subscription_count == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hub.topic_count == 0
    # a later publish finds nobody and does not fail
    await hub.publish("node:9")


async def test_exception_inside_listener_cleans_up() -> None:
    hub = LocalHub()
    with pytest.raises(RuntimeError):
        async with hub.listener("node:1"):
            raise RuntimeError("handler failed")
    assert hub.topic_count == 0


async def test_async_iteration_yields_payloads_until_hub_closes() -> None:
    hub = LocalHub()
    sub = hub.subscribe("deployment:8")
    seen: list[str] = []

    async def consume() -> None:
        async for payload in sub:
            seen.append(payload)
            if payload == "second":
                await hub.close()

    task = asyncio.create_task(consume())
    await settle()
    await hub.publish("deployment:8", "first")
    await settle()
    await hub.publish("deployment:8", "second")
    await asyncio.wait_for(task, 10)
    assert seen == ["first", "second"]
    assert hub.topic_count == 0
    assert await sub.wait(0) is False
    assert hub.subscribe("deployment:8").closed


async def test_close_wakes_a_pending_wait() -> None:
    hub = LocalHub()
    sub = hub.subscribe("node:1")
    task = asyncio.create_task(sub.wait(None))
    await settle()
    sub.close()
    assert await asyncio.wait_for(task, 10) is True
    assert hub.topic_count == 0


@pytest.mark.parametrize("topic", ["", "node:1\nnode:2", "x" * 201])
async def test_invalid_topics_are_refused(topic: str) -> None:
    hub = LocalHub()
    with pytest.raises(InvalidTopic) as err:
        hub.subscribe(topic)
    assert err.value.topic == topic
    with pytest.raises(InvalidTopic):
        await hub.publish(topic)


async def test_payload_over_the_notify_limit_is_refused_on_both_backends() -> None:
    hub = LocalHub()
    with pytest.raises(PayloadTooLarge) as err:
        await hub.publish("node:1", "x" * 8000)
    assert err.value.size > err.value.limit
    await hub.publish("node:1", "x" * 7000)


def test_make_hub_picks_backend_from_url() -> None:
    assert isinstance(make_hub("sqlite+aiosqlite:///tmp/x.db"), LocalHub)
    assert isinstance(make_hub("postgresql+asyncpg://u@127.0.0.1:5432/db"), PostgresHub)
    assert isinstance(make_hub("postgresql://u@127.0.0.1:5432/db"), PostgresHub)
