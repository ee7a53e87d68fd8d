"""What a browser talks to: a stand-in Stripe.js (``GET /v3/stripe.js``) and the publishable-key endpoints
it calls, as real Stripe.js calls ``api.stripe.com``.

The stand-in (``stripe.js`` next to this module) implements the subset of Stripe.js the console uses:
``Stripe(pk)``, ``elements()``, ``create("card")`` with ``mount``/``unmount``/``destroy``/``on``/``focus``/
``clear``, ``confirmCardPayment(client_secret, {payment_method: {card}})`` and ``confirmCardSetup(...)``,
resolving ``{paymentIntent}`` / ``{setupIntent}`` or ``{error}`` like Stripe.js. Its card "Element" is a
plain input in the page (no iframe): type a test card number (:data:`TEST_CARD_NUMBERS`).

The confirm calls are form-encoded POSTs with ``key=<publishable key>`` and the intent's ``client_secret``
(a CORS "simple" request; responses carry ``Access-Control-Allow-Origin: *``), to
``/v1/payment_intents/{id}/confirm`` and ``/v1/setup_intents/{id}/confirm``. A request with an
``Authorization`` header on those paths is the secret-key API as before. When ``webhook_url`` is set, a
payment confirmed this way that succeeds is followed by a signed ``payment_intent.succeeded`` POSTed there,
as Stripe sends it (results in ``webhook_deliveries``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.stripe_server.core import TEST_CARDS, Obj, RecordedRequest, StripeApiError, decode_form
from tests.support.stripe_server.events import EventsMixin

DEFAULT_PUBLISHABLE_KEY = "pk_test_cloudmarket_local"
STRIPE_JS_PATH = "/v3/stripe.js"

# Stripe's documented test card numbers -> the test payment methods of the wire server
TEST_CARD_NUMBERS = {
    "4242424242424242": "pm_card_visa",
    "5555555555554444": "pm_card_mastercard",
    "4000000000000002": "pm_card_chargeDeclined",
    "4000000000009995": "pm_card_chargeDeclinedInsufficientFunds",
    "4000002760003184": "pm_card_authenticationRequired",
}
_CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "Content-Type"}

STRIPE_JS = (Path(__file__).parent / "stripe.js").read_text()  # served at STRIPE_JS_PATH


class BrowserMixin(EventsMixin):
    publishable_key: str = DEFAULT_PUBLISHABLE_KEY
    webhook_url: str | None = None

    @property
    def stripe_js_url(self) -> str:
        return f"{self.api_base}{STRIPE_JS_PATH}"

    def _add_routes(self, app: web.Application) -> None:
        self.webhook_deliveries: list[tuple[int, str]] = []
        self._webhook_tasks: set[asyncio.Task[None]] = set()
        app.router.add_get(STRIPE_JS_PATH, self._stripe_js)
        for kind in ("payment_intents", "setup_intents"):
            path = f"/v1/{kind}/{{intent}}/confirm"
            app.router.add_post(path, self._client_confirm)
            app.router.add_route("OPTIONS", path, self._preflight)

    async def _stripe_js(self, request: web.Request) -> web.Response:
        return web.Response(
            text=STRIPE_JS, content_type="application/javascript", headers={"Cache-Control": "no-store"}
        )

    async def _preflight(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers={**_CORS, "Access-Control-Allow-Methods": "POST"})

    async def _client_confirm(self, request: web.Request) -> web.Response:
        if "Authorization" in request.headers:  # the secret-key API on the same path
            return await self._handle(request)
        from urllib.parse import parse_qsl

        raw = await request.read()
        params = decode_form(parse_qsl(raw.decode(), keep_blank_values=True))
        rec = RecordedRequest(request.method, request.path, dict(request.headers), params, {})
        self.requests.append(rec)
        kind = "payment_intent" if request.path.startswith("/v1/payment_intents/") else "setup_intent"
        try:
            body = self._confirm_from_browser(kind, request.match_info["intent"], params)
            status = 200
        except StripeApiError as err:
            status, body = err.status, err.body
        rec.status = status
        if status == 200 and kind == "payment_intent" and body.get("status") == "succeeded":
            self._schedule_webhook(body["id"])
        return web.Response(
            status=status, text=json.dumps(body), content_type="application/json", headers=_CORS
        )

    def _confirm_from_browser(self, kind: str, intent_id: str, params: Obj) -> Obj:
        if not hmac.compare_digest(str(params.get("key", "")), self.publishable_key):
            raise StripeApiError(
                401, "invalid_request_error", "Invalid API Key provided: a publishable key is required."
            )
        obj = self.objects.get(intent_id)
        secret = str(params.get("client_secret", ""))
        if obj is None or obj.get("object") != kind or not hmac.compare_digest(obj["client_secret"], secret):
            raise StripeApiError(
                404,
                "invalid_request_error",
                f"No such {kind}: '{intent_id}'",
                code="resource_missing",
                param="intent",
            )
        token = self._card_token(params)
        if kind == "payment_intent":
            return self._confirm_pi({"payment_method": token}, intent_id)
        decline = TEST_CARDS[token]["decline"]
        if decline in ("generic_decline", "insufficient_funds"):
            raise StripeApiError(402, "card_error", "Your card was declined.", code="card_declined")
        return self.complete_setup_intent(intent_id, token)

    @staticmethod
    def _card_token(params: Obj) -> str:
        if isinstance(params.get("payment_method"), str) and params["payment_method"] in TEST_CARDS:
            return str(params["payment_method"])
        data: Any = params.get("payment_method_data") or {}
        number = re.sub(r"\D", "", str((data.get("card") or {}).get("number", "")))
        token = TEST_CARD_NUMBERS.get(number)
        if token is None:
            raise StripeApiError(
                402,
                "card_error",
                "Your card number is incorrect (use a Stripe test card, e.g. 4242 4242 4242 4242).",
                code="incorrect_number",
                param="number",
            )
        return token

    def _schedule_webhook(self, pid: str) -> None:
        url = self.webhook_url
        if url is None:
            return

        async def deliver() -> None:
            evt = self.payment_intent_succeeded_event(pid)
            self.webhook_deliveries.append(await self.send_event(url, evt))

        task = asyncio.get_running_loop().create_task(deliver())
        self._webhook_tasks.add(task)
        task.add_done_callback(self._webhook_tasks.discard)
