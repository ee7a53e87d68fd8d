"""Auto top-up errors. One root (an :class:`~engine.errors.EngineError`), data in attributes and ``details``.

::

    AutoTopUpError                                      .code                    status
    ├── InvalidRule  (.field, .reason)                  invalid_auto_top_up      422 (nothing written)
    ├── UnknownPaymentMethod  (.payment_method)         unknown_payment_method   404 (nothing written)
    └── CardsUnavailable                                payments_disabled        503 (card, no Stripe)
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class AutoTopUpError(EngineError):
    """Root of the auto top-up room's errors."""

    code = "auto_top_up_error"
    kind = Kind.INTERNAL


class InvalidRule(AutoTopUpError):
    code = "invalid_auto_top_up"
    kind = Kind.UNPROCESSABLE

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", details={"field": field, "reason": reason})
        self.field = field
        self.reason = reason


class UnknownPaymentMethod(AutoTopUpError):
    code = "unknown_payment_method"
    kind = Kind.NOT_FOUND

    def __init__(self, payment_method: str) -> None:
        super().__init__(
            "no such saved payment method of yours", details={"payment_method": payment_method[:255]}
        )
        self.payment_method = payment_method


class CardsUnavailable(AutoTopUpError):
    code = "payments_disabled"
    kind = Kind.UNAVAILABLE

    def __init__(self) -> None:
        super().__init__("card payments are not configured; use the credit source")
