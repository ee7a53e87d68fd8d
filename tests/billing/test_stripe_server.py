"""The local Stripe server itself, over raw HTTP: wire format, auth, idempotency replay, signed webhooks."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from billing.errors import SignatureError
from billing.webhooks import Dispatcher, Event, Outcome, parse_event, verify_signature
from tests.support.stripe_server import StripeTestServer, decode_form


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _auth(server: StripeTestServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.secret_key}"}


async def _post(
    http: aiohttp.ClientSession,
    server: StripeTestServer,
    path: str,
    data: str,
    key: str | None = None,
    auth: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], Any]:
    headers = {
        **(auth if auth is not None else _auth(server)),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    if key:
        headers["Idempotency-Key"] = key
    async with http.post(server.api_base + path, data=data, headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers


def test_decode_form_bracket_syntax() -> None:
    assert decode_form(
        [
            ("metadata[user_id]", "7"),
            ("items[0][price]", "price_1"),
            ("items[1][price]", "p2"),
            ("expand[]", "a"),
            ("expand[]", "b"),
            ("created[gte]", "10"),
            ("amount", "5"),
        ]
    ) == {
        "metadata": {"user_id": "7"},
        "items": [{"price": "price_1"}, {"price": "p2"}],
        "expand": ["a", "b"],
        "created": {"gte": "10"},
        "amount": "5",
    }


async def test_replay_returns_same_object_and_creates_nothing(
    stripe_server: StripeTestServer, http: aiohttp.ClientSession
) -> None:
    body = "amount=1500&currency=usd&metadata[cm_topup_id]=3"
    s1, first, h1 = await _post(http, stripe_server, "/v1/payment_intents", body, key="cm-topup-3")
    s2, second, h2 = await _post(http, stripe_server, "/v1/payment_intents", body, key="cm-topup-3")
    assert s1 == s2 == 200 and first == second
    assert "Idempotent-Replayed" not in h1 and h2["Idempotent-Replayed"] == "true"
    assert len(stripe_server.of_kind("payment_intent")) == 1
    # a different key is a different request
    s3, third, _ = await _post(http, stripe_server, "/v1/payment_intents", body, key="cm-topup-4")
    assert s3 == 200 and third["id"] != first["id"]


async def test_same_key_different_params_400(
    stripe_server: StripeTestServer, http: aiohttp.ClientSession
) -> None:
    await _post(http, stripe_server, "/v1/payment_intents", "amount=1500&currency=usd", key="cm-topup-9")
    status, body, _ = await _post(
        http, stripe_server, "/v1/payment_intents", "amount=1501&currency=usd", key="cm-topup-9"
    )
    assert status == 400 and body["error"]["type"] == "idempotency_error"
    assert set(body["error"]) >= {"type", "code", "message", "param"}
    assert len(stripe_server.of_kind("payment_intent")) == 1


async def test_validation_errors_are_not_stored_for_replay(
    stripe_server: StripeTestServer, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await _post(
        http, stripe_server, "/v1/payment_intents", "amount=abc&currency=usd", key="cm-topup-11"
    )
    assert status == 400 and body["error"] == {
        "type": "invalid_request_error",
        "code": "parameter_invalid_integer",
        "param": "amount",
        "message": "Invalid integer: abc",
    }
    status, body, _ = await _post(
        http, stripe_server, "/v1/payment_intents", "amount=700&currency=usd", key="cm-topup-11"
    )
    assert status == 200 and body["amount"] == 700


async def test_auth_bearer_basic_and_wrong(
    stripe_server: StripeTestServer, http: aiohttp.ClientSession
) -> None:
    basic = {"Authorization": "Basic " + base64.b64encode(f"{stripe_server.secret_key}:".encode()).decode()}
    status, cus, _ = await _post(http, stripe_server, "/v1/customers", "email=a@b.c", auth=basic)
    assert status == 200 and cus["id"].startswith("cus_") and cus["object"] == "customer"
    status, err, _ = await _post(
        http, stripe_server, "/v1/customers", "email=a@b.c", auth={"Authorization": "Bearer sk_test_nope"}
    )
    assert status == 401 and err["error"]["type"] == "invalid_request_error"
    status, err, _ = await _post(http, stripe_server, "/v1/customers", "email=a@b.c", auth={})
    assert status == 401
    async with http.get(stripe_server.api_base + "/v1/charges/ch_missing", headers=_auth(stripe_server)) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "resource_missing"
    assert len(stripe_server.of_kind("customer")) == 1


async def test_signed_webhook_delivery_end_to_end(stripe_server: StripeTestServer, billing: Any) -> None:
    """The server signs and POSTs events like Stripe; a receiver using billing.webhooks accepts them,
    rejects tampered ones and ignores events that are not ours."""
    outcomes: list[str] = []
    dispatcher: Dispatcher[None] = Dispatcher()

    async def on_succeeded(event: Event, ctx: None) -> None:
        outcomes.append(f"{event.type}:{event.object_id}")

    dispatcher.register("payment_intent.succeeded", on_succeeded)

    async def receive(request: web.Request) -> web.Response:
        try:
            body = verify_signature(
                await request.read(),
                request.headers.get("Stripe-Signature"),
                [stripe_server.webhook_secret],
                now=int(time.time()),
            )
        except SignatureError as exc:
            return web.json_response({"error": exc.reason}, status=400)
        outcome = await dispatcher.dispatch(parse_event(body), None)
        outcomes.append(outcome.value)
        return web.json_response({"received": True})

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        from billing.idempotency import idempotency_key

        ours = await billing.create_payment_intent(
            2000, "usd", None, {"cm_topup_id": 1}, idempotency_key("t", 1)
        )
        foreign = await billing.create_payment_intent(2000, "usd", None, None, idempotency_key("t", 2))
        stripe_server.objects[foreign["id"]]["metadata"] = {"shop": "other-app"}
        event = stripe_server.payment_intent_succeeded_event(ours["id"])
        assert event["id"].startswith("evt_") and event["data"]["object"]["status"] == "succeeded"
        assert event["data"]["object"]["latest_charge"].startswith("ch_")
        assert await stripe_server.send_event(url, event) == (200, '{"received": true}')
        status, text = await stripe_server.send_event(url, event, timestamp=stripe_server.now() - 301)
        assert (status, text) == (400, '{"error": "timestamp_too_old"}')
        status, _ = await stripe_server.send_event(url, event, secrets_=["whsec_wrong"])
        assert status == 400
        rotated = ["whsec_old", stripe_server.webhook_secret]
        status, _ = await stripe_server.send_event(url, event, secrets_=rotated)
        assert status == 200
        foreign_event = stripe_server.payment_intent_succeeded_event(foreign["id"])
        assert (await stripe_server.send_event(url, foreign_event))[0] == 200
        charge = stripe_server.objects[ours["id"]]["latest_charge"]
        for evt in (
            stripe_server.charge_refunded_event(charge),
            stripe_server.dispute_created_event(charge),
            stripe_server.checkout_session_completed_event(ours["id"]),
        ):
            assert evt["object"] == "event" and evt["livemode"] is False and evt["api_version"]
            assert (await stripe_server.send_event(url, evt))[0] == 200
    finally:
        await runner.cleanup()
    assert outcomes == [
        f"payment_intent.succeeded:{ours['id']}",
        "handled",
        f"payment_intent.succeeded:{ours['id']}",
        "handled",
        "not_ours",
        "no_handler",
        "no_handler",
        "no_handler",
    ]
    assert parse_event(stripe_server.events[-1]).object["payment_intent"] == ours["id"]
    assert Outcome.HANDLED.value == "handled"
