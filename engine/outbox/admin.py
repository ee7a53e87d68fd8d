"""Admin reconciliation through the outbox: role grants and contract config are outbox rows, never direct
sends, so any number of processes starting at once make each change on chain exactly once.

At start-up every process (``engine.runtime.start_runtime``, after ``chain.deploy.deploy_suite``) calls
:func:`enqueue_admin_reconcile`. It asks :func:`chain.deploy.plan_admin` what differs between the chain and
the wanted :class:`~chain.deploy.SuiteConfig` (roles, ``setConfig``, ``setFeeParams``, ``setTreasury``)
and enqueues one outbox row per difference, in ONE database transaction. The outbox sender (one nonce
counter per signer, locked in the database) then signs and sends them like any other write: two
processes never pick the same nonce, and the sender signs rows in id order.

Why start-up and not the scheduler leader: the rows must exist before the first request that needs a
role (the leader may be elected later, or in another process), and deduplication by key already makes
every process's enqueue the same single row. Only the bootstrap of a brand-new suite (no manifest, or
dead contracts) sends directly, inside ``deploy_suite``: there is no earlier state to race with.

Idempotency key (deterministic, at most ~170 characters)::

    admin:<chain_id>:<contract address>:<slot>:<epoch>:<sha256(calldata)[:16]>

* ``slot`` names the thing changed (``escrow.setFeeParams``, ``token.grantRole:MINTER_ROLE:0x..``);
* the calldata hash makes two processes that want the same value produce the same key (one row, one
  effect: ``INSERT .. ON CONFLICT DO NOTHING`` in :func:`engine.outbox.services.enqueue`);
* ``epoch`` is the number of *final* (confirmed or failed) admin rows of that slot. It lets a later change
  back to an earlier value (A -> B -> A) get a new key, and a failed row be retried on the next start.

The epoch is counted BEFORE the chain is read. So a process that races a row of the same slot either
counts it as not final (same epoch: its enqueue is the same key, deduplicated) or counts it as final, in
which case the chain read that follows already shows the row's effect and nothing is planned. Without
that order a row confirmed between the read and the count would be sent twice.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain.connect import ChainConnection
from chain.deploy import AdminCall, Manifest, SuiteConfig, plan_admin
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.outbox.services import enqueue

KEY_PREFIX = "admin"


def slot_prefix(chain_id: int, call_to: str, slot: str) -> str:
    return f"{KEY_PREFIX}:{chain_id}:{call_to.lower()}:{slot}:"


def admin_key(chain_id: int, call: AdminCall, epoch: int) -> str:
    digest = hashlib.sha256(call.data).hexdigest()[:16]
    return f"{slot_prefix(chain_id, call.to, call.slot)}{epoch}:{digest}"


async def final_counts(session: AsyncSession, chain_id: int) -> Counter[str]:
    """Final (confirmed or failed) admin rows on ``chain_id``, counted per slot prefix (key minus the
    epoch and digest)."""
    keys = await session.scalars(
        select(OutboxTx.idempotency_key).where(
            OutboxTx.idempotency_key.startswith(f"{KEY_PREFIX}:{chain_id}:", autoescape=True),
            OutboxTx.status.in_((OutboxStatus.CONFIRMED, OutboxStatus.FAILED)),
        )
    )
    return Counter(key.rsplit(":", 2)[0] + ":" for key in keys)


async def enqueue_admin_reconcile(
    sessionmaker: async_sessionmaker[AsyncSession],
    conn: ChainConnection,
    manifest: Manifest,
    admin: str,
    config: SuiteConfig,
    minters: Iterable[str] = (),
    *,
    quote_signer: str | None = None,
) -> list[OutboxTx]:
    """Enqueue (and commit) one outbox row per admin difference; see the module docstring.

    Returns the rows, new or already there (empty when the chain matches). Raises what the chain reads
    raise (:class:`chain.errors.ChainError`) and database errors; nothing is enqueued then."""
    minters = list(minters)
    async with sessionmaker() as session, session.begin():
        finals = await final_counts(session, conn.chain_id)  # first: see the module docstring
        calls = await plan_admin(conn, manifest, admin, config, minters, quote_signer=quote_signer)
        rows = []
        for call in calls:
            epoch = finals[slot_prefix(conn.chain_id, call.to, call.slot)]
            rows.append(
                await enqueue(
                    session,
                    kind=f"admin.{call.kind}",
                    to=call.to,
                    data=call.data,
                    idempotency_key=admin_key(conn.chain_id, call, epoch),
                    args={"slot": call.slot, **call.args},
                )
            )
    return rows
