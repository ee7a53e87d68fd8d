"""``/v1/refunds``: full or partial refunds of a charge."""

from __future__ import annotations

from tests.support.stripe_server.core import Obj, StripeApiError, StripeServerCore, _int_param


class RefundsMixin(StripeServerCore):
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
