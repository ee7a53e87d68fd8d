"""Schemas and renderers of the notification routes (:mod:`api.routes.notifications`) and of the
operator's jobs view."""

from __future__ import annotations

from typing import Any

from api.openapi import named
from api.render import iso_utc, iso_utc_or_none
from api.schemas.common import NEXT_CURSOR, PAGE_QUERY, page_schema
from api.validation import MAX_PATH_ID
from engine.notifications import commands
from engine.notifications.services import EVENT_KINDS
from engine.pagination import Page
from engine.scheduler.runs import JobsView, JobView

Schema = dict[str, Any]
_TS: Schema = {"type": "string", "format": "date-time"}
_TS_OR_NULL: Schema = {"type": ["string", "null"], "format": "date-time"}

NOTIFICATION: Schema = named(
    "Notification",
    {
        "type": "object",
        "required": ["id", "kind", "title", "body", "data", "created_at", "read_at"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string"},
            "title": {"type": "string"},
            "body": {"type": "string"},
            "data": {"type": "object"},
            "created_at": _TS,
            "read_at": _TS_OR_NULL,
        },
    },
)
NOTIFICATIONS_QUERY: dict[str, Schema] = {**PAGE_QUERY, "unread": {"type": "boolean"}}
NOTIFICATIONS: Schema = {
    "type": "object",
    "required": ["notifications", "next_cursor", "unread"],
    "properties": {
        "notifications": {"type": "array", "items": NOTIFICATION},
        "next_cursor": NEXT_CURSOR,
        "unread": {"type": "integer"},
    },
}
DELETED: Schema = {"type": "object", "required": ["deleted"], "properties": {"deleted": {"type": "boolean"}}}
READ_ALL: Schema = {"type": "object", "required": ["marked"], "properties": {"marked": {"type": "integer"}}}
STREAM_QUERY: dict[str, Schema] = {
    "after": {"type": "integer", "minimum": 0, "maximum": MAX_PATH_ID},
    "max_seconds": {"type": "integer", "minimum": 0, "maximum": 3600},
}
STREAM_EVENT: Schema = {
    "type": "string",
    "description": "SSE: `id: <notification id>`, `event: notification`, `data: <Notification>`; "
    "`: keep-alive` comments. Without Last-Event-ID or ?after= the stream starts after the newest "
    'existing notification (only new ones). Also `event: wallet`, `data: {"block": <n>}` (id: the last '
    "notification's) when the indexer committed events naming one of the caller's wallets: re-read "
    "GET /api/wallet.",
}

WEBHOOK: Schema = named(
    "WebhookEndpoint",
    {
        "type": "object",
        "required": ["id", "url", "events", "description", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string"},
            "events": {"type": "array", "items": {"type": "string"}},
            "description": {"type": "string"},
            "created_at": _TS,
        },
    },
)
WEBHOOK_CREATE: Schema = {
    "type": "object",
    "required": ["url", "events"],
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "minLength": 1, "maxLength": 2048},
        "events": {
            "type": "array",
            "minItems": 1,
            "maxItems": len(EVENT_KINDS),
            "items": {"type": "string", "enum": list(EVENT_KINDS)},
        },
        "description": {"type": "string", "maxLength": 200},
    },
}
WEBHOOK_CREATED: Schema = {
    "type": "object",
    "required": ["webhook", "secret"],
    "properties": {
        "webhook": WEBHOOK,
        "secret": {"type": "string", "description": "the signing secret; shown only in this response"},
    },
}
WEBHOOKS: Schema = {
    "type": "object",
    "required": ["webhooks"],
    "properties": {"webhooks": {"type": "array", "items": WEBHOOK}},
}
DELIVERY: Schema = named(
    "WebhookDelivery",
    {
        "type": "object",
        "required": ["id", "event", "status", "attempts", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "event": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": "integer"},
            "last_status_code": {"type": ["integer", "null"]},
            "last_error": {"type": ["string", "null"]},
            "created_at": _TS,
            "last_attempt_at": _TS_OR_NULL,
            "next_attempt_at": _TS_OR_NULL,
            "delivered_at": _TS_OR_NULL,
        },
    },
)
DELIVERIES: Schema = page_schema("deliveries", DELIVERY)

JOB: Schema = named(
    "ScheduledJob",
    {
        "type": "object",
        "required": ["id", "outcome", "last_run", "next_run", "runs", "failures"],
        "properties": {
            "id": {"type": "string"},
            "outcome": {
                "type": ["string", "null"],
                "description": "running, ok, failed, cancelled; null: never ran",
            },
            "last_run": {
                "type": ["object", "null"],
                "properties": {
                    "started_at": _TS,
                    "finished_at": _TS_OR_NULL,
                    "duration_ms": {"type": ["integer", "null"]},
                    "error": {"type": ["string", "null"]},
                    "ran_by": {"type": "string"},
                },
            },
            "next_run": _TS_OR_NULL,
            "runs": {"type": "integer"},
            "failures": {"type": "integer"},
        },
    },
)
JOBS: Schema = {
    "type": "object",
    "required": ["jobs", "this_process", "this_process_leads", "leader"],
    "properties": {
        "jobs": {"type": "array", "items": JOB},
        "this_process": {"type": "string"},
        "this_process_leads": {"type": "boolean"},
        "leader": {"type": ["string", "null"], "description": "the process (host:pid) that leads now"},
    },
}


def notification_json(v: commands.NotificationView) -> dict[str, Any]:
    return {
        "id": v.id,
        "kind": v.kind,
        "title": v.title,
        "body": v.body,
        "data": v.data,
        "created_at": iso_utc(v.created_at),
        "read_at": iso_utc_or_none(v.read_at),
    }


def notifications_json(v: commands.NotificationPage) -> dict[str, Any]:
    return {
        "notifications": [notification_json(n) for n in v.page.items],
        "next_cursor": v.page.next_cursor,
        "unread": v.unread,
    }


def webhook_json(v: commands.WebhookView) -> dict[str, Any]:
    return {
        "id": v.id,
        "url": v.url,
        "events": v.events,
        "description": v.description,
        "created_at": iso_utc(v.created_at),
    }


def delivery_json(v: commands.DeliveryView) -> dict[str, Any]:
    return {
        "id": v.id,
        "event": v.event,
        "status": v.status,
        "attempts": v.attempts,
        "last_status_code": v.last_status_code,
        "last_error": v.last_error,
        "created_at": iso_utc(v.created_at),
        "last_attempt_at": iso_utc_or_none(v.last_attempt_at),
        "next_attempt_at": iso_utc_or_none(v.next_attempt_at),
        "delivered_at": iso_utc_or_none(v.delivered_at),
    }


def deliveries_json(page: Page[commands.DeliveryView]) -> dict[str, Any]:
    return {"deliveries": [delivery_json(d) for d in page.items], "next_cursor": page.next_cursor}


def _job_json(v: JobView) -> dict[str, Any]:
    last = None
    if v.last_started_at is not None:
        last = {
            "started_at": iso_utc(v.last_started_at),
            "finished_at": iso_utc_or_none(v.last_finished_at),
            "duration_ms": v.duration_ms,
            "error": v.error,
            "ran_by": v.ran_by,
        }
    return {
        "id": v.id,
        "outcome": v.outcome,
        "last_run": last,
        "next_run": iso_utc_or_none(v.next_run_at),
        "runs": v.runs,
        "failures": v.failures,
    }


def jobs_json(v: JobsView) -> dict[str, Any]:
    return {
        "jobs": [_job_json(j) for j in v.jobs],
        "this_process": v.this_process,
        "this_process_leads": v.this_process_leads,
        "leader": v.leader,
    }
