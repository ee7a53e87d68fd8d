"""billing.webhooks: Stripe-Signature verification (both directions of clock skew), parsing, dispatch."""

from __future__ import annotations

import json
from typing import Any

import pytest
import stripe

from billing.errors import MalformedEventError, SignatureError
from billing.webhooks import Dispatcher, Event, Outcome, compute_signature, parse_event, verify_signature
from tests.support.stripe_server import sign_payload

SECRET = "whsec_test_primary"
OLD_SECRET = "whsec_test_previous"
NOW = 1_750_000_000


def _event(type_: str = "payment_intent.succeeded", metadata: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "id": "evt_123",
        "object": "event",
        "type": type_,
        "created": NOW - 5,
        "livemode": False,
        "api_version": "2025-08-27.basil",
        "data": {
            "object": {
                "id": "pi_1",
                "object": "payment_intent",
                "amount": 1000,
                "metadata": {"cm_app": "cloudmarket"} if metadata is None else metadata,
            }
        },
    }


BODY = json.dumps(_event(), indent=2).encode()


def _reason(payload: bytes, header: str | None, secrets: list[str] | None = None, now: int = NOW) -> str:
    with pytest.raises(SignatureError) as info:
        verify_signature(payload, header, secrets or [SECRET], now=now)
    return info.value.reason


def test_good_signature() -> None:
    body = verify_signature(BODY, sign_payload(BODY, timestamp=NOW, secrets_=[SECRET]), [SECRET], now=NOW)
    assert body["id"] == "evt_123"


def test_our_signer_matches_stripe_python() -> None:
    """Cross-check against the official library's signer (an independent implementation)."""
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), SECRET, timestamp=NOW)
    assert header == sign_payload(BODY, timestamp=NOW, secrets_=[SECRET])
    assert verify_signature(BODY, header, [SECRET], now=NOW)["type"] == "payment_intent.succeeded"


def test_bad_signature() -> None:
    forged = sign_payload(BODY, timestamp=NOW, secrets_=["whsec_attacker"])
    assert _reason(BODY, forged) == "signature_mismatch"
    assert _reason(BODY, f"t={NOW},v1={'0' * 64}") == "signature_mismatch"


def test_one_byte_body_change() -> None:
    header = sign_payload(BODY, timestamp=NOW, secrets_=[SECRET])
    tampered = BODY.replace(b'"amount": 1000', b'"amount": 9000')
    assert tampered != BODY
    assert _reason(tampered, header) == "signature_mismatch"
    flipped = bytes([BODY[0] ^ 1]) + BODY[1:]
    assert _reason(flipped, header) == "signature_mismatch"
    assert _reason(BODY + b" ", header) == "signature_mismatch"


def test_signature_over_timestamp_too() -> None:
    """Replaying a valid v1 with a fresher t must fail: t is part of the signed message."""
    v1 = compute_signature(BODY, NOW - 1000, SECRET)
    assert _reason(BODY, f"t={NOW},v1={v1}") == "signature_mismatch"


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header(header: str | None) -> None:
    assert _reason(BODY, header) == "missing_header"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("garbage", "malformed_header"),
        ("v1=abc", "malformed_header"),
        ("t=abc,v1=00", "malformed_header"),
        (f"t={NOW},t={NOW},v1=00", "malformed_header"),
        (f"t={NOW}", "no_v1_signature"),
        (f"t={NOW},v0=abcd", "no_v1_signature"),
        (f"t=-{NOW},v1=00", "malformed_header"),
        ("t=" + "9" * 5000, "malformed_header"),
        (f"t={NOW},,v1=00", "malformed_header"),
    ],
)
def test_malformed_header(header: str, reason: str) -> None:
    assert _reason(BODY, header) == reason


@pytest.mark.parametrize(
    ("skew", "reason"),
    [
        (301, "timestamp_too_old"),
        (-301, "timestamp_in_future"),
        (10_000, "timestamp_too_old"),
        (-86_400, "timestamp_in_future"),
    ],
)
def test_timestamp_outside_tolerance(skew: int, reason: str) -> None:
    ts = NOW - skew
    assert _reason(BODY, sign_payload(BODY, timestamp=ts, secrets_=[SECRET])) == reason


@pytest.mark.parametrize("skew", [300, -300, 0])
def test_timestamp_at_tolerance_edge_accepted(skew: int) -> None:
    ts = NOW - skew
    verify_signature(BODY, sign_payload(BODY, timestamp=ts, secrets_=[SECRET]), [SECRET], now=NOW)


