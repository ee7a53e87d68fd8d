"""Operator fee settings and top-up bounds; the arithmetic lives in ``engine.money``."""

from __future__ import annotations

from dataclasses import dataclass

from engine.money import (
    DEFAULT_STRIPE_FIXED_CENTS,
    DEFAULT_STRIPE_PCT_BPS,
    Bps,
    Cents,
    FeeBearer,
    MoneyError,
    Quote,
    parse_cents,
    quote_topup,
)

SUPPORTED_CURRENCIES = frozenset({"usd"})  # credit is USD-denominated: 1 credit = 1 USD


@dataclass(frozen=True)
class FeeSchedule:
    """What the operator configured: Stripe's fee, who bears it, and the allowed top-up range."""

    pct_bps: Bps = DEFAULT_STRIPE_PCT_BPS
    fixed_cents: Cents = DEFAULT_STRIPE_FIXED_CENTS
    fee_bearer: FeeBearer = FeeBearer.PLATFORM
    min_cents: Cents = Cents(500)  # noqa: RUF009 - NewType is the identity at runtime
    max_cents: Cents = Cents(1_000_000)  # noqa: RUF009

    def check_amount(self, amount_cents: object, currency: object = "usd") -> Cents:
        """Validate a requested top-up. Raises ``MoneyError`` (reason ``below_minimum``, ``above_maximum``,
        ``unsupported_currency`` or a parse reason)."""
        if not isinstance(currency, str) or currency.lower() not in SUPPORTED_CURRENCIES:
            raise MoneyError("unsupported_currency", f"currency {currency!r} is not supported", currency)
        amount = parse_cents(amount_cents)
        if amount < self.min_cents:
            raise MoneyError("below_minimum", f"minimum top-up is {self.min_cents} cents", amount_cents)
        if amount > self.max_cents:
            raise MoneyError("above_maximum", f"maximum top-up is {self.max_cents} cents", amount_cents)
        return amount

    def quote(self, amount_cents: Cents) -> Quote:
        return quote_topup(
            amount_cents, fee_bearer=self.fee_bearer, pct_bps=self.pct_bps, fixed_cents=self.fixed_cents
        )
