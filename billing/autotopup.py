"""The card step of the auto top-up saga (``engine.autotopup``), injected into the engine as callables:
the engine never imports Stripe.

:func:`charge_card` — one off-session PaymentIntent (``confirm=true``, ``off_session=true``, the saved
method) created with the engine's deterministic key (``cm-autotopup-<rule>-<period>``), so a retry after a
crash gets Stripe's stored answer back (the same intent, or the same decline) and never charges twice.
A succeeded intent is credited through the webhook path's mint (``billing.handlers.credit_payment_intent``:
ledger entry keyed by the intent id + outbox mint with ``ref = keccak(intent id)``), so the later
``payment_intent.succeeded`` webhook or the reconciliation job finds it credited and mints nothing more.
A decline or ``authentication_required`` is an answer (``CardResult(succeeded=False, reason=...)``);
transport errors propagate (the saga stays where it is and retries next tick).

:func:`owns_method` — whether a saved payment method belongs to the user (``PUT`` validation).
"""

from __future__ import annotations

import functools

from billing.context import BillingContext
from billing.errors import CardDeclinedError, NotOwned
from billing.handlers import credit_payment_intent
from billing.idempotency import idempotency_key
from billing.services import BillingService
from engine.autotopup.commands import CardCharger, MethodCheck
from engine.autotopup.models import CardCharge, CardResult
from engine.failpoints import failpoint

SOURCE = "auto_top_up"


async def charge_card(ctx: BillingContext, charge: CardCharge) -> CardResult:
    """Charge the saved card off-session and mint once (see the module docstring).

    Raises :class:`billing.errors.StripeCallError` (not a card error: Stripe down, rate limited ...)."""
    cid = await BillingService(ctx).customer_id(charge.user_id, create=False)
    if cid is None:
        return CardResult(succeeded=False, reason="no_customer")
    key = idempotency_key("autotopup", charge.rule_id, charge.period)
    try:
        pi = await ctx.stripe.create_payment_intent(
            charge.amount_cents,
            "usd",
            cid,
            {"payment_id": charge.payment_id, "user_id": charge.user_id, "purpose": SOURCE},
            key,
            payment_method=charge.payment_method,
            confirm=True,
            off_session=True,
            description="cloudmarket auto top-up",
        )
    except CardDeclinedError as exc:
        reason = exc.stripe_code if exc.stripe_code == "authentication_required" else None
        return CardResult(
            succeeded=False,
            intent_id=exc.payment_intent_id,
            reason=reason or exc.decline_code or exc.stripe_code or "card_declined",
        )
    if pi.get("status") != "succeeded":
        reason = "authentication_required" if pi.get("status") == "requires_action" else str(pi.get("status"))
        return CardResult(succeeded=False, intent_id=str(pi["id"]), reason=reason)
    failpoint("autotopup.after_charge")
    await credit_payment_intent(ctx, pi, source=SOURCE)  # once per intent id (a replay writes nothing)
    return CardResult(succeeded=True, intent_id=str(pi["id"]))


async def owns_method(ctx: BillingContext, user_id: int, payment_method: str) -> bool:
    try:
        await BillingService(ctx)._owned_method(user_id, payment_method)
    except NotOwned:
        return False
    return True


def card_charger(ctx: BillingContext) -> CardCharger:
    return functools.partial(charge_card, ctx)


def method_check(ctx: BillingContext | None) -> MethodCheck | None:
    return None if ctx is None else functools.partial(owns_method, ctx)
