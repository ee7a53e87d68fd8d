"""Auto top-up commands: :func:`set_rule` and :func:`get_status` (``PUT|GET /api/wallet/auto-top-up``) and
:func:`tick` (the ``autotopup.tick`` job).

**One tick** (chain time ``now``, period ``now // cooldown``, cap month ``month_of(now)``):

1. *Settle* what earlier ticks started: a claim whose outbox top-up is confirmed is ``done`` (notifies
   ``auto_top_up_done`` once per rule and period), a failed one ``failed`` (the rule turns ``failing``
   with the outbox's reason, ``auto_top_up_failed``); card sagas resume from their stored step.
2. *Plan*: every rule's user's open leases (status ``open``, not stopped, deployment runnable — never a
   closing one) are read in one batched call and their runway computed by the monitoring room
   (:func:`engine.monitoring.services.account_runway`, the same arithmetic as its forecast). A lease under
   the floor needs ``target * rate - balance_now``. Sources in the user's order fill the needs: ``credit``
   up to the payer's on-chain bound (``autoTopUpOf`` bucket, allowance and balance; never more: the escrow
   reverts anyway), ``card`` for what is left, one charge per (rule, period). Both within the cap left
   this month; nothing under ``auto_top_up_min_units``.
3. *Claim*: one row per (lease, period), ``INSERT .. ON CONFLICT DO NOTHING``, in the same transaction as
   the outbox ``autoTopUp`` (wallet payers; the signer holds ``TOPUP_ROLE``) or the relay's ``topUpBySig``
   (managed payers). Two ticks at once, or two processes: one insert wins, the other writes nothing.
4. *Card saga* (claims wait in ``waiting_card``): ``charging`` — the injected :data:`CardCharger`
   (billing: off-session PaymentIntent, key ``cm-autotopup-<rule>-<period>``, then the ledger mint with
   the webhook path's business key, the intent id) -> ``minted`` -> once the mint is confirmed the top-ups
   are enqueued as in 3 -> ``done``. A decline or ``authentication_required`` fails the saga and its
   claims, marks the rule failing and notifies; the card source is then skipped until the user PUTs
   the rule again. A crash anywhere resumes from the stored step; every step is idempotent (Stripe key,
   ledger business key, outbox keys).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from chain.contracts import UnsignedTx
from engine.autotopup import services
from engine.autotopup.errors import CardsUnavailable, InvalidRule, UnknownPaymentMethod
from engine.autotopup.models import (
    CHARGE_CHARGING,
    CHARGE_DONE,
    CHARGE_FAILED,
    CHARGE_MINTED,
    CLAIM_DONE,
    CLAIM_ENQUEUED,
    CLAIM_FAILED,
    CLAIM_WAITING_CARD,
    FAILING,
    HEALTHY,
    SOURCE_CARD,
    SOURCE_CREDIT,
    SOURCES,
    AutoTopUpCharge,
    AutoTopUpClaim,
    AutoTopUpRule,
    AutoTopUpStatus,
    CardCharge,
    CardResult,
    OnChainBound,
    RuleRequest,
    RuleView,
    TickResult,
    charge_key,
    claim_key,
    utcnow,
)
from engine.context import Context
from engine.deployments import models as dm
from engine.deployments.status import TOP_UP_OK
from engine.failpoints import failpoint
from engine.identity.models import WalletLink
from engine.money import MAX_CREDIT_UNITS, Cents, CreditUnits
from engine.monitoring import services as monitoring
from engine.monitoring.models import LeaseRunway, LeaseState
from engine.notifications.services import notify
from engine.outbox import services as outbox
from engine.outbox.models import OutboxStatus
from engine.pagination import clamp_limit, decode_cursor, encode_cursor
from engine.payments.models import Payment
from engine.payments.services import get_entry
from engine.relay.services import outbox_key as relay_outbox_key

log = logging.getLogger(__name__)

CardCharger = Callable[[CardCharge], Awaitable[CardResult]]
MethodCheck = Callable[[int, str], Awaitable[bool]]  # (user id, payment method) -> owned by the user?

AUTO_TOP_UP_KIND = "escrow.autoTopUp"
MAX_SECONDS = 366 * 86_400  # a target beyond a year is a typo
MIN_CARD_CENTS = 50  # Stripe's smallest USD charge


# ---- the rule ------------------------------------------------------------------------------------------


def _validate(req: RuleRequest) -> None:
    if not 0 < req.floor_seconds < req.target_seconds:
        raise InvalidRule("floor_seconds", "must be positive and below target_seconds")
    if req.target_seconds > MAX_SECONDS:
        raise InvalidRule("target_seconds", f"at most {MAX_SECONDS} seconds")
    if not 0 < req.monthly_cap <= MAX_CREDIT_UNITS:
        raise InvalidRule("monthly_cap", f"must be between 1 and {MAX_CREDIT_UNITS} credit units")
    kinds = [s.kind for s in req.sources]
    if not kinds or len(set(kinds)) != len(kinds) or any(k not in SOURCES for k in kinds):
        raise InvalidRule("sources", "one or two distinct sources: 'credit', 'card'")
    for src in req.sources:
        if (src.kind == SOURCE_CARD) != bool(src.payment_method):
            raise InvalidRule("sources", "a card source (and only it) names a saved payment_method")


async def set_rule(
    ctx: Context, user_id: int, req: RuleRequest, *, owns_method: MethodCheck | None
) -> RuleView:
    """Create or replace the user's rule (it becomes ``healthy`` again). ``owns_method`` (billing) checks a
    card source's saved payment method; ``None``: payments are off. Nothing is written on an error.

    Raises :class:`~engine.autotopup.errors.InvalidRule` (422), :class:`UnknownPaymentMethod` (404),
    :class:`CardsUnavailable` (503)."""
    _validate(req)
    for src in req.sources:
        if src.kind == SOURCE_CARD and src.payment_method:
            if owns_method is None:
                raise CardsUnavailable()
            if not await owns_method(user_id, src.payment_method):
                raise UnknownPaymentMethod(src.payment_method)
    async with ctx.sessionmaker() as s, s.begin():
        rule = await services.get_rule(s, user_id)
        if rule is None:
            rule = AutoTopUpRule(user_id=user_id)
            s.add(rule)
        rule.floor_seconds = req.floor_seconds
        rule.target_seconds = req.target_seconds
        rule.monthly_cap = req.monthly_cap
        rule.sources = [src.to_json() for src in req.sources]
        rule.state = HEALTHY
        rule.failure_reason = None
        rule.updated_at = utcnow()
        await s.flush()
        used = await services.cap_used(s, rule.id, services.month_of(await ctx.chain_now()))
        return services.rule_view(rule, used)


async def _payers(s: AsyncSession, user_id: int) -> tuple[list[str], list[str], CreditUnits]:
    """(wallet payers, managed payers, Σ rate of open leases) of the user's runnable deployments, plus
    the user's linked wallets (a future deployment's payer)."""
    rows = (
        await s.execute(
            select(dm.Deployment.payer, dm.Deployment.funding, dm.Lease.rate_per_second, dm.Lease.status)
            .join(dm.Lease, dm.Lease.deployment_id == dm.Deployment.id, isouter=True)
            .where(dm.Deployment.user_id == user_id, dm.Deployment.status.in_(TOP_UP_OK))
        )
    ).all()
    wallet: dict[str, None] = {}
    managed: dict[str, None] = {}
    burn = 0
    for payer, funding, rate, status in rows:
        (managed if funding == dm.FUNDING_MANAGED else wallet)[payer] = None
        if status == dm.LEASE_OPEN and rate:
            burn += int(rate)
    links = await s.scalars(
        select(WalletLink.address).where(WalletLink.user_id == user_id, WalletLink.kind != "managed")
    )
    for address in links:
        if address not in managed:
            wallet.setdefault(address, None)
    return list(wallet), list(managed), CreditUnits(burn)


async def get_status(
    ctx: Context, user_id: int, *, cursor: str | None = None, limit: int | None = None
) -> AutoTopUpStatus:
    """The rule (``None``: none), a page of its recent actions (newest first), the on-chain bound of each
    payer wallet, and — when a wallet's bound is missing or smaller than ``2 * target * burn`` (capped by
    the monthly cap: the bucket then holds ``target * burn``, enough to refill every lease from empty to
    the target at once) — the unsigned ``setAutoTopUp`` that raises it, after an ``approve`` (of the
    monthly cap) when the escrow's allowance is short of it. Managed payers need none: the engine funds
    them through the relay (``topUpBySig`` with a permit).

    Raises :class:`~engine.pagination.BadCursor`, :class:`~engine.errors.ContractMissing`."""
    after = decode_cursor(cursor)
    size = clamp_limit(limit)
    now = await ctx.chain_now()
    async with ctx.sessionmaker() as s:
        rule = await services.get_rule(s, user_id)
        wallets, managed, burn = await _payers(s, user_id)
        if rule is None:
            return AutoTopUpStatus(None, [], None, [], CreditUnits(0), relayed=managed)
        used = await services.cap_used(s, rule.id, services.month_of(now))
        rows = await services.actions(s, rule.id, after, size)
        view = services.rule_view(rule, used)
    page = rows[:size]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > size and page else None
    suggested = CreditUnits(min(rule.monthly_cap, 2 * rule.target_seconds * burn))
    bounds: list[OnChainBound] = []
    txs: list[UnsignedTx] = []
    escrow = ctx.contracts.require_escrow()
    token = ctx.contracts.token
    for payer in wallets:
        bound = await services.read_bound(ctx.contracts, payer, managed=False)
        bounds.append(bound)
        if suggested > 0 and bound.allowance < suggested:
            data = token.encode_approve(escrow.address, rule.monthly_cap)
            why = "allow the escrow to pull auto top-ups (up to the monthly cap)"
            txs.append(UnsignedTx(token.address, data, ctx.chain_id, from_address=payer, description=why))
        if suggested > 0 and bound.max_per_day < suggested:
            data = escrow.encode_set_auto_top_up(suggested)
            why = "set the on-chain auto top-up bound (setAutoTopUp)"
            txs.append(UnsignedTx(escrow.address, data, ctx.chain_id, from_address=payer, description=why))
    return AutoTopUpStatus(
        rule=view,
        actions=[services.action_of(r) for r in page],
        next_cursor=next_cursor,
        bounds=bounds,
        suggested_max_per_day=suggested,
        transactions=txs,
        relayed=managed,
    )


# ---- the tick ------------------------------------------------------------------------------------------


@dataclass
class _Lease:
    rule: AutoTopUpRule
    deployment: dm.Deployment
    lease: dm.Lease
    chain_id: int
    runway: int
    need: int


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def _claim(
    s: AsyncSession, item: _Lease, period: int, month: int, source: str, amount: int, charge_id: int | None
) -> int | None:
    """Insert the (lease, period) claim; ``None`` when another tick holds it."""
    stmt = (
        _insert(s)(AutoTopUpClaim)
        .values(
            rule_id=item.rule.id,
            user_id=item.rule.user_id,
            deployment_id=item.deployment.id,
            lease_row_id=item.lease.id,
            chain_lease_id=str(item.chain_id),
            period=period,
            month=month,
            source=source,
            amount=amount,
            runway_seconds=item.runway,
            status=CLAIM_WAITING_CARD if charge_id is not None else CLAIM_ENQUEUED,
            charge_id=charge_id,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["lease_row_id", "period", "source"])
        .returning(AutoTopUpClaim.id)
    )
    return (await s.execute(stmt)).scalar_one_or_none()


async def _fund(ctx: Context, s: AsyncSession, claim: AutoTopUpClaim) -> None:
    """Enqueue the claim's top-up: ``autoTopUp`` through the outbox (wallet payer) or a relayed
    ``topUpBySig`` (managed payer). In the caller's transaction."""
    lease = await s.get(dm.Lease, claim.lease_row_id)
    dep = await s.get(dm.Deployment, claim.deployment_id)
    assert lease is not None and dep is not None
    if dep.funding == dm.FUNDING_MANAGED and ctx.relay is not None:
        req = await ctx.relay.queue(s, dep, lease, dm.REQ_TOP_UP, claim.amount)
        claim.outbox_key = relay_outbox_key(req.id)
        await ctx.relay.advance(s, dep.payer)
    else:
        escrow = ctx.contracts.require_escrow()
        key = claim_key(int(claim.chain_lease_id), claim.period)
        await outbox.enqueue(
            s,
            kind=AUTO_TOP_UP_KIND,
            to=escrow.address,
            data=escrow.encode_auto_top_up(int(claim.chain_lease_id), claim.amount),
            idempotency_key=key,
            args={"lease_id": claim.chain_lease_id, "amount": str(claim.amount), "claim": claim.id},
        )
        claim.outbox_key = key
    claim.status = CLAIM_ENQUEUED
    claim.updated_at = utcnow()


