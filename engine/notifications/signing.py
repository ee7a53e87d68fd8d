"""Webhook signatures: ``Cloudmarket-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The signed message is ``f"{t}.{raw body}"`` with the endpoint's secret as the key, like Stripe's
``Stripe-Signature``. A receiver recomputes it over the raw body it got, compares in constant time, and
refuses a timestamp further than its tolerance from its own clock (a replayed old delivery).
:func:`verify_signature` is the reference receiver check (the README shows it for copying).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "Cloudmarket-Signature"
SCHEME = "v1"
SECRET_PREFIX = "whsec_"  # noqa: S105  (a public prefix, like Stripe's, not a secret)
DEFAULT_TOLERANCE = 300  # seconds


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_hex(24)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},{SCHEME}={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, tolerance: int = DEFAULT_TOLERANCE, now: float | None = None
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and its timestamp is within ``tolerance``
    seconds of ``now`` (default: the clock). Several ``v1=`` values (a secret rotation) are each tried."""
    parts = [p.partition("=") for p in header.split(",")]
    stamps = [v for k, _, v in parts if k.strip() == "t"]
    macs = [v.strip() for k, _, v in parts if k.strip() == SCHEME]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not macs:
        return False
    timestamp = int(stamps[0].strip())
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, mac) for mac in macs)
