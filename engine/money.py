"""Money: the one module for units and conversions. Integers only, never floats.

Units
    ``Cents``        Stripe amounts, integer US cents.
    ``CreditUnits``  the on-chain credit token's base unit; 6 decimals, 1 credit = 1 USD = 1_000_000 units,
                     so 1 cent = 10_000 units.
    ``Bps``          basis points, 1/10_000 (fees, discounts).

Rounding is always explicit (``Rounding.FLOOR`` / ``Rounding.CEIL``) and chosen in the protocol's favour:
what the platform *pays out* (credit for cents, a discount) rounds down, what it *charges* (a fee) rounds
up. ``credit_to_cents`` floors: a fraction of a cent of credit is never turned into a whole cent.

User input is parsed once, at the edge, through ``Decimal`` (``parse_usd_amount``, ``parse_cents``); a
Python ``float`` is refused outright because it has already lost the exact value.

Stripe's fee and the top-up quote live here too because they are pure integer arithmetic; the operator's
fee settings are carried by ``billing.fees``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum, StrEnum
from typing import NewType

Cents = NewType("Cents", int)
CreditUnits = NewType("CreditUnits", int)
Bps = NewType("Bps", int)

CREDIT_DECIMALS = 6
UNITS_PER_CREDIT = 10**CREDIT_DECIMALS
UNITS_PER_CENT = UNITS_PER_CREDIT // 100  # 10_000
BPS_DENOMINATOR = 10_000

# The largest amount of credit units the engine stores or accepts: the database columns are BIGINT
# (signed 64-bit), and API bounds use this same number, so no amount that passes validation fails at
# INSERT. 2**63-1 units = 9.2 trillion credits, far above any real deposit.
MAX_CREDIT_UNITS = CreditUnits(2**63 - 1)

# Anything above this is a typo or an attack, not a top-up: 10 billion USD.
MAX_CENTS = Cents(10**12)
_MAX_INPUT_CHARS = 32
_USD_RE = re.compile(r"(?P<whole>[0-9]{1,13})(?:\.(?P<frac>[0-9]{1,2}))?")

DEFAULT_STRIPE_PCT_BPS = Bps(290)  # 2.9 %
DEFAULT_STRIPE_FIXED_CENTS = Cents(30)  # 30 ¢


class Rounding(Enum):
    FLOOR = "floor"
    CEIL = "ceil"


class FeeBearer(StrEnum):
    """Who pays Stripe's fee: the user (the charge is grossed up) or the platform (the fee is absorbed)."""

    USER = "user"
    PLATFORM = "platform"


