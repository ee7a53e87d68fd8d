"""The monitoring room's building blocks: runway arithmetic (pure), the batched chain read, snapshot
storage, downsampling with retention, and the reads alert rules and the history API use.

The chain read (:func:`read_state`) never makes a round trip per wallet or lease: it pins the head block
(one request), then reads every ``balanceOf`` and escrow ``lease(id)`` as ``eth_call``s and every native
balance as ``eth_getBalance`` through :class:`chain.reads.BatchReader` — JSON-RPC batches of
``chunk_size`` calls over HTTP (so ``1 + ceil((wallets + leases) / chunk) + ceil(wallets / chunk)``
requests per scan), ``Multicall`` aggregates elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chain.connect import ChainConnection
from chain.contracts import EscrowClient
from chain.errors import BatchReadError, ChainError
from chain.jsonrpc import Call, RpcClient
from chain.reads import BatchReader
from chain.reverts import decode_revert
from engine.context import Contracts
from engine.deployments.models import LEASE_OPEN, ORPHANED, RETIRING, Deployment, Lease
from engine.identity.models import WalletLink
from engine.money import CreditUnits
from engine.monitoring.models import (
    DAILY,
    DAY,
    HOUR,
    HOURLY,
    RAW,
    AccountRunway,
    BalancePoint,
    BalanceSnapshot,
    Compaction,
    DeploymentRunway,
    LeaseRunway,
    LeaseState,
    Retention,
    RunwayForecast,
)
from engine.wallets.models import ManagedWallet

# Leases that may still hold escrow and burn: open, being retired, or orphaned (open, never run).
WATCHED_LEASE_STATUSES = (LEASE_OPEN, RETIRING, ORPHANED)
BALANCE_OF = bytes.fromhex("70a08231")
DEFAULT_RETENTION = Retention()
_IN_CHUNK = 5000  # ids per IN (...) clause (SQLite's bound-parameter limit)


# ---- runway arithmetic (integers only) ----------------------------------------------------------------


def lease_balance_now(balance: int, rate: int, settled_at: int, now: int) -> CreditUnits:
    """What the lease still holds at ``now``: the accrued-but-unsettled time is already spent (floor 0)."""
    return CreditUnits(max(0, balance - rate * max(0, now - settled_at)))


def runway_of(units: int, rate: int) -> int | None:
    """Whole seconds ``units`` last at ``rate`` per second; ``None`` when nothing burns."""
    return units // rate if rate > 0 else None


def account_runway(
    user_id: int,
    now: int,
    credit_units: int,
    leases: Iterable[tuple[int, LeaseState]],
    *,
    native_wei: int = 0,
) -> AccountRunway:
    """Lease, deployment and account runways from one consistent read (``leases``: ``(deployment id,
    state)``; closed leases are ignored). See :mod:`engine.monitoring.models` for the formulas."""
    lease_runways: list[LeaseRunway] = []
    per_deployment: dict[int, list[LeaseRunway]] = {}
    for deployment_id, state in leases:
        if not state.open or state.rate_per_second <= 0:
            continue
        now_units = lease_balance_now(state.balance, state.rate_per_second, state.settled_at, now)
        item = LeaseRunway(
            lease_id=state.lease_id,
            deployment_id=deployment_id,
            balance_now=now_units,
            rate_per_second=state.rate_per_second,
            runway_seconds=runway_of(now_units, state.rate_per_second),
        )
        lease_runways.append(item)
        per_deployment.setdefault(deployment_id, []).append(item)
    deployments = {
        dep: DeploymentRunway(
            deployment_id=dep,
            lease_units=CreditUnits(sum(r.balance_now for r in items)),
            burn_rate_per_second=CreditUnits(sum(r.rate_per_second for r in items)),
            runway_seconds=min(r.runway_seconds for r in items if r.runway_seconds is not None),
        )
        for dep, items in per_deployment.items()
    }
    lease_units = sum(r.balance_now for r in lease_runways)
    burn = sum(r.rate_per_second for r in lease_runways)
    return AccountRunway(
        user_id=user_id,
        at=now,
        credit_units=CreditUnits(credit_units),
        lease_units=CreditUnits(lease_units),
        burn_rate_per_second=CreditUnits(burn),
        runway_seconds=runway_of(credit_units + lease_units, burn),
        native_wei=native_wei,
        deployments=deployments,
        leases=lease_runways,
    )


# ---- who is watched -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    """One account: the user's wallet addresses (linked and managed) and open leases (deployment, lease)."""

    user_id: int
    addresses: list[str]
    leases: list[tuple[int, int]]


