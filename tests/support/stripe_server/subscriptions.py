"""``/v1/products``, ``/v1/prices``, ``/v1/subscriptions`` and the invoices they bill; the test controls
``renew_subscription`` (a paid renewal, or with ``decline=`` a failed one: the invoice stays ``open`` with
``attempt_count`` and its PaymentIntent's ``last_payment_error``, the subscription goes ``past_due``),
``retry_invoice`` (the next automatic attempt succeeds: ``paid``, the subscription ``active`` again) and
``end_subscription`` (Stripe ends it: ``canceled`` with ``ended_at``, as after the last failed retry or at
the end of a period cancelled at period end)."""

from __future__ import annotations

from tests.support.stripe_server.core import Obj, StripeApiError, _bool_param, _int_param
from tests.support.stripe_server.payment_intents import PaymentIntentsMixin


class SubscriptionsMixin(PaymentIntentsMixin):
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
                "ended_at": None,
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

    def _new_invoice(self, sub: Obj, price: Obj, pm_id: str | None, decline: str | None = None) -> Obj:
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
                "attempted": False,
                "attempt_count": 0,
                "next_payment_attempt": None,
            }
        )
        sub["latest_invoice"] = inv_id
        if pm_id is not None and decline is None and self._declines.get(pm_id):
            decline = self._declines[pm_id]
        if pm_id is not None and decline is not None:
            self._fail_invoice(invoice, pm_id, decline)
        elif pm_id is not None and pm_id in self.objects:
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
                    "attempted": True,
                    "attempt_count": 1,
                }
            )
        return invoice

    def _fail_invoice(self, invoice: Obj, pm_id: str, decline: str) -> None:
        """One failed automatic attempt: a declined charge, ``last_payment_error`` on the PaymentIntent."""
        pi = self.objects.get(invoice["payment_intent"] or "")
        if pi is None:
            pi = self._put(
                {
                    "id": self._new_id("pi"),
                    "object": "payment_intent",
                    "created": self.now(),
                    "livemode": False,
                    "amount": invoice["amount_due"],
                    "amount_received": 0,
                    "currency": invoice["currency"],
                    "customer": invoice["customer"],
                    "metadata": {},
                    "status": "requires_payment_method",
                    "payment_method": pm_id,
                    "latest_charge": None,
                    "invoice": invoice["id"],
                    "client_secret": None,
                    "last_payment_error": None,
                    "description": None,
                }
            )
        charge = self._new_charge(pi, paid=False, failure_code="card_declined")
        pi.update(
            {
                "status": "requires_payment_method",
                "latest_charge": charge["id"],
                "last_payment_error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": decline,
                    "message": "Your card was declined.",
                    "charge": charge["id"],
                },
            }
        )
        invoice.update(
            {
                "payment_intent": pi["id"],
                "attempted": True,
                "attempt_count": invoice["attempt_count"] + 1,
                "next_payment_attempt": self.now() + 3 * 86400,
            }
        )

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

    def _set_period(self, sub: Obj, start: int, end: int) -> None:
        sub["current_period_start"], sub["current_period_end"] = start, end
        for item in sub["items"]["data"]:
            item["current_period_start"], item["current_period_end"] = start, end

    def renew_subscription(self, sid: str, *, decline: str | None = None) -> Obj:
        """Start the next period and bill it; returns the new invoice: paid when a method is on file and
        ``decline`` is ``None``, else ``open`` after one failed attempt (the subscription ``past_due``)."""
        sub = self._get("subscription", sid)
        self._set_period(sub, sub["current_period_end"], sub["current_period_end"] + 30 * 86400)
        price = sub["items"]["data"][0]["price"]
        cus = self.objects[sub["customer"]]
        pm_id = sub["default_payment_method"] or cus["invoice_settings"]["default_payment_method"]
        invoice = self._new_invoice(sub, price, pm_id, decline)
        if invoice["status"] != "paid":
            sub["status"] = "past_due"
        return invoice

    def retry_invoice(self, inv_id: str) -> Obj:
        """Stripe's next automatic attempt on an open invoice succeeds (the card was fixed)."""
        invoice = self._get("invoice", inv_id)
        pi = self.objects[invoice["payment_intent"]]
        pi["status"] = "processing"
        pi["last_payment_error"] = None
        self.succeed_payment_intent(pi["id"])
        invoice.update(
            {
                "status": "paid",
                "paid": True,
                "amount_paid": invoice["amount_due"],
                "amount_remaining": 0,
                "charge": pi["latest_charge"],
                "attempt_count": invoice["attempt_count"] + 1,
                "next_payment_attempt": None,
            }
        )
        sub = self.objects[invoice["subscription"]]
        if sub["status"] in ("past_due", "incomplete", "unpaid"):
            sub["status"] = "active"
        return invoice

    def end_subscription(self, sid: str) -> Obj:
        """Stripe ends the subscription now (retries exhausted, or the period of a cancel-at-period-end
        subscription is over): ``canceled``, ``ended_at``; the open invoice is voided."""
        sub = self._get("subscription", sid)
        now = self.now()
        sub.update({"status": "canceled", "canceled_at": sub["canceled_at"] or now, "ended_at": now})
        latest = self.objects.get(sub["latest_invoice"] or "")
        if latest is not None and latest["status"] == "open":
            latest.update({"status": "void", "next_payment_attempt": None})
        return sub
