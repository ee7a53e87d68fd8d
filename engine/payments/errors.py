"""Payments domain errors.

::

    PaymentsError                root
    ├── UnknownPayment           a Stripe object names a payment/subscription row we do not have; .object_id
    └── AmountMismatch           Stripe's amount differs from the one we created; .expected .actual
"""

from __future__ import annotations


class PaymentsError(Exception):
    """Root of payments errors."""


class UnknownPayment(PaymentsError):
    def __init__(self, object_id: str, message: str) -> None:
        super().__init__(message)
        self.object_id = object_id


class AmountMismatch(PaymentsError):
    def __init__(self, object_id: str, expected: int, actual: int) -> None:
        super().__init__(f"{object_id}: expected {expected} cents, Stripe says {actual}")
        self.object_id = object_id
        self.expected = expected
        self.actual = actual