async def watched_accounts(session: AsyncSession, user_ids: Sequence[int] | None = None) -> list[Watched]:
    """Every user with a wallet or an open lease (or only ``user_ids``), ordered by user id."""
    links = select(WalletLink.user_id, WalletLink.address)
    managed = select(ManagedWallet.user_id, ManagedWallet.address)
    leases = (
        select(Deployment.user_id, Lease.deployment_id, Lease.chain_lease_id)
        .join(Deployment, Deployment.id == Lease.deployment_id)
        .where(Lease.chain_lease_id.is_not(None), Lease.status.in_(WATCHED_LEASE_STATUSES))
        .order_by(Lease.id)
    )
    if user_ids is not None:
        links = links.where(WalletLink.user_id.in_(user_ids))
        managed = managed.where(ManagedWallet.user_id.in_(user_ids))
        leases = leases.where(Deployment.user_id.in_(user_ids))
    addresses: dict[int, dict[str, None]] = {}
    for user_id, address in [*(await session.execute(links)).all(), *(await session.execute(managed)).all()]:
        addresses.setdefault(user_id, {})[address] = None  # ordered, deduplicated
    open_leases: dict[int, list[tuple[int, int]]] = {}
    for user_id, deployment_id, lease_id in (await session.execute(leases)).all():
        open_leases.setdefault(user_id, []).append((deployment_id, int(str(lease_id))))
    return [
        Watched(user_id, list(addresses.get(user_id, {})), open_leases.get(user_id, []))
        for user_id in sorted(addresses.keys() | open_leases.keys())
    ]


# ---- the batched chain read ------------------------------------------------------------------------------


def _one_word(abi_type: str) -> bool:
    """A static ABI type that takes exactly one 32-byte word."""
    if "[" in abi_type or abi_type in ("bytes", "string") or abi_type.startswith("("):
        return False
    return abi_type in ("address", "bool") or abi_type.startswith(("uint", "int", "bytes"))


class LeaseViewCodec:
    """Calldata for ``lease(uint256)`` and a fast decoder of its static return struct (field positions
    taken from the escrow client's ABI by name, so a reordered struct still decodes right)."""

    FIELDS = ("balance", "ratePerSecond", "settledAt", "open")

    def __init__(self, escrow: EscrowClient) -> None:
        self.address = escrow.address
        self.fn = escrow.function("lease", 1)
        entry = next(
            e
            for e in escrow.artifact.abi
            if e.get("type") == "function" and e.get("name") == "lease" and len(e.get("inputs", [])) == 1
        )
        outputs = entry["outputs"]
        parts = (outputs[0].get("components") or outputs) if len(outputs) == 1 else outputs
        self.tuple_output = len(outputs) == 1 and "components" in outputs[0]
        self.names = [str(p.get("name", "")) for p in parts]
        one_word = all(_one_word(str(p["type"])) for p in parts)
        self.positions = [self.names.index(f) for f in self.FIELDS] if one_word else None
        self.fast_input = self.fn.input_types == ("uint256",)
        self.selector_hex = "0x" + self.fn.selector.hex()

    def calldata(self, lease_id: int) -> bytes:
        return (
            self.fn.selector + lease_id.to_bytes(32, "big") if self.fast_input else self.fn.encode([lease_id])
        )

    def calldata_hex(self, lease_id: int) -> str:
        if self.fast_input:
            return self.selector_hex + f"{lease_id:064x}"
        return "0x" + self.calldata(lease_id).hex()

    def decode(self, lease_id: int, raw: bytes) -> LeaseState:
        if self.positions is not None and len(raw) >= 32 * len(self.names):
            balance, rate, settled, is_open = (
                int.from_bytes(raw[32 * i : 32 * i + 32], "big") for i in self.positions
            )
        else:
            decoded = self.fn.decode(raw)
            values = dict(zip(self.names, decoded[0] if self.tuple_output else decoded, strict=True))
            balance, rate, settled, is_open = (int(values[f]) for f in self.FIELDS)
        return LeaseState(lease_id, CreditUnits(balance), CreditUnits(rate), settled, bool(is_open))


