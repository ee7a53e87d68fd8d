"""Staking commands (issue 13).

* :func:`get_tiers`, :func:`get_my_staking` — reads (``GET /api/staking/tiers``, ``/api/staking/me``);
* :func:`stake`, :func:`request_unstake`, :func:`withdraw` — checked first against the chain (so a request
  that would revert is refused with its reason), then: for the caller's own wallet the unsigned transactions;
  for a managed wallet (tokens, no ETH) the request signed by the managed key and relayed through the outbox
  (``stakeBySig`` with a platform-token permit, ``requestUnstakeBySig``, ``withdrawBySig``;
  :mod:`engine.staking.relay`), returned as the relay's state (``StakingTxs.relayed``), one at a time per
  wallet (:class:`StakingInFlight`);
* :func:`schedule_tiers` — the operator's tier set, validated, as one outbox ``scheduleTiers`` row;
* :func:`report_spend_rates` — the ``staking.spend_rates`` job: each payer's total open (list) lease rate,
  written to the contract where it differs (the discount formula checks the stake's coverage against it);
* :func:`preview_discount` — what a payer's opens would be charged now (the deployment quote shows it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from chain.contracts import UnsignedTx
from chain.staking import MAX_LOCK, StakingClient
from engine.context import Context
from engine.deployments import models as dm
from engine.deployments.errors import NoPayer
from engine.deployments.services import choose_payer
from engine.money import Bps, CreditUnits
from engine.outbox import services as outbox
from engine.staking import relay, services
from engine.staking.errors import (
    InsufficientStake,
    InvalidStakeAmount,
    NothingToWithdraw,
    StakeLocked,
    StakingInFlight,
    StakingRelayUnavailable,
)
from engine.staking.models import (
    DiscountPreview,
    MyStaking,
    PendingTiers,
    RelayedStaking,
    ScheduledTiers,
    StakingTxs,
    TierSetRequest,
    TiersView,
)
from engine.wallets.services import load_account

UINT96 = 2**96 - 1
SPEND_REPORT_BATCH = 100  # accounts per reportSpendRates call
SPEND_REPORT_PERIOD = 60  # seconds of chain time per idempotency period of the reports


async def _escrow_cap(ctx: Context) -> int:
    escrow = ctx.contracts.escrow
    return await escrow.max_discount_bps() if escrow is not None else 0


async def get_tiers(ctx: Context) -> TiersView:
    """The tier set in force, the scheduled one, cooldown, delay and the escrow's cap.

    Raises :class:`~engine.errors.ContractMissing` (503) without a staking contract."""
    staking, token = ctx.contracts.require_staking()
    current, pending, cap = await staking.tiers(), await staking.pending_tiers(), await _escrow_cap(ctx)
    return TiersView(
        staking_address=staking.address,
        token_address=token.address,
        tiers=services.tier_views(current.tiers, cap),
        cover_per_token=current.cover_per_token,
        pending=None
        if pending is None
        else PendingTiers(
            services.tier_views(pending.tiers, cap), pending.cover_per_token, pending.activates_at
        ),
        cooldown=await staking.cooldown(),
        tier_delay=await staking.tier_delay(),
        escrow_max_discount_bps=Bps(cap),
    )


async def _account(ctx: Context, user_id: int, wallet: str | None) -> tuple[str, str]:
    async with ctx.sessionmaker() as session:
        return await choose_payer(session, user_id, wallet)


async def get_my_staking(ctx: Context, user_id: int, wallet: str | None = None) -> MyStaking:
    """The caller's stake (``wallet``, else the account a deployment would pay from), tier, discount,
    coverage and what the next tier needs (read from the chain, the truth), with the indexed position and
    stake history (from the index, no chain reads) and a managed wallet's newest relayed request.

    Raises ``NoPayer`` (400 ``no_wallet``), ``ContractMissing`` (503)."""
    staking, token = ctx.contracts.require_staking()
    address, funding = await _account(ctx, user_id, wallet)
    now = await ctx.chain_now()
    tier_set = await staking.tiers()
    info = await staking.stake_of(address)
    status = await staking.tier_of(address)
    async with ctx.sessionmaker() as session:
        open_rate = (await services.open_rates(session, [address])).get(address, CreditUnits(0))
        indexed = await services.indexed_position(session, address)
        history = await services.history(session, address)
        last = await relay.latest(session, address) if funding == dm.FUNDING_MANAGED else None
    cap = await _escrow_cap(ctx)
    return MyStaking(
        address=address,
        funding=funding,
        token_balance=await token.balance_of(address),
        allowance=await token.allowance(address, staking.address),
        stake=info,
        level=status.level,
        discount_bps=Bps(status.discount_bps),
        effective_discount_bps=Bps(min(status.discount_bps, cap)),
        covered_rate=CreditUnits(status.covered_rate),
        reported_spend_rate=CreditUnits(await staking.spend_rate_of(address)),
        open_rate=open_rate,
        next_tier=services.next_tier(tier_set, info, status.level, now),
        withdrawable=info.cooling > 0 and now >= info.cooling_end,
        indexed=indexed,
        history=history,
        relay=services.relayed_view(last) if last is not None else None,
    )


async def _wallet(ctx: Context, user_id: int, wallet: str | None) -> tuple[StakingClient, str, bool]:
    """The staking client, the account and whether it is the user's managed wallet."""
    staking, _token = ctx.contracts.require_staking()
    address, funding = await _account(ctx, user_id, wallet)
    return staking, address, funding == dm.FUNDING_MANAGED


