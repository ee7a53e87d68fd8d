"""Auto top-up amounts (integers only): the need to reach the target, the credit pull clipped to the bound
and the cap, the card charge in whole cents (up for the need, down for the cap), nothing under the useful
minimum, and the split of one charge over several leases."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from engine.autotopup.services import card_amount, credit_amount, month_of, need_of, split

MIN = 1_000_000  # one credit


def test_need_reaches_the_target_exactly() -> None:
    assert need_of(balance_now=200_000, rate=100, target_seconds=7_200) == 520_000
    assert need_of(balance_now=900_000, rate=100, target_seconds=7_200) == 0  # above the target: nothing


def test_credit_pull_is_clipped_to_bound_and_cap_and_skipped_under_the_minimum() -> None:
    assert credit_amount(need=5 * MIN, pullable=3 * MIN, cap_left=10 * MIN, min_units=MIN) == 3 * MIN
    assert credit_amount(need=5 * MIN, pullable=10 * MIN, cap_left=2 * MIN, min_units=MIN) == 2 * MIN
    assert credit_amount(need=5 * MIN, pullable=MIN - 1, cap_left=10 * MIN, min_units=MIN) == 0
    assert credit_amount(need=MIN - 1, pullable=10 * MIN, cap_left=10 * MIN, min_units=MIN) == 0


def test_card_charge_is_whole_cents_up_for_the_need_down_for_the_cap() -> None:
    assert card_amount(need=5 * MIN + 1, cap_left=10 * MIN, min_units=MIN, min_cents=50) == (501, 5_010_000)
    assert card_amount(need=5 * MIN, cap_left=3 * MIN + 9_999, min_units=MIN, min_cents=50) == (300, 3 * MIN)
    # Stripe's minimum charge (50 cents) rounds a small need up; under the useful minimum: no charge
    assert card_amount(need=10_000, cap_left=10 * MIN, min_units=1, min_cents=50) == (50, 500_000)
    assert card_amount(need=10_000, cap_left=10 * MIN, min_units=MIN, min_cents=50) == (0, 0)
    assert card_amount(need=5 * MIN, cap_left=MIN - 1, min_units=MIN, min_cents=50) == (0, 0)  # cap too low
    assert card_amount(need=0, cap_left=10 * MIN, min_units=MIN, min_cents=50) == (0, 0)


@given(
    need=st.integers(0, 10**15),
    cap_left=st.integers(0, 10**15),
    min_units=st.integers(1, 10**8),
)
def test_card_charge_never_exceeds_the_cap_and_covers_the_need_when_the_cap_allows(
    need: int, cap_left: int, min_units: int
) -> None:
    cents, units = card_amount(need, cap_left, min_units, 50)
    assert units == cents * 10_000 and units <= cap_left
    if units:
        assert units >= min_units and cents >= 50
        assert units >= need or units > cap_left - 10_000  # covers the need, or the cap is what stops it


@given(total=st.integers(0, 10**12), needs=st.lists(st.integers(0, 10**9), max_size=8))
def test_split_hands_out_at_most_the_total_and_each_need(total: int, needs: list[int]) -> None:
    shares = split(total, needs)
    assert sum(shares) == min(total, sum(needs))
    assert all(0 <= s <= n for s, n in zip(shares, needs, strict=True))


def test_month_is_utc() -> None:
    assert month_of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == 202612
    assert month_of(int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())) == 202701
