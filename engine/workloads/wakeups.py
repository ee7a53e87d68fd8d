"""Wake-ups to send once a transaction has committed.

Code that changes a node's desired set or a deployment's status *notes* it on the session
(:func:`note_node`, :func:`note_deployment`); the code that owns the transaction calls
:func:`publish_noted` after the commit. Notes live in ``session.info`` so that helpers deep in a call
chain (e.g. :func:`engine.deployments.status.move`) need no extra parameter. A rolled-back transaction's
notes are dropped by :func:`discard_noted` (or simply published: a spurious wake-up only costs a re-read).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from engine.notify import Hub, topics

log = logging.getLogger(__name__)

_KEY = "cloudmarket.wakeups"


@dataclass
class Noted:
    nodes: set[int] = field(default_factory=set)
    deployments: set[int] = field(default_factory=set)

    def topics(self) -> list[str]:
        return [topics.node(n) for n in sorted(self.nodes)] + [
            topics.deployment(d) for d in sorted(self.deployments)
        ]


def _noted(session: AsyncSession) -> Noted:
    noted = session.info.get(_KEY)
    if noted is None:
        noted = session.info[_KEY] = Noted()
    assert isinstance(noted, Noted)
    return noted


def note_node(session: AsyncSession, node_id: int) -> None:
    """The desired set of database node ``node_id`` changes in this transaction."""
    _noted(session).nodes.add(int(node_id))


def note_deployment(session: AsyncSession, deployment_id: int) -> None:
    """Deployment ``deployment_id`` gets a new transition in this transaction."""
    _noted(session).deployments.add(int(deployment_id))


def take_noted(session: AsyncSession) -> Noted:
    """The notes so far, cleared from the session."""
    noted = session.info.pop(_KEY, None)
    return noted if isinstance(noted, Noted) else Noted()


def discard_noted(session: AsyncSession) -> None:
    session.info.pop(_KEY, None)


async def publish(hub: Hub | None, noted: Noted) -> None:
    """Publish every noted topic (call after the commit). Failures are logged, never raised: the change
    is committed and waiters re-read at their timeout."""
    if hub is None:
        return
    for topic in noted.topics():
        try:
            await hub.publish(topic)
        except Exception:
            log.exception("wake-up publish failed", extra={"topic": topic})


async def publish_noted(hub: Hub | None, session: AsyncSession) -> None:
    """:func:`take_noted` then :func:`publish`."""
    await publish(hub, take_noted(session))
