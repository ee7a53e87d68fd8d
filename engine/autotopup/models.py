"""Auto top-up tables and value types (issue 12, "one runway policy").

* ``auto_top_up_rules`` — one rule per user: keep every open lease's runway between ``floor_seconds`` and
  ``target_seconds``, spending at most ``monthly_cap`` credit units per calendar month (UTC, chain time),
  from the funding ``sources`` in the user's order. ``state`` is ``healthy`` or ``failing`` (with
  ``failure_reason``); a PUT makes it healthy again.
* ``auto_top_up_claims`` — one row per (lease, period, source): the claim that makes two ticks (or two
  processes) fund a lease once per period and source (``UNIQUE(lease_row_id, period, source)``; a period
  is ``cooldown`` seconds of chain time). It is also the action log ``GET /api/wallet/auto-top-up`` pages.
* ``auto_top_up_charges`` — the card saga, one per (rule, period) (``UNIQUE``): ``charging`` (the
  off-session PaymentIntent, idempotency key :func:`charge_key`) -> ``minted`` (the ledger entry and its
  outbox mint exist) -> ``done`` (the top-ups of its claims are enqueued), or ``failed`` with the reason.
  Every step is idempotent, so a crash anywhere resumes from the stored step on the next tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chain.contracts import UnsignedTx
from engine.db import Base
from engine.money import Cents, CreditUnits

HEALTHY = "healthy"
FAILING = "failing"
STATES = (HEALTHY, FAILING)

SOURCE_CREDIT = "credit"
SOURCE_CARD = "card"
SOURCES = (SOURCE_CREDIT, SOURCE_CARD)

# claim status
CLAIM_ENQUEUED = "enqueued"  # the top-up is in the outbox (or the relay queue)
CLAIM_WAITING_CARD = "waiting_card"  # its card saga has not minted yet
CLAIM_DONE = "done"  # the top-up is confirmed on chain
CLAIM_FAILED = "failed"

# card saga steps
CHARGE_CHARGING = "charging"
CHARGE_MINTED = "minted"
CHARGE_DONE = "done"
CHARGE_FAILED = "failed"


def utcnow() -> datetime:
    return datetime.now(UTC)


def charge_key(rule_id: int, period: int) -> str:
    """The Stripe idempotency key of the card saga's PaymentIntent for (rule, period)."""
    return f"cm-autotopup-{rule_id}-{period}"


def claim_key(chain_lease_id: int, period: int) -> str:
    """The outbox idempotency key of the top-up of ``chain_lease_id`` in ``period``."""
    return f"autotopup:{chain_lease_id}:{period}"


