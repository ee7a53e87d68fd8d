"""``/v1/payment_methods`` (test cards cloned on attach, declines travel with the clone) and
``/v1/setup_intents``."""

from __future__ import annotations

import secrets

from tests.support.stripe_server.core import TEST_CARDS, Obj, StripeApiError, StripeServerCore


class PaymentMethodsMixin(StripeServerCore):
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

    def complete_setup_intent(self, sid: str, payment_method: str = "pm_card_visa") -> Obj:
        seti = self._get("setup_intent", sid, "intent")
        pm = self._materialize_pm(payment_method)
        if seti["customer"]:
            pm["customer"] = seti["customer"]
        seti.update({"status": "succeeded", "payment_method": pm["id"]})
        return seti
