"""A local, stateful stand-in for the subset of Stripe's HTTP API that ``billing`` calls.

It speaks Stripe's wire format: form-encoded request bodies with bracket syntax (``metadata[k]=v``,
``items[0][price]=...``), JSON objects with an ``object`` field and prefixed ids (``cus_``, ``pi_``, ...),
integer amounts, list objects (``{"object": "list", "data", "has_more", "url"}``) paginated newest first
with ``limit``/``starting_after``, and errors as ``{"error": {"type", "code", "message", "param"}}``
with Stripe's HTTP statuses (400, 401, 402, 404).

Idempotency as Stripe documents it: a POST's ``Idempotency-Key`` (per API key) stores the response once
the endpoint started executing (2xx and 402 card errors; validation 400s/404s are not stored); a repeat
with the same parameters gets the stored status and body back with ``Idempotent-Replayed: true``, a repeat
with different parameters gets 400 ``idempotency_error``.

Every request is recorded (``server.requests``). Test controls are plain methods, not HTTP:
``succeed_payment_intent``, ``complete_setup_intent``, ``renew_subscription``, ``event``/``*_event``
builders, ``send_event`` (POST a signed event to a URL like Stripe does), ``advance_clock``.

Test payment methods (``pm_card_visa``, ``pm_card_mastercard``, ``pm_card_chargeDeclined``,
``pm_card_chargeDeclinedInsufficientFunds``): attaching one clones it into a new ``pm_`` object, as Stripe
does; declines travel with the clone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import operator
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

API_VERSION = "2025-08-27.basil"
DEFAULT_SECRET_KEY = "sk_test_cloudmarket_local"
DEFAULT_WEBHOOK_SECRET = "whsec_cloudmarket_local"
MIN_CHARGE_CENTS = 50
SUPPORTED_CURRENCIES = frozenset({"usd", "eur", "gbp"})

TEST_CARDS: dict[str, dict[str, Any]] = {
    "pm_card_visa": {"brand": "visa", "last4": "4242", "decline": None},
    "pm_card_mastercard": {"brand": "mastercard", "last4": "4444", "decline": None},
    "pm_card_chargeDeclined": {"brand": "visa", "last4": "0002", "decline": "generic_decline"},
    "pm_card_chargeDeclinedInsufficientFunds": {
        "brand": "visa",
        "last4": "9995",
        "decline": "insufficient_funds",
    },
}

Obj = dict[str, Any]


def sign_payload(payload: bytes, *, timestamp: int, secrets_: Sequence[str]) -> str:
    """A ``Stripe-Signature`` value with one ``v1`` per secret (Stripe sends several during rotation)."""
    parts = [f"t={timestamp}"]
    for secret in secrets_:
        mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
        parts.append(f"v1={mac}")
    return ",".join(parts)


def decode_form(pairs: Sequence[tuple[str, str]]) -> Obj:
    """Stripe bracket syntax to nested dicts/lists: ``a[b][0][c]=v`` → ``{"a": {"b": [{"c": "v"}]}}``."""
    root: Obj = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        tokens = [head] + (re.findall(r"([^\[\]]*)\]", "[" + rest) if rest else [])
        node: Any = root
        for i, tok in enumerate(tokens):
            last = i == len(tokens) - 1
            if tok == "":  # "a[]" appends
                tok = str(len(node))
            if last:
                node[tok] = value
            else:
                node = node.setdefault(tok, {})

    def listify(x: Any) -> Any:
        if isinstance(x, dict):
            if x and all(k.isdigit() for k in x):
                return [listify(x[k]) for k in sorted(x, key=int)]
            return {k: listify(v) for k, v in x.items()}
        return x

    result: Obj = listify(root)
    return result


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    form: Obj
    query: Obj
    status: int = 0
    replayed: bool = False

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


class StripeApiError(Exception):
    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: Obj | None = None,
        store: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Obj = {
            "error": {"type": type_, "message": message, "code": code, "param": param, **(extra or {})}
        }
        self.store = store  # card errors happen after execution started: Stripe stores them for replay


def _missing(kind: str, oid: str, param: str = "id") -> StripeApiError:
    return StripeApiError(
        404, "invalid_request_error", f"No such {kind}: '{oid}'", code="resource_missing", param=param
    )


def _int_param(params: Obj, name: str, *, required: bool = True) -> int | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"Missing required param: {name}.",
                code="parameter_missing",
                param=name,
            )
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"-?[0-9]+", raw):
        raise StripeApiError(
            400,
            "invalid_request_error",
            f"Invalid integer: {raw}",
            code="parameter_invalid_integer",
            param=name,
        )
    return int(raw)


def _bool_param(params: Obj, name: str) -> bool:
    return params.get(name) == "true"


@dataclass
class _Stored:
    fingerprint: str
    status: int
    body: bytes


@dataclass
class StripeTestServer:
    secret_key: str = DEFAULT_SECRET_KEY
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    requests: list[RecordedRequest] = field(default_factory=list)
    objects: dict[str, Obj] = field(default_factory=dict)
    events: list[Obj] = field(default_factory=list)
    clock_offset: int = 0

    def __post_init__(self) -> None:
        self._idem: dict[tuple[str, str], _Stored] = {}
        self._declines: dict[str, str | None] = {}  # pm id -> decline code
        self._seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------------
    async def __aenter__(self) -> StripeTestServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- helpers ---------------------------------------------------------------------------------
    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def advance_clock(self, seconds: int) -> None:
        self.clock_offset += seconds

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._seq):06d}{secrets.token_hex(6)}"

    def _put(self, obj: Obj) -> Obj:
        self.objects[obj["id"]] = obj
        return obj

    def _get(self, kind: str, oid: str, param: str = "id") -> Obj:
        obj = self.objects.get(oid)
        if obj is None or obj.get("object") != kind:
            raise _missing(kind, oid, param)
        return obj

    def of_kind(self, kind: str) -> list[Obj]:
        """All objects of a kind, oldest first (insertion order)."""
        return [o for o in self.objects.values() if o.get("object") == kind]

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # ---- HTTP plumbing ---------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return hmac.compare_digest(auth[7:], self.secret_key)
        if auth.startswith("Basic "):
            try:
                user = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
            except ValueError:
                return False
            return hmac.compare_digest(user, self.secret_key)
        return False

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        form_pairs = [(k, v) for k, v in _parse_qsl(raw.decode())] if request.method == "POST" else []
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            form=decode_form(form_pairs),
            query=decode_form(list(request.query.items())),
        )
        self.requests.append(rec)
        if not self._authorized(request):
            return self._reply(
                rec,
                401,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": None,
                        "param": None,
                        "message": "Invalid API Key provided: "
                        + _redact(request.headers.get("Authorization", "")),
                    }
                },
            )
        key = rec.idempotency_key if request.method == "POST" else None
        fingerprint = json.dumps([request.method, request.path, sorted(form_pairs)])
        if key is not None:
            stored = self._idem.get((self.secret_key, key))
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return self._reply(
                        rec,
                        400,
                        {
                            "error": {
                                "type": "idempotency_error",
                                "code": None,
                                "param": None,
                                "message": (
                                    "Keys for idempotent requests can only be used with the same "
                                    f"parameters they were first used with. Try using a key other than "
                                    f"'{key}' if you meant to execute a different request."
                                ),
                            }
                        },
                    )
                rec.status, rec.replayed = stored.status, True
                return web.Response(
                    status=stored.status,
                    body=stored.body,
                    content_type="application/json",
                    headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
                )
        try:
            status, body = 200, self._route(request.method, request.path, rec.form if rec.form else rec.query)
            store = True
        except StripeApiError as err:
            status, body, store = err.status, err.body, err.store
        payload = json.dumps(body).encode()
        if key is not None and store:
            self._idem[(self.secret_key, key)] = _Stored(fingerprint, status, payload)
        rec.status = status
        headers = {"Request-Id": self._new_id("req")}
        if key is not None:
            headers["Idempotency-Key"] = key
        return web.Response(status=status, body=payload, content_type="application/json", headers=headers)

    @staticmethod
    def _reply(rec: RecordedRequest, status: int, body: Obj) -> web.Response:
        rec.status = status
        return web.json_response(body, status=status)

    def _route(self, method: str, path: str, params: Obj) -> Obj:
        for pattern, verb, fn in self._table():
            if verb != method:
                continue
            m = re.fullmatch(pattern, path)
            if m:
                result: Obj = fn(params, *m.groups())
                return result
        raise StripeApiError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _table(self) -> list[tuple[str, str, Callable[..., Obj]]]:
        return [
            (r"/v1/customers", "POST", self._create_customer),
            (r"/v1/customers/([^/]+)", "GET", lambda p, i: self._get("customer", i)),
            (r"/v1/customers/([^/]+)", "POST", self._update_customer),
            (
                r"/v1/customers/([^/]+)/payment_methods",
                "GET",
                lambda p, i: self._list_payment_methods({**p, "customer": i}),
            ),
            (r"/v1/payment_methods", "GET", self._list_payment_methods),
            (r"/v1/payment_methods/([^/]+)", "GET", lambda p, i: self._get("payment_method", i)),
            (r"/v1/payment_methods/([^/]+)/attach", "POST", self._attach_pm),
            (r"/v1/payment_methods/([^/]+)/detach", "POST", self._detach_pm),
            (r"/v1/setup_intents", "POST", self._create_setup_intent),
            (r"/v1/setup_intents/([^/]+)", "GET", lambda p, i: self._get("setup_intent", i, "intent")),
            (r"/v1/payment_intents", "POST", self._create_payment_intent),
            (
                r"/v1/payment_intents",
                "GET",
                lambda p: self._list("payment_intent", p, "/v1/payment_intents", ("customer",)),
            ),
            (r"/v1/payment_intents/([^/]+)", "GET", lambda p, i: self._get("payment_intent", i, "intent")),
            (r"/v1/payment_intents/([^/]+)/confirm", "POST", self._confirm_pi),
            (r"/v1/products", "POST", self._create_product),
            (r"/v1/prices", "POST", self._create_price),
            (r"/v1/subscriptions", "POST", self._create_subscription),
            (r"/v1/subscriptions/([^/]+)", "GET", lambda p, i: self._get("subscription", i)),
            (r"/v1/subscriptions/([^/]+)", "POST", self._update_subscription),
            (
                r"/v1/invoices",
                "GET",
                lambda p: self._list("invoice", p, "/v1/invoices", ("customer", "subscription")),
            ),
            (r"/v1/invoices/([^/]+)", "GET", lambda p, i: self._get("invoice", i, "invoice")),
            (r"/v1/refunds", "POST", self._create_refund),
            (r"/v1/charges/([^/]+)", "GET", lambda p, i: self._get("charge", i, "charge")),
        ]

    # ---- customers ------------------------------------------------------------------------------
    def _create_customer(self, p: Obj) -> Obj:
        return self._put(
            {
                "id": self._new_id("cus"),
                "object": "customer",
                "created": self.now(),
                "livemode": False,
                "email": p.get("email"),
                "name": p.get("name"),
                "description": p.get("description"),
                "metadata": dict(p.get("metadata") or {}),
                "invoice_settings": {"default_payment_method": None, "custom_fields": None, "footer": None},
            }
        )

    def _update_customer(self, p: Obj, cid: str) -> Obj:
        cus = self._get("customer", cid)
        for key in ("email", "name", "description"):
            if key in p:
                cus[key] = p[key]
        if "metadata" in p:
            cus["metadata"].update(p["metadata"] or {})
        settings = p.get("invoice_settings") or {}
        if "default_payment_method" in settings:
            pm_id = settings["default_payment_method"] or None
            if pm_id is not None:
                pm = self._get("payment_method", pm_id, "invoice_settings[default_payment_method]")
                if pm["customer"] != cid:
                    raise StripeApiError(
                        400,
                        "invalid_request_error",
                        f"The payment method {pm_id} is not attached to customer {cid}.",
                        code="resource_missing",
                        param="invoice_settings[default_payment_method]",
                    )
            cus["invoice_settings"]["default_payment_method"] = pm_id
        return cus

    # ---- payment methods ------------------------------------------------------------------------
    def _materialize_pm(self, token: str, param: str = "payment_method") -> Obj:
        """A test token (``pm_card_visa``) becomes a fresh pm_ object; an existing pm_ id is returned."""
        if token in TEST_CARDS:
            card = TEST_CARDS[token]
            pm = self._put(
                {
                    "id": self._new_id("pm"),
                    "object": "payment_method",
                    "type": "card",
                    "created": self.now(),
                    "livemode": False,
                    "customer": None,
                    "metadata": {},
                    "billing_details": {"email": None},
                    "card": {
                        "brand": card["brand"],
                        "last4": card["last4"],
                        "exp_month": 12,
                        "exp_year": 2034,
                        "funding": "credit",
                        "country": "US",
                    },
                }
            )
            self._declines[pm["id"]] = card["decline"]
            return pm
        return self._get("payment_method", token, param)

    def _attach_pm(self, p: Obj, pm_id: str) -> Obj:
        cid = p.get("customer")
        if not cid:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Missing required param: customer.",
                code="parameter_missing",
                param="customer",
            )
        self._get("customer", cid, "customer")
        pm = self._materialize_pm(pm_id)
        if pm["customer"] not in (None, cid):
            raise StripeApiError(
                400,
                "invalid_request_error",
                "The payment method you provided has already been attached to a customer.",
                code="payment_method_already_attached",
            )
        pm["customer"] = cid
        return pm

    def _detach_pm(self, p: Obj, pm_id: str) -> Obj:
        pm = self._get("payment_method", pm_id, "payment_method")
        if pm["customer"] is None:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "The payment method you provided is not attached to a customer so detachment is impossible.",
                code="payment_method_unexpected_state",
            )
        cus = self.objects.get(pm["customer"])
        if cus and cus["invoice_settings"]["default_payment_method"] == pm_id:
            cus["invoice_settings"]["default_payment_method"] = None
        pm["customer"] = None
        return pm

    def _list_payment_methods(self, p: Obj) -> Obj:
        cid = p.get("customer")
        if cid:
            self._get("customer", cid, "customer")
        items = [
            o
            for o in reversed(self.of_kind("payment_method"))
            if o["customer"] is not None
            and (not cid or o["customer"] == cid)
            and o["type"] == p.get("type", o["type"])
        ]
        return self._page(items, p, "/v1/payment_methods")

    # ---- setup intents --------------------------------------------------------------------------
    def _create_setup_intent(self, p: Obj) -> Obj:
        cid = p.get("customer")
        if cid:
            self._get("customer", cid, "customer")
        sid = self._new_id("seti")
        return self._put(
            {
                "id": sid,
                "object": "setup_intent",
                "created": self.now(),
                "livemode": False,
                "customer": cid,
                "client_secret": f"{sid}_secret_{secrets.token_hex(8)}",
                "status": "requires_payment_method",
                "usage": p.get("usage", "off_session"),
                "payment_method": None,
                "payment_method_types": p.get("payment_method_types") or ["card"],
                "metadata": dict(p.get("metadata") or {}),
            }
        )

    # ---- payment intents ------------------------------------------------------------------------
    def _create_payment_intent(self, p: Obj) -> Obj:
        amount = _int_param(p, "amount")
        assert amount is not None
        currency = p.get("currency")
        if not currency:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Missing required param: currency.",
                code="parameter_missing",
                param="currency",
            )
        if currency not in SUPPORTED_CURRENCIES:
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"Invalid currency: {currency}.",
                code="parameter_invalid_string",
                param="currency",
            )
        if amount < MIN_CHARGE_CENTS:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Amount must be at least $0.50 usd",
                code="amount_too_small",
                param="amount",
            )
        cid = p.get("customer")
        if cid:
            self._get("customer", cid, "customer")
        pid = self._new_id("pi")
        pi = self._put(
            {
                "id": pid,
                "object": "payment_intent",
                "created": self.now(),
                "livemode": False,
                "amount": amount,
                "amount_received": 0,
                "amount_capturable": 0,
                "currency": currency,
                "customer": cid,
                "description": p.get("description"),
                "metadata": dict(p.get("metadata") or {}),
                "client_secret": f"{pid}_secret_{secrets.token_hex(8)}",
                "status": "requires_payment_method",
                "payment_method": None,
                "latest_charge": None,
                "last_payment_error": None,
                "receipt_email": p.get("receipt_email"),
                "capture_method": "automatic",
                "confirmation_method": "automatic",
                "payment_method_types": ["card"],
            }
        )
        if p.get("payment_method"):
            pm = self._materialize_pm(p["payment_method"])
            pi["payment_method"] = pm["id"]
            pi["status"] = "requires_confirmation"
        if _bool_param(p, "confirm"):
            return self._confirm_pi({}, pid)
        return pi

    def _confirm_pi(self, p: Obj, pid: str) -> Obj:
        pi = self._get("payment_intent", pid, "intent")
        if pi["status"] == "succeeded":
            raise StripeApiError(
                400,
                "invalid_request_error",
                "This PaymentIntent's payment_method could not be updated because it has a "
                "status of succeeded.",
                code="payment_intent_unexpected_state",
            )
        if p.get("payment_method"):
            pi["payment_method"] = self._materialize_pm(p["payment_method"])["id"]
        if not pi["payment_method"]:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
            )
        decline = self._declines.get(pi["payment_method"])
        if decline:
            charge = self._new_charge(pi, paid=False, failure_code="card_declined")
            pi["status"] = "requires_payment_method"
            pi["latest_charge"] = charge["id"]
            error = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline,
                "message": "Your card was declined.",
                "param": None,
                "charge": charge["id"],
                "payment_method": {"id": pi["payment_method"]},
            }
            pi["last_payment_error"] = error
            pi["payment_method"] = None
            raise StripeApiError(
                402,
                "card_error",
                "Your card was declined.",
                code="card_declined",
                extra={"decline_code": decline, "charge": charge["id"], "payment_intent": dict(pi)},
                store=True,
            )
        return self.succeed_payment_intent(pid)

    def _new_charge(self, pi: Obj, *, paid: bool, failure_code: str | None = None) -> Obj:
        cid = self._new_id("ch")
        return self._put(
            {
                "id": cid,
                "object": "charge",
                "created": self.now(),
                "livemode": False,
                "amount": pi["amount"],
                "amount_captured": pi["amount"] if paid else 0,
                "amount_refunded": 0,
                "currency": pi["currency"],
                "customer": pi["customer"],
                "payment_intent": pi["id"],
                "payment_method": pi["payment_method"],
                "metadata": dict(pi["metadata"]),
                "paid": paid,
                "captured": paid,
                "refunded": False,
                "disputed": False,
                "status": "succeeded" if paid else "failed",
                "failure_code": failure_code,
                "receipt_url": f"https://pay.stripe.com/receipts/payment/{cid}" if paid else None,
                "invoice": pi.get("invoice"),
            }
        )

    # ---- products, prices, subscriptions, invoices ----------------------------------------------
    def _create_product(self, p: Obj) -> Obj:
        if not p.get("name"):
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Missing required param: name.",
                code="parameter_missing",
                param="name",
            )
        return self._put(
            {
                "id": self._new_id("prod"),
                "object": "product",
                "created": self.now(),
                "livemode": False,
                "name": p["name"],
                "active": True,
                "metadata": dict(p.get("metadata") or {}),
            }
        )

    def _create_price(self, p: Obj) -> Obj:
        unit_amount = _int_param(p, "unit_amount")
        product = p.get("product")
        if product:
            self._get("product", product, "product")
        elif isinstance(p.get("product_data"), dict):
            product = self._create_product(p["product_data"])["id"]
        else:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Missing required param: product.",
                code="parameter_missing",
                param="product",
            )
        recurring = p.get("recurring")
        return self._put(
            {
                "id": self._new_id("price"),
                "object": "price",
                "created": self.now(),
                "livemode": False,
                "unit_amount": unit_amount,
                "currency": p.get("currency", "usd"),
                "product": product,
                "active": True,
                "type": "recurring" if recurring else "one_time",
                "recurring": (
                    {
                        "interval": recurring.get("interval", "month"),
                        "interval_count": int(recurring.get("interval_count", "1")),
                    }
                    if recurring
                    else None
                ),
                "metadata": dict(p.get("metadata") or {}),
            }
        )

    def _create_subscription(self, p: Obj) -> Obj:
        cid = p.get("customer")
        if not cid:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Missing required param: customer.",
                code="parameter_missing",
                param="customer",
            )
        cus = self._get("customer", cid, "customer")
        items = p.get("items") or []
        if not items or not isinstance(items, list) or not items[0].get("price"):
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Missing required param: items.",
                code="parameter_missing",
                param="items",
            )
        price = self._get("price", items[0]["price"], "items[0][price]")
        pm_id = p.get("default_payment_method") or cus["invoice_settings"]["default_payment_method"]
        now = self.now()
        sid = self._new_id("sub")
        sub = self._put(
            {
                "id": sid,
                "object": "subscription",
                "created": now,
                "livemode": False,
                "customer": cid,
                "status": "incomplete",
                "cancel_at_period_end": False,
                "canceled_at": None,
                "default_payment_method": p.get("default_payment_method"),
                "metadata": dict(p.get("metadata") or {}),
                "current_period_start": now,
                "current_period_end": now + 30 * 86400,
                "items": {
                    "object": "list",
                    "has_more": False,
                    "url": f"/v1/subscription_items?subscription={sid}",
                    "data": [
                        {
                            "id": self._new_id("si"),
                            "object": "subscription_item",
                            "price": price,
                            "quantity": 1,
                            "current_period_start": now,
                            "current_period_end": now + 30 * 86400,
                        }
                    ],
                },
                "latest_invoice": None,
            }
        )
        invoice = self._new_invoice(sub, price, pm_id)
        sub["status"] = "active" if invoice["status"] == "paid" else "incomplete"
        return sub

    def _new_invoice(self, sub: Obj, price: Obj, pm_id: str | None) -> Obj:
        now = self.now()
        inv_id = self._new_id("in")
        sub_meta = dict(sub["metadata"])
        invoice = self._put(
            {
                "id": inv_id,
                "object": "invoice",
                "created": now,
                "livemode": False,
                "customer": sub["customer"],
                "subscription": sub["id"],
                "currency": price["currency"],
                "amount_due": price["unit_amount"],
                "amount_paid": 0,
                "amount_remaining": price["unit_amount"],
                "status": "open",
                "paid": False,
                "billing_reason": "subscription_create"
                if sub["latest_invoice"] is None
                else "subscription_cycle",
                "period_start": sub["current_period_start"],
                "period_end": sub["current_period_end"],
                "hosted_invoice_url": f"https://invoice.stripe.com/i/{inv_id}",
                "invoice_pdf": f"https://pay.stripe.com/invoice/{inv_id}/pdf",
                "metadata": {},
                "subscription_details": {"metadata": sub_meta},
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": sub["id"], "metadata": sub_meta},
                },
                "lines": {
                    "object": "list",
                    "has_more": False,
                    "url": f"/v1/invoices/{inv_id}/lines",
                    "data": [
                        {
                            "id": self._new_id("il"),
                            "object": "line_item",
                            "amount": price["unit_amount"],
                            "currency": price["currency"],
                            "period": {
                                "start": sub["current_period_start"],
                                "end": sub["current_period_end"],
                            },
                            "metadata": sub_meta,
                        }
                    ],
                },
                "payment_intent": None,
                "charge": None,
            }
        )
        sub["latest_invoice"] = inv_id
        if pm_id is not None and self._declines.get(pm_id) is None and pm_id in self.objects:
            pi = self._put(
                {
                    "id": self._new_id("pi"),
                    "object": "payment_intent",
                    "created": now,
                    "livemode": False,
                    "amount": price["unit_amount"],
                    "amount_received": 0,
                    "currency": price["currency"],
                    "customer": sub["customer"],
                    "metadata": {},
                    "status": "processing",
                    "payment_method": pm_id,
                    "latest_charge": None,
                    "invoice": inv_id,
                    "client_secret": None,
                    "last_payment_error": None,
                    "description": None,
                }
            )
            self.succeed_payment_intent(pi["id"])
            invoice.update(
                {
                    "status": "paid",
                    "paid": True,
                    "amount_paid": price["unit_amount"],
                    "amount_remaining": 0,
                    "payment_intent": pi["id"],
                    "charge": pi["latest_charge"],
                }
            )
        return invoice

    def _update_subscription(self, p: Obj, sid: str) -> Obj:
        sub = self._get("subscription", sid, "subscription_exposed_id")
        if sub["status"] == "canceled":
            raise StripeApiError(
                400,
                "invalid_request_error",
                "A canceled subscription can only update its cancellation_details and metadata.",
                code="resource_missing",
            )
        if "cancel_at_period_end" in p:
            sub["cancel_at_period_end"] = _bool_param(p, "cancel_at_period_end")
            sub["cancel_at"] = sub["current_period_end"] if sub["cancel_at_period_end"] else None
        if "metadata" in p:
            sub["metadata"].update(p["metadata"] or {})
        return sub

    # ---- refunds, charges -----------------------------------------------------------------------
    def _create_refund(self, p: Obj) -> Obj:
        if p.get("payment_intent"):
            pi = self._get("payment_intent", p["payment_intent"], "payment_intent")
            if not pi.get("latest_charge") or self.objects[pi["latest_charge"]]["paid"] is False:
                raise StripeApiError(
                    400,
                    "invalid_request_error",
                    f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                    code="charge_not_refundable",
                    param="payment_intent",
                )
            charge = self.objects[pi["latest_charge"]]
        elif p.get("charge"):
            charge = self._get("charge", p["charge"], "charge")
        else:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Missing required param: charge.",
                code="parameter_missing",
                param="charge",
            )
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        amount = _int_param(p, "amount", required=False)
        amount = remaining if amount is None else amount
        if remaining <= 0:
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        if amount <= 0 or amount > remaining:
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                code="amount_too_large",
                param="amount",
            )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        return self._put(
            {
                "id": self._new_id("re"),
                "object": "refund",
                "created": self.now(),
                "amount": amount,
                "currency": charge["currency"],
                "charge": charge["id"],
                "payment_intent": charge["payment_intent"],
                "status": "succeeded",
                "reason": p.get("reason"),
                "metadata": dict(p.get("metadata") or {}),
            }
        )

    # ---- lists ----------------------------------------------------------------------------------
    def _list(self, kind: str, p: Obj, url: str, filters: tuple[str, ...]) -> Obj:
        items = list(reversed(self.of_kind(kind)))  # newest first, as Stripe lists
        for name in filters:
            if p.get(name):
                items = [o for o in items if o.get(name) == p[name]]
        created = p.get("created")
        if isinstance(created, dict):
            for op, test in (
                ("gte", operator.ge),
                ("gt", operator.gt),
                ("lte", operator.le),
                ("lt", operator.lt),
            ):
                if op in created:
                    bound = _int_param(created, op) or 0
                    items = [o for o in items if test(o["created"], bound)]
        elif created is not None:
            exact = _int_param(p, "created")
            items = [o for o in items if o["created"] == exact]
        return self._page(items, p, url)

    def _page(self, items: list[Obj], p: Obj, url: str) -> Obj:
        limit = _int_param(p, "limit", required=False) or 10
        if not 1 <= limit <= 100:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "This value must be greater than or equal to 1 and less than or equal to 100",
                code="parameter_invalid_integer",
                param="limit",
            )
        after = p.get("starting_after")
        if after:
            ids = [o["id"] for o in items]
            if after not in ids:
                raise _missing("object", after, "starting_after")
            items = items[ids.index(after) + 1 :]
        return {"object": "list", "url": url, "has_more": len(items) > limit, "data": items[:limit]}

    # ---- test controls --------------------------------------------------------------------------
    def succeed_payment_intent(self, pid: str, *, payment_method: str = "pm_card_visa") -> Obj:
        """Make a payment intent succeed now (as if the customer completed it in Stripe Elements):
        creates its charge (with ``receipt_url``) and sets ``latest_charge``."""
        pi = self._get("payment_intent", pid, "intent")
        if pi["status"] == "succeeded":
            return pi
        if not pi.get("payment_method"):
            pi["payment_method"] = self._materialize_pm(payment_method)["id"]
        charge = self._new_charge(pi, paid=True)
        pi.update(
            {
                "status": "succeeded",
                "amount_received": pi["amount"],
                "latest_charge": charge["id"],
                "last_payment_error": None,
            }
        )
        return pi

    def complete_setup_intent(self, sid: str, payment_method: str = "pm_card_visa") -> Obj:
        seti = self._get("setup_intent", sid, "intent")
        pm = self._materialize_pm(payment_method)
        if seti["customer"]:
            pm["customer"] = seti["customer"]
        seti.update({"status": "succeeded", "payment_method": pm["id"]})
        return seti

    def renew_subscription(self, sid: str) -> Obj:
        """Start the next period and bill it; returns the new invoice (paid when a method is on file)."""
        sub = self._get("subscription", sid)
        sub["current_period_start"] = sub["current_period_end"]
        sub["current_period_end"] += 30 * 86400
        price = sub["items"]["data"][0]["price"]
        cus = self.objects[sub["customer"]]
        pm_id = sub["default_payment_method"] or cus["invoice_settings"]["default_payment_method"]
        return self._new_invoice(sub, price, pm_id)

    def event(
        self, type_: str, obj: Obj, *, previous_attributes: Obj | None = None, created: int | None = None
    ) -> Obj:
        """An event with Stripe's shape around a snapshot of ``obj`` (a deep copy, as Stripe sends)."""
        data: Obj = {"object": json.loads(json.dumps(obj))}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        evt = {
            "id": self._new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now() if created is None else created,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
            "data": data,
        }
        self.events.append(evt)
        return evt

    def payment_intent_succeeded_event(self, pid: str) -> Obj:
        return self.event("payment_intent.succeeded", self.succeed_payment_intent(pid))

    def invoice_paid_event(self, inv_id: str) -> Obj:
        return self.event("invoice.paid", self._get("invoice", inv_id))

    def charge_refunded_event(self, charge_id: str) -> Obj:
        charge = self._get("charge", charge_id)
        return self.event("charge.refunded", charge, previous_attributes={"refunded": False})

    def dispute_created_event(self, charge_id: str, *, reason: str = "fraudulent") -> Obj:
        charge = self._get("charge", charge_id)
        charge["disputed"] = True
        dispute = self._put(
            {
                "id": self._new_id("dp"),
                "object": "dispute",
                "created": self.now(),
                "livemode": False,
                "amount": charge["amount"],
                "currency": charge["currency"],
                "charge": charge_id,
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "status": "needs_response",
                "metadata": {},
            }
        )
        return self.event("charge.dispute.created", dispute)

    def checkout_session_completed_event(self, pid: str) -> Obj:
        pi = self._get("payment_intent", pid, "intent")
        session = {
            "id": self._new_id("cs"),
            "object": "checkout.session",
            "created": self.now(),
            "livemode": False,
            "mode": "payment",
            "payment_status": "paid",
            "status": "complete",
            "amount_total": pi["amount"],
            "currency": pi["currency"],
            "customer": pi["customer"],
            "payment_intent": pid,
            "metadata": dict(pi["metadata"]),
        }
        return self.event("checkout.session.completed", session)

    def signed(
        self, event: Obj, *, timestamp: int | None = None, secrets_: Sequence[str] | None = None
    ) -> tuple[bytes, str]:
        """The exact body bytes and ``Stripe-Signature`` header Stripe would send for ``event``."""
        body = json.dumps(event, indent=2).encode()
        ts = self.now() if timestamp is None else timestamp
        return body, sign_payload(body, timestamp=ts, secrets_=secrets_ or [self.webhook_secret])

    async def send_event(
        self, url: str, event: Obj, *, timestamp: int | None = None, secrets_: Sequence[str] | None = None
    ) -> tuple[int, str]:
        """POST ``event`` to ``url`` as Stripe does; returns the receiver's status and body."""
        body, header = self.signed(event, timestamp=timestamp, secrets_=secrets_)
        headers = {
            "Stripe-Signature": header,
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as resp:
            return resp.status, await resp.text()


def _parse_qsl(text: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(text, keep_blank_values=True, strict_parsing=False)


def _redact(auth: str) -> str:
    token = auth.split(" ", 1)[-1]
    return token[:7] + "*" * max(0, len(token) - 11) + token[-4:] if len(token) > 11 else "***"
