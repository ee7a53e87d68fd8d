"""``balance_snapshots`` (one row per watched account per scan, downsampled with age) and the value types
of the room: lease / deployment / account runways, the retention policy, history points.

**Runway** (integers only, credit units and seconds; chain time = the scanned block's timestamp ``now``):

* lease: ``balance_now = max(0, balance - rate * max(0, now - settledAt))`` (the accrued-but-unsettled
  time counts), ``runway = balance_now // rate``;
* deployment: the shortest runway of its open leases (the first replica to stop), burn = the sum of rates;
* account: ``(credit + Σ balance_now) // Σ rate`` over the account's open leases: the wallet credit can
  refill any lease, so it is pooled with what the leases still hold. ``None`` when nothing burns
  (``Σ rate == 0``): the runway is unbounded.

The escrow may pause accrual (node maintenance, stopped nodes): the runway ignores that and so errs short.

**Retention** (:class:`Retention`): ``raw`` rows for ``raw_seconds`` (24 h), then one ``hour`` row per
hour (the last sample of the hour) for ``hourly_seconds`` (30 d), then one ``day`` row per day, kept.
A bucket is rolled up only once it lies wholly before the cut-off, so it never gets samples afterwards.
Snapshot times are chain time (the scanned block's timestamp).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.money import CreditUnits

RAW = "raw"
HOURLY = "hour"
DAILY = "day"
RESOLUTIONS = (RAW, HOURLY, DAILY)
HOUR = 3600
DAY = 86_400


class BalanceSnapshot(Base):
    __tablename__ = "balance_snapshots"
    __table_args__ = (
        UniqueConstraint("user_id", "resolution", "at"),
        Index("ix_balance_snapshots_user_at", "user_id", "at"),
        Index("ix_balance_snapshots_resolution_at", "resolution", "at"),  # the downsampling pass
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    resolution: Mapped[str] = mapped_column(String(8), nullable=False)  # RAW | HOURLY | DAILY
    at: Mapped[int] = mapped_column(BigInteger, nullable=False)  # unix seconds, chain time
    block: Mapped[int] = mapped_column(BigInteger, nullable=False)
    credit_units: Mapped[int] = mapped_column(BigInteger, nullable=False)  # Σ wallet credit
    lease_units: Mapped[int] = mapped_column(BigInteger, nullable=False)  # Σ open leases' balance_now
    native_wei: Mapped[str] = mapped_column(String(78), nullable=False)  # Σ native balance, decimal
    burn_rate_per_second: Mapped[int] = mapped_column(BigInteger, nullable=False)  # Σ lease rates
    runway_seconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # None: nothing burns
    # {deployment id: {"runway_seconds", "burn_rate_per_second", "lease_units"}}
    deployments: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


# ---- value types --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaseState:
    """One lease as the escrow reports it (``lease(id)``) at the scanned block."""

    lease_id: int
    balance: CreditUnits
    rate_per_second: CreditUnits
    settled_at: int
    open: bool


@dataclass(frozen=True)
class LeaseRunway:
    lease_id: int
    deployment_id: int
    balance_now: CreditUnits
    rate_per_second: CreditUnits
    runway_seconds: int | None  # None: the lease does not burn (closed)


@dataclass(frozen=True)
class DeploymentRunway:
    deployment_id: int
    lease_units: CreditUnits  # Σ balance_now of its open leases
    burn_rate_per_second: CreditUnits
    runway_seconds: int | None  # the shortest lease runway; None: no open lease

    def to_json(self) -> dict[str, Any]:
        return {
            "runway_seconds": self.runway_seconds,
            "burn_rate_per_second": self.burn_rate_per_second,
            "lease_units": self.lease_units,
        }


@dataclass(frozen=True)
class AccountRunway:
    user_id: int
    at: int  # chain time of the read
    credit_units: CreditUnits
    lease_units: CreditUnits
    burn_rate_per_second: CreditUnits
    runway_seconds: int | None  # None: nothing burns
    native_wei: int = 0
    deployments: dict[int, DeploymentRunway] = field(default_factory=dict)
    leases: list[LeaseRunway] = field(default_factory=list)


@dataclass(frozen=True)
class RunwayForecast:
    """The latest stored runway of an account (what alert rules read; no chain call)."""

    user_id: int
    at: int  # chain time of the scan
    burn_rate_per_second: CreditUnits
    runway_seconds: int | None
    deployments: dict[int, DeploymentRunway]

    def remaining_at(self, now: int) -> int | None:
        """The account runway left at ``now`` if nothing changed since the scan (floor 0)."""
        if self.runway_seconds is None:
            return None
        return max(0, self.runway_seconds - max(0, now - self.at))


@dataclass(frozen=True)
class Retention:
    raw_seconds: int = DAY  # raw samples kept this long
    hourly_seconds: int = 30 * DAY  # hourly samples kept this long, daily ones afterwards


@dataclass(frozen=True)
class Compaction:
    hourly_made: int
    daily_made: int
    deleted: int


@dataclass(frozen=True)
class BalancePoint:
    at: int  # the bucket's start (unix seconds)
    sampled_at: int  # the sample shown (the last one in the bucket)
    credit_units: CreditUnits
    lease_units: CreditUnits
    native_wei: int
    burn_rate_per_second: CreditUnits
    runway_seconds: int | None


@dataclass(frozen=True)
class BalanceSeries:
    start: int
    end: int
    step: int
    points: list[BalancePoint]


@dataclass(frozen=True)
class ScanResult:
    block: int
    at: int
    accounts: int
    leases: int
    stored: int
    compaction: Compaction
    runways: list[AccountRunway]
