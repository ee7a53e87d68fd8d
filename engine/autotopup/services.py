"""Auto top-up building blocks: the rule read alert rules use (:func:`coverage`), the monthly cap, the
amount planning (integers only), the on-chain bound of a payer, and the action log.

**Amounts.** A lease whose runway is below the floor needs ``target * rate - balance_now`` (its balance as
the monitoring room computes it: accrued-but-unsettled time already spent). What a tick asks for is that
need clipped to what the source may give (the on-chain bound, the cap left this month); an amount under
``min_units`` is not pulled or charged at all (no dust top-ups, no credit minted that cannot reach a
lease), and a card amount is whole cents: rounded UP for the need (never under-fund), then DOWN to what
the cap allows (never over the cap).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.autotopup.models import (
    CLAIM_FAILED,
    HEALTHY,
    Action,
    AutoTopUpClaim,
    AutoTopUpRule,
    Coverage,
    OnChainBound,
    RuleView,
    Source,
)
from engine.context import Contracts
from engine.money import Cents, CreditUnits, Rounding, cents_to_credit, credit_to_cents


def month_of(ts: int | datetime) -> int:
    """``YYYYMM`` (UTC) of a unix time or datetime: the monthly cap's window."""
    at = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, UTC)
    at = at.astimezone(UTC)
    return at.year * 100 + at.month


async def get_rule(session: AsyncSession, user_id: int) -> AutoTopUpRule | None:
    return (
        await session.execute(select(AutoTopUpRule).where(AutoTopUpRule.user_id == user_id))
    ).scalar_one_or_none()


async def cap_used(session: AsyncSession, rule_id: int, month: int) -> CreditUnits:
    """Credit units claimed (not failed) by the rule in ``month``."""
    used = await session.scalar(
        select(func.coalesce(func.sum(AutoTopUpClaim.amount), 0)).where(
            AutoTopUpClaim.rule_id == rule_id,
            AutoTopUpClaim.month == month,
            AutoTopUpClaim.status != CLAIM_FAILED,
        )
    )
    return CreditUnits(int(used or 0))


async def coverage(session: AsyncSession, user_id: int) -> Coverage | None:
    """Whether the user's auto top-up covers the runway: ``None`` without a rule; ``healthy`` is the rule's
    state (a failed top-up makes it ``False``); ``cap_remaining`` what the monthly cap still allows this
    UTC month (wall clock). Reads only the database."""
    rule = await get_rule(session, user_id)
    if rule is None:
        return None
    used = await cap_used(session, rule.id, month_of(datetime.now(UTC)))
    return Coverage(
        healthy=rule.state == HEALTHY,
        floor_seconds=rule.floor_seconds,
        target_seconds=rule.target_seconds,
        cap_remaining=CreditUnits(max(0, rule.monthly_cap - used)),
    )


def rule_view(rule: AutoTopUpRule, used: CreditUnits) -> RuleView:
    return RuleView(
        user_id=rule.user_id,
        floor_seconds=rule.floor_seconds,
        target_seconds=rule.target_seconds,
        monthly_cap=CreditUnits(rule.monthly_cap),
        sources=[Source.from_json(s) for s in rule.sources],
        state=rule.state,
        failure_reason=rule.failure_reason,
        updated_at=rule.updated_at,
        cap_used=used,
    )


# ---- amounts (pure) -----------------------------------------------------------------------------------


def need_of(balance_now: int, rate: int, target_seconds: int) -> CreditUnits:
    """What brings a lease burning ``rate``/s from ``balance_now`` to ``target_seconds`` of runway."""
    return CreditUnits(max(0, target_seconds * rate - balance_now))


def credit_amount(need: int, pullable: int, cap_left: int, min_units: int) -> CreditUnits:
    """What the credit source pulls: the need clipped to the bound and the cap; 0 under ``min_units``."""
    amount = min(need, pullable, cap_left)
    return CreditUnits(amount if amount >= max(1, min_units) else 0)


def card_amount(need: int, cap_left: int, min_units: int, min_cents: int) -> tuple[Cents, CreditUnits]:
    """What one card charge buys: the need in whole cents rounded up, at least ``min_cents`` (Stripe's
    minimum charge), then rounded down to the whole cents the cap allows; ``(0, 0)`` when that is under
    ``min_units`` or ``min_cents``."""
    if need <= 0:
        return Cents(0), CreditUnits(0)
    cents = max(int(credit_to_cents(CreditUnits(need), Rounding.CEIL)), min_cents)
    cents = min(cents, int(credit_to_cents(CreditUnits(max(0, cap_left)), Rounding.FLOOR)))
    units = cents_to_credit(Cents(cents))
    if cents < min_cents or units < max(1, min_units):
        return Cents(0), CreditUnits(0)
    return Cents(cents), units


def split(total: int, needs: Sequence[int]) -> list[int]:
    """``total`` handed to ``needs`` in order, each at most its need (the rest goes unused)."""
    out: list[int] = []
    left = total
    for need in needs:
        give = min(need, left)
        out.append(give)
        left -= give
    return out


# ---- on-chain bound -----------------------------------------------------------------------------------


async def read_bound(contracts: Contracts, payer: str, *, managed: bool) -> OnChainBound:
    """``autoTopUpOf(payer)`` and what ``autoTopUp`` can pull now (bucket, allowance to the escrow, balance).

    Raises :class:`~engine.errors.ContractMissing` (no escrow), :class:`chain.errors.ChainError`."""
    escrow = contracts.require_escrow()
    max_per_day, available = await escrow.auto_top_up_of(payer)
    allowance = await contracts.token.allowance(payer, escrow.address)
    balance = await contracts.token.balance_of(payer)
    return OnChainBound(
        payer=payer,
        managed=managed,
        max_per_day=CreditUnits(max_per_day),
        available=CreditUnits(available),
        allowance=CreditUnits(allowance),
        balance=CreditUnits(balance),
    )


# ---- the action log -----------------------------------------------------------------------------------


def action_of(row: AutoTopUpClaim) -> Action:
    return Action(
        id=row.id,
        deployment_id=row.deployment_id,
        lease_id=int(row.chain_lease_id),
        period=row.period,
        source=row.source,
        amount=CreditUnits(row.amount),
        runway_seconds=row.runway_seconds,
        status=row.status,
        failure_reason=row.failure_reason,
        created_at=row.created_at,
    )


async def actions(session: AsyncSession, rule_id: int, after: int | None, limit: int) -> list[AutoTopUpClaim]:
    """Up to ``limit + 1`` claims of the rule, newest first, with ids below ``after``."""
    stmt = select(AutoTopUpClaim).where(AutoTopUpClaim.rule_id == rule_id)
    if after is not None:
        stmt = stmt.where(AutoTopUpClaim.id < after)
    return list((await session.scalars(stmt.order_by(AutoTopUpClaim.id.desc()).limit(limit + 1))).all())
