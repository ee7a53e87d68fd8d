"""Fault injection: crash the process for real at a named point.

``failpoint("outbox.after_sign_commit")`` calls ``os._exit(137)`` when the comma-separated environment
variable ``CLOUDMARKET_FAILPOINTS`` names it. No cleanup, no finally blocks, no flushing: the same as a
``kill -9`` at that line, which is what the crash tests need. Unset in production, it costs one lookup.
"""

from __future__ import annotations

import os

ENV_VAR = "CLOUDMARKET_FAILPOINTS"
EXIT_CODE = 137


def active_failpoints() -> frozenset[str]:
    raw = os.environ.get(ENV_VAR, "")
    return frozenset(p.strip() for p in raw.split(",") if p.strip())


def failpoint(name: str) -> None:
    """Exit the process immediately with status 137 if ``name`` is an active failpoint."""
    if name in active_failpoints():
        os._exit(EXIT_CODE)