def _tx(ctx: Context, to: str, data: bytes, sender: str, description: str) -> UnsignedTx:
    return UnsignedTx(to=to, data=data, chain_id=ctx.chain_id, from_address=sender, description=description)


async def _relayed(
    ctx: Context, user_id: int, address: str, function: str, *, amount: int = 0, lock_until: int = 0
) -> StakingTxs:
    """Sign the managed wallet's request and enqueue it (one transaction, committed); its relay state."""
    if ctx.relay is None:
        raise StakingRelayUnavailable()
    staking, token = ctx.contracts.require_staking()
    now = await ctx.chain_now()
    async with ctx.sessionmaker() as session, session.begin():
        busy = await relay.in_flight(session, address)
        if busy is not None:
            raise StakingInFlight(address, busy.id)
        account = await load_account(session, user_id, ctx.relay.keyring)
        row = await relay.relay(
            session,
            staking,
            token,
            account,
            function,
            user_id=user_id,
            now=now,
            amount=amount,
            lock_until=lock_until,
        )
        view: RelayedStaking = services.relayed_view(row)
    return StakingTxs(address, [], view)


async def stake(
    ctx: Context, user_id: int, amount: int, lock_until: int, wallet: str | None = None
) -> StakingTxs:
    """Stake ``amount`` and, if ``lock_until`` is not 0, lock all active stake until then (it must extend the
    lock, lie ahead and within ``MAX_LOCK``). Own wallet: ``approve`` (when the allowance is short) and
    ``stake(amount, lockUntil)`` unsigned. Managed wallet: ``stakeBySig`` with a permit, relayed.

    Raises :class:`InvalidStakeAmount` (422), :class:`StakingInFlight` (409), ``NoPayer`` (400),
    :class:`StakingRelayUnavailable` / ``ContractMissing`` (503)."""
    if not 0 <= amount <= UINT96:
        raise InvalidStakeAmount("amount", f"must be in [0, {UINT96}] base units")
    if amount == 0 and lock_until == 0:
        raise InvalidStakeAmount("amount", "stake a positive amount, or set lock_until to lock only")
    staking, address, managed = await _wallet(ctx, user_id, wallet)
    _staking, token = ctx.contracts.require_staking()
    info = await staking.stake_of(address)
    now = await ctx.chain_now()
    if info.active + info.cooling + amount > UINT96:
        raise InvalidStakeAmount("amount", "the stake would not fit 96 bits")
    if lock_until and not (info.locked_until < lock_until <= now + MAX_LOCK and lock_until > now):
        raise InvalidStakeAmount("lock_until", "must be later than the current lock and now, within 4 years")
    balance = await token.balance_of(address)
    if amount > balance:
        raise InvalidStakeAmount("amount", f"the wallet holds {balance} base units")
    if managed:
        return await _relayed(ctx, user_id, address, relay.STAKE, amount=amount, lock_until=lock_until)
    txs: list[UnsignedTx] = []
    if amount and await token.allowance(address, staking.address) < amount:
        txs.append(
            _tx(ctx, token.address, token.encode_approve(staking.address, amount), address, "allow the stake")
        )
    txs.append(_tx(ctx, staking.address, staking.encode_stake(amount, lock_until), address, "stake"))
    return StakingTxs(address, txs)