class MoneyError(ValueError):
    """Root of money errors: an amount is malformed, negative, too large, or an argument is out of range.

    ``reason`` is a stable machine code (``float_refused``, ``not_a_number``, ``negative``,
    ``too_many_decimals``, ``too_large``, ``out_of_range``, ...); ``value`` is the offending input.
    """

    def __init__(self, reason: str, message: str, value: object = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.value = value


def _require_int(name: str, value: object, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MoneyError("not_an_integer", f"{name} must be an int, got {type(value).__name__}", value)
    if value < minimum:
        raise MoneyError(
            "negative" if minimum == 0 else "out_of_range", f"{name} must be >= {minimum}, got {value}", value
        )
    return value


def ceil_div(numerator: int, denominator: int) -> int:
    """``ceil(numerator / denominator)`` in integers (the one place it is written)."""
    if denominator <= 0:
        raise MoneyError("out_of_range", f"denominator must be > 0, got {denominator}", denominator)
    return -((-numerator) // denominator)


def _div(numerator: int, denominator: int, rounding: Rounding) -> int:
    if rounding is Rounding.FLOOR:
        return numerator // denominator
    return ceil_div(numerator, denominator)


# ---- conversions ---------------------------------------------------------------------------------


def cents_to_credit(amount: Cents) -> CreditUnits:
    """Exact: 1 cent = 10_000 credit units."""
    return CreditUnits(_require_int("amount", amount) * UNITS_PER_CENT)


def credit_to_cents(units: CreditUnits, rounding: Rounding = Rounding.FLOOR) -> Cents:
    """Credit units to cents; floors by default (never pay out a cent that is not fully there)."""
    return Cents(_div(_require_int("units", units), UNITS_PER_CENT, rounding))


def apply_bps(amount: int, bps: Bps | int, rounding: Rounding) -> int:
    """``amount * bps / 10_000`` with explicit rounding. ``0 <= bps <= 10_000``; ``amount >= 0``.

    Use ``CEIL`` for what the platform collects (fees), ``FLOOR`` for what it gives (discounts, payouts).
    """
    _require_int("amount", amount)
    _require_int("bps", bps)
    if bps > BPS_DENOMINATOR:
        raise MoneyError("out_of_range", f"bps must be <= {BPS_DENOMINATOR}, got {bps}", bps)
    if not isinstance(rounding, Rounding):
        raise MoneyError("bad_rounding", f"rounding must be a Rounding, got {rounding!r}", rounding)
    return _div(amount * bps, BPS_DENOMINATOR, rounding)


# ---- parsing user input --------------------------------------------------------------------------


def parse_usd_amount(value: str | int) -> Cents:
    """A dollar amount typed by a user (``"12"``, ``"12.5"``, ``"12.34"``, or an int of whole dollars)
    → cents.

    Refused: ``float`` and ``bool`` values, signs, exponents, NaN/Infinity, more than two decimal places,
    empty strings, more than ``MAX_CENTS``.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise MoneyError(
            "float_refused" if isinstance(value, float) else "not_a_number",
            f"amount must be a decimal string or an int, got {type(value).__name__}",
            value,
        )
    if isinstance(value, int):
        _require_int("amount", value)
        cents = value * 100
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_INPUT_CHARS:
            raise MoneyError("too_large", "amount is too long", value)
        match = _USD_RE.fullmatch(text)
        if match is None:
            if text.startswith("-"):
                raise MoneyError("negative", "amount must not be negative", value)
            if re.fullmatch(r"[0-9]+\.[0-9]{3,}", text):
                raise MoneyError("too_many_decimals", "amount has more than 2 decimal places", value)
            raise MoneyError("not_a_number", f"not a dollar amount: {value!r}", value)
        try:
            exact = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
            raise MoneyError("not_a_number", f"not a dollar amount: {value!r}", value) from exc
        cents = int(exact * 100)
        assert Decimal(cents) == exact * 100  # the regex allows at most 2 decimal places
    else:
        raise MoneyError("not_a_number", f"amount must be str or int, got {type(value).__name__}", value)
    if cents > MAX_CENTS:
        raise MoneyError("too_large", f"amount exceeds {MAX_CENTS} cents", value)
    return Cents(cents)


def parse_cents(value: object) -> Cents:
    """An ``amount_cents`` field from JSON: an int (not bool, not float) in ``[0, MAX_CENTS]``."""
    if isinstance(value, float):
        raise MoneyError("float_refused", "amount_cents must be an integer, not a float", value)
    cents = _require_int("amount_cents", value)
    if cents > MAX_CENTS:
        raise MoneyError("too_large", f"amount exceeds {MAX_CENTS} cents", value)
    return Cents(cents)


# ---- Stripe fee and top-up quote -----------------------------------------------------------------


def stripe_fee(
    amount_cents: Cents | int,
    pct_bps: Bps | int = DEFAULT_STRIPE_PCT_BPS,
    fixed_cents: Cents | int = DEFAULT_STRIPE_FIXED_CENTS,
) -> Cents:
    """Stripe's processing fee on a charge: ``ceil(amount * pct) + fixed`` (rounded up: an estimate that
    never under-states the cost)."""
    _require_int("fixed_cents", fixed_cents)
    return Cents(apply_bps(amount_cents, pct_bps, Rounding.CEIL) + fixed_cents)


@dataclass(frozen=True)
class Quote:
    """What a top-up costs and yields. ``charge_cents - fee_cents`` is what the platform keeps."""

    amount_cents: Cents  # what the user asked to top up
    charge_cents: Cents  # what the card is charged
    fee_cents: Cents  # Stripe's fee on ``charge_cents`` (estimate, rounded up)
    credit_units: CreditUnits  # what is minted
    fee_bearer: FeeBearer

    @property
    def net_cents(self) -> Cents:
        return Cents(self.charge_cents - self.fee_cents)


def gross_up(net_cents: Cents | int, pct_bps: Bps | int, fixed_cents: Cents | int) -> Cents:
    """The smallest charge ``C`` with ``C - stripe_fee(C) >= net_cents``."""
    net = _require_int("net_cents", net_cents)
    _require_int("fixed_cents", fixed_cents)
    if _require_int("pct_bps", pct_bps) >= BPS_DENOMINATOR:
        raise MoneyError("out_of_range", "a fee of 100 % or more cannot be grossed up", pct_bps)
    target = net + fixed_cents
    # C - ceil(C*p/D) is non-decreasing in C and >= C*(D-p)/D - 1; start near the real solution and step.
    charge = _div(target * BPS_DENOMINATOR, BPS_DENOMINATOR - pct_bps, Rounding.CEIL)
    while charge - apply_bps(charge, pct_bps, Rounding.CEIL) < target:
        charge += 1
    while charge > 0 and (charge - 1) - apply_bps(charge - 1, pct_bps, Rounding.CEIL) >= target:
        charge -= 1
    return Cents(charge)


def quote_topup(
    amount_cents: Cents | int,
    *,
    fee_bearer: FeeBearer,
    pct_bps: Bps | int = DEFAULT_STRIPE_PCT_BPS,
    fixed_cents: Cents | int = DEFAULT_STRIPE_FIXED_CENTS,
) -> Quote:
    """Quote a top-up of ``amount_cents`` of credit.

    - ``FeeBearer.PLATFORM``: the card is charged ``amount_cents``; the platform absorbs the fee.
    - ``FeeBearer.USER``: the charge is grossed up so that after Stripe's fee the platform still nets at
      least ``amount_cents`` (``gross_up``); the user receives exactly ``amount_cents`` of credit.
    In both cases the credit minted equals ``amount_cents`` (1 cent = 10_000 units).
    """
    amount = Cents(_require_int("amount_cents", amount_cents))
    bearer = FeeBearer(fee_bearer)
    if bearer is FeeBearer.PLATFORM:
        charge = amount
    else:
        charge = gross_up(amount, pct_bps, fixed_cents)
    fee = stripe_fee(charge, pct_bps, fixed_cents)
    return Quote(
        amount_cents=amount,
        charge_cents=charge,
        fee_cents=fee,
        credit_units=cents_to_credit(amount),
        fee_bearer=bearer,
    )
