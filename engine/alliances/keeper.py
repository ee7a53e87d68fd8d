"""The alliance keeper (the ``alliances.collect`` job): moves contributed nodes' escrow earnings into their
alliances, so members can claim them without anyone sending ``collect`` by hand.

Each run reads, in one multicall per 300 nodes, for every contributed node (indexed ``alliance_nodes``):
its entry in ``AllianceSplits`` (``nodeEntry``), its registry record (``nodeInfo``) and its unpaid escrow
earnings (``nodeOwed``), plus each alliance's ``totalShares``. Then, per node, through the outbox (backend
signer):

* the node no longer pays the splits contract, was removed, or changed provider: ``checkNode(nodeId)``, as
  the contract documents (it drops the node, booking what it still owes when the payee is still the
  contract); ``collect`` would revert ``NotPayee`` there;
* else, owed at least ``alliance_collect_min`` credit units and the alliance has shares (``collect``
  reverts ``NoShares`` otherwise): ``collect(nodeId)``.

Idempotency key per (node, period): ``alliance-collect:<chain>:<node>:<period>`` (``alliance-check:..``),
``period`` = wall-clock seconds // ``scheduler_alliance_collect_interval`` (the scheduler's period claim
uses the same grid). A second run in the same period enqueues nothing: keys already in the outbox are
skipped, and once a collect is mined the node owes nothing. A collect that fails (someone collected
first) is final; the next period tries again if the node owes again.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.address import to_checksum_address
from sqlalchemy import select

from engine.alliances.models import AllianceNode
from engine.context import Context
from engine.errors import ContractMissing
from engine.outbox.models import OutboxTx
from engine.outbox.services import enqueue

CHUNK = 300  # nodes per multicall


@dataclass(frozen=True)
class CollectRound:
    period: int
    collected: tuple[int, ...]  # chain node ids a collect was enqueued for by this run
    checked: tuple[int, ...]  # chain node ids a checkNode was enqueued for by this run
    owed: int  # credit units the enqueued collects move (as read)


def collect_key(chain_id: int, node_id: int, period: int) -> str:
    return f"alliance-collect:{chain_id}:{node_id}:{period}"


def check_key(chain_id: int, node_id: int, period: int) -> str:
    return f"alliance-check:{chain_id}:{node_id}:{period}"


async def collect_revenue(ctx: Context, *, period: int | None = None) -> CollectRound:
    """One keeper run (module docstring). ``period``: default from ``ctx.clock()``.

    Raises :class:`~engine.errors.ContractMissing` (no splits, escrow, registry or multicall) and what chain
    reads raise (:class:`chain.errors.ChainError`); nothing is enqueued then."""
    splits, escrow = ctx.contracts.require_alliances(), ctx.contracts.require_escrow()
    registry, multicall = ctx.contracts.require_registry(), ctx.contracts.multicall
    if multicall is None:
        raise ContractMissing("Multicall")
    interval = max(1, int(ctx.settings.scheduler_alliance_collect_interval))
    period = period if period is not None else int(ctx.clock().timestamp()) // interval
    async with ctx.sessionmaker() as session:
        node_ids = list(await session.scalars(select(AllianceNode.chain_node_id).order_by("chain_node_id")))
    if not node_ids:
        return CollectRound(period, (), (), 0)
    entry_fn, info_fn = splits.function("nodeEntry", 1), registry.function("nodeInfo", 1)
    owed_fn, alliance_fn = escrow.function("nodeOwed", 1), splits.function("allianceInfo", 1)
    calls: list[tuple[str, bytes]] = []
    for n in node_ids:
        calls += [
            (splits.address, entry_fn.encode([n])),
            (registry.address, info_fn.encode([n])),
            (escrow.address, owed_fn.encode([n])),
        ]
    out: list[tuple[bool, bytes]] = []
    for i in range(0, len(calls), 3 * CHUNK):  # bounded eth_call size however many nodes there are
        out += await multicall.aggregate(calls[i : i + 3 * CHUNK])
    # (node, alliance, member, provider, payee, removed, owed)
    nodes: list[tuple[int, int, str, str, str, bool, int]] = []
    for i, n in enumerate(node_ids):
        (ok_e, e), (ok_i, info), (ok_o, owed_raw) = out[3 * i : 3 * i + 3]
        if not (ok_e and ok_i and ok_o):
            continue  # a node the registry does not know: nothing we can send for it
        ((alliance_id, member, _units, _exit_at),) = entry_fn.decode(e)
        ((provider, payee, removed, *_rest),) = info_fn.decode(info)
        nodes.append(
            (
                n,
                int(alliance_id),
                to_checksum_address(member),
                to_checksum_address(provider),
                to_checksum_address(payee),
                bool(removed),
                int(owed_fn.decode(owed_raw)[0]),
            )
        )
    alliance_ids = sorted({a for _, a, *_ in nodes if a})
    shares: dict[int, int] = {}
    if alliance_ids:
        got = await multicall.aggregate([(splits.address, alliance_fn.encode([a])) for a in alliance_ids])
        for a, (ok, data) in zip(alliance_ids, got, strict=True):
            shares[a] = int(alliance_fn.decode(data)[0][4]) if ok else 0  # AllianceInfo.totalShares
    threshold = max(1, int(ctx.settings.alliance_collect_min))
    wanted: list[tuple[str, int, str, bytes, int]] = []  # (kind, node, key, calldata, owed)
    for n, alliance_id, member, provider, payee, removed, owed in nodes:
        if alliance_id == 0:
            continue  # withdrawn already (the index lags)
        if payee != splits.address or removed or provider != member:
            wanted.append(
                ("alliances.checkNode", n, check_key(ctx.chain_id, n, period), splits.encode_check_node(n), 0)
            )
        elif owed >= threshold and shares.get(alliance_id, 0) > 0:
            wanted.append(
                ("alliances.collect", n, collect_key(ctx.chain_id, n, period), splits.encode_collect(n), owed)
            )
    if not wanted:
        return CollectRound(period, (), (), 0)
    async with ctx.sessionmaker() as session, session.begin():
        keys = [w[2] for w in wanted]
        there = set(
            await session.scalars(select(OutboxTx.idempotency_key).where(OutboxTx.idempotency_key.in_(keys)))
        )
        new = [w for w in wanted if w[2] not in there]
        for kind, n, key, data, owed in new:
            await enqueue(
                session,
                kind=kind,
                to=splits.address,
                data=data,
                idempotency_key=key,
                args={"chain_node_id": n, "period": period, "owed": owed},
            )
    return CollectRound(
        period,
        tuple(n for kind, n, *_ in new if kind == "alliances.collect"),
        tuple(n for kind, n, *_ in new if kind == "alliances.checkNode"),
        sum(w[4] for w in new),
    )