async def request_unstake(ctx: Context, user_id: int, amount: int, wallet: str | None = None) -> StakingTxs:
    """``requestUnstake(amount)``: unlocked active stake starts its cooldown (own wallet: unsigned; managed:
    ``requestUnstakeBySig``, relayed).

    Raises :class:`InvalidStakeAmount` (422), :class:`StakeLocked` / :class:`InsufficientStake` /
    :class:`StakingInFlight` (409), ``NoPayer`` (400), :class:`StakingRelayUnavailable` / ``ContractMissing``
    (503)."""
    if not 0 < amount <= UINT96:
        raise InvalidStakeAmount("amount", f"must be in [1, {UINT96}] base units")
    staking, address, managed = await _wallet(ctx, user_id, wallet)
    info = await staking.stake_of(address)
    if info.locked_until > await ctx.chain_now():
        raise StakeLocked(info.locked_until)
    if amount > info.active:
        raise InsufficientStake(info.active, amount)
    if managed:
        return await _relayed(ctx, user_id, address, relay.UNSTAKE, amount=amount)
    return StakingTxs(
        address,
        [_tx(ctx, staking.address, staking.encode_request_unstake(amount), address, "request unstake")],
    )


async def withdraw(ctx: Context, user_id: int, wallet: str | None = None) -> StakingTxs:
    """``withdraw()`` of the cooled stake, to the wallet itself (own wallet: unsigned; managed:
    ``withdrawBySig``, relayed).

    Raises :class:`NothingToWithdraw` / :class:`StakingInFlight` (409), ``NoPayer`` (400),
    :class:`StakingRelayUnavailable` / ``ContractMissing`` (503)."""
    staking, address, managed = await _wallet(ctx, user_id, wallet)
    info = await staking.stake_of(address)
    if info.cooling == 0 or await ctx.chain_now() < info.cooling_end:
        raise NothingToWithdraw(info.cooling, info.cooling_end)
    if managed:
        return await _relayed(ctx, user_id, address, relay.WITHDRAW)
    return StakingTxs(address, [_tx(ctx, staking.address, staking.encode_withdraw(), address, "withdraw")])


async def schedule_tiers(ctx: Context, request: TierSetRequest) -> ScheduledTiers:
    """The operator's new tier set, checked against the contract's bounds and enqueued (outbox
    ``staking.scheduleTiers``; the engine's signer holds ``OPERATOR_ROLE``). It takes effect ``tierDelay``
    after the transaction is mined; the set in force until then does not change.

    Raises :class:`~engine.staking.errors.InvalidTiers` (422), ``ContractMissing`` (503)."""
    services.validate_tiers(request.tiers, request.cover_per_token)
    staking, _token = ctx.contracts.require_staking()
    data = staking.encode_schedule_tiers(request.tiers, request.cover_per_token)
    now = await ctx.chain_now()
    key = f"staking:tiers:{ctx.chain_id}:{hashlib.sha256(data).hexdigest()[:16]}:{now}"
    async with ctx.sessionmaker() as session, session.begin():
        row = await outbox.enqueue(
            session,
            kind="staking.scheduleTiers",
            to=staking.address,
            data=data,
            idempotency_key=key,
            args={
                "tiers": [
                    {"min_stake": str(t.min_stake), "min_lock": t.min_lock, "discount_bps": t.discount_bps}
                    for t in request.tiers
                ],
                "cover_per_token": str(request.cover_per_token),
            },
        )
    return ScheduledTiers(
        outbox_id=row.id,
        status=str(row.status),
        tiers=list(request.tiers),
        cover_per_token=request.cover_per_token,
        earliest_activation=now + await staking.tier_delay(),
    )