@dataclass(frozen=True)
class ChainState:
    block: int
    timestamp: int
    credits: list[CreditUnits]  # per address, in order
    natives: list[int]  # per address (empty when not read)
    leases: list[LeaseState]  # per lease id, in order


async def read_state(
    conn: ChainConnection,
    contracts: Contracts,
    addresses: Sequence[str],
    lease_ids: Sequence[int],
    *,
    natives: bool = True,
    transport: str = "auto",
    chunk_size: int = 1000,
    concurrency: int = 4,
) -> ChainState:
    """Credit and native balances of ``addresses`` and the escrow view of ``lease_ids``, all at the head
    block (pinned first, so the numbers are one consistent state), in batched requests.

    Raises :class:`~engine.errors.ContractMissing` (leases but no escrow; no Multicall where needed),
    :class:`chain.errors.BatchReadError` (an item failed), :class:`chain.errors.RpcError`."""
    head = await conn.w3.eth.get_block("latest")
    block, timestamp = int(head["number"]), int(head["timestamp"])
    token = contracts.token
    codec = LeaseViewCodec(contracts.require_escrow()) if lease_ids else None
    balance_of = "0x" + BALANCE_OF.hex() + "00" * 12
    calls: list[tuple[str, str]] = [(token.address, balance_of + a[2:]) for a in addresses]
    if codec is not None:
        calls += [(codec.address, codec.calldata_hex(i)) for i in lease_ids]
    multicall = contracts.multicall.address if contracts.multicall is not None else None
    want_natives = natives and bool(addresses)
    answers: list[bytes | ChainError] = []
    native_list: list[int] = []
    async with BatchReader(
        conn, multicall, chunk_size=chunk_size, concurrency=concurrency, transport=transport
    ) as reader:
        if reader.rpc is not None and calls:
            answers, native_list = await _rpc_read(
                reader.rpc, calls, addresses if want_natives else [], block
            )
        elif calls:
            as_bytes = [(to, bytes.fromhex(data[2:])) for to, data in calls]
            if want_natives:
                answers, native_list = await asyncio.gather(
                    reader.call_many(as_bytes, block=block), reader.eth_balances(addresses, block)
                )
            else:
                answers = await reader.call_many(as_bytes, block=block)
    failures: dict[int, tuple[Any, ChainError]] = {
        i: (calls[i][0], a) for i, a in enumerate(answers) if isinstance(a, ChainError)
    }
    if failures:
        raise BatchReadError("balance scan", failures)
    raw = [a for a in answers if isinstance(a, bytes)]
    credits = [CreditUnits(int.from_bytes(r, "big")) for r in raw[: len(addresses)]]
    leases = (
        [codec.decode(i, r) for i, r in zip(lease_ids, raw[len(addresses) :], strict=True)]
        if codec is not None
        else []
    )
    return ChainState(block, timestamp, credits, native_list, leases)


async def _rpc_read(
    rpc: RpcClient, calls: Sequence[tuple[str, str]], addresses: Sequence[str], block: int
) -> tuple[list[bytes | ChainError], list[int]]:
    """The JSON-RPC batch path: every ``eth_call`` and ``eth_getBalance`` in one stream of batches
    (addresses go out as stored, EIP-55 already: no checksum keccak per wallet on the hot path)."""
    tag = hex(block)
    requests: list[Call] = [("eth_call", ({"to": to, "data": data}, tag)) for to, data in calls]
    requests += [("eth_getBalance", (a, tag)) for a in addresses]
    results = await rpc.batch(requests)
    answers: list[bytes | ChainError] = []
    for result in results[: len(calls)]:
        value = result.result
        if (exc := result.exception()) is not None:
            revert = result.error_data
            answers.append(decode_revert(revert) if revert is not None and revert.startswith("0x") else exc)
        elif isinstance(value, str) and value.startswith("0x"):
            answers.append(bytes.fromhex(value[2:]))
        else:
            answers.append(ChainError(f"eth_call answered {value!r:.80}"))
    natives: list[int] = []
    failures: dict[int, tuple[Any, ChainError]] = {}
    for i, result in enumerate(results[len(calls) :]):
        if (exc := result.exception()) is not None:
            failures[i] = (addresses[i], exc)
            natives.append(0)
        else:
            natives.append(int(str(result.result), 16))
    if failures:
        raise BatchReadError("native balances", failures)
    return answers, natives


