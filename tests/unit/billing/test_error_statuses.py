"""Billing, payments, identity and wallet errors carry the code and kind the API answers with."""

from __future__ import annotations

import pytest

from api.errors import status_for
from billing.errors import (
    CardDeclinedError,
    IdempotencyConflictError,
    InvalidAmount,
    MalformedEventError,
    NotOwned,
    PaymentsDisabledError,
    SignatureError,
    StripeAuthError,
    StripeCallError,
    StripeRateLimitError,
    StripeUnavailableError,
    WebhookRetry,
)
from engine.errors import EngineError
from engine.identity.errors import AddressAlreadyLinked, NodeNotFound, SiweNonceError, SiweParseError
from engine.wallets.errors import DecryptionFailed, InvalidCursor, ManagedWalletMissing


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (PaymentsDisabledError(), 503, "payments_disabled"),
        (NotOwned("payment", 7), 404, "not_found"),
        (InvalidAmount("too small", "below_minimum"), 400, "invalid_amount"),
        (CardDeclinedError("declined", decline_code="insufficient_funds"), 402, "card_declined"),
        (StripeUnavailableError("boom"), 503, "stripe_unavailable"),
        (StripeRateLimitError("slow down"), 503, "stripe_unavailable"),
        (StripeAuthError("bad key"), 502, "stripe_error"),
        (IdempotencyConflictError("reused"), 502, "stripe_error"),
        (StripeCallError("too many pages"), 502, "stripe_error"),
        (SignatureError("signature_mismatch", "no"), 400, "invalid_signature"),
        (MalformedEventError("not_an_event", "no"), 400, "malformed_event"),
        (WebhookRetry("evt_1", "invoice.paid", RuntimeError("db down")), 503, "webhook_retry"),
        (AddressAlreadyLinked("0xabc", 3), 409, "address_already_linked"),
        (NodeNotFound(5), 404, "not_found"),
        (SiweParseError(2, "no address"), 400, "siwe_malformed"),
        (SiweNonceError("n", "nonce already used"), 401, "unauthorized"),
        (ManagedWalletMissing(9), 404, "managed_wallet_missing"),
        (InvalidCursor(), 400, "invalid_cursor"),
        (DecryptionFailed("k1", 9), 500, "decryption_failed"),
    ],
)
def test_status_and_code(exc: EngineError, status: int, code: str) -> None:
    assert isinstance(exc, EngineError)
    assert status_for(exc) == status
    assert exc.code == code


def test_stripe_errors_carry_their_ids_in_details() -> None:
    exc = CardDeclinedError(
        "declined", decline_code="generic_decline", stripe_code="card_declined", request_id="r1"
    )
    assert exc.details == {
        "stripe_code": "card_declined",
        "request_id": "r1",
        "decline_code": "generic_decline",
    }
    down = StripeUnavailableError("connection reset", request_id="r2")
    assert down.message == "Stripe is unavailable; retry later" and str(down) == "connection reset"


def test_siwe_failures_answer_like_a_failed_sign_in_but_keep_the_reason() -> None:
    exc = SiweNonceError("abc", "nonce already used")
    assert str(exc) == "nonce already used" and exc.reason == "nonce already used"
    assert exc.message == "authentication failed: siwe verification failed"
    assert exc.details == {"reason": "siwe verification failed", "siwe": {"reason": "nonce already used"}}
