"""``/v1/customers``: create, update (invoice settings), retrieve."""

from __future__ import annotations

from tests.support.stripe_server.core import Obj, StripeApiError, StripeServerCore


class CustomersMixin(StripeServerCore):
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
