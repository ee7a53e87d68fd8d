"""The local Stripe server's browser side over raw HTTP: the stand-in Stripe.js is served, its
publishable-key confirm calls check key and client secret, and a successful payment is followed by the
signed ``payment_intent.succeeded`` webhook (verified with our real signature check)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from billing.webhooks import parse_event, verify_signature
from tests.support.stripe_server import StripeTestServer


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _api(http: aiohttp.ClientSession, server: StripeTestServer, path: str, data: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {server.secret_key}"}
    async with http.post(server.api_base + path, data=data, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def _browser(
    http: aiohttp.ClientSession, server: StripeTestServer, path: str, form: dict[str, str]
) -> tuple[int, dict[str, Any], str | None]:
    async with http.post(
        server.api_base + path, data=form, headers={"Origin": "http://console.test"}
    ) as resp:
        return resp.status, await resp.json(), resp.headers.get("Access-Control-Allow-Origin")


async def test_stripe_js_is_served(http: aiohttp.ClientSession) -> None:
    async with StripeTestServer() as server, http.get(server.stripe_js_url) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/javascript"
        text = await resp.text()
        assert "window.Stripe" in text and "confirmCardPayment" in text and "confirmCardSetup" in text


async def test_card_payment_confirmed_by_the_browser_sends_the_signed_webhook(
    http: aiohttp.ClientSession,
) -> None:
    received: list[tuple[bytes, str]] = []
    got = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.read(), request.headers["Stripe-Signature"]))
        got.set()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with StripeTestServer() as server:
            server.webhook_url = f"http://127.0.0.1:{port}/hook"
            pi = await _api(http, server, "/v1/payment_intents", "amount=2000&currency=usd")
            path = f"/v1/payment_intents/{pi['id']}/confirm"
            card = {
                "payment_method_data[type]": "card",
                "payment_method_data[card][number]": "4242424242424242",
            }

            status, body, _ = await _browser(
                http, server, path, {**card, "key": "pk_test_wrong", "client_secret": pi["client_secret"]}
            )
            assert status == 401
            status, body, _ = await _browser(
                http, server, path, {**card, "key": server.publishable_key, "client_secret": "pi_x_secret_y"}
            )
            assert (status, body["error"]["code"]) == (404, "resource_missing")
            assert not received

            status, body, cors = await _browser(
                http,
                server,
                path,
                {**card, "key": server.publishable_key, "client_secret": pi["client_secret"]},
            )
            assert (status, body["status"], cors) == (200, "succeeded", "*")
            await asyncio.wait_for(got.wait(), 10)
            payload, signature = received[0]
            verify_signature(payload, signature, [server.webhook_secret], now=server.now())
            event = parse_event(payload)
            assert event.type == "payment_intent.succeeded"
            for _ in range(100):  # the sender records the reply after the receiver answered
                if server.webhook_deliveries:
                    break
                await asyncio.sleep(0.01)
            assert server.webhook_deliveries == [(200, '{"ok": true}')]
    finally:
        await runner.cleanup()


async def test_declined_card_and_setup_intent(http: aiohttp.ClientSession) -> None:
    async with StripeTestServer() as server:
        pi = await _api(http, server, "/v1/payment_intents", "amount=2000&currency=usd")
        form = {
            "key": server.publishable_key,
            "client_secret": pi["client_secret"],
            "payment_method_data[card][number]": "4000 0000 0000 0002",
        }
        status, body, _ = await _browser(http, server, f"/v1/payment_intents/{pi['id']}/confirm", form)
        assert (status, body["error"]["code"]) == (402, "card_declined")

        cus = await _api(http, server, "/v1/customers", "email=a%40b.test")
        seti = await _api(http, server, "/v1/setup_intents", f"customer={cus['id']}")
        form = {
            "key": server.publishable_key,
            "client_secret": seti["client_secret"],
            "payment_method_data[card][number]": "5555555555554444",
        }
        status, body, _ = await _browser(http, server, f"/v1/setup_intents/{seti['id']}/confirm", form)
        assert (status, body["status"]) == (200, "succeeded")
        assert server.objects[body["payment_method"]]["customer"] == cus["id"]
