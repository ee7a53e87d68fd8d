"""engine.money: exact conversions, parsing at the edge, explicit rounding, Stripe fee and top-up quotes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.money import (
    MAX_CENTS,
    UNITS_PER_CENT,
    Bps,
    Cents,
    CreditUnits,
    FeeBearer,
    MoneyError,
    Rounding,
    apply_bps,
    cents_to_credit,
    credit_to_cents,
    gross_up,
    parse_cents,
    parse_usd_amount,
    quote_topup,
    stripe_fee,
)

cents_st = st.integers(min_value=0, max_value=MAX_CENTS)
units_st = st.integers(min_value=0, max_value=MAX_CENTS * UNITS_PER_CENT)
bps_st = st.integers(min_value=0, max_value=10_000)
fee_pct_st = st.integers(min_value=0, max_value=5_000)
fixed_st = st.integers(min_value=0, max_value=1_000)


# ---- examples --------------------------------------------------------------------------------------


def test_unit_constants() -> None:
    assert cents_to_credit(Cents(1)) == 10_000
    assert cents_to_credit(Cents(100)) == 1_000_000  # 1 USD = 1 credit = 10**6 units
    assert credit_to_cents(CreditUnits(19_999)) == 1  # floor
    assert credit_to_cents(CreditUnits(19_999), Rounding.CEIL) == 2


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("0", 0),
        ("1", 100),
        ("12.5", 1250),
        ("12.34", 1234),
        (" 7.05 ", 705),
        ("0.01", 1),
        (3, 300),
        ("00012.30", 1230),
    ],
)
def test_parse_usd_amount_ok(text: str | int, cents: int) -> None:
    assert parse_usd_amount(text) == cents


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (12.5, "float_refused"),
        (0.1, "float_refused"),
        (True, "not_a_number"),
        ("NaN", "not_a_number"),
        ("nan", "not_a_number"),
        ("Infinity", "not_a_number"),
        ("inf", "not_a_number"),
        ("-1", "negative"),
        ("-0.01", "negative"),
        (-5, "negative"),
        ("1.234", "too_many_decimals"),
        ("0.001", "too_many_decimals"),
        ("1e3", "not_a_number"),
        ("", "not_a_number"),
        ("12.", "not_a_number"),
        (".5", "not_a_number"),
        ("1,000", "not_a_number"),
        ("+5", "not_a_number"),
        ("0x10", "not_a_number"),
        ("١٢", "not_a_number"),
        ("9" * 40, "too_large"),
        ("99999999999.99", "too_large"),
        (10**11, "too_large"),
        (None, "not_a_number"),
    ],
)
def test_parse_usd_amount_rejects(value: object, reason: str) -> None:
    with pytest.raises(MoneyError) as info:
        parse_usd_amount(value)  # type: ignore[arg-type]
    assert info.value.reason == reason
    assert info.value.value == value


def test_parse_cents() -> None:
    assert parse_cents(1234) == 1234
    for bad, reason in [
        (12.0, "float_refused"),
        ("12", "not_an_integer"),
        (True, "not_an_integer"),
        (-1, "negative"),
        (MAX_CENTS + 1, "too_large"),
    ]:
        with pytest.raises(MoneyError) as info:
            parse_cents(bad)
        assert info.value.reason == reason


def test_stripe_fee_examples() -> None:
    assert stripe_fee(Cents(1000)) == 29 + 30  # 2.9 % of $10 + 30 ¢
    assert stripe_fee(Cents(1)) == 1 + 30  # 0.029 ¢ rounds UP to 1 ¢
    assert stripe_fee(Cents(0)) == 30
    assert stripe_fee(Cents(1001)) == 30 + 30  # 29.029 -> 30


def test_apply_bps_rejects_out_of_range() -> None:
    with pytest.raises(MoneyError):
        apply_bps(100, Bps(10_001), Rounding.FLOOR)
    with pytest.raises(MoneyError):
        apply_bps(-1, Bps(1), Rounding.FLOOR)
    with pytest.raises(MoneyError):
        apply_bps(1.5, Bps(1), Rounding.FLOOR)  # type: ignore[arg-type]


def test_quote_examples() -> None:
    platform = quote_topup(Cents(1000), fee_bearer=FeeBearer.PLATFORM)
    assert (platform.charge_cents, platform.fee_cents, platform.credit_units) == (1000, 59, 10_000_000)
    assert platform.net_cents == 941
    user = quote_topup(Cents(1000), fee_bearer=FeeBearer.USER)
    # 1061 - ceil(1061*0.029)=31 - 30 = 1000 exactly; 1060 would net 999
    assert (user.charge_cents, user.fee_cents, user.credit_units) == (1061, 61, 10_000_000)
    assert user.net_cents == 1000
    assert quote_topup(1000, fee_bearer="user").charge_cents == 1061  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        quote_topup(1000, fee_bearer="nobody")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        gross_up(100, 10_000, 0)


# ---- properties ------------------------------------------------------------------------------------


@pytest.mark.fuzzing
@given(cents_st)
def test_cents_credit_roundtrip(c: int) -> None:
    units = cents_to_credit(Cents(c))
    assert units == c * 10_000
    assert credit_to_cents(units) == c
    assert credit_to_cents(units, Rounding.CEIL) == c


@pytest.mark.fuzzing
@given(units_st)
def test_credit_to_cents_floor_ceil_bracket(u: int) -> None:
    lo = credit_to_cents(CreditUnits(u), Rounding.FLOOR)
    hi = credit_to_cents(CreditUnits(u), Rounding.CEIL)
    assert 0 <= lo <= hi <= lo + 1
    assert cents_to_credit(lo) <= u <= cents_to_credit(hi)  # floor never pays out more than there is
    assert (lo == hi) == (u % UNITS_PER_CENT == 0)


@pytest.mark.fuzzing
@given(units_st, units_st)
def test_credit_to_cents_monotonic(a: int, b: int) -> None:
    a, b = sorted((a, b))
    assert credit_to_cents(CreditUnits(a)) <= credit_to_cents(CreditUnits(b))


@pytest.mark.fuzzing
@given(st.integers(min_value=0, max_value=10**15), bps_st)
def test_apply_bps_matches_decimal(amount: int, bps: int) -> None:
    exact = Decimal(amount) * Decimal(bps) / Decimal(10_000)
    lo = apply_bps(amount, Bps(bps), Rounding.FLOOR)
    hi = apply_bps(amount, Bps(bps), Rounding.CEIL)
    assert lo <= exact <= hi and hi - lo <= 1
    assert 0 <= lo <= amount and hi <= amount


@pytest.mark.fuzzing
@given(st.integers(min_value=0, max_value=MAX_CENTS), st.integers(min_value=0, max_value=99))
def test_parse_usd_roundtrip(dollars: int, frac: int) -> None:
    cents = dollars * 100 + frac
    if cents > MAX_CENTS:
        with pytest.raises(MoneyError):
            parse_usd_amount(f"{dollars}.{frac:02d}")
        return
    assert parse_usd_amount(f"{dollars}.{frac:02d}") == cents
    assert parse_usd_amount(str(Decimal(cents) / 100)) == cents


@pytest.mark.fuzzing
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_parse_usd_refuses_every_float(value: float) -> None:
    with pytest.raises(MoneyError) as info:
        parse_usd_amount(value)
    assert info.value.reason == "float_refused"


@pytest.mark.fuzzing
@given(st.text(max_size=40))
def test_parse_usd_never_negative_or_crashes(text: str) -> None:
    try:
        cents = parse_usd_amount(text)
    except MoneyError:
        return
    assert 0 <= cents <= MAX_CENTS
    assert Decimal(cents) / 100 == Decimal(text.strip())


@pytest.mark.fuzzing
@given(cents_st, fee_pct_st, fixed_st)
def test_stripe_fee_bounds(amount: int, pct: int, fixed: int) -> None:
    fee = stripe_fee(Cents(amount), Bps(pct), Cents(fixed))
    assert fee >= fixed >= 0
    assert fee <= amount + fixed  # with pct <= 100 % the fee never exceeds amount + fixed
    assert fee * 10_000 >= amount * pct + fixed * 10_000  # rounded up, never under-states


@pytest.mark.fuzzing
@given(cents_st, cents_st, fee_pct_st, fixed_st)
def test_stripe_fee_monotonic(a: int, b: int, pct: int, fixed: int) -> None:
    a, b = sorted((a, b))
    assert stripe_fee(Cents(a), Bps(pct), Cents(fixed)) <= stripe_fee(Cents(b), Bps(pct), Cents(fixed))


@pytest.mark.fuzzing
@given(cents_st, fee_pct_st, fixed_st)
def test_gross_up_is_minimal_and_sufficient(net: int, pct: int, fixed: int) -> None:
    charge = gross_up(Cents(net), Bps(pct), Cents(fixed))
    assert charge - stripe_fee(charge, Bps(pct), Cents(fixed)) >= net
    assert charge - 1 < 0 or (charge - 1) - stripe_fee(Cents(charge - 1), Bps(pct), Cents(fixed)) < net


@pytest.mark.fuzzing
@given(cents_st, fee_pct_st, fixed_st, st.sampled_from(list(FeeBearer)))
def test_quote_invariants(amount: int, pct: int, fixed: int, bearer: FeeBearer) -> None:
    q = quote_topup(Cents(amount), fee_bearer=bearer, pct_bps=Bps(pct), fixed_cents=Cents(fixed))
    assert q.credit_units == amount * UNITS_PER_CENT  # the user always gets what they asked for
    assert q.fee_cents == stripe_fee(q.charge_cents, Bps(pct), Cents(fixed))
    assert q.charge_cents >= amount
    if bearer is FeeBearer.PLATFORM:
        assert q.charge_cents == amount
    else:
        assert q.net_cents >= amount  # the platform is never out of pocket when the user bears the fee
