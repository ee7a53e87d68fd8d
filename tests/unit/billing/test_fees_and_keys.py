"""billing.fees and billing.idempotency: operator bounds, supported currencies, key derivation."""

from __future__ import annotations

import pytest

from billing.fees import FeeSchedule
from billing.idempotency import IdempotencyKeyError, check_key, idempotency_key
from engine.money import Cents, FeeBearer, MoneyError


def test_fee_schedule_bounds_and_currency() -> None:
    fees = FeeSchedule(min_cents=Cents(500), max_cents=Cents(100_000), fee_bearer=FeeBearer.USER)
    assert fees.check_amount(500, "usd") == 500
    assert fees.check_amount(100_000, "USD") == 100_000
    for amount, currency, reason in [
        (499, "usd", "below_minimum"),
        (100_001, "usd", "above_maximum"),
        (1000, "eur", "unsupported_currency"),
        (1000, None, "unsupported_currency"),
        (10.5, "usd", "float_refused"),
        ("1000", "usd", "not_an_integer"),
        (-5, "usd", "negative"),
    ]:
        with pytest.raises(MoneyError) as info:
            fees.check_amount(amount, currency)
        assert info.value.reason == reason
    q = fees.quote(Cents(1000))
    assert q.charge_cents == 1061 and q.credit_units == 10_000_000


def test_idempotency_keys() -> None:
    assert idempotency_key("topup", 42) == "cm-topup-42"
    assert idempotency_key("default_pm", 3, 17) == "cm-default_pm-3-17"
    assert check_key("cm-topup-42") == "cm-topup-42"
    for bad in ["3f2c7a9e-4b1d-4c8e-9a6f-2d1b0c9e8f7a", "cm-topup-", "topup-1", "cm-Top-1", ""]:
        with pytest.raises(IdempotencyKeyError):
            check_key(bad)
    for purpose, parts in [("Top", (1,)), ("topup", ()), ("topup", ("a b",)), ("topup", ("",))]:
        with pytest.raises(IdempotencyKeyError):
            idempotency_key(purpose, *parts)
