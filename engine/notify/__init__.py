"""Wake-up hub for long-polls and SSE streams: ``publish(topic)`` wakes every waiter subscribed to it.

The hub is a latency optimisation, never a source of truth. The contract for every caller:

* **Publish after commit.** Call :meth:`Hub.publish` only once the database transaction that changed the
  state has committed; a waiter woken earlier would re-read the old state and sleep again.
* **Subscribe, then read, then wait.** A long-poll subscribes first, reads its state from the database,
  and only then waits. A publication between the read and the wait is latched in the subscription, so
  it is not lost.
* **A missed wake-up is harmless.** Waiters re-read state on wake *and* at their timeout, so a dropped
  notification (a listener reconnect, a failed publish) costs latency, never correctness.

Topics are short strings such as ``"node:42"`` or ``"deployment:17"`` (see :func:`topics.node`).

Backends: :class:`LocalHub` (one process; SQLite deployments) and :class:`PostgresHub` (many processes,
through PostgreSQL ``LISTEN/NOTIFY`` on one dedicated connection per process). :func:`make_hub` picks one
from the database URL.

Exceptions::

    NotifyError
    ├── InvalidTopic
    └── PayloadTooLarge
"""

from engine.notify.errors import InvalidTopic, NotifyError, PayloadTooLarge
from engine.notify.factory import make_hub
from engine.notify.interfaces import Hub
from engine.notify.local import LocalHub, Subscription
from engine.notify.postgres import CHANNEL, PostgresHub, asyncpg_dsn

__all__ = [
    "CHANNEL",
    "Hub",
    "InvalidTopic",
    "LocalHub",
    "NotifyError",
    "PayloadTooLarge",
    "PostgresHub",
    "Subscription",
    "asyncpg_dsn",
    "make_hub",
]