async def _fail_rule(s: AsyncSession, rule_id: int, period: int, reason: str) -> None:
    rule = await s.get(AutoTopUpRule, rule_id)
    if rule is None:
        return
    rule.state = FAILING
    rule.failure_reason = reason[:500]
    rule.updated_at = utcnow()
    await notify(
        s,
        rule.user_id,
        "auto_top_up_failed",
        f"auto_top_up_failed:{rule.id}:{period}",
        "Auto top-up failed",
        f"An automatic top-up failed: {reason[:200]}. Your deployments may run out of credit.",
        {"reason": reason[:200], "period": period},
    )


async def _relay_dropped(s: AsyncSession, key: str) -> bool:
    """Whether ``key`` names a relayed request the relay failed before sending (no outbox row ever)."""
    prefix = relay_outbox_key(0)[:-1]
    if not key.startswith(prefix) or not key[len(prefix) :].isdigit():
        return False
    req = await s.get(dm.EscrowRequest, int(key[len(prefix) :]))
    return req is not None and req.status == dm.REQ_FAILED


async def _settle(ctx: Context, s: AsyncSession, rule_ids: Sequence[int] | None = None) -> tuple[int, int]:
    """Enqueued claims whose outbox row is final: ``done`` / ``failed`` (caller commits)."""
    stmt = select(AutoTopUpClaim).where(
        AutoTopUpClaim.status == CLAIM_ENQUEUED, AutoTopUpClaim.outbox_key.is_not(None)
    )
    if rule_ids is not None:
        stmt = stmt.where(AutoTopUpClaim.rule_id.in_(rule_ids))
    done = failed = 0
    for claim in (await s.scalars(stmt.order_by(AutoTopUpClaim.id))).all():
        row = await outbox.get_by_key(s, str(claim.outbox_key))
        if row is None and await _relay_dropped(s, str(claim.outbox_key)):
            claim.status = CLAIM_FAILED
            claim.failure_reason = "the relay dropped the top-up (lease closed or its node stopped)"
            claim.updated_at = utcnow()
            continue  # not the rule's fault: it stays healthy
        if row is None or row.status not in (OutboxStatus.CONFIRMED, OutboxStatus.FAILED):
            continue
        claim.updated_at = utcnow()
        if row.status == OutboxStatus.CONFIRMED:
            claim.status = CLAIM_DONE
            done += 1
            await notify(
                s,
                claim.user_id,
                "auto_top_up_done",
                f"auto_top_up_done:{claim.rule_id}:{claim.period}",
                "Auto top-up done",
                "Your deployments' escrow was topped up automatically.",
                {"period": claim.period, "lease_id": claim.chain_lease_id, "amount": str(claim.amount)},
            )
        else:
            claim.status = CLAIM_FAILED
            claim.failure_reason = (row.last_error or "top-up transaction failed")[:500]
            failed += 1
            await _fail_rule(s, claim.rule_id, claim.period, claim.failure_reason)
    return done, failed


