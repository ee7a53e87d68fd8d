"""Our Stripe client: built once at start-up, injected, async, every POST with a deterministic key.

Construction (``StripeBilling.create``)::

    http = stripe.AIOHTTPClient(timeout=...)                  # aiohttp is installed; httpx is not
    stripe.StripeClient(api_key, base_addresses={"api": api_base}, http_client=http,
                        max_network_retries=n)

stripe-python picks httpx for async when it is importable and aiohttp otherwise; we pass
``AIOHTTPClient`` explicitly so the choice does not depend on what else happens to be installed.
``*_async`` service methods are used; sync calls are never made (``AIOHTTPClient`` cannot do them).

Every POST takes an ``IdempotencyKey`` (``billing.idempotency``) and refuses to run without one, so
stripe-python never invents a random key. Network retries (``max_network_retries``) resend the same key,
which makes them safe. Results are plain ``dict``s (Stripe's JSON), not ``StripeObject``s, so callers
can store them and tests can compare them. Stripe errors become ``billing.errors`` types.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import stripe

from billing.errors import (
    CardDeclinedError,
    IdempotencyConflictError,
    PaymentsDisabledError,
    StripeAuthError,
    StripeCallError,
    StripeNotFoundError,
    StripeRateLimitError,
    StripeRequestError,
    StripeUnavailableError,
)
from billing.idempotency import IdempotencyKey, check_key
from billing.webhooks import APP_MARKER, METADATA_APP_KEY
from engine.money import Cents

T = TypeVar("T")
Obj = dict[str, Any]

DEFAULT_TIMEOUT = 30.0
MAX_LIST_PAGES = 50  # 5_000 objects at 100 a page: a reconciliation window, not a full export


def _our_metadata(metadata: Mapping[str, str | int] | None) -> dict[str, str]:
    out = {k: str(v) for k, v in (metadata or {}).items()}
    out[METADATA_APP_KEY] = APP_MARKER
    return out


def map_stripe_error(exc: stripe.StripeError, idempotency_key: str | None = None) -> StripeCallError:
    """Translate a stripe-python exception into our tree, keeping Stripe's ids and codes."""
    err = exc.error
    common: dict[str, Any] = {
        "stripe_code": exc.code,
        "http_status": exc.http_status,
        "request_id": exc.request_id,
        "param": getattr(exc, "param", None),
        "error_type": getattr(err, "type", None) if err else None,
        "idempotency_key": idempotency_key,
    }
    message = exc.user_message or str(exc)
    if isinstance(exc, stripe.CardError):
        body = exc.json_body if isinstance(exc.json_body, dict) else {}
        detail = body.get("error", {}) if isinstance(body.get("error"), dict) else {}
        pi = detail.get("payment_intent") or {}
        pm = detail.get("payment_method") or {}
        return CardDeclinedError(
            message,
            decline_code=detail.get("decline_code"),
            payment_intent_id=pi.get("id") if isinstance(pi, dict) else None,
            payment_method_id=pm.get("id") if isinstance(pm, dict) else None,
            **common,
        )
    if isinstance(exc, stripe.IdempotencyError):
        return IdempotencyConflictError(message, **common)
    if isinstance(exc, stripe.InvalidRequestError):
        if exc.http_status == 404 or exc.code == "resource_missing":
            return StripeNotFoundError(message, **common)
        return StripeRequestError(message, **common)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return StripeAuthError(message, **common)
    if isinstance(exc, stripe.RateLimitError):
        return StripeRateLimitError(message, **common)
    if isinstance(exc, stripe.APIConnectionError | stripe.APIError):
        return StripeUnavailableError(message, **common)
    return StripeCallError(message, **common)


