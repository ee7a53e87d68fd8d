"""The assembled test server: every resource mixin plus the endpoint table."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.stripe_server.browser import BrowserMixin
from tests.support.stripe_server.core import Obj
from tests.support.stripe_server.customers import CustomersMixin
from tests.support.stripe_server.refunds import RefundsMixin
from tests.support.stripe_server.subscriptions import SubscriptionsMixin


class StripeTestServer(CustomersMixin, SubscriptionsMixin, RefundsMixin, BrowserMixin):
    """``async with StripeTestServer() as stripe:`` serves on ``stripe.api_base`` until the block ends."""

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
            (
                r"/v1/setup_intents/([^/]+)/confirm",
                "POST",
                lambda p, i: self.complete_setup_intent(i, p.get("payment_method") or "pm_card_visa"),
            ),
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
            (
                r"/v1/subscriptions",
                "GET",
                lambda p: self._list("subscription", p, "/v1/subscriptions", ("customer", "status")),
            ),
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
