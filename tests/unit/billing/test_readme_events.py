"""The README's Stripe section lists exactly the webhook events the service handles (the ones to enable
on the Stripe endpoint)."""

from __future__ import annotations

import re
from pathlib import Path

from billing.handlers import build_dispatcher

README = Path(__file__).resolve().parents[3] / "README.md"


def _stripe_section() -> str:
    text = README.read_text()
    start = text.index("**Stripe.**")
    return text[start : text.index("\n**", start + 1)]


def test_readme_lists_every_handled_event_and_no_other() -> None:
    handled = build_dispatcher().event_types
    assert {
        "invoice.payment_failed",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    } <= handled
    listed = set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", _stripe_section()))
    listed -= {"billing.reconcile"}  # the job's module, not an event
    assert listed == handled