def runways_from(accounts: Sequence[Watched], state: ChainState) -> list[AccountRunway]:
    """Each account's runway from a :func:`read_state` over the accounts' addresses and leases, in the
    order they were flattened (addresses account by account, leases account by account)."""
    out: list[AccountRunway] = []
    a = lease = 0
    has_natives = bool(state.natives)
    for acc in accounts:
        n = len(acc.addresses)
        credit = sum(state.credits[a : a + n])
        native = sum(state.natives[a : a + n]) if has_natives else 0
        a += n
        states = state.leases[lease : lease + len(acc.leases)]
        pairs = [(dep, st) for (dep, _), st in zip(acc.leases, states, strict=True)]
        lease += len(acc.leases)
        out.append(account_runway(acc.user_id, state.timestamp, credit, pairs, native_wei=native))
    return out


# ---- snapshots ---------------------------------------------------------------------------------------------


async def store_snapshots(session: AsyncSession, runways: Sequence[AccountRunway], block: int) -> int:
    """One raw snapshot per account (skipping an account already sampled at the same chain time)."""
    if not runways:
        return 0
    at = runways[0].at
    taken: set[int] = set()
    ids = [r.user_id for r in runways]
    for start in range(0, len(ids), _IN_CHUNK):
        rows = await session.execute(
            select(BalanceSnapshot.user_id).where(
                BalanceSnapshot.resolution == RAW,
                BalanceSnapshot.at == at,
                BalanceSnapshot.user_id.in_(ids[start : start + _IN_CHUNK]),
            )
        )
        taken.update(rows.scalars())
    values = [
        {
            "user_id": r.user_id,
            "resolution": RAW,
            "at": r.at,
            "block": block,
            "credit_units": r.credit_units,
            "lease_units": r.lease_units,
            "native_wei": str(r.native_wei),
            "burn_rate_per_second": r.burn_rate_per_second,
            "runway_seconds": r.runway_seconds,
            "deployments": {str(k): v.to_json() for k, v in r.deployments.items()},
        }
        for r in runways
        if r.user_id not in taken
    ]
    if values:
        table = BalanceSnapshot.metadata.tables[BalanceSnapshot.__tablename__]
        await session.execute(insert(table), values)  # Core executemany: no ORM bulk-insert cost
    return len(values)