async def _stop_saga(s: AsyncSession, charge: AutoTopUpCharge, reason: str) -> None:
    """The saga failed: it and its claims are ``failed`` (``reason``); the rule turns failing, notified."""
    charge.step = CHARGE_FAILED
    charge.failure_reason = reason[:500]
    charge.updated_at = utcnow()
    for claim in await s.scalars(select(AutoTopUpClaim).where(AutoTopUpClaim.charge_id == charge.id)):
        claim.status = CLAIM_FAILED
        claim.failure_reason = reason[:500]
        claim.updated_at = utcnow()
    await _fail_rule(s, charge.rule_id, charge.period, f"card: {reason}")


async def _advance_charge(ctx: Context, charge_id: int, card: CardCharger | None) -> str:
    """Move one card saga on by as many steps as are ready; returns its step."""
    async with ctx.sessionmaker() as s:
        charge = await s.get(AutoTopUpCharge, charge_id)
        assert charge is not None
        step, intent = charge.step, charge.intent_id
        args = CardCharge(
            charge_id=charge.id,
            rule_id=charge.rule_id,
            user_id=charge.user_id,
            period=charge.period,
            payment_id=int(charge.payment_id or 0),
            payment_method=charge.payment_method,
            amount_cents=Cents(charge.amount_cents),
            credit_units=CreditUnits(charge.credit_units),
            idempotency_key=charge_key(charge.rule_id, charge.period),
        )
    if step == CHARGE_CHARGING:
        if card is None:
            return step
        result = await card(args)  # idempotent: same key, same intent; the mint is once per intent id
        failpoint("autotopup.after_mint")
        async with ctx.sessionmaker() as s, s.begin():
            charge = await s.get(AutoTopUpCharge, charge_id, with_for_update=True)
            assert charge is not None
            if charge.step != CHARGE_CHARGING:
                return charge.step
            charge.updated_at = utcnow()
            charge.intent_id = result.intent_id
            payment = await s.get(Payment, charge.payment_id) if charge.payment_id else None
            if payment is not None and payment.payment_intent_id is None:
                payment.payment_intent_id = result.intent_id
            if not result.succeeded:
                await _stop_saga(s, charge, result.reason or "card payment failed")
                return CHARGE_FAILED
            charge.step = CHARGE_MINTED
            step, intent = CHARGE_MINTED, result.intent_id
    if step == CHARGE_MINTED:
        async with ctx.sessionmaker() as s, s.begin():
            entry = await get_entry(s, str(intent)) if intent else None
            mint = None if entry is None else await outbox.get_by_key(s, entry.mint_key)
            if mint is None or mint.status not in (OutboxStatus.CONFIRMED, OutboxStatus.FAILED):
                return CHARGE_MINTED  # not final yet: the next tick looks again
            charge = await s.get(AutoTopUpCharge, charge_id, with_for_update=True)
            assert charge is not None
            if charge.step != CHARGE_MINTED:
                return charge.step
            if mint.status == OutboxStatus.FAILED:  # paid but not minted: the ledger entry stays for
                # the operator (refund or re-mint); the saga and its claims stop, the rule says why
                await _stop_saga(s, charge, f"mint failed: {mint.last_error or 'reverted'}")
                return CHARGE_FAILED
            claims = (
                await s.scalars(
                    select(AutoTopUpClaim).where(
                        AutoTopUpClaim.charge_id == charge_id, AutoTopUpClaim.status == CLAIM_WAITING_CARD
                    )
                )
            ).all()
            for claim in claims:
                await _fund(ctx, s, claim)
            charge.step = CHARGE_DONE
            charge.updated_at = utcnow()
            return CHARGE_DONE
    return step


