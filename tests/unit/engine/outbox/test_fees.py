"""The 12.5% replacement rule, in integers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.outbox.fees import Fees, bump, bumped_fees, initial_fees

wei = st.integers(min_value=0, max_value=10**30)


def test_bump_examples() -> None:
    assert bump(0) == 1
    assert bump(1) == 2
    assert bump(8) == 9
    assert bump(9) == 11  # ceil(10.125)
    assert bump(1_000_000_000) == 1_125_000_000


@given(wei)
def test_bump_is_at_least_twelve_and_a_half_percent_and_one_wei(old: int) -> None:
    new = bump(old)
    assert new * 8 >= old * 9
    assert new >= old + 1
    assert (new - 1) * 8 < old * 9 or new == old + 1  # the smallest such integer


@pytest.mark.fuzzing
@given(wei, wei, wei, st.integers(min_value=0, max_value=10**20))
def test_bumped_fees_raise_both_fields_and_respect_the_cap(
    max_fee: int, tip: int, cap: int, base: int
) -> None:
    old = Fees(max_fee_per_gas=max(max_fee, tip), max_priority_fee_per_gas=tip)
    new = bumped_fees(old, cap, base)
    if new is None:
        # only when the cap leaves no room for a valid bump
        assert bump(old.max_fee_per_gas) > cap or bump(old.max_priority_fee_per_gas) > cap
        return
    assert new.max_fee_per_gas * 8 >= old.max_fee_per_gas * 9
    assert new.max_priority_fee_per_gas * 8 >= old.max_priority_fee_per_gas * 9
    assert new.max_fee_per_gas >= old.max_fee_per_gas + 1
    assert new.max_priority_fee_per_gas >= old.max_priority_fee_per_gas + 1
    assert new.max_fee_per_gas <= cap and new.max_priority_fee_per_gas <= new.max_fee_per_gas


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=10**12), wei)
def test_initial_fees_capped_and_consistent(base: int, tip: int, cap: int) -> None:
    fees = initial_fees(base, tip, cap)
    assert fees.max_priority_fee_per_gas <= fees.max_fee_per_gas
    assert fees.max_priority_fee_per_gas <= cap
    assert fees.max_fee_per_gas <= max(cap, fees.max_priority_fee_per_gas)
    if 2 * base + tip <= cap:
        assert fees.max_fee_per_gas == 2 * base + tip
