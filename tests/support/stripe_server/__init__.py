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
``succeed_payment_intent``, ``complete_setup_intent``, ``renew_subscription`` (paid, or failed with
``decline=``: ``past_due``), ``retry_invoice``, ``end_subscription`` (``canceled``), ``event``/``*_event``
builders (incl. ``customer.subscription.updated``/``.deleted`` and ``invoice.payment_failed``),
``send_event`` (POST a signed event to a URL like Stripe does), ``advance_clock``.

Test payment methods (``pm_card_visa``, ``pm_card_mastercard``, ``pm_card_chargeDeclined``,
``pm_card_chargeDeclinedInsufficientFunds``, ``pm_card_authenticationRequired``): attaching one clones it
into a new ``pm_`` object, as Stripe does; declines travel with the clone.

A browser gets a stand-in Stripe.js (``stripe_js_url``) whose confirm calls use the publishable key
(``publishable_key``); with ``webhook_url`` set, a payment it confirms is followed by the signed
``payment_intent.succeeded`` webhook (:mod:`~tests.support.stripe_server.browser`).

The package is split by Stripe resource: :mod:`~tests.support.stripe_server.core` (app, idempotency,
errors, lists, webhook signing), ``customers``, ``payment_methods`` (and setup intents),
``payment_intents``, ``subscriptions`` (products, prices, invoices), ``refunds``, ``events``; ``server``
assembles :class:`StripeTestServer`.
"""

from tests.support.stripe_server.browser import DEFAULT_PUBLISHABLE_KEY, TEST_CARD_NUMBERS
from tests.support.stripe_server.core import (
    API_VERSION,
    DEFAULT_SECRET_KEY,
    DEFAULT_WEBHOOK_SECRET,
    MIN_CHARGE_CENTS,
    SUPPORTED_CURRENCIES,
    TEST_CARDS,
    Obj,
    RecordedRequest,
    StripeApiError,
    decode_form,
    sign_payload,
)
from tests.support.stripe_server.server import StripeTestServer

__all__ = [
    "API_VERSION",
    "DEFAULT_PUBLISHABLE_KEY",
    "DEFAULT_SECRET_KEY",
    "DEFAULT_WEBHOOK_SECRET",
    "MIN_CHARGE_CENTS",
    "SUPPORTED_CURRENCIES",
    "TEST_CARDS",
    "TEST_CARD_NUMBERS",
    "Obj",
    "RecordedRequest",
    "StripeApiError",
    "StripeTestServer",
    "decode_form",
    "sign_payload",
]
