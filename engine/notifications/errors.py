"""Errors of the notifications room::

EngineError
 └── NotificationError
      ├── NotificationNotFound   404 not_found          not the caller's notification
      ├── WebhookNotFound        404 not_found          not the caller's webhook endpoint
      ├── BadWebhookUrl          400 invalid_webhook_url  not https (http only to loopback in dev)
      ├── BadWebhookEvents       400 invalid_webhook_events  unknown or no event kinds
      └── TooManyWebhooks        409 too_many_webhooks  the per-user endpoint limit
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.errors import EngineError, Kind


class NotificationError(EngineError):
    code = "notification_error"
    kind = Kind.INTERNAL


class NotificationNotFound(NotificationError):
    code = "not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, notification_id: int) -> None:
        super().__init__("notification not found", details={"notification_id": notification_id})
        self.notification_id = notification_id


class WebhookNotFound(NotificationError):
    code = "not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, webhook_id: int) -> None:
        super().__init__("webhook endpoint not found", details={"webhook_id": webhook_id})
        self.webhook_id = webhook_id


class BadWebhookUrl(NotificationError):
    code = "invalid_webhook_url"
    kind = Kind.INVALID

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"webhook url refused: {reason}", details={"url": url[:300], "reason": reason})
        self.url = url
        self.reason = reason


class BadWebhookEvents(NotificationError):
    code = "invalid_webhook_events"
    kind = Kind.INVALID

    def __init__(self, unknown: Sequence[str], allowed: Sequence[str]) -> None:
        super().__init__(
            "unknown or missing event kinds",
            details={"unknown": list(unknown), "allowed": list(allowed)},
        )
        self.unknown = list(unknown)


class TooManyWebhooks(NotificationError):
    code = "too_many_webhooks"
    kind = Kind.CONFLICT

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} webhook endpoints per user", details={"limit": limit})
        self.limit = limit
