"""Tables and value types of the alerts room.

``alert_preferences``: a user's override of the operator's low-balance thresholds (``thresholds`` ``None``:
the operator's default) and whether low-balance alerts are on at all. A user without a row gets the
operator's default, enabled.

``alert_marks``: one row per (user, subject, threshold, period) that was alerted. ``subject`` is
``account`` or ``deployment:<id>``; ``threshold`` is in seconds of runway (``0``: the deployment's runway
is gone, its leases can be closed); ``period`` is ``unix time // alert_period``. A mark is inserted in the
same transaction as the notification that announces it, with insert-or-nothing, so two evaluations that
overlap (two leaders during a split brain, a retried tick) announce each condition once per period.
Marks older than the previous period are pruned by the evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.money import CreditUnits

ACCOUNT = "account"
DEPLOYMENT_PREFIX = "deployment:"
CLOSING = 0  # the threshold of "runway gone": the deployment's leases may be closed for lack of funds

# notification kinds (also webhook event kinds, engine.notifications.services.EVENT_KINDS)
LOW_BALANCE = "low_balance"  # the account's runway (wallet credit + leases) crossed a threshold
RUNWAY_LOW = "runway_low"  # deployments' runway crossed a threshold (one notification lists them all)
DEPLOYMENT_CLOSING = "deployment_closing"  # deployments out of funds (one notification lists them all)


def utcnow() -> datetime:
    return datetime.now(UTC)


def deployment_subject(deployment_id: int) -> str:
    return f"{DEPLOYMENT_PREFIX}{deployment_id}"


class AlertPreference(Base):
    __tablename__ = "alert_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    thresholds: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)  # seconds, descending
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class AlertMark(Base):
    __tablename__ = "alert_marks"
    __table_args__ = (Index("ix_alert_marks_period", "period"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    subject: Mapped[str] = mapped_column(String(40), primary_key=True)
    threshold: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    period: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


# ---- value types --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertSettings:
    """What ``GET /api/me/alerts`` shows: the thresholds in force and where they come from."""

    enabled: bool
    thresholds: tuple[int, ...]  # in force, seconds, descending
    custom: bool  # True: the user's own; False: the operator's default
    operator_default: tuple[int, ...]


@dataclass(frozen=True)
class Condition:
    """One subject below one threshold: ``runway_seconds`` left (aged to the evaluation time) at
    ``burn_rate_per_second``. ``threshold`` is the most severe one crossed (the smallest)."""

    subject: str
    threshold: int
    runway_seconds: int
    burn_rate_per_second: CreditUnits
    crossed: tuple[int, ...]  # every threshold crossed (all are marked, the most severe is announced)

    @property
    def deployment_id(self) -> int | None:
        if self.subject.startswith(DEPLOYMENT_PREFIX):
            return int(self.subject.removeprefix(DEPLOYMENT_PREFIX))
        return None


@dataclass(frozen=True)
class EvaluationResult:
    period: int
    users: int  # users with a forecast that were looked at
    notifications: int  # notifications created (each may list many deployments)
    conditions: int  # conditions announced
    silenced: int  # conditions left quiet because auto top-up is healthy and covers them
    kinds: dict[str, int] = field(default_factory=dict)  # notifications per kind
