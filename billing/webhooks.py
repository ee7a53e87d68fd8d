"""Stripe webhooks: signature verification, event parsing, and a dispatcher on ``event["type"]``.

The HTTP view stays thin (api/): read the raw body, ``verify_signature``, ``parse_event``, then
``await dispatcher.dispatch(event, ctx)`` and answer 2xx. Handlers (which write the ledger and the outbox
in one transaction) live elsewhere and are registered at app start-up::

    dispatcher = Dispatcher[MyCtx]()
    dispatcher.register("payment_intent.succeeded", on_payment_intent_succeeded)
    # or, for objects that carry no metadata of ours (disputes): re-read the charge inside the handler
    dispatcher.register("charge.dispute.created", on_dispute, require_marker=False)

A handler is ``async def handler(event: Event, ctx: C) -> None``; ``ctx`` is whatever the app passes (a
session factory, the Stripe client, ...). Events whose object does not carry our marker
(``metadata["cm_app"] == "cloudmarket"``) belong to another integration on the same Stripe account and are
ignored, as are types with no handler. Stripe may deliver an event more than once, out of order, or days
late: handlers dedupe by event id and business key, and re-read the authoritative object when order
matters.

Signature scheme (Stripe's): header ``Stripe-Signature: t=<unix ts>,v1=<hex>,v1=<hex>...`` where each
``v1`` is ``HMAC-SHA256(secret, f"{t}.{raw body}")``. Several ``v1`` values and several of our secrets
(rotation) are accepted. Unlike stripe-python we also reject timestamps more than ``tolerance`` seconds
in the future.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from billing.errors import MalformedEventError, SignatureError

DEFAULT_TOLERANCE = 300
METADATA_APP_KEY = "cm_app"
APP_MARKER = "cloudmarket"
_MAX_HEADER_CHARS = 4096


# ---- signature -----------------------------------------------------------------------------------


def compute_signature(payload: bytes, timestamp: int, secret: str) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + payload`` under ``secret``."""
    signed = str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def _parse_header(header: str) -> tuple[int, list[str]]:
    if len(header) > _MAX_HEADER_CHARS:
        raise SignatureError("malformed_header", "Stripe-Signature header is too long")
    timestamp: int | None = None
    v1: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not key or not value:
            raise SignatureError("malformed_header", f"malformed Stripe-Signature element {item!r}")
        if key == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                raise SignatureError("malformed_header", "Stripe-Signature needs exactly one numeric t=")
            timestamp = int(value)
        elif key == "v1":
            v1.append(value)
        # other schemes (v0, ...) are ignored, as Stripe's libraries do
    if timestamp is None:
        raise SignatureError("malformed_header", "Stripe-Signature has no timestamp")
    if not v1:
        raise SignatureError("no_v1_signature", "Stripe-Signature has no v1 signature")
    return timestamp, v1


