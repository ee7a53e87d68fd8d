"""Payments domain errors.

::

    PaymentsError                root (an engine.errors.EngineError)                  .code
    ├── UnknownPayment           a Stripe object names a payment/subscription row     unknown_payment  404
    │                            we do not have; .object_id
    └── AmountMismatch           Stripe's amount differs from the one we created;     amount_mismatch  409
                                 .expected .actual
"""

from __future__ import annotations

from engine.errors import EngineError, Kind
from engine.money import Cents


class PaymentsError(EngineError):
    """Root of payments errors."""

    code = "payments_error"
    kind = Kind.INTERNAL


class UnknownPayment(PaymentsError):
    code = "unknown_payment"
    kind = Kind.NOT_FOUND

    def __init__(self, object_id: str, message: str) -> None:
        super().__init__(message, details={"object_id": object_id})
        self.object_id = object_id


class AmountMismatch(PaymentsError):
    code = "amount_mismatch"
    kind = Kind.CONFLICT

    def __init__(self, object_id: str, expected: Cents, actual: Cents) -> None:
        super().__init__(
            f"{object_id}: expected {expected} cents, Stripe says {actual}",
            details={"object_id": object_id, "expected": expected, "actual": actual},
        )
        self.object_id = object_id
        self.expected = expected
        self.actual = actual
