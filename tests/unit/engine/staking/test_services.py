"""The staking room's pure parts: tier validation mirrors the contract's bounds, the next tier's needs, the
escrow's rounding of a discounted rate, and the mirrored discount formula."""

from __future__ import annotations

import pytest

from chain.staking import MAX_LOCK, StakeInfo, Tier, TierSet, discount_for
from engine.staking.errors import InvalidTiers
from engine.staking.services import charged_rate, next_tier, validate_tiers

UNIT = 10**18
TIERS = (Tier(10 * UNIT, 0, 2_000), Tier(20 * UNIT, 30 * 86_400, 4_000))


def test_valid_tiers_pass_and_each_bound_is_refused() -> None:
    validate_tiers(TIERS, 1)
    validate_tiers((), 0)
    cases = [
        ((Tier(UNIT, 0, 6_001),), 1, 0),
        ((Tier(0, 0, 100),), 1, 0),
        ((Tier(2, 0, 100), Tier(2, 0, 200)), 1, 1),
        ((Tier(1, MAX_LOCK + 1, 100),), 1, 0),
        ((Tier(2**96, 0, 100),), 1, 0),
        (TIERS, 0, None),
        (tuple(Tier(i + 1, 0, 1) for i in range(7)), 1, None),
    ]
    for tiers, cover, index in cases:
        with pytest.raises(InvalidTiers) as info:
            validate_tiers(tiers, cover)
        assert info.value.index == index and info.value.code == "invalid_tiers"


def test_next_tier_says_what_is_missing() -> None:
    now = 1_000_000
    none = StakeInfo(0, 0, 0, 0)
    first = next_tier(TierSet(TIERS, 1), none, 0, now)
    assert first is not None and (first.level, first.stake_needed, first.lock_until_needed) == (
        1,
        10 * UNIT,
        0,
    )
    some = StakeInfo(15 * UNIT, 0, 0, now + 86_400)
    second = next_tier(TierSet(TIERS, 1), some, 1, now)
    assert second is not None and second.stake_needed == 5 * UNIT
    assert second.lock_until_needed == now + 30 * 86_400
    assert next_tier(TierSet(TIERS, 1), some, 2, now) is None


def test_the_discounted_rate_rounds_up_like_the_escrow() -> None:
    assert charged_rate(1_001, 2_000) == 801
    assert charged_rate(11, 4_000) == 7
    assert charged_rate(1, 5_000) == 1
    assert charged_rate(1_000, 0) == 1_000


def test_the_mirrored_formula_needs_active_stake_lock_and_coverage() -> None:
    now = 5_000_000
    tier_set = TierSet(TIERS, 1_000)  # one whole token covers 1,000 units/s
    locked = StakeInfo(20 * UNIT, 0, 0, now + 30 * 86_400)
    assert discount_for(tier_set, locked, 20_000, now).discount_bps == 4_000
    assert discount_for(tier_set, locked, 20_001, now).discount_bps == 0  # spend beyond the coverage
    assert discount_for(tier_set, locked, 0, now + 1).discount_bps == 2_000  # the lock runs short
    assert discount_for(tier_set, StakeInfo(9 * UNIT, 11 * UNIT, 0, 0), 0, now).level == 0  # cooling: nothing
