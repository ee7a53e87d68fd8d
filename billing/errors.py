"""Billing errors: one root, typed leaves that carry Stripe's ids and codes as attributes.

::

    BillingError                      root of everything raised by ``billing``
    ├── PaymentsDisabledError         no Stripe secret key configured (routes answer 503)
    ├── StripeCallError               a Stripe API call failed; .stripe_code .http_status .request_id .param
    │   ├── CardDeclinedError         402 card_error; .decline_code .payment_intent_id .payment_method_id
    │   ├── StripeRequestError        400 invalid_request_error (our bug or bad input)
    │   │   └── StripeNotFoundError   404 / resource_missing
    │   ├── IdempotencyConflictError  same Idempotency-Key reused with different parameters; .idempotency_key
    │   ├── StripeAuthError           401 / 403: wrong or revoked key
    │   ├── StripeRateLimitError      429 (retryable)
    │   └── StripeUnavailableError    network error or 5xx (retryable: same key, same effect)
    └── WebhookError
        ├── SignatureError            Stripe-Signature rejected; .reason is a stable code
        └── MalformedEventError       verified body is not a Stripe event; .reason
"""

from __future__ import annotations


class BillingError(Exception):
    """Root of billing errors."""


class PaymentsDisabledError(BillingError):
    """Payments are off: no ``CLOUDMARKET_STRIPE_SECRET_KEY``."""


class StripeCallError(BillingError):
    """A call to Stripe failed. ``retryable`` says whether repeating it with the same key is sensible."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        stripe_code: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
        param: str | None = None,
        error_type: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.stripe_code = stripe_code
        self.http_status = http_status
        self.request_id = request_id
        self.param = param
        self.error_type = error_type
        self.idempotency_key = idempotency_key


class CardDeclinedError(StripeCallError):
    """The card was declined (``card_error``)."""

    def __init__(
        self,
        message: str,
        *,
        decline_code: str | None = None,
        payment_intent_id: str | None = None,
        payment_method_id: str | None = None,
        **kw: object,
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.decline_code = decline_code
        self.payment_intent_id = payment_intent_id
        self.payment_method_id = payment_method_id


class StripeRequestError(StripeCallError):
    """Stripe refused the request's parameters."""


class StripeNotFoundError(StripeRequestError):
    """The object does not exist (``resource_missing``)."""


class IdempotencyConflictError(StripeCallError):
    """The Idempotency-Key was used before with different parameters: a bug in key derivation."""


class StripeAuthError(StripeCallError):
    """The secret key is wrong, revoked, or lacks permission."""


class StripeRateLimitError(StripeCallError):
    retryable = True


class StripeUnavailableError(StripeCallError):
    """Network failure or a Stripe 5xx. Retrying with the same Idempotency-Key is safe."""

    retryable = True


class WebhookError(BillingError):
    """A webhook delivery could not be accepted. ``reason`` is a stable machine code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SignatureError(WebhookError):
    """Reasons: ``missing_header``, ``malformed_header``, ``no_v1_signature``, ``no_secrets``,
    ``timestamp_too_old``, ``timestamp_in_future``, ``signature_mismatch``."""


class MalformedEventError(WebhookError):
    """Reasons: ``invalid_json``, ``not_an_event``, ``missing_field``."""
