"""Webhook events: builders with Stripe's shape (``event`` and ``*_event``), signing, and ``send_event``
(POST a signed event to a URL like Stripe does)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import aiohttp

from tests.support.stripe_server.core import API_VERSION, Obj, sign_payload
from tests.support.stripe_server.payment_intents import PaymentIntentsMixin


class EventsMixin(PaymentIntentsMixin):
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

    def subscription_updated_event(self, sid: str, *, previous_attributes: Obj | None = None) -> Obj:
        """``customer.subscription.updated`` around the subscription as it is now."""
        return self.event(
            "customer.subscription.updated",
            self._get("subscription", sid),
            previous_attributes=previous_attributes or {},
        )

    def subscription_deleted_event(self, sid: str) -> Obj:
        """``customer.subscription.deleted``: Stripe ended the subscription (see ``end_subscription``)."""
        return self.event("customer.subscription.deleted", self._get("subscription", sid))

    def invoice_payment_failed_event(self, inv_id: str) -> Obj:
        return self.event("invoice.payment_failed", self._get("invoice", inv_id))

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
