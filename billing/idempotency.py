"""Deterministic Idempotency-Keys for every outbound Stripe POST.

stripe-python generates a *random* key per call when none is given, so a retry after a crash (the call
went out, the response was lost, the process died before storing it) would create a second object. Every
POST therefore carries a key derived from our own row id: ``cm-<purpose>-<row id>``. Stripe keeps keys for
at least 24 hours and replays the first response for a repeated key.

The key names the *operation*, not its target: "set default method to X" twice on different days is two
operations, so such a key comes from the row recording that request, not from X. Keys for one-shot
operations (detaching a given method, refunding a given payment) may use the target's id.
"""

from __future__ import annotations

import re
from typing import NewType

IdempotencyKey = NewType("IdempotencyKey", str)

PREFIX = "cm"
_PART_RE = re.compile(r"[A-Za-z0-9_.:]{1,100}")
_KEY_RE = re.compile(r"cm-[a-z0-9_]{1,40}-[A-Za-z0-9_.:-]{1,150}")


class IdempotencyKeyError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def idempotency_key(purpose: str, *row_id: object) -> IdempotencyKey:
    """``idempotency_key("topup", 42)`` → ``"cm-topup-42"``; several parts are joined with ``-``."""
    if not re.fullmatch(r"[a-z0-9_]{1,40}", purpose):
        raise IdempotencyKeyError(purpose, f"purpose must be [a-z0-9_]{{1,40}}, got {purpose!r}")
    if not row_id:
        raise IdempotencyKeyError(purpose, "an idempotency key needs a row id")
    parts = [str(p) for p in row_id]
    for part in parts:
        if not _PART_RE.fullmatch(part):
            raise IdempotencyKeyError(part, f"row id part {part!r} is empty or has unsafe characters")
    return IdempotencyKey("-".join([PREFIX, purpose, *parts]))


def check_key(key: str) -> IdempotencyKey:
    """Refuse anything that is not one of our deterministic keys (e.g. a uuid4 made up on the spot)."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key) or len(key) > 255:
        raise IdempotencyKeyError(str(key), f"not a deterministic cloudmarket key: {key!r}")
    return IdempotencyKey(key)
