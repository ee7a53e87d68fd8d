"""Monitoring commands: the scan tick, the balance history of an account, and the live runway of one
account (for ``GET /api/wallet``).

Each owns its database transaction and reads the chain through ``ctx`` (batched, see
:mod:`engine.monitoring.services`).
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.context import Context
from engine.money import CreditUnits, ceil_div
from engine.monitoring import services
from engine.monitoring.errors import InvalidRange
from engine.monitoring.models import AccountRunway, BalanceSeries, Retention, ScanResult

DEFAULT_WINDOW = 7 * 86_400
DEFAULT_POINTS = 500
MIN_STEP = 60
MAX_POINTS = 2_000


async def scan_balances(
    ctx: Context,
    *,
    retention: Retention | None = None,
    chunk_size: int = 1000,
    concurrency: int = 4,
) -> ScanResult:
    """One tick: read every watched account's credit, native balance and open leases in batched calls,
    compute the runways, store a raw snapshot per account, then downsample and prune by ``retention``.

    Raises :class:`~engine.errors.ContractMissing`, :class:`chain.errors.BatchReadError`,
    :class:`chain.errors.RpcError`."""
    async with ctx.sessionmaker() as s:
        accounts = await services.watched_accounts(s)
    addresses = [a for acc in accounts for a in acc.addresses]
    lease_ids = [lease_id for acc in accounts for _, lease_id in acc.leases]
    state = await services.read_state(
        ctx.chain, ctx.contracts, addresses, lease_ids, chunk_size=chunk_size, concurrency=concurrency
    )
    runways = services.runways_from(accounts, state)
    async with ctx.sessionmaker() as s, s.begin():
        stored = await services.store_snapshots(s, runways, state.block)
        compaction = await services.compact(s, state.timestamp, retention or Retention())
    return ScanResult(
        block=state.block,
        at=state.timestamp,
        accounts=len(accounts),
        leases=len(lease_ids),
        stored=stored,
        compaction=compaction,
        runways=runways,
    )


async def account_runway_now(ctx: Context, user_id: int, credit_units: CreditUnits) -> AccountRunway:
    """The account's runway now, given its wallet credit (already read by the caller): its open leases
    are read in one batched call at the head block.

    Raises :class:`~engine.errors.ContractMissing`, :class:`chain.errors.BatchReadError`."""
    async with ctx.sessionmaker() as s:
        (account,) = await services.watched_accounts(s, [user_id]) or [services.Watched(user_id, [], [])]
    if not account.leases:
        return services.account_runway(user_id, 0, credit_units, [])
    lease_ids = [lease_id for _, lease_id in account.leases]
    state = await services.read_state(
        ctx.chain, ctx.contracts, [], lease_ids, natives=False, transport="multicall"
    )
    pairs = [(dep, st) for (dep, _), st in zip(account.leases, state.leases, strict=True)]
    return services.account_runway(user_id, state.timestamp, credit_units, pairs)


def _window(now: int, start: int | None, end: int | None, step: int | None) -> tuple[int, int, int]:
    end = now if end is None else end
    start = end - DEFAULT_WINDOW if start is None else start
    if step is None:
        step = max(MIN_STEP, ceil_div(max(end - start, 1), DEFAULT_POINTS))
    if start < 0 or end <= start:
        raise InvalidRange("'from' must be before 'to'", start=start, end=end, step=step)
    if step < MIN_STEP:
        raise InvalidRange(f"'step' must be at least {MIN_STEP} seconds", start=start, end=end, step=step)
    if ceil_div(end - start, step) > MAX_POINTS:
        raise InvalidRange(f"at most {MAX_POINTS} points: widen 'step'", start=start, end=end, step=step)
    return start, end, step


async def balance_history(
    ctx: Context,
    user_id: int,
    *,
    start: int | None = None,
    end: int | None = None,
    step: int | None = None,
) -> BalanceSeries:
    """The account's balance series in ``[start, end)`` (unix seconds; default: the last 7 days up to
    now), one point per ``step`` seconds that has a sample (the last one in it; default step: about 500
    points, at least a minute).

    Raises :class:`~engine.monitoring.errors.InvalidRange` (empty or reversed window, step under a
    minute, more than 2,000 points)."""
    start, end, step = _window(int(ctx.clock().timestamp()), start, end, step)
    async with ctx.sessionmaker() as s:
        points = await services.series(s, user_id, start, end, step)
    return BalanceSeries(start=start, end=end, step=step, points=points)


__all__: Sequence[str] = ["account_runway_now", "balance_history", "scan_balances"]
