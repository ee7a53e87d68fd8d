"""Schemas and renderer of the caller's low-balance alert settings (:mod:`api.routes.alerts`)."""

from __future__ import annotations

from typing import Any

from api.openapi import named
from engine.alerts.models import AlertSettings
from engine.operator.services import MAX_THRESHOLD, MAX_THRESHOLDS, MIN_THRESHOLD

Schema = dict[str, Any]

THRESHOLDS: Schema = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_THRESHOLDS,
    "items": {"type": "integer", "minimum": MIN_THRESHOLD, "maximum": MAX_THRESHOLD},
    "description": "seconds of runway left that raise an alert, distinct (stored in descending order)",
}
ALERT_SETTINGS: Schema = named(
    "AlertSettings",
    {
        "type": "object",
        "required": ["enabled", "thresholds_seconds", "custom", "operator_default_seconds"],
        "properties": {
            "enabled": {
                "type": "boolean",
                "description": "low-balance alerts on; failed auto top-ups and deployments out of funds "
                "are announced either way",
            },
            "thresholds_seconds": THRESHOLDS,
            "custom": {"type": "boolean", "description": "false: the operator's default thresholds apply"},
            "operator_default_seconds": THRESHOLDS,
        },
    },
)
ALERT_SETTINGS_PUT: Schema = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "enabled": {"type": "boolean"},
        "thresholds_seconds": {
            "anyOf": [THRESHOLDS, {"type": "null"}],
            "description": "own thresholds; null: back to the operator's default; absent: unchanged",
        },
    },
}


def alert_settings_json(v: AlertSettings) -> dict[str, Any]:
    return {
        "enabled": v.enabled,
        "thresholds_seconds": list(v.thresholds),
        "custom": v.custom,
        "operator_default_seconds": list(v.operator_default),
    }
