"""Runway arithmetic (engine.monitoring.services), by hand-computed cases: integers only, accrued time
counted, floor at zero, closed leases ignored, the account pooling its wallet credit."""

from __future__ import annotations

from engine.money import CreditUnits
from engine.monitoring.models import LeaseState
from engine.monitoring.services import account_runway, lease_balance_now, runway_of


def lease(lease_id: int, balance: int, rate: int, settled_at: int, *, is_open: bool = True) -> LeaseState:
    return LeaseState(lease_id, CreditUnits(balance), CreditUnits(rate), settled_at, is_open)


def test_lease_balance_counts_the_unsettled_time_and_floors_at_zero() -> None:
    assert lease_balance_now(1_000, 3, 100, 150) == 850
    assert lease_balance_now(1_000, 3, 100, 100) == 1_000
    assert lease_balance_now(1_000, 3, 100, 90) == 1_000  # settled in the future (clock skew): no burn
    assert lease_balance_now(1_000, 3, 100, 1_000) == 0
    assert runway_of(850, 3) == 283
    assert runway_of(850, 0) is None


def test_account_deployment_and_lease_runways() -> None:
    now = 10_000
    leases = [
        (1, lease(11, 1_000_000, 7, 9_000)),  # 993_000 left -> 141_857 s
        (1, lease(12, 50_000, 13, 9_500)),  # 43_500 left -> 3_346 s
        (2, lease(21, 90, 1, 9_000)),  # overdrawn: 0 left -> 0 s
        (3, lease(31, 5_000, 9, 0, is_open=False)),  # closed: ignored
    ]
    got = account_runway(5, now, 2_000_001, leases)
    assert [(r.lease_id, r.balance_now, r.runway_seconds) for r in got.leases] == [
        (11, 993_000, 141_857),
        (12, 43_500, 3_346),
        (21, 0, 0),
    ]
    assert got.deployments[1].runway_seconds == 3_346  # the first replica to stop
    assert got.deployments[1].burn_rate_per_second == 20
    assert got.deployments[1].lease_units == 1_036_500
    assert got.deployments[2].runway_seconds == 0
    assert 3 not in got.deployments
    assert got.burn_rate_per_second == 21
    assert got.lease_units == 1_036_500
    assert got.runway_seconds == (2_000_001 + 1_036_500) // 21 == 144_595


def test_nothing_burning_has_no_runway() -> None:
    got = account_runway(5, 100, 1_000, [])
    assert got.runway_seconds is None and got.burn_rate_per_second == 0 and got.deployments == {}
