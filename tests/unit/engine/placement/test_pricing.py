"""Rates: floors, one ceil, certified premium, the fee shown separately, and the floor-rate short-cut."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.deployments.spec import Resources
from engine.placement import PRICE_SCALE, NoNodeFits, PricingPolicy, UnitPrices, floor_rate, place, quote
from engine.placement import quote_rate as rate_of
from tests.unit.engine.placement.builders import FLOOR, POLICY, node, spec


def test_exact_rate_and_ceil() -> None:
    res = Resources(1_000, 1_024, 10)
    n = node(prices=UnitPrices(2_000, 1_000, 20_000, 0))
    exact = 2_000 * 1_000 + 1_000 * 1_024 + 20_000 * 10  # price units / s
    assert exact == 3_224_000
    assert rate_of(res, n, POLICY) == -(-exact // PRICE_SCALE) == 4  # 3.224 rounds UP to 4


def test_prices_below_floor_are_raised_to_the_floor() -> None:
    res = Resources(1_000, 1_024, 10)
    cheap = node(prices=UnitPrices(1, 1, 1, 1))
    assert rate_of(res, cheap, POLICY) == floor_rate(res, POLICY)
    assert floor_rate(res, POLICY) == -(-(1_000 * 1_000 + 500 * 1_024 + 10_000 * 10) // PRICE_SCALE)


def test_certified_premium_and_fee() -> None:
    res = Resources(10_000, 0, 0)
    policy = PricingPolicy(UnitPrices(0, 0, 0, 0), certified_premium_bps=1_000, platform_fee_bps=333)
    plain = node(prices=UnitPrices(1_000, 0, 0, 0))
    cert = node(prices=UnitPrices(1_000, 0, 0, 0), certified=True)
    assert rate_of(res, plain, policy) == 10
    assert rate_of(res, cert, policy) == 11
    q = quote(res, cert, policy)
    assert q.certified_premium_applied
    assert q.platform_fee_per_second == 0  # floor(11 * 333 / 10_000) = floor(0.3663), as the escrow rounds
    assert q.provider_per_second == 11 and q.rate_per_second == 11


@given(
    prices=st.tuples(*[st.integers(0, 10**9)] * 4),
    qty=st.tuples(*[st.integers(0, 10**5)] * 4),
    certified=st.booleans(),
)
def test_rate_never_below_floor_and_is_ceil(prices, qty, certified) -> None:
    from engine.deployments.spec import GpuRequest

    res = Resources(qty[0], qty[1], qty[2], GpuRequest("a100", qty[3]) if qty[3] else None)
    n = node(prices=UnitPrices(*prices), certified=certified)
    rate = rate_of(res, n, POLICY)
    assert rate >= floor_rate(res, POLICY)
    mult = 10_000 + (POLICY.certified_premium_bps if certified else 0)
    floors = (FLOOR.per_cpu_millicore, FLOOR.per_memory_mb, FLOOR.per_disk_gb, FLOOR.per_gpu)
    exact = sum(max(p, f) * q for p, f, q in zip(prices, floors, qty, strict=True))
    assert (rate - 1) * 10_000 * PRICE_SCALE < exact * mult <= rate * 10_000 * PRICE_SCALE


def test_max_price_below_floor_is_a_clear_no_fit() -> None:
    s = spec(max_price_per_second=floor_rate(spec().resources, POLICY) - 1)
    with pytest.raises(NoNodeFits) as info:
        place(s, [node("a"), node("b")], POLICY)
    assert info.value.reason == "max_price_below_floor"
    assert info.value.floor_rate == floor_rate(s.resources, POLICY)
    assert info.value.rejections == {"price": 2}
    # exactly at the floor: a floor-priced node fits
    s_ok = spec(max_price_per_second=floor_rate(spec().resources, POLICY))
    assert place(s_ok, [node("a", prices=FLOOR)], POLICY).primaries[0].node_id == "a"