def test_rotation_two_secrets_two_v1_values() -> None:
    both = sign_payload(BODY, timestamp=NOW, secrets_=["whsec_unknown", OLD_SECRET])
    # Stripe signs with old and new secret during rotation; we hold either or both
    verify_signature(BODY, both, [SECRET, OLD_SECRET], now=NOW)
    verify_signature(BODY, both, [OLD_SECRET], now=NOW)
    new_only = sign_payload(BODY, timestamp=NOW, secrets_=[SECRET])
    verify_signature(BODY, new_only, [OLD_SECRET, SECRET], now=NOW)
    assert _reason(BODY, both, [SECRET]) == "signature_mismatch"
    assert _reason(BODY, sign_payload(BODY, timestamp=NOW, secrets_=[SECRET]), [SECRET, ""]) == "no_secrets"
    with pytest.raises(SignatureError):
        verify_signature(BODY, both, [], now=NOW)


def test_verified_body_must_be_json_object() -> None:
    for payload, reason in [(b"not json", "invalid_json"), (b"[1, 2]", "not_an_event")]:
        with pytest.raises(MalformedEventError) as info:
            header = sign_payload(payload, timestamp=NOW, secrets_=[SECRET])
            verify_signature(payload, header, [SECRET], now=NOW)
        assert info.value.reason == reason


def test_parse_event() -> None:
    event = parse_event(BODY)
    assert (event.id, event.type, event.created, event.livemode) == (
        "evt_123",
        "payment_intent.succeeded",
        NOW - 5,
        False,
    )
    assert event.object_id == "pi_1" and event.api_version == "2025-08-27.basil"
    assert parse_event(json.loads(BODY)) == event
    for broken in [
        {**_event(), "object": "payment_intent"},
        {**_event(), "id": "pi_1"},
        {**_event(), "created": "yesterday"},
        {**_event(), "data": {}},
        {**_event(), "type": ""},
    ]:
        with pytest.raises(MalformedEventError):
            parse_event(broken)


async def test_dispatcher_routes_ignores_foreign_and_unknown() -> None:
    seen: list[tuple[str, str]] = []
    dispatcher: Dispatcher[str] = Dispatcher()

    @dispatcher.on("payment_intent.succeeded")
    async def on_pi(event: Event, ctx: str) -> None:
        seen.append((event.id, ctx))

    async def on_dispute(event: Event, ctx: str) -> None:
        seen.append(("dispute", ctx))

    dispatcher.register("charge.dispute.created", on_dispute, require_marker=False)
    assert dispatcher.event_types == {"payment_intent.succeeded", "charge.dispute.created"}
    assert await dispatcher.dispatch(parse_event(_event()), "ctx") is Outcome.HANDLED
    other = parse_event(_event(metadata={"cm_app": "other"}))
    assert await dispatcher.dispatch(other, "x") is Outcome.NOT_OURS
    assert await dispatcher.dispatch(parse_event(_event(metadata={})), "x") is Outcome.NOT_OURS
    assert await dispatcher.dispatch(parse_event(_event("customer.created")), "x") is Outcome.NO_HANDLER
    dispute = parse_event(_event("charge.dispute.created", {}))
    assert await dispatcher.dispatch(dispute, "d") is Outcome.HANDLED
    assert seen == [("evt_123", "ctx"), ("dispute", "d")]
    with pytest.raises(ValueError):
        dispatcher.register("payment_intent.succeeded", on_pi)


async def test_invoice_marker_via_subscription_details() -> None:
    dispatcher: Dispatcher[None] = Dispatcher()
    hits: list[str] = []

    async def on_invoice(event: Event, ctx: None) -> None:
        hits.append(event.type)

    dispatcher.register("invoice.paid", on_invoice)
    raw = _event("invoice.paid", metadata={})
    raw["data"]["object"]["parent"] = {"subscription_details": {"metadata": {"cm_app": "cloudmarket"}}}
    assert await dispatcher.dispatch(parse_event(raw), None) is Outcome.HANDLED
    raw["data"]["object"].pop("parent")
    raw["data"]["object"]["subscription_details"] = {"metadata": {"cm_app": "cloudmarket"}}
    assert await dispatcher.dispatch(parse_event(raw), None) is Outcome.HANDLED
    assert hits == ["invoice.paid", "invoice.paid"]
