"""The desired-state long-poll: at most one held poll per node, bounded wait, no lost wake-up.

Order of operations (the hub's contract, :mod:`engine.notify`): subscribe to ``node:<id>`` FIRST, then
read the desired state, then wait. A change committed between the read and the wait was published after
its commit, so the subscription has latched it and the wait returns at once.

One held poll per node: a new poll for a node *supersedes* the held one, which is woken at once (its
subscription is closed) and answers with the state it re-reads. Nothing polls in a loop: a waiter sleeps
on its subscription until a publication, supersession, hub shutdown or its deadline; after a wake that
did not change the cursor it sleeps again for the rest of its deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from engine.notify import Hub, Subscription, topics
from engine.workloads.desired import DesiredState

MAX_WAIT = 60

Reader = Callable[[int], Awaitable[DesiredState]]


@dataclass(frozen=True)
class PollResult:
    state: DesiredState
    changed: bool


class _Held:
    __slots__ = ("sub", "superseded")

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self.superseded = False


class NodePolls:
    """Held long-polls of this process, by node id."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._held: dict[int, _Held] = {}
        self.superseded_count = 0

    @property
    def held_count(self) -> int:
        return len(self._held)

    def release_all(self) -> None:
        """Answer every held poll now (shutdown)."""
        held, self._held = self._held, {}
        for h in held.values():
            h.superseded = True
            h.sub.close()

    async def poll(self, node_id: int, cursor: str | None, wait: float, read: Reader) -> PollResult:
        """Answer at once when ``cursor`` is absent or differs from the current one; else hold up to
        ``wait`` seconds (at most :data:`MAX_WAIT`) for a change."""
        wait = max(0.0, min(float(wait), MAX_WAIT))
        sub = self.hub.subscribe(topics.node(node_id))
        try:
            state = await read(node_id)
            if cursor is None or cursor != state.cursor:
                return PollResult(state, True)
            if wait <= 0:
                return PollResult(state, False)
            me = _Held(sub)
            previous = self._held.get(node_id)
            self._held[node_id] = me
            if previous is not None:
                previous.superseded = True
                previous.sub.close()
                self.superseded_count += 1
            try:
                return await self._hold(node_id, cursor, wait, read, me, state)
            finally:
                if self._held.get(node_id) is me:
                    del self._held[node_id]
        finally:
            sub.close()

    async def _hold(
        self, node_id: int, cursor: str, wait: float, read: Reader, me: _Held, state: DesiredState
    ) -> PollResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return PollResult(state, False)
            woken = await me.sub.wait(remaining)
            if woken or me.superseded or me.sub.closed:
                state = await read(node_id)
                if state.cursor != cursor:
                    return PollResult(state, True)
                if me.superseded or me.sub.closed:
                    return PollResult(state, False)
            # a wake without a change (another process's publish, a hub reconnect): sleep again
