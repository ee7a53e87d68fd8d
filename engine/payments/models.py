"""Payment tables. Money columns are integers with their unit in the name (``*_cents``, ``*_units``).

* ``billing_customers``   one Stripe customer per user (created lazily; the id is stored once known).
* ``billing_requests``    one row per outbound Stripe operation that is not tied to another row (setup
                          intents, detach, set default, cancel): its id makes the Idempotency-Key.
* ``payments``            top-ups the user asked for: our row first (its id keys the PaymentIntent create).
* ``stripe_events``       processed webhook event ids (unique): an event is handled at most once.
* ``ledger_entries``      settled fiat that became credit; ``business_key`` (PaymentIntent id or invoice id)
                          is unique, so every path (webhook types, reconciliation) credits once.
* ``reversals``           refunds/disputes against a ledger entry and what was done about them.
* ``account_flags``       unrecoverable reversals (debt): block new deployments until cleared.
* ``plans`` / ``subscriptions``  operator-defined monthly credit plans and users' Stripe subscriptions.

Money columns are typed with their unit (``Mapped[Cents]``, ``Mapped[CreditUnits]``, from
``engine.money``). Credit units fit in 63 bits here (``MAX_CENTS`` = 10**12 cents * 10**4 units per cent
< ``MAX_CREDIT_UNITS`` = 2**63-1), so ``BigInteger`` is exact on both backends.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.money import Cents, CreditUnits
from engine.outbox.models import UtcDateTime, utcnow


class PaymentStatus(enum.StrEnum):
    CREATED = "created"  # our row exists, the PaymentIntent may not (yet)
    OPEN = "open"  # PaymentIntent created, waiting for the customer
    SUCCEEDED = "succeeded"  # credited (a ledger entry exists)
    PARTIALLY_REFUNDED = "partially_refunded"  # Stripe refunded part of the charge (``refunded_cents``)
    REFUNDED = "refunded"  # Stripe refunded the whole charge


class SubscriptionStatus(enum.StrEnum):
    """Ours (``created``: the row exists, the Stripe subscription may not; ``failed``: creating it failed
    ``MAX_CREATE_ATTEMPTS`` times) plus Stripe's own statuses, stored as Stripe reports them."""

    CREATED = "created"
    FAILED = "failed"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    PAUSED = "paused"
    CANCELED = "canceled"


class ReversalAction(enum.StrEnum):
    PENDING = "pending"  # recorded, not decided yet (mint in flight, chain unreachable, clawback running)
    MINT_CANCELLED = "mint_cancelled"  # the mint was never signed: cancelled, nothing minted
    NOTHING_MINTED = "nothing_minted"  # the mint had failed already
    CLAWBACK = "clawback"  # managed wallet: permit -> transferFrom -> burn via the outbox (staged)
    FLAGGED = "flagged"  # nothing recoverable on-chain: the whole amount is a debt on the account
    DONE = "done"  # clawback finished (maybe partially, the rest flagged)


class BillingCustomer(Base):
    __tablename__ = "billing_customers"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class BillingRequest(Base):
    __tablename__ = "billing_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(64))
    result_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[Cents] = mapped_column(BigInteger)  # the credit asked for
    charge_cents: Mapped[Cents] = mapped_column(BigInteger)  # what the card is charged
    fee_cents: Mapped[Cents] = mapped_column(BigInteger)  # Stripe fee estimate
    credit_units: Mapped[CreditUnits] = mapped_column(BigInteger)
    fee_bearer: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), default=PaymentStatus.CREATED.value)
    refunded_cents: Mapped[Cents] = mapped_column(BigInteger, default=0, server_default="0")
    payment_intent_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    client_secret: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class StripeEvent(Base):
    __tablename__ = "stripe_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    business_key: Mapped[str] = mapped_column(String(64), unique=True)  # pi_... or in_...
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "topup" | "subscription"
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), nullable=True)
    subscription_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[Cents] = mapped_column(BigInteger)  # what was charged (fiat in)
    # what Stripe refunded of that charge so far (cumulative ``amount_refunded``)
    refunded_cents: Mapped[Cents] = mapped_column(BigInteger, default=0, server_default="0")
    credit_units: Mapped[CreditUnits] = mapped_column(BigInteger)  # what is minted
    charge_id: Mapped[str | None] = mapped_column(String(64), index=True)
    receipt_url: Mapped[str | None] = mapped_column(Text)
    wallet_address: Mapped[str] = mapped_column(String(42))  # EIP-55
    wallet_kind: Mapped[str] = mapped_column(String(16))  # "siwe" | "managed"
    mint_ref: Mapped[str] = mapped_column(String(66))  # 0x keccak(business_key)
    mint_key: Mapped[str] = mapped_column(String(200))  # outbox idempotency key of the (current) mint
    source: Mapped[str] = mapped_column(String(40))  # event type or "reconcile"
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Reversal(Base):
    __tablename__ = "reversals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    business_key: Mapped[str] = mapped_column(String(120), unique=True)
    ledger_entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "refund" | "dispute"
    credit_units: Mapped[CreditUnits] = mapped_column(BigInteger)  # credit to take back
    action: Mapped[str] = mapped_column(String(16), default=ReversalAction.PENDING.value, index=True)
    stage: Mapped[str | None] = mapped_column(String(16))  # clawback: permit | pull | burn
    clawback_units: Mapped[CreditUnits] = mapped_column(BigInteger, default=0)
    debt_units: Mapped[CreditUnits] = mapped_column(BigInteger, default=0)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class AccountFlag(Base):
    __tablename__ = "account_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    debt_units: Mapped[CreditUnits] = mapped_column(BigInteger)
    reversal_id: Mapped[int | None] = mapped_column(ForeignKey("reversals.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    price_cents: Mapped[Cents] = mapped_column(BigInteger)  # charged per period
    credit_cents: Mapped[Cents] = mapped_column(BigInteger)  # credit granted per paid period
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(8))  # "month"
    stripe_price_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(32), default=SubscriptionStatus.CREATED.value)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_method: Mapped[str | None] = mapped_column(String(64))  # as sent on create (same key, same body)
    current_period_end: Mapped[datetime | None] = mapped_column(UtcDateTime)  # Stripe's, for ordering
    last_payment_error: Mapped[str | None] = mapped_column(Text)  # the failed renewal, told to the user
    create_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