async def _candidates(
    s: AsyncSession, rules: Sequence[AutoTopUpRule]
) -> list[tuple[AutoTopUpRule, dm.Deployment, dm.Lease]]:
    by_user = {r.user_id: r for r in rules}
    rows = (
        await s.execute(
            select(dm.Deployment, dm.Lease)
            .join(dm.Lease, dm.Lease.deployment_id == dm.Deployment.id)
            .where(
                dm.Deployment.user_id.in_(list(by_user)),
                dm.Deployment.status.in_(TOP_UP_OK),
                dm.Lease.status == dm.LEASE_OPEN,
                dm.Lease.stopped_at.is_(None),
                dm.Lease.chain_lease_id.is_not(None),
            )
            .order_by(dm.Lease.id)
        )
    ).all()
    return [(by_user[dep.user_id], dep, lease) for dep, lease in rows]


async def tick(ctx: Context, *, card: CardCharger | None = None) -> TickResult:
    """One auto top-up pass over every rule (see the module docstring).

    Raises :class:`~engine.errors.ContractMissing` (no escrow), :class:`chain.errors.BatchReadError`,
    :class:`chain.errors.RpcError` (chain reads); a card charger's transport errors propagate (the saga
    stays at its step and resumes next tick)."""
    settings = ctx.settings
    now = await ctx.chain_now()
    period = now // max(1, settings.auto_top_up_cooldown)
    month = services.month_of(now)
    min_units = settings.auto_top_up_min_units
    async with ctx.sessionmaker() as s, s.begin():
        done, failed = await _settle(ctx, s)
    async with ctx.sessionmaker() as s:
        pending = list(
            await s.scalars(
                select(AutoTopUpCharge.id).where(AutoTopUpCharge.step.in_((CHARGE_CHARGING, CHARGE_MINTED)))
            )
        )
    for charge_id in pending:
        await _advance_safely(ctx, charge_id, card)
    if await ctx.escrow_paused():  # top-ups revert while paused: claim nothing, charge nothing
        return TickResult(done=done, failed=failed)
    async with ctx.sessionmaker() as s:
        rules = list((await s.scalars(select(AutoTopUpRule).order_by(AutoTopUpRule.id))).all())
        found = await _candidates(s, rules) if rules else []
        # funded this period, or a top-up still on its way (the claim's unique key is the real guard)
        busy = set(
            await s.scalars(
                select(AutoTopUpClaim.lease_row_id).where(
                    or_(
                        AutoTopUpClaim.period == period,
                        AutoTopUpClaim.status.in_((CLAIM_ENQUEUED, CLAIM_WAITING_CARD)),
                    )
                )
            )
        )
        used = {r.id: await services.cap_used(s, r.id, month) for r in rules}
    found = [f for f in found if f[2].id not in busy]
    if not found:
        return TickResult(rules=len(rules), done=done, failed=failed)
    lease_ids = [int(str(lease.chain_lease_id)) for _, _, lease in found]
    state = await monitoring.read_state(ctx.chain, ctx.contracts, [], lease_ids, natives=False)
    per_user: dict[int, list[tuple[int, LeaseState]]] = {}
    for (rule, dep, _), st in zip(found, state.leases, strict=True):
        per_user.setdefault(rule.user_id, []).append((dep.id, st))
    runways: dict[int, LeaseRunway] = {}  # chain lease id -> its runway, as the monitoring room computes it
    for user_id, pairs in per_user.items():
        account = monitoring.account_runway(user_id, state.timestamp, 0, pairs)
        runways.update((r.lease_id, r) for r in account.leases)
    items: list[_Lease] = []
    for rule, dep, lease in found:
        runway = runways.get(int(str(lease.chain_lease_id)))
        if runway is None or runway.runway_seconds is None or runway.runway_seconds >= rule.floor_seconds:
            continue  # closed on chain, or not under the floor
        need = services.need_of(runway.balance_now, runway.rate_per_second, rule.target_seconds)
        items.append(_Lease(rule, dep, lease, runway.lease_id, int(runway.runway_seconds), need))
    claimed = enqueued = charges = 0
    for rule in rules:
        mine = sorted((i for i in items if i.rule.id == rule.id), key=lambda i: i.runway)
        if not mine:
            continue
        c, e, ch = await _plan_rule(
            ctx, rule, mine, period, month, rule.monthly_cap - used[rule.id], min_units
        )
        claimed, enqueued, charges = claimed + c, enqueued + e, charges + ch
    async with ctx.sessionmaker() as s:
        fresh = list(
            await s.scalars(
                select(AutoTopUpCharge.id).where(
                    AutoTopUpCharge.period == period, AutoTopUpCharge.step == CHARGE_CHARGING
                )
            )
        )
    for charge_id in fresh:
        if charge_id not in pending:
            await _advance_safely(ctx, charge_id, card)
    return TickResult(
        rules=len(rules), claimed=claimed, enqueued=enqueued, charges=charges, failed=failed, done=done
    )


