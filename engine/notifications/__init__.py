"""Notifications to users: in-app rows, email and signed webhooks (issue 12).

* :mod:`~engine.notifications.models` — ``notifications`` (in-app), ``webhook_endpoints``,
  ``notification_deliveries`` (the email/webhook outbox and its delivery log).
* :mod:`~engine.notifications.services` — :func:`~engine.notifications.services.notify`, the one call
  other rooms make (inside their own transaction).
* :mod:`~engine.notifications.signing` — ``Cloudmarket-Signature`` (HMAC-SHA256 over ``t.body``).
* :mod:`~engine.notifications.senders` — email senders (SMTP, ``.eml`` files in dev).
* :mod:`~engine.notifications.delivery` — the delivery worker (a scheduler job).
* :mod:`~engine.notifications.commands` — what the API calls.
"""
