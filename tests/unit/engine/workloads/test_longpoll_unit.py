"""NodePolls on a LocalHub: answers, holds, supersession, no lost wake-up between read and wait."""

from __future__ import annotations

import asyncio

from engine.notify import LocalHub, topics
from engine.workloads.desired import DesiredState, cursor_of
from engine.workloads.longpoll import NodePolls


class Store:
    """A desired-state store whose reads can publish a change in the middle (after the read)."""

    def __init__(self, hub: LocalHub) -> None:
        self.hub = hub
        self.workloads: list[dict[str, object]] = []
        self.reads = 0
        self.change_after_read: list[dict[str, object]] | None = None

    async def read(self, node_id: int) -> DesiredState:
        self.reads += 1
        out = DesiredState(node_id, cursor_of(self.workloads), list(self.workloads))
        if self.change_after_read is not None:  # a commit lands right after the read, before the wait
            self.workloads, self.change_after_read = self.change_after_read, None
            await self.hub.publish(topics.node(node_id))
        return out


async def test_change_between_read_and_wait_is_not_lost() -> None:
    hub = LocalHub()
    store, polls = Store(hub), NodePolls(hub)
    cursor = (await polls.poll(1, None, 0, store.read)).state.cursor
    store.change_after_read = [{"workload_id": "d1-r0"}]
    out = await asyncio.wait_for(polls.poll(1, cursor, 60, store.read), 5)
    assert out.changed and out.state.workloads == [{"workload_id": "d1-r0"}]


async def test_unrelated_wake_sleeps_again_and_supersession_answers_at_once() -> None:
    hub = LocalHub()
    store, polls = Store(hub), NodePolls(hub)
    cursor = (await polls.poll(2, None, 0, store.read)).state.cursor
    first = asyncio.create_task(polls.poll(2, cursor, 60, store.read))
    for _ in range(10):
        await asyncio.sleep(0)
    assert polls.held_count == 1
    reads = store.reads
    await hub.publish(topics.node(2))  # nothing changed: re-read once, keep holding
    for _ in range(10):
        await asyncio.sleep(0)
    assert not first.done() and store.reads == reads + 1
    second = asyncio.create_task(polls.poll(2, cursor, 60, store.read))
    released = await asyncio.wait_for(first, 5)
    assert released.changed is False and polls.superseded_count == 1
    polls.release_all()
    assert (await asyncio.wait_for(second, 5)).changed is False
    assert polls.held_count == 0 and hub.subscription_count == 0


async def test_timeout_answers_unchanged() -> None:
    hub = LocalHub()
    store, polls = Store(hub), NodePolls(hub)
    cursor = (await polls.poll(3, None, 0, store.read)).state.cursor
    out = await polls.poll(3, cursor, 0.05, store.read)
    assert out.changed is False and out.state.cursor == cursor and hub.subscription_count == 0