async def _advance_safely(ctx: Context, charge_id: int, card: CardCharger | None) -> None:
    """One saga's step; a failure (Stripe or the database unreachable) leaves it at its stored step for
    the next tick and does not hold up the other sagas or the planning."""
    try:
        await _advance_charge(ctx, charge_id, card)
    except Exception:
        log.exception("auto top-up charge %s: step deferred to the next tick", charge_id)


async def _plan_rule(
    ctx: Context,
    rule: AutoTopUpRule,
    items: list[_Lease],
    period: int,
    month: int,
    cap_left: int,
    min_units: int,
) -> tuple[int, int, int]:
    """Claims (and the card saga) for one rule's leases under the floor: (claimed, enqueued, charges)."""
    # per payer, what may still leave its wallet this tick: ``bounds`` the escrow's autoTopUp bucket and
    # allowance (wallet payers; managed ones are relayed with a permit), ``balances`` its credit
    bounds: dict[str, int] = {}
    balances: dict[str, int] = {}
    for item in items:
        payer = item.deployment.payer
        if payer in balances:
            continue
        if item.deployment.funding == dm.FUNDING_MANAGED:
            balances[payer] = await ctx.contracts.token.balance_of(payer)
        else:
            bound = await services.read_bound(ctx.contracts, payer, managed=False)
            bounds[payer] = min(bound.available, bound.allowance)
            balances[payer] = bound.balance
    needs = {item.lease.id: item.need for item in items}
    credit_plan: list[tuple[_Lease, int]] = []
    card_plan: list[tuple[_Lease, int]] = []
    card_units = card_cents = 0
    sources = [src.get("kind") for src in rule.sources]
    card_pm = next(
        (str(src["payment_method"]) for src in rule.sources if src.get("kind") == SOURCE_CARD), None
    )
    for kind in sources:
        if kind == SOURCE_CREDIT:
            for item in items:
                payer = item.deployment.payer
                pullable = min(balances[payer], bounds.get(payer, MAX_CREDIT_UNITS))
                amount = services.credit_amount(needs[item.lease.id], pullable, cap_left, min_units)
                if amount <= 0:
                    continue
                credit_plan.append((item, amount))
                needs[item.lease.id] -= amount
                cap_left -= amount
                balances[payer] -= amount
                if payer in bounds:
                    bounds[payer] -= amount
        elif kind == SOURCE_CARD and card_pm is not None and rule.state != FAILING:
            # card credit reaches a wallet payer's lease through autoTopUp too: bounded the same way
            wanted = []
            for item in items:
                payer = item.deployment.payer
                room = needs[item.lease.id]
                if payer in bounds:
                    room = min(room, bounds[payer])
                    bounds[payer] -= room
                wanted.append(room)
            cents, units = services.card_amount(sum(wanted), cap_left, min_units, MIN_CARD_CENTS)
            if units <= 0:
                continue
            # the charge rounds up to whole cents (and to Stripe's minimum): the surplus tops up the
            # neediest lease as far as its payer's bound allows; what is left stays in the wallet
            shares = services.split(units, wanted)
            payer = items[0].deployment.payer
            extra = units - sum(shares)
            if payer in bounds:
                extra = min(extra, max(0, bounds[payer]))
                bounds[payer] -= extra
            shares[0] += extra
            card_plan = [(item, share) for item, share in zip(items, shares, strict=True) if share > 0]
            cap_left -= units
            for item, share in card_plan:
                needs[item.lease.id] = max(0, needs[item.lease.id] - share)
            card_units, card_cents = int(units), int(cents)
    claimed = enqueued = charges = 0
    async with ctx.sessionmaker() as s, s.begin():
        for item, pull in credit_plan:
            claim_id = await _claim(s, item, period, month, SOURCE_CREDIT, pull, None)
            if claim_id is None:
                continue
            claimed += 1
            claim = await s.get(AutoTopUpClaim, claim_id)
            assert claim is not None
            await _fund(ctx, s, claim)
            enqueued += 1
        if card_plan and card_pm is not None:
            stmt = (
                _insert(s)(AutoTopUpCharge)
                .values(
                    rule_id=rule.id,
                    user_id=rule.user_id,
                    period=period,
                    payment_method=card_pm,
                    amount_cents=card_cents,
                    credit_units=card_units,
                    step=CHARGE_CHARGING,
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["rule_id", "period"])
                .returning(AutoTopUpCharge.id)
            )
            charge_id = (await s.execute(stmt)).scalar_one_or_none()
            if charge_id is not None:
                payment = Payment(
                    user_id=rule.user_id,
                    currency="usd",
                    amount_cents=card_cents,
                    charge_cents=card_cents,
                    fee_cents=0,
                    credit_units=card_units,
                    fee_bearer="platform",
                )
                s.add(payment)
                await s.flush()
                charge = await s.get(AutoTopUpCharge, charge_id)
                assert charge is not None
                charge.payment_id = payment.id
                charges += 1
                for item, share in card_plan:
                    if await _claim(s, item, period, month, SOURCE_CARD, share, charge_id) is not None:
                        claimed += 1
    return claimed, enqueued, charges