async def _roll_up(
    session: AsyncSession, source: str, target: str, bucket: int, before: int
) -> tuple[int, int]:
    """Rows of ``source`` resolution older than ``before``: the last one of each (user, bucket) becomes a
    ``target`` row, the rest are deleted. Returns (kept, deleted)."""
    rows = (
        await session.execute(
            select(BalanceSnapshot.id, BalanceSnapshot.user_id, BalanceSnapshot.at)
            .where(BalanceSnapshot.resolution == source, BalanceSnapshot.at < before)
            .order_by(BalanceSnapshot.user_id, BalanceSnapshot.at)
        )
    ).all()
    last: dict[tuple[int, int], int] = {}
    for row_id, user_id, at in rows:
        last[(user_id, at // bucket)] = row_id
    keep = list(last.values())
    kept_set = set(keep)
    drop = [row_id for row_id, _, _ in rows if row_id not in kept_set]
    for start in range(0, len(keep), _IN_CHUNK):
        await session.execute(
            update(BalanceSnapshot)
            .where(BalanceSnapshot.id.in_(keep[start : start + _IN_CHUNK]))
            .values(resolution=target)
        )
    for start in range(0, len(drop), _IN_CHUNK):
        await session.execute(
            delete(BalanceSnapshot).where(BalanceSnapshot.id.in_(drop[start : start + _IN_CHUNK]))
        )
    return len(keep), len(drop)


async def compact(session: AsyncSession, now: int, retention: Retention = DEFAULT_RETENTION) -> Compaction:
    """Downsample by age (see :class:`~engine.monitoring.models.Retention`): raw rows in hours wholly
    older than ``now - raw_seconds`` become one hourly row per hour; hourly rows in days wholly older
    than ``now - hourly_seconds`` become one daily row per day. Daily rows are kept."""
    hour_cut = (now - retention.raw_seconds) // HOUR * HOUR
    hourly, dropped_raw = await _roll_up(session, RAW, HOURLY, HOUR, hour_cut)
    day_cut = (now - retention.hourly_seconds) // DAY * DAY
    daily, dropped_hourly = await _roll_up(session, HOURLY, DAILY, DAY, day_cut)
    return Compaction(hourly_made=hourly, daily_made=daily, deleted=dropped_raw + dropped_hourly)


def _deployments_from_json(raw: dict[str, Any]) -> dict[int, DeploymentRunway]:
    return {
        int(k): DeploymentRunway(
            deployment_id=int(k),
            lease_units=CreditUnits(int(v["lease_units"])),
            burn_rate_per_second=CreditUnits(int(v["burn_rate_per_second"])),
            runway_seconds=None if v["runway_seconds"] is None else int(v["runway_seconds"]),
        )
        for k, v in (raw or {}).items()
    }


async def runway_forecast(session: AsyncSession, user_id: int) -> RunwayForecast | None:
    """The account's latest scanned runway and its deployments' (``None`` before its first scan). For
    alert rules: no chain call; :meth:`RunwayForecast.remaining_at` ages it to a later time."""
    row = (
        await session.execute(
            select(BalanceSnapshot)
            .where(BalanceSnapshot.user_id == user_id)
            .order_by(BalanceSnapshot.at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return None if row is None else _forecast(row)


def _forecast(row: BalanceSnapshot) -> RunwayForecast:
    return RunwayForecast(
        user_id=row.user_id,
        at=row.at,
        burn_rate_per_second=CreditUnits(row.burn_rate_per_second),
        runway_seconds=row.runway_seconds,
        deployments=_deployments_from_json(row.deployments),
    )


async def runway_forecasts(
    session: AsyncSession, *, after_user_id: int = 0, limit: int = 1000
) -> list[RunwayForecast]:
    """:func:`runway_forecast` for a page of accounts at once: the latest forecast of up to ``limit``
    accounts with a user id above ``after_user_id``, by user id (the alert job pages through them)."""
    latest = (
        select(BalanceSnapshot.user_id, func.max(BalanceSnapshot.at).label("at"))
        .where(BalanceSnapshot.user_id > after_user_id)
        .group_by(BalanceSnapshot.user_id)
        .order_by(BalanceSnapshot.user_id)
        .limit(limit)
        .subquery()
    )
    rows = await session.scalars(
        select(BalanceSnapshot)
        .join(latest, and_(BalanceSnapshot.user_id == latest.c.user_id, BalanceSnapshot.at == latest.c.at))
        .order_by(BalanceSnapshot.user_id, BalanceSnapshot.id.desc())
    )
    out: dict[int, RunwayForecast] = {}
    for row in rows:
        out.setdefault(row.user_id, _forecast(row))
    return list(out.values())


async def series(session: AsyncSession, user_id: int, start: int, end: int, step: int) -> list[BalancePoint]:
    """The last sample of each ``step``-long bucket in ``[start, end)`` (buckets without one are left out)."""
    rows = (
        await session.execute(
            select(BalanceSnapshot)
            .where(BalanceSnapshot.user_id == user_id, BalanceSnapshot.at >= start, BalanceSnapshot.at < end)
            .order_by(BalanceSnapshot.at)
        )
    ).scalars()
    buckets: dict[int, BalanceSnapshot] = {}
    for row in rows:
        buckets[start + (row.at - start) // step * step] = row
    return [
        BalancePoint(
            at=at,
            sampled_at=row.at,
            credit_units=CreditUnits(row.credit_units),
            lease_units=CreditUnits(row.lease_units),
            native_wei=int(row.native_wei),
            burn_rate_per_second=CreditUnits(row.burn_rate_per_second),
            runway_seconds=row.runway_seconds,
        )
        for at, row in sorted(buckets.items())
    ]
