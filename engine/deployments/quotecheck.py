"""Defense in depth behind the escrow's quote check (issue 10): a ``LeaseOpened`` must carry the terms the
engine quoted for the lease it is matched to.

The escrow only opens a lease whose (payer, node, list rate, spec hash) the engine's quoting key signed
(:mod:`chain.quotes`). A quote stays usable until its expiry, so a payer holding an older or another
deployment's quote (same node and spec, another rate) could still open a lease that the indexer would
match to this deployment by (payer, spec, node). :func:`mismatch` compares the event with the lease row's
stored quoted terms (``chain_node_id``, the deployment's ``spec_hash``, ``rate_per_second`` = the quoted
LIST rate; the event's rate is after the payer's staking discount, ``ceil(list * (10_000 - d) / 10_000)``
as the escrow computes it; ``quote_expiry``, stored when the engine signed the lease's quote: an open
mined after it was made with some other quote). :func:`reject` records a lease that does not match as
a separate *retired* row of the deployment, never in service: it is never in a node's desired set (its
workload never starts) and the deployment is not started by it (the quoted lease row keeps waiting for
the quoted open):

* managed payer: the engine closes it (``closeBySig`` through the relay and the outbox), the rest is
  refunded; the lease is ``retiring`` until its ``LeaseClosed``;
* wallet-connected payer: the engine holds no key that may close it; the lease is ``orphaned`` and the
  payer gets the unsigned ``close`` on the deployment's stream (as for an orphaned lease,
  :mod:`engine.deployments.lifecycle`).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from chain.contracts import UnsignedTx
from engine.deployments import models as m
from engine.deployments.lifecycle import Closer, note
from engine.indexer.interfaces import IndexedEvent
from engine.money import ceil_div
from engine.workloads.wakeups import note_node

log = logging.getLogger(__name__)

BPS = 10_000
# a new retired row's replica index until its id is known (then -id); unique per deployment at any moment
_PLACEHOLDER_INDEX = -(2**31)


def discounted_rate(list_rate: int, discount_bps: int) -> int:
    """The rate the escrow stores for a quoted list rate and the payer's discount (rounded up)."""
    return ceil_div(list_rate * (BPS - discount_bps), BPS)


def _hex32(value: object) -> str:
    text = "0x" + value.hex() if isinstance(value, bytes) else str(value).lower()
    return text if text.startswith("0x") else "0x" + text


def mismatch(
    dep: m.Deployment, lease: m.Lease, event: IndexedEvent, opened_at: int | None = None
) -> str | None:
    """Why ``event`` (a ``LeaseOpened`` mined at chain time ``opened_at``, ``None``: unknown) is not the
    lease the engine quoted for ``lease``; ``None`` if it is. Call it before the event's values are
    recorded on the row."""
    problems = []
    expiry = lease.quote_expiry
    if expiry is not None and opened_at is not None and opened_at > expiry:
        problems.append(f"opened at {opened_at}, after its quote expired at {expiry}")
    node = event.int_arg("nodeId")
    if node != lease.chain_node_id:
        problems.append(f"node {node}, quoted {lease.chain_node_id}")
    spec = _hex32(event.args["specHash"])
    if spec != dep.spec_hash.lower():
        problems.append(f"spec {spec[:10]}.., quoted {dep.spec_hash[:10]}..")
    discount = event.int_arg("discountBps")
    rate, quoted = event.int_arg("ratePerSecond"), lease.rate_per_second
    if not 0 <= discount <= BPS or rate != discounted_rate(quoted, discount):
        problems.append(f"rate {rate}/s (discount {discount} bps), quoted {quoted}/s")
    return "; ".join(problems) or None


async def reject(
    session: AsyncSession, dep: m.Deployment, quoted: m.Lease, event: IndexedEvent, closer: Closer, why: str
) -> m.Lease:
    """Record the ``LeaseOpened`` that did not match ``quoted`` as a retired lease row of the deployment
    (never in service, never in a node's desired set) and close it where the engine can (module docs).
    ``quoted`` stays as it was (awaiting funds): the open the engine quoted can still arrive and start the
    replica. Returns the new row. Flushes; a managed payer's close is queued (the caller advances the
    relay)."""
    lease_id = event.int_arg("leaseId")
    log.warning("lease %s of deployment %s does not match its quote: %s", lease_id, dep.id, why)
    row = m.Lease(
        deployment_id=dep.id,
        replica_index=_PLACEHOLDER_INDEX,
        role=m.RETIRED,
        node_id=quoted.node_id,
        chain_node_id=event.int_arg("nodeId"),
        chain_lease_id=str(lease_id),
        rate_per_second=event.int_arg("ratePerSecond"),
        deposit=event.int_arg("deposit"),
        status=m.ORPHANED,
        opened_block=event.block_number,
        retired_index=quoted.replica_index if quoted.replica_index >= 0 else quoted.retired_index,
    )
    session.add(row)
    await session.flush()
    row.replica_index = -row.id  # as every retired lease (engine.scaling.services.retire)
    await session.flush()
    note_node(session, row.node_id)
    if dep.funding == m.FUNDING_MANAGED and closer.relay is not None:
        row.status = m.RETIRING
        await closer.relay.queue(session, dep, row, m.REQ_CLOSE)
        await note(session, dep, f"lease {lease_id} rejected, not the quoted terms ({why}): closing it")
        return row
    txs: list[UnsignedTx] = []
    if closer.escrow is not None and closer.chain_id is not None:
        txs.append(
            UnsignedTx(
                closer.escrow.address,
                closer.escrow.encode_close(lease_id),
                closer.chain_id,
                from_address=dep.payer,
                description=f"close lease {lease_id}, rejected (not the quoted terms), to get the rest back",
            )
        )
    await note(
        session,
        dep,
        f"lease {lease_id} rejected, not the quoted terms ({why}): it will not run; sign its close",
        txs,
    )
    return row
