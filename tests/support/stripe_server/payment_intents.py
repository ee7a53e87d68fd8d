"""``/v1/payment_intents``: create (optionally confirm, optionally ``off_session``), confirm, the charge a
payment makes, and the test control ``succeed_payment_intent``. A card that needs authentication
(``pm_card_authenticationRequired``) goes to ``requires_action`` on-session and fails with a 402
``authentication_required`` card error off-session, as Stripe does."""

from __future__ import annotations

import secrets

from tests.support.stripe_server.core import (
    MIN_CHARGE_CENTS,
    SUPPORTED_CURRENCIES,
    Obj,
    StripeApiError,
    _bool_param,
    _int_param,
)
from tests.support.stripe_server.payment_methods import PaymentMethodsMixin


class PaymentIntentsMixin(PaymentMethodsMixin):
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
        if _bool_param(p, "off_session") and not _bool_param(p, "confirm"):
            raise StripeApiError(
                400,
                "invalid_request_error",
                "You can only pass in `off_session` when `confirm` is true.",
                code="parameter_invalid_boolean",
                param="off_session",
            )
        if _bool_param(p, "confirm"):
            return self._confirm_pi({"off_session": p.get("off_session")}, pid)
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
        if decline == "authentication_required" and not _bool_param(p, "off_session"):
            pi["status"] = "requires_action"  # the customer must complete 3-D Secure on-session
            pi["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect"},
            }
            return pi
        if decline == "authentication_required":  # off-session: nobody can authenticate; Stripe fails it
            pi["status"] = "requires_payment_method"
            message = "Your card was declined. This transaction requires authentication."
            error = {
                "type": "card_error",
                "code": "authentication_required",
                "decline_code": "authentication_required",
                "message": message,
                "param": None,
                "payment_method": {"id": pi["payment_method"]},
            }
            pi["last_payment_error"] = error
            raise StripeApiError(
                402,
                "card_error",
                message,
                code="authentication_required",
                extra={"decline_code": "authentication_required", "payment_intent": dict(pi)},
                store=True,
            )
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
