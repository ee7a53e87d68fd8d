"""Stripe: the only package that imports ``stripe``. Client (``billing.client``), webhook verification and
dispatch (``billing.webhooks``), deterministic idempotency keys, fee settings, and the error tree
(``billing.errors``)."""
