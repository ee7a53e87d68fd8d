"""Webhook signature failures answer 400 and write nothing; amount edge cases; payments disabled."""

from __future__ import annotations

import time

import aiohttp
import pytest

from api.app import create_app
from api.routes import identity
from engine.outbox.models import OutboxTx
from engine.payments.models import LedgerEntry, Payment, StripeEvent
from tests.api.conftest import serve
from tests.api.payments.conftest import Env
from tests.api.payments.helpers import count


async def _rows(pay: Env) -> tuple[int, int, int]:
    return (
        await count(pay.runtime, StripeEvent),
        await count(pay.runtime, LedgerEntry),
        await count(pay.runtime, OutboxTx),
    )


async def _post(pay: Env, body: bytes, header: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    r = await pay.client.post("/api/payments/webhook", data=body, headers=headers)
    if r.status == 400:
        assert (await r.json())["error"]["code"] in ("invalid_signature", "malformed_event")
    return r.status


async def test_bad_signatures_are_400_and_write_nothing(pay: Env) -> None:
    h = pay.new_user()
    r = await pay.client.post("/api/payments/create-intent", json={"amount_cents": 600}, headers=h)
    pid = (await r.json())["payment"]["payment_intent_id"]
    event = pay.stripe.payment_intent_succeeded_event(pid)
    before = await _rows(pay)
    body, header = pay.stripe.signed(event)
    now = int(time.time())
    flipped = bytearray(body)
    flipped[len(flipped) // 2] ^= 0x01
    cases = [
        (body, pay.stripe.signed(event, secrets_=["whsec_wrong"])[1]),  # wrong secret
        (bytes(flipped), header),  # 1-byte body change
        (body + b" ", header),  # one byte appended
        (body, None),  # missing header
        (body, "t=abc,v1=00"),  # malformed
        (body, pay.stripe.signed(event, timestamp=now - 301)[1]),  # 301 s old
        # 360 s ahead: past the 300 s tolerance even if the requests above took seconds on a loaded machine
        (body, pay.stripe.signed(event, timestamp=now + 360)[1]),
    ]
    for payload, hdr in cases:
        assert await _post(pay, payload, hdr) == 400
    assert await _rows(pay) == before
    # the genuine delivery still works; a rotated secret list accepts either signature
    pay.billing.webhook_secrets = ["whsec_new", pay.stripe.webhook_secret]
    assert await _post(pay, body, header) == 200
    assert (await _rows(pay))[1] == before[1] + 1


@pytest.mark.parametrize(
    "payload,reason",
    [
        ({"amount_cents": 499}, "below_minimum"),
        ({"amount_cents": 1_000_001}, "above_maximum"),
        ({"amount_cents": 1000, "currency": "eur"}, "unsupported_currency"),
        ({"amount_cents": 10.5}, None),
        ({"amount_cents": "1000"}, None),
        ({"amount_cents": 1000.0}, None),
        ({"amount_cents": True}, None),
        ({"amount_cents": 1000, "extra": 1}, None),
        ({}, None),
    ],
)
async def test_amount_edge_cases_are_4xx_and_write_nothing(
    pay: Env, payload: dict, reason: str | None
) -> None:
    h = pay.new_user()
    before = await count(pay.runtime, Payment)
    r = await pay.client.post("/api/payments/create-intent", json=payload, headers=h)
    assert 400 <= r.status < 500, await r.text()
    if reason is not None:
        assert (await r.json())["error"]["details"]["reason"] == reason
    assert await count(pay.runtime, Payment) == before
    assert not pay.stripe.requests_to("POST", "/v1/payment_intents")
    # the bounds themselves are accepted
    for ok in (500, 1_000_000):
        r = await pay.client.post("/api/payments/create-intent", json={"amount_cents": ok}, headers=h)
        assert r.status == 201


async def test_quote_rejects_bad_amounts(pay: Env) -> None:
    h = pay.new_user()
    for q in ("abc", "10.5", "-5", "499", ""):
        r = await pay.client.get(f"/api/payments/quote?amount_cents={q}", headers=h)
        assert r.status == 400, q


async def test_without_stripe_key_payment_routes_are_503(eth_runtime, tmp_path) -> None:
    options = identity.IdentityOptions(env="dev", data_dir=tmp_path, chain_id=eth_runtime.chain.chain_id)
    app = create_app(eth_runtime, background=False, identity_options=options)  # settings have no key
    async with serve(app) as client:
        from api.auth.devissuer import DevIssuer

        h = {"Authorization": f"Bearer {DevIssuer(tmp_path).mint(['cloud-user'], sub='dev|nokey')}"}
        for method, path, body in [
            ("POST", "/api/payments/create-intent", {"amount_cents": 1000}),
            ("GET", "/api/payments/methods", None),
            ("POST", "/api/payments/webhook", {"id": "evt_1"}),
        ]:
            r = await client.request(method, path, json=body, headers=h)
            assert r.status == 503, path
            assert (await r.json())["error"]["code"] == "payments_disabled"
    assert isinstance(aiohttp.__version__, str)
