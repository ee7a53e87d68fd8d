"""Reconciliation: credit succeeded PaymentIntents and paid invoices whose webhook never arrived, and
bring subscriptions in line with Stripe.

``reconcile(ctx, since=...)`` re-fetches PaymentIntents and invoices created since ``since`` (unix
seconds; default: ``reconcile_window_hours`` ago) and sends each through the same crediting path as the
webhooks (``billing.handlers.credit_*``), so the unique business key makes it exactly-once whatever ran
before or runs concurrently. It also advances pending reversals (mint in flight, clawback stages), and
(:func:`billing.subscriptions.reconcile_subscriptions`) refreshes every subscription that is not final from
Stripe and retries half-created ones (row ``created``, older than ``subscription_retry_after`` seconds)
with their Idempotency-Key, marking them ``failed`` after the last attempt.

CLI: ``python -m billing.reconcile [--since-hours H]`` with the service's configuration (env / TOML).
The scheduler will call :func:`reconcile` with a deterministic job id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass, field

from billing.context import BillingContext
from billing.handlers import credit_invoice, credit_payment_intent
from billing.subscriptions import CREATE_RETRY_AFTER, SubscriptionsReport, reconcile_subscriptions
from billing.webhooks import is_ours
from engine.payments.errors import PaymentsError

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    payment_intents_seen: int = 0
    invoices_seen: int = 0
    credited: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    reversals: dict[int, str] = field(default_factory=dict)
    subscriptions: SubscriptionsReport = field(default_factory=SubscriptionsReport)


async def reconcile(
    ctx: BillingContext, *, since: int | None = None, subscription_retry_after: int = CREATE_RETRY_AFTER
) -> ReconcileReport:
    since = int(time.time()) - ctx.reconcile_window_hours * 3600 if since is None else since
    report = ReconcileReport()
    for pi in await ctx.stripe.list_recent_payment_intents(since):
        report.payment_intents_seen += 1
        if pi.get("status") != "succeeded" or not is_ours(pi):
            continue
        try:
            if await credit_payment_intent(ctx, pi, source="reconcile"):
                report.credited.append(str(pi["id"]))
        except PaymentsError as exc:
            report.errors[str(pi["id"])] = str(exc)
    for inv in await ctx.stripe.list_invoices(since=since):
        report.invoices_seen += 1
        if inv.get("status") != "paid" or not is_ours(inv):
            continue
        try:
            if await credit_invoice(ctx, inv, source="reconcile"):
                report.credited.append(str(inv["id"]))
        except PaymentsError as exc:
            report.errors[str(inv["id"])] = str(exc)
    report.reversals = await ctx.reversals.process_pending()
    report.subscriptions = await reconcile_subscriptions(ctx, retry_after=subscription_retry_after)
    if report.credited:
        log.warning("reconciliation credited %d payments whose webhook was missing", len(report.credited))
    return report


async def _amain(since_hours: int | None) -> int:
    from billing.context import build_billing
    from engine.runtime import start_runtime
    from engine.settings import load_settings

    settings = load_settings()
    runtime = await start_runtime(settings, spawn_dev_chain=False)
    try:
        ctx = build_billing(runtime)
        if ctx is None:
            print("payments are disabled: CLOUDMARKET_STRIPE_SECRET_KEY is not set")
            return 2
        try:
            since = None if since_hours is None else int(time.time()) - since_hours * 3600
            print(json.dumps(asdict(await reconcile(ctx, since=since)), indent=2))
        finally:
            await ctx.aclose()
    finally:
        await runtime.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m billing.reconcile")
    p.add_argument("--since-hours", type=int, default=None)
    args = p.parse_args(argv)
    return asyncio.run(_amain(args.since_hours))


if __name__ == "__main__":
    raise SystemExit(main())
