"""Billing errors: one root, typed leaves that carry Stripe's ids and codes as attributes.

``BillingError`` derives from :class:`engine.errors.EngineError` (billing imports engine, never the other
way), so every leaf has a stable ``code`` and a :class:`~engine.errors.Kind` and ``api.errors`` renders it
like any engine error. The status column is what the API answers (Stripe's own HTTP status is in
``.http_status``)::

    BillingError                      root of everything raised by ``billing``       .code               API
    ├── PaymentsDisabledError         no Stripe secret key configured                payments_disabled   503
    ├── NotOwned                      no such object, or another user's; .object_kind .object_id
    │                                                                                not_found           404
    ├── InvalidAmount                 a top-up amount or currency refused; .reason    invalid_amount      400
    ├── InvalidPlan                   a plan definition refused                      invalid_plan        400
    ├── InvalidBillingRequest         other malformed input                          invalid_request     400
    ├── StripeCallError               a Stripe API call failed; .stripe_code .http_status .request_id .param
    │   │                                                                            stripe_error        502
    │   ├── CardDeclinedError         card_error; .decline_code .payment_intent_id .payment_method_id
    │   │                                                                            card_declined       402
    │   ├── StripeRequestError        invalid_request_error (our bug or bad input)  stripe_error        502
    │   │   └── StripeNotFoundError   404 / resource_missing                         stripe_error        502
    │   ├── IdempotencyConflictError  same Idempotency-Key reused with different parameters; .idempotency_key
    │   ├── StripeAuthError           401 / 403: wrong or revoked key                stripe_error        502
    │   ├── StripeRateLimitError      429 (retryable)                                stripe_unavailable  503
    │   └── StripeUnavailableError    network error or 5xx (retryable)               stripe_unavailable  503
    └── WebhookError                  .reason is a stable code
        ├── SignatureError            Stripe-Signature rejected                      invalid_signature   400
        ├── MalformedEventError       verified body is not a Stripe event            malformed_event     400
        └── WebhookRetry              a verified event could not be processed now;   webhook_retry       503
                                      nothing was committed, Stripe delivers it again; .event_id .event_type
"""

from __future__ import annotations

from typing import Any

from engine.errors import EngineError, Kind


class BillingError(EngineError):
    """Root of billing errors."""

    code = "billing_error"
    kind = Kind.INTERNAL


class PaymentsDisabledError(BillingError):
    """Payments are off: no ``CLOUDMARKET_STRIPE_SECRET_KEY``."""

    code = "payments_disabled"
    kind = Kind.UNAVAILABLE

    def __init__(
        self, message: str = "payments are disabled on this server (no Stripe secret key configured)"
    ) -> None:
        super().__init__(message)


class NotOwned(BillingError):
    """The object does not exist or belongs to someone else (404, so other users' ids are not confirmed)."""

    code = "not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, object_kind: str, object_id: object) -> None:
        super().__init__(f"no {object_kind} {object_id}")
        self.object_kind = object_kind
        self.object_id = object_id


class InvalidAmount(BillingError):
    """A top-up amount (or its currency) was refused; ``reason`` is ``engine.money.MoneyError.reason``."""

    code = "invalid_amount"
    kind = Kind.INVALID

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, details={"reason": reason})
        self.reason = reason


class InvalidPlan(BillingError):
    code = "invalid_plan"
    kind = Kind.INVALID


class InvalidBillingRequest(BillingError):
    code = "invalid_request"
    kind = Kind.INVALID


class StripeCallError(BillingError):
    """A call to Stripe failed. ``retryable`` says whether repeating it with the same key is sensible."""

    code = "stripe_error"
    kind = Kind.BAD_GATEWAY
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
        super().__init__(message, details={"stripe_code": stripe_code, "request_id": request_id})
        self.stripe_code = stripe_code
        self.http_status = http_status
        self.request_id = request_id
        self.param = param
        self.error_type = error_type
        self.idempotency_key = idempotency_key


class CardDeclinedError(StripeCallError):
    """The card was declined (``card_error``)."""

    code = "card_declined"
    kind = Kind.PAYMENT_REQUIRED

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
        self.details["decline_code"] = decline_code
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


class _RetryableStripeError(StripeCallError):
    """Retrying with the same Idempotency-Key is safe; the API answers 503 with a fixed message."""

    code = "stripe_unavailable"
    kind = Kind.UNAVAILABLE
    retryable = True

    def __init__(self, message: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.message = "Stripe is unavailable; retry later"


class StripeRateLimitError(_RetryableStripeError):
    """429 from Stripe."""


class StripeUnavailableError(_RetryableStripeError):
    """Network failure or a Stripe 5xx. Retrying with the same Idempotency-Key is safe."""


class WebhookError(BillingError):
    """A webhook delivery could not be accepted. ``reason`` is a stable machine code."""

    code = "webhook_error"
    kind = Kind.INVALID

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, details={"reason": reason})
        self.reason = reason


class SignatureError(WebhookError):
    """Reasons: ``missing_header``, ``malformed_header``, ``no_v1_signature``, ``no_secrets``,
    ``timestamp_too_old``, ``timestamp_in_future``, ``signature_mismatch``."""

    code = "invalid_signature"


class MalformedEventError(WebhookError):
    """Reasons: ``invalid_json``, ``not_an_event``, ``missing_field``."""

    code = "malformed_event"


class WebhookRetry(WebhookError):
    """A verified event was not processed (nothing committed); a non-2xx makes Stripe deliver it again."""

    code = "webhook_retry"
    kind = Kind.UNAVAILABLE

    def __init__(self, event_id: str, event_type: str, cause: Exception) -> None:
        super().__init__("retry", f"event {event_id} not processed: {cause}")
        self.details = {}
        self.event_id = event_id
        self.event_type = event_type