async def _spend_rates(ctx: Context, staking: StakingClient, accounts: Sequence[str]) -> list[int]:
    """``spendRateOf`` of each account: one multicall (a plain call each without a Multicall)."""
    multicall = ctx.contracts.multicall
    if multicall is None:
        return [await staking.spend_rate_of(a) for a in accounts]
    fn = staking.function("spendRateOf", 1)
    out: list[int] = []
    for start in range(0, len(accounts), SPEND_REPORT_BATCH):
        batch = accounts[start : start + SPEND_REPORT_BATCH]
        results = await multicall.aggregate([(staking.address, fn.encode([a])) for a in batch])
        out += [int(fn.decode(data)[0]) if ok else -1 for ok, data in results]  # -1: unread, report again
    return out


async def report_spend_rates(ctx: Context) -> int:
    """The ``staking.spend_rates`` job: every payer's total open (list) lease rate, compared with the
    contract's ``spendRateOf`` and enqueued (``reportSpendRates``, batches of ``SPEND_REPORT_BATCH``) where it
    differs. Keys carry the chain-time period, so a rerun in the same period adds nothing and a later change
    back to an earlier value is reported again. Returns how many accounts were enqueued. Raises nothing of
    its own (chain and database errors propagate to the scheduler)."""
    staking = ctx.contracts.staking
    if staking is None:
        return 0
    async with ctx.sessionmaker() as session:
        totals = await services.open_rates(session)
    accounts = sorted(totals)
    reported = await _spend_rates(ctx, staking, accounts)
    changed = [(a, totals[a]) for a, seen in zip(accounts, reported, strict=True) if seen != totals[a]]
    if not changed:
        return 0
    period = await ctx.chain_now() // SPEND_REPORT_PERIOD
    async with ctx.sessionmaker() as session, session.begin():
        for start in range(0, len(changed), SPEND_REPORT_BATCH):
            batch = changed[start : start + SPEND_REPORT_BATCH]
            data = staking.encode_report_spend_rates([a for a, _ in batch], [r for _, r in batch])
            await outbox.enqueue(
                session,
                kind="staking.reportSpendRates",
                to=staking.address,
                data=data,
                idempotency_key=f"staking:spend:{ctx.chain_id}:{hashlib.sha256(data).hexdigest()[:16]}:{period}",
                args={"accounts": [a for a, _ in batch], "rates": [str(r) for _, r in batch]},
            )
    return len(changed)


async def preview_discount(
    ctx: Context, user_id: int, wallet: str | None, rates: Sequence[int]
) -> DiscountPreview | None:
    """The payer's discount now (the oracle's value, capped like the escrow caps it) and the rates the escrow
    would store for quoted list ``rates``. ``None`` without a staking contract, when the escrow's oracle is
    not it, or when the user has no payer yet. Raises nothing of its own."""
    staking, escrow = ctx.contracts.staking, ctx.contracts.escrow
    if staking is None or escrow is None or await escrow.discount_oracle() != staking.address:
        return None
    try:
        payer, _funding = await _account(ctx, user_id, wallet)
    except NoPayer:
        return None
    discount = min(await staking.discount_bps(payer), await escrow.max_discount_bps())
    charged = tuple(services.charged_rate(r, discount) for r in rates)
    return DiscountPreview(payer, Bps(discount), charged, CreditUnits(sum(charged)))