class StripeBilling:
    """The Stripe operations cloudmarket uses. One instance per process; close with ``aclose``."""

    def __init__(self, client: stripe.StripeClient, http_client: stripe.HTTPClient) -> None:
        self._client = client
        self._http = http_client

    @classmethod
    def create(
        cls,
        api_key: str | None,
        *,
        api_base: str | None = None,
        max_network_retries: int = 2,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> StripeBilling:
        if not api_key:
            raise PaymentsDisabledError("payments are disabled: CLOUDMARKET_STRIPE_SECRET_KEY is not set")
        http = stripe.AIOHTTPClient(timeout=timeout)
        base: dict[str, str] = {"api": api_base.rstrip("/")} if api_base else {}
        client = stripe.StripeClient(
            api_key,
            base_addresses=base,  # type: ignore[arg-type]
            http_client=http,
            max_network_retries=max_network_retries,
        )
        return cls(client, http)

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    # ---- plumbing --------------------------------------------------------------------------------
    @staticmethod
    async def _call(call: Awaitable[Any], key: str | None = None) -> Obj:
        try:
            result = await call
        except stripe.StripeError as exc:
            raise map_stripe_error(exc, key) from exc
        data: Obj = result.to_dict()
        return data

    @staticmethod
    def _opts(key: IdempotencyKey) -> stripe.RequestOptions:
        return {"idempotency_key": check_key(key)}

    @property
    def _v1(self) -> Any:
        return self._client.v1

    # ---- customers -------------------------------------------------------------------------------
    async def ensure_customer(
        self,
        *,
        user_id: str | int,
        existing_customer_id: str | None,
        email: str | None = None,
        idempotency_key: IdempotencyKey,
    ) -> str:
        """The user's Stripe customer id: the stored one, or a new customer (key from the user row, so a
        crash before the id is stored re-finds the same customer instead of making a second)."""
        if existing_customer_id:
            return existing_customer_id
        params: Obj = {"metadata": _our_metadata({"cm_user_id": user_id})}
        if email:
            params["email"] = email
        opts = self._opts(idempotency_key)
        customer = await self._call(self._v1.customers.create_async(params, opts), idempotency_key)
        return str(customer["id"])

    async def retrieve_customer(self, customer_id: str) -> Obj:
        return await self._call(self._v1.customers.retrieve_async(customer_id))

    # ---- payment methods -------------------------------------------------------------------------
    async def create_setup_intent(
        self,
        *,
        customer: str,
        idempotency_key: IdempotencyKey,
        metadata: Mapping[str, str | int] | None = None,
    ) -> Obj:
        params = {
            "customer": customer,
            "usage": "off_session",
            "payment_method_types": ["card"],
            "metadata": _our_metadata(metadata),
        }
        return await self._call(
            self._v1.setup_intents.create_async(params, self._opts(idempotency_key)), idempotency_key
        )

    async def retrieve_setup_intent(self, setup_intent_id: str) -> Obj:
        return await self._call(self._v1.setup_intents.retrieve_async(setup_intent_id))

    async def list_payment_methods(self, customer: str, *, type_: str = "card") -> list[Obj]:
        params = {"customer": customer, "type": type_, "limit": 100}
        page = await self._call(self._v1.payment_methods.list_async(params))
        return list(page["data"])

    async def detach_payment_method(self, payment_method: str, *, idempotency_key: IdempotencyKey) -> Obj:
        return await self._call(
            self._v1.payment_methods.detach_async(payment_method, None, self._opts(idempotency_key)),
            idempotency_key,
        )

    async def set_default_payment_method(
        self, customer: str, payment_method: str, *, idempotency_key: IdempotencyKey
    ) -> Obj:
        params = {"invoice_settings": {"default_payment_method": payment_method}}
        return await self._call(
            self._v1.customers.update_async(customer, params, self._opts(idempotency_key)), idempotency_key
        )

    # ---- payment intents -------------------------------------------------------------------------
    async def create_payment_intent(
        self,
        amount_cents: Cents,
        currency: str,
        customer: str | None,
        metadata: Mapping[str, str | int] | None,
        idempotency_key: IdempotencyKey,
        *,
        payment_method: str | None = None,
        confirm: bool = False,
        off_session: bool = False,
        description: str | None = None,
    ) -> Obj:
        """A PaymentIntent for ``amount_cents`` (an int; floats are refused). Metadata gets our marker.
        ``off_session`` (with ``confirm``): the customer is not present (auto top-up with a saved card)."""
        if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
            raise ValueError(f"amount_cents must be a positive int, got {amount_cents!r}")
        params: Obj = {
            "amount": amount_cents,
            "currency": currency.lower(),
            "metadata": _our_metadata(metadata),
        }
        if customer:
            params["customer"] = customer
        if payment_method:
            params["payment_method"] = payment_method
        if confirm:
            params["confirm"] = True
        if off_session:
            params["off_session"] = True
        if description:
            params["description"] = description
        return await self._call(
            self._v1.payment_intents.create_async(params, self._opts(idempotency_key)), idempotency_key
        )

    async def confirm_payment_intent(
        self, payment_intent: str, *, payment_method: str | None = None, idempotency_key: IdempotencyKey
    ) -> Obj:
        params: Obj = {"payment_method": payment_method} if payment_method else {}
        return await self._call(
            self._v1.payment_intents.confirm_async(payment_intent, params, self._opts(idempotency_key)),
            idempotency_key,
        )

    async def retrieve_payment_intent(self, payment_intent: str) -> Obj:
        return await self._call(self._v1.payment_intents.retrieve_async(payment_intent))

    async def list_recent_payment_intents(
        self, since: int, *, customer: str | None = None, page_size: int = 100
    ) -> list[Obj]:
        """Every PaymentIntent created at or after ``since`` (unix seconds), newest first, following
        ``has_more``/``starting_after`` until exhausted (bounded by ``MAX_LIST_PAGES``)."""
        params: Obj = {"created": {"gte": since}, "limit": page_size}
        if customer:
            params["customer"] = customer
        return await self._list_all(self._v1.payment_intents, params)

    async def _list_all(self, service: Any, params: Obj) -> list[Obj]:
        out: list[Obj] = []
        for _ in range(MAX_LIST_PAGES):
            page = await self._call(service.list_async(params))
            out.extend(page["data"])
            if not page.get("has_more") or not page["data"]:
                return out
            params = {**params, "starting_after": page["data"][-1]["id"]}
        raise StripeCallError(f"more than {MAX_LIST_PAGES} pages; narrow the window")

    # ---- products, prices, subscriptions ---------------------------------------------------------
    async def create_price(
        self,
        *,
        product_name: str,
        unit_amount_cents: Cents,
        currency: str,
        interval: str,
        idempotency_key: IdempotencyKey,
        metadata: Mapping[str, str | int] | None = None,
    ) -> Obj:
        """A recurring price (and its product) for an operator-defined plan."""
        params = {
            "unit_amount": unit_amount_cents,
            "currency": currency.lower(),
            "recurring": {"interval": interval},
            "product_data": {"name": product_name},
            "metadata": _our_metadata(metadata),
        }
        return await self._call(
            self._v1.prices.create_async(params, self._opts(idempotency_key)), idempotency_key
        )

    async def create_subscription(
        self,
        *,
        customer: str,
        price: str,
        idempotency_key: IdempotencyKey,
        metadata: Mapping[str, str | int] | None = None,
        default_payment_method: str | None = None,
    ) -> Obj:
        params: Obj = {"customer": customer, "items": [{"price": price}], "metadata": _our_metadata(metadata)}
        if default_payment_method:
            params["default_payment_method"] = default_payment_method
        return await self._call(
            self._v1.subscriptions.create_async(params, self._opts(idempotency_key)), idempotency_key
        )

    async def retrieve_subscription(self, subscription: str) -> Obj:
        return await self._call(self._v1.subscriptions.retrieve_async(subscription))

    async def cancel_subscription_at_period_end(
        self, subscription: str, *, idempotency_key: IdempotencyKey
    ) -> Obj:
        params = {"cancel_at_period_end": True}
        return await self._call(
            self._v1.subscriptions.update_async(subscription, params, self._opts(idempotency_key)),
            idempotency_key,
        )

    # ---- invoices, charges, refunds --------------------------------------------------------------
    async def list_invoices(
        self,
        *,
        customer: str | None = None,
        subscription: str | None = None,
        since: int | None = None,
        page_size: int = 100,
    ) -> list[Obj]:
        params: Obj = {"limit": page_size}
        if customer:
            params["customer"] = customer
        if subscription:
            params["subscription"] = subscription
        if since is not None:
            params["created"] = {"gte": since}
        return await self._list_all(self._v1.invoices, params)

    async def retrieve_invoice(self, invoice: str) -> Obj:
        return await self._call(self._v1.invoices.retrieve_async(invoice))

    async def retrieve_charge(self, charge: str) -> Obj:
        return await self._call(self._v1.charges.retrieve_async(charge))

    async def create_refund(
        self,
        *,
        payment_intent: str,
        idempotency_key: IdempotencyKey,
        amount_cents: Cents | None = None,
        metadata: Mapping[str, str | int] | None = None,
    ) -> Obj:
        params: Obj = {"payment_intent": payment_intent, "metadata": _our_metadata(metadata)}
        if amount_cents is not None:
            params["amount"] = amount_cents
        return await self._call(
            self._v1.refunds.create_async(params, self._opts(idempotency_key)), idempotency_key
        )
