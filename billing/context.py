"""What billing needs at run time, built once from the runtime (``build_billing``) and injected.

``BillingContext`` carries the Stripe client, the session factory, the CreditToken client (calldata and
reads), the managed-wallet keyring, the operator's fee schedule and the reversal processor. Without a
Stripe secret key there is no context: payment routes answer 503 ``payments_disabled``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing.client import StripeBilling
from billing.fees import FeeSchedule
from chain.contracts import CreditTokenClient
from engine.money import Bps, Cents, FeeBearer
from engine.payments.commands import ReversalProcessor
from engine.runtime import Runtime
from engine.settings import Settings
from engine.wallets.crypto import Keyring
from engine.wallets.services import keyring_for


@dataclass
class BillingContext:
    stripe: StripeBilling
    sessionmaker: async_sessionmaker[AsyncSession]
    token: CreditTokenClient
    keyring: Keyring
    fees: FeeSchedule
    reversals: ReversalProcessor
    webhook_secrets: list[str]
    reconcile_window_hours: int = 72

    async def aclose(self) -> None:
        await self.stripe.aclose()


def fee_schedule(settings: Settings) -> FeeSchedule:
    return FeeSchedule(
        pct_bps=Bps(settings.stripe_fee_pct_bps),
        fixed_cents=Cents(settings.stripe_fee_fixed_cents),
        fee_bearer=FeeBearer(settings.stripe_fee_bearer),
        min_cents=Cents(settings.topup_min_cents),
        max_cents=Cents(settings.topup_max_cents),
    )


def build_billing(
    runtime: Runtime, *, stripe: StripeBilling | None = None, keyring: Keyring | None = None
) -> BillingContext | None:
    """The billing context, or ``None`` when payments are off (no Stripe secret key)."""
    settings = runtime.settings
    if stripe is None:
        if not settings.stripe_secret_key:
            return None
        stripe = StripeBilling.create(settings.stripe_secret_key, api_base=settings.stripe_api_base)
    token = runtime.contracts.token  # built once by the runtime
    ring = keyring or keyring_for(settings)
    processor = ReversalProcessor(
        runtime.sessionmaker, token, ring, runtime.signer.address, runtime.chain.chain_id
    )
    return BillingContext(
        stripe=stripe,
        sessionmaker=runtime.sessionmaker,
        token=token,
        keyring=ring,
        fees=fee_schedule(settings),
        reversals=processor,
        webhook_secrets=settings.stripe_webhook_secrets,
        reconcile_window_hours=settings.reconcile_window_hours,
    )
