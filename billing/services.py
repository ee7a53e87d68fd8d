"""Billing building blocks behind :mod:`billing.commands`: customers, methods, top-ups, plans, subscriptions.

Every outbound Stripe POST gets its Idempotency-Key from a row we committed *before* the call
(``cm-<purpose>-<row id>``): a crash between Stripe's answer and our storing it is repaired by calling
again with the same row, which sends the same key and gets Stripe's stored answer (one object, not two).
Ownership is checked here: a user can only touch their own customer's payment methods, payments,
subscriptions and receipts; anything else is :class:`~billing.errors.NotOwned` (the API answers 404, not
403, so ids of other users are not confirmed to exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from billing.context import BillingContext
from billing.errors import InvalidAmount, NotOwned, StripeCallError
from billing.idempotency import IdempotencyKey, idempotency_key
from engine.money import Cents, MoneyError, Quote
from engine.payments.models import (
    BillingCustomer,
    BillingRequest,
    LedgerEntry,
    Payment,
    PaymentStatus,
    Plan,
    Subscription,
    SubscriptionStatus,
)

__all__ = ["MAX_CREATE_ATTEMPTS", "BillingService", "NotOwned", "payment_key"]

MAX_CREATE_ATTEMPTS = 5  # a half-created subscription is marked ``failed`` after this many failed creates


def payment_key(payment_id: int) -> IdempotencyKey:
    return idempotency_key("topup", payment_id)


@dataclass
class BillingService:
    ctx: BillingContext

    # ---- customers ---------------------------------------------------------------------------------
    async def customer_id(self, user_id: int, *, create: bool = True) -> str | None:
        """The user's Stripe customer, created on first need (key ``cm-customer-<user id>``)."""
        async with self.ctx.sessionmaker() as s:
            row = await s.get(BillingCustomer, user_id)
            if row is not None and row.customer_id:
                return row.customer_id
            if not create:
                return None
        cid = await self.ctx.stripe.ensure_customer(
            user_id=user_id, existing_customer_id=None, idempotency_key=idempotency_key("customer", user_id)
        )
        async with self.ctx.sessionmaker() as s, s.begin():
            row = await s.get(BillingCustomer, user_id)
            if row is None:
                s.add(BillingCustomer(user_id=user_id, customer_id=cid))
            else:
                row.customer_id = cid
        return cid

    async def _request_row(self, user_id: int, purpose: str, target: str | None = None) -> int:
        async with self.ctx.sessionmaker() as s, s.begin():
            row = BillingRequest(user_id=user_id, purpose=purpose, target=target)
            s.add(row)
            await s.flush()
            return row.id

    # ---- payment methods ---------------------------------------------------------------------------
    async def list_methods(self, user_id: int) -> dict[str, Any]:
        cid = await self.customer_id(user_id, create=False)
        if cid is None:
            return {"methods": [], "default": None}
        methods = await self.ctx.stripe.list_payment_methods(cid)
        customer = await self.ctx.stripe.retrieve_customer(cid)
        default = (customer.get("invoice_settings") or {}).get("default_payment_method")
        return {
            "default": default,
            "methods": [
                {
                    "id": m["id"],
                    "type": m.get("type"),
                    "brand": (m.get("card") or {}).get("brand"),
                    "last4": (m.get("card") or {}).get("last4"),
                    "exp_month": (m.get("card") or {}).get("exp_month"),
                    "exp_year": (m.get("card") or {}).get("exp_year"),
                    "default": m["id"] == default,
                }
                for m in methods
            ],
        }

    async def _owned_method(self, user_id: int, pm_id: str) -> str:
        cid = await self.customer_id(user_id, create=False)
        if cid is None:
            raise NotOwned("payment method", pm_id)
        methods = await self.ctx.stripe.list_payment_methods(cid)
        if pm_id not in {m["id"] for m in methods}:
            raise NotOwned("payment method", pm_id)
        return cid

    async def create_setup_intent(self, user_id: int) -> dict[str, Any]:
        cid = await self.customer_id(user_id)
        assert cid is not None
        rid = await self._request_row(user_id, "setup_intent")
        seti = await self.ctx.stripe.create_setup_intent(
            customer=cid, idempotency_key=idempotency_key("setup_intent", rid), metadata={"user_id": user_id}
        )
        return {"setup_intent_id": seti["id"], "client_secret": seti["client_secret"], "customer": cid}

    async def detach_method(self, user_id: int, pm_id: str) -> None:
        await self._owned_method(user_id, pm_id)
        # one-shot on its target: detaching the same method twice is the same operation
        await self.ctx.stripe.detach_payment_method(pm_id, idempotency_key=idempotency_key("detach", pm_id))

    async def set_default_method(self, user_id: int, pm_id: str) -> None:
        cid = await self._owned_method(user_id, pm_id)
        rid = await self._request_row(user_id, "set_default", pm_id)
        await self.ctx.stripe.set_default_payment_method(
            cid, pm_id, idempotency_key=idempotency_key("set_default", rid)
        )

    # ---- top-ups -----------------------------------------------------------------------------------
    def quote(self, amount_cents: object, currency: object = "usd") -> Quote:
        """The operator's quote for a top-up. Raises :class:`InvalidAmount` (``reason`` from
        :class:`engine.money.MoneyError`: a parse reason, ``below_minimum``, ``unsupported_currency`` ...)."""
        try:
            return self.ctx.fees.quote(self.ctx.fees.check_amount(amount_cents, currency))
        except MoneyError as exc:
            raise InvalidAmount(str(exc), exc.reason) from exc

    async def create_payment(self, user_id: int, amount_cents: object, currency: object) -> Payment:
        """Validate, quote and store our payment row (committed), then open its PaymentIntent.

        Raises :class:`InvalidAmount`, :class:`~billing.errors.StripeCallError`."""
        quote = self.quote(amount_cents, currency)
        assert isinstance(currency, str)
        async with self.ctx.sessionmaker() as s, s.begin():
            row = Payment(
                user_id=user_id,
                currency=currency.lower(),
                amount_cents=quote.amount_cents,
                charge_cents=quote.charge_cents,
                fee_cents=quote.fee_cents,
                credit_units=quote.credit_units,
                fee_bearer=quote.fee_bearer.value,
                status=PaymentStatus.CREATED.value,
            )
            s.add(row)
            await s.flush()
            payment_id = row.id
        return await self.open_payment(payment_id)

    async def open_payment(self, payment_id: int) -> Payment:
        """Create (or, after a crash, re-fetch through the same Idempotency-Key) the PaymentIntent."""
        async with self.ctx.sessionmaker() as s:
            row = await s.get(Payment, payment_id)
            if row is None:
                raise NotOwned("payment", payment_id)
            if row.payment_intent_id:
                return row
        customer = await self.customer_id(row.user_id)
        pi = await self.ctx.stripe.create_payment_intent(
            row.charge_cents,
            row.currency,
            customer,
            {"user_id": row.user_id, "payment_id": row.id},
            payment_key(row.id),
            description=f"cloudmarket credit top-up #{row.id}",
        )
        async with self.ctx.sessionmaker() as s, s.begin():
            fresh = await s.get(Payment, payment_id)
            assert fresh is not None
            if not fresh.payment_intent_id:
                fresh.payment_intent_id = pi["id"]
                fresh.client_secret = pi.get("client_secret")
                if fresh.status == PaymentStatus.CREATED.value:
                    fresh.status = PaymentStatus.OPEN.value
            return fresh

    async def get_payment(self, user_id: int, payment_id: int) -> Payment:
        async with self.ctx.sessionmaker() as s:
            row = await s.get(Payment, payment_id)
        if row is None or row.user_id != user_id:
            raise NotOwned("payment", payment_id)
        return row

    # ---- receipts ----------------------------------------------------------------------------------
    async def receipt(self, user_id: int, entry_id: int) -> LedgerEntry:
        async with self.ctx.sessionmaker() as s:
            entry = await s.get(LedgerEntry, entry_id)
        if entry is None or entry.user_id != user_id:
            raise NotOwned("receipt", entry_id)
        return entry

    # ---- plans and subscriptions -------------------------------------------------------------------
    async def create_plan(
        self,
        *,
        name: str,
        price_cents: Cents,
        credit_cents: Cents,
        currency: str = "usd",
        interval: str = "month",
    ) -> Plan:
        async with self.ctx.sessionmaker() as s, s.begin():
            plan = Plan(
                name=name,
                price_cents=price_cents,
                credit_cents=credit_cents,
                currency=currency,
                interval=interval,
                active=True,
            )
            s.add(plan)
            await s.flush()
            plan_id = plan.id
        price = await self.ctx.stripe.create_price(
            product_name=f"cloudmarket plan: {name}",
            unit_amount_cents=price_cents,
            currency=currency,
            interval=interval,
            idempotency_key=idempotency_key("plan_price", plan_id),
            metadata={"plan_id": plan_id},
        )
        async with self.ctx.sessionmaker() as s, s.begin():
            fresh = await s.get(Plan, plan_id)
            assert fresh is not None
            fresh.stripe_price_id = price["id"]
            return fresh

    async def list_plans(
        self, *, active_only: bool = False, limit: int | None = None, before_id: int | None = None
    ) -> list[Plan]:
        """Plans newest first: at most ``limit``, with an id below ``before_id``."""
        async with self.ctx.sessionmaker() as s:
            stmt = select(Plan)
            if active_only:
                stmt = stmt.where(Plan.active.is_(True))
            if before_id is not None:
                stmt = stmt.where(Plan.id < before_id)
            stmt = stmt.order_by(Plan.id.desc())
            if limit is not None:
                stmt = stmt.limit(limit)
            return list((await s.execute(stmt)).scalars())

    async def subscribe(self, user_id: int, plan_id: int, payment_method: str | None = None) -> Subscription:
        async with self.ctx.sessionmaker() as s:
            plan = await s.get(Plan, plan_id)
        if plan is None or not plan.active or not plan.stripe_price_id:
            raise NotOwned("plan", plan_id)
        if payment_method is not None:
            await self._owned_method(user_id, payment_method)
        customer = await self.customer_id(user_id)
        assert customer is not None
        async with self.ctx.sessionmaker() as s, s.begin():
            sub = Subscription(
                user_id=user_id,
                plan_id=plan_id,
                status=SubscriptionStatus.CREATED.value,
                payment_method=payment_method,
            )
            s.add(sub)
            await s.flush()
            sub_id = sub.id
        return await self.open_subscription(sub_id)

    async def open_subscription(self, sub_id: int) -> Subscription:
        """Create the row's Stripe subscription, or after a crash or a failed call send the same request
        again (same Idempotency-Key, same body: Stripe answers with the subscription it made, if it did).
        The attempt is counted first; when the ``MAX_CREATE_ATTEMPTS``-th fails the row reads ``failed``
        (with the error in ``last_payment_error``) and the error is raised.

        Raises :class:`NotOwned` (no such row), :class:`~billing.errors.StripeCallError`."""
        async with self.ctx.sessionmaker() as s, s.begin():
            row = await s.get(Subscription, sub_id)
            if row is None:
                raise NotOwned("subscription", sub_id)
            if row.stripe_subscription_id or row.status != SubscriptionStatus.CREATED.value:
                return row
            row.create_attempts += 1
            plan = await s.get(Plan, row.plan_id)
            price = None if plan is None else plan.stripe_price_id
            if price is None:  # nothing to subscribe to (subscribe() refuses such plans): give up now
                row.status = SubscriptionStatus.FAILED.value
                row.last_payment_error = "subscribing failed: the plan has no Stripe price"
                return row
        try:
            customer = await self.customer_id(row.user_id)
            assert customer is not None
            remote = await self.ctx.stripe.create_subscription(
                customer=customer,
                price=price,
                idempotency_key=idempotency_key("subscription", sub_id),
                metadata={"user_id": row.user_id, "subscription_id": sub_id, "plan_id": row.plan_id},
                default_payment_method=row.payment_method,
            )
        except StripeCallError as exc:
            if row.create_attempts >= MAX_CREATE_ATTEMPTS:
                async with self.ctx.sessionmaker() as s, s.begin():
                    fresh = await s.get(Subscription, sub_id)
                    if fresh is not None and fresh.stripe_subscription_id is None:
                        fresh.status = SubscriptionStatus.FAILED.value
                        fresh.last_payment_error = f"subscribing failed: {exc}"
            raise
        async with self.ctx.sessionmaker() as s, s.begin():
            fresh = await s.get(Subscription, sub_id)
            assert fresh is not None
            if fresh.stripe_subscription_id is None:  # a webhook may have adopted it meanwhile
                fresh.stripe_subscription_id = remote["id"]
                fresh.status = str(remote.get("status"))
            return fresh

    async def list_subscriptions(self, user_id: int) -> list[Subscription]:
        async with self.ctx.sessionmaker() as s:
            stmt = select(Subscription).where(Subscription.user_id == user_id).order_by(Subscription.id)
            return list((await s.execute(stmt)).scalars())

    async def cancel_subscription(self, user_id: int, sub_id: int) -> Subscription:
        async with self.ctx.sessionmaker() as s:
            sub = await s.get(Subscription, sub_id)
        if sub is None or sub.user_id != user_id or not sub.stripe_subscription_id:
            raise NotOwned("subscription", sub_id)
        remote = await self.ctx.stripe.cancel_subscription_at_period_end(
            sub.stripe_subscription_id, idempotency_key=idempotency_key("sub_cancel", sub_id)
        )
        async with self.ctx.sessionmaker() as s, s.begin():
            fresh = await s.get(Subscription, sub_id)
            assert fresh is not None
            fresh.cancel_at_period_end = bool(remote.get("cancel_at_period_end"))
            if fresh.status not in (
                SubscriptionStatus.CANCELED.value,
                SubscriptionStatus.INCOMPLETE_EXPIRED.value,
            ):
                fresh.status = str(remote.get("status"))  # Stripe's final states are never left
            return fresh