def verify_signature(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """Check ``header`` against the raw ``payload`` and return the decoded JSON body.

    Raises ``SignatureError`` (``.reason``) unless some ``v1`` value matches some secret and the
    timestamp is within ``tolerance`` seconds of ``now`` in either direction; ``MalformedEventError`` if
    the verified body is not a JSON object.
    """
    if not secrets or not all(secrets):
        raise SignatureError("no_secrets", "no webhook secret configured")
    if not header:
        raise SignatureError("missing_header", "Stripe-Signature header is missing")
    timestamp, candidates = _parse_header(header)
    matched = False
    for secret in secrets:
        expected = compute_signature(payload, timestamp, secret)
        for candidate in candidates:
            # compare every pair: no early exit that would time which secret/value matched
            matched |= hmac.compare_digest(expected.encode("ascii"), candidate.encode("utf-8", "replace"))
    if not matched:
        raise SignatureError("signature_mismatch", "no signature matches the payload")
    # timestamps are checked after the MAC so an attacker learns nothing about the clock from errors
    if now - timestamp > tolerance:
        raise SignatureError("timestamp_too_old", f"signature timestamp is {now - timestamp} s old")
    if timestamp - now > tolerance:
        raise SignatureError("timestamp_in_future", f"signature timestamp is {timestamp - now} s ahead")
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEventError("invalid_json", "webhook body is not JSON") from exc
    if not isinstance(body, dict):
        raise MalformedEventError("not_an_event", "webhook body is not a JSON object")
    return body


# ---- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """The parts of a Stripe event we use. ``object`` is ``data.object`` (a snapshot, possibly stale)."""

    id: str
    type: str
    created: int
    livemode: bool
    api_version: str | None
    object: Mapping[str, Any]
    previous_attributes: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def object_id(self) -> str | None:
        value = self.object.get("id")
        return value if isinstance(value, str) else None


def parse_event(payload: bytes | Mapping[str, Any]) -> Event:
    """Build an ``Event`` from a verified body (bytes or the dict ``verify_signature`` returned)."""
    if isinstance(payload, bytes | bytearray):
        try:
            body = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedEventError("invalid_json", "event is not JSON") from exc
    else:
        body = payload
    if not isinstance(body, Mapping) or body.get("object") != "event":
        raise MalformedEventError("not_an_event", "body is not a Stripe event object")
    event_id, event_type, created = body.get("id"), body.get("type"), body.get("created")
    data = body.get("data")
    if not isinstance(event_id, str) or not event_id.startswith("evt_"):
        raise MalformedEventError("missing_field", "event has no evt_ id")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEventError("missing_field", "event has no type")
    if isinstance(created, bool) or not isinstance(created, int):
        raise MalformedEventError("missing_field", "event has no integer created")
    if not isinstance(data, Mapping) or not isinstance(data.get("object"), Mapping):
        raise MalformedEventError("missing_field", "event has no data.object")
    previous = data.get("previous_attributes")
    api_version = body.get("api_version")
    return Event(
        id=event_id,
        type=event_type,
        created=created,
        livemode=bool(body.get("livemode")),
        api_version=api_version if isinstance(api_version, str) else None,
        object=data["object"],
        previous_attributes=previous if isinstance(previous, Mapping) else None,
        raw=body,
    )


def _marker_in(metadata: object) -> bool:
    return isinstance(metadata, Mapping) and metadata.get(METADATA_APP_KEY) == APP_MARKER


def is_ours(obj: Mapping[str, Any]) -> bool:
    """True when the object (or, for invoices, its subscription) carries our metadata marker.

    Looks at ``metadata``, ``subscription_details.metadata`` (invoices, older API versions) and
    ``parent.subscription_details.metadata`` (invoices, 2025 API versions).
    """
    if _marker_in(obj.get("metadata")):
        return True
    details = obj.get("subscription_details")
    if isinstance(details, Mapping) and _marker_in(details.get("metadata")):
        return True
    parent = obj.get("parent")
    if isinstance(parent, Mapping):
        details = parent.get("subscription_details")
        if isinstance(details, Mapping) and _marker_in(details.get("metadata")):
            return True
    return False


# ---- dispatcher ----------------------------------------------------------------------------------

C = TypeVar("C")
Handler = Callable[[Event, C], Awaitable[None]]


class Outcome(StrEnum):
    HANDLED = "handled"
    NO_HANDLER = "no_handler"  # a type we do not act on
    NOT_OURS = "not_ours"  # another integration's object on the same Stripe account


@dataclass(frozen=True)
class _Route(Generic[C]):
    handler: Handler[C]
    require_marker: bool


class Dispatcher(Generic[C]):
    """Maps event types to one handler each. Starts empty; the app registers handlers at start-up."""

    def __init__(self) -> None:
        self._routes: dict[str, _Route[C]] = {}

    def register(self, event_type: str, handler: Handler[C], *, require_marker: bool = True) -> None:
        """Route ``event_type`` to ``handler``. ``require_marker=False`` for objects that cannot carry our
        metadata (e.g. disputes): the handler must then establish ownership itself by re-reading."""
        if event_type in self._routes:
            raise ValueError(f"a handler for {event_type!r} is already registered")
        self._routes[event_type] = _Route(handler, require_marker)

    def on(self, event_type: str, *, require_marker: bool = True) -> Callable[[Handler[C]], Handler[C]]:
        """Decorator form of ``register``."""

        def deco(handler: Handler[C]) -> Handler[C]:
            self.register(event_type, handler, require_marker=require_marker)
            return handler

        return deco

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._routes)

    async def dispatch(self, event: Event, ctx: C) -> Outcome:
        route = self._routes.get(event.type)
        if route is None:
            return Outcome.NO_HANDLER
        if route.require_marker and not is_ours(event.object):
            return Outcome.NOT_OURS
        await route.handler(event, ctx)
        return Outcome.HANDLED