class AutoTopUpRule(Base):
    __tablename__ = "auto_top_up_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    floor_seconds: Mapped[int] = mapped_column(BigInteger, nullable=False)
    target_seconds: Mapped[int] = mapped_column(BigInteger, nullable=False)
    monthly_cap: Mapped[int] = mapped_column(BigInteger, nullable=False)  # credit units per UTC month
    # in the user's order: [{"kind": "credit"}, {"kind": "card", "payment_method": "pm_..."}]
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default=HEALTHY)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class AutoTopUpCharge(Base):
    __tablename__ = "auto_top_up_charges"
    __table_args__ = (UniqueConstraint("rule_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("auto_top_up_rules.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    period: Mapped[int] = mapped_column(BigInteger, nullable=False)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), nullable=True)
    payment_method: Mapped[str] = mapped_column(String(255), nullable=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)  # charged
    credit_units: Mapped[int] = mapped_column(BigInteger, nullable=False)  # minted
    step: Mapped[str] = mapped_column(String(16), nullable=False, default=CHARGE_CHARGING)
    intent_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class AutoTopUpClaim(Base):
    __tablename__ = "auto_top_up_claims"
    __table_args__ = (
        UniqueConstraint("lease_row_id", "period", "source"),
        Index("ix_auto_top_up_claims_rule_month", "rule_id", "month"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("auto_top_up_rules.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    deployment_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    lease_row_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    chain_lease_id: Mapped[str] = mapped_column(String(78), nullable=False)
    period: Mapped[int] = mapped_column(BigInteger, nullable=False)
    month: Mapped[int] = mapped_column(Integer, nullable=False)  # YYYYMM (UTC, chain time): the cap's window
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # SOURCE_CREDIT | SOURCE_CARD
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)  # credit units
    runway_seconds: Mapped[int] = mapped_column(BigInteger, nullable=False)  # the lease's runway when claimed
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    charge_id: Mapped[int | None] = mapped_column(
        ForeignKey("auto_top_up_charges.id", ondelete="SET NULL"), nullable=True
    )
    outbox_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


# ---- value types --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    kind: str  # SOURCE_CREDIT | SOURCE_CARD
    payment_method: str | None = None  # the saved Stripe payment method of a card source

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.payment_method is not None:
            out["payment_method"] = self.payment_method
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Source:
        pm = raw.get("payment_method")
        return cls(str(raw["kind"]), None if pm is None else str(pm))


@dataclass(frozen=True)
class RuleRequest:
    """What ``PUT /api/wallet/auto-top-up`` asks for (checked by ``commands.set_rule``)."""

    floor_seconds: int
    target_seconds: int
    monthly_cap: CreditUnits
    sources: list[Source]


@dataclass(frozen=True)
class Coverage:
    """Whether auto top-up covers a user's runway now (what alert rules read; stable interface)."""

    healthy: bool
    floor_seconds: int
    target_seconds: int
    cap_remaining: CreditUnits


@dataclass(frozen=True)
class CardCharge:
    """One card saga's charge, handed to the injected :data:`CardCharger` (billing)."""

    charge_id: int
    rule_id: int
    user_id: int
    period: int
    payment_id: int  # the ``payments`` row (metadata of the PaymentIntent, as for the webhook path)
    payment_method: str
    amount_cents: Cents
    credit_units: CreditUnits
    idempotency_key: str  # :func:`charge_key`


@dataclass(frozen=True)
class CardResult:
    """``succeeded``: the PaymentIntent succeeded and its mint is recorded (once, by business key =
    intent id); ``failed``: declined / authentication required (``reason``) — nothing minted."""

    succeeded: bool
    intent_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class OnChainBound:
    """The escrow's ``autoTopUpOf(payer)`` plus what autoTopUp can actually pull (allowance, balance)."""

    payer: str
    managed: bool
    max_per_day: CreditUnits
    available: CreditUnits
    allowance: CreditUnits
    balance: CreditUnits

    @property
    def pullable(self) -> CreditUnits:
        return CreditUnits(min(self.available, self.allowance, self.balance))


@dataclass(frozen=True)
class Action:
    id: int
    deployment_id: int
    lease_id: int
    period: int
    source: str
    amount: CreditUnits
    runway_seconds: int
    status: str
    failure_reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class RuleView:
    user_id: int
    floor_seconds: int
    target_seconds: int
    monthly_cap: CreditUnits
    sources: list[Source]
    state: str
    failure_reason: str | None
    updated_at: datetime
    cap_used: CreditUnits


@dataclass(frozen=True)
class AutoTopUpStatus:
    """``GET /api/wallet/auto-top-up``: the rule (``None``: none set), its recent actions (a page), the
    on-chain bound of each payer wallet and the transactions to raise a bound that is missing or too small."""

    rule: RuleView | None
    actions: list[Action]
    next_cursor: str | None
    bounds: list[OnChainBound]
    suggested_max_per_day: CreditUnits
    transactions: list[UnsignedTx] = field(default_factory=list)
    relayed: list[str] = field(default_factory=list)  # managed payers: the engine funds through the relay


@dataclass(frozen=True)
class TickResult:
    rules: int = 0
    claimed: int = 0
    enqueued: int = 0
    charges: int = 0
    failed: int = 0
    done: int = 0
