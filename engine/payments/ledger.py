"""Crediting settled fiat exactly once: the ledger entry and its outbox mint, in the caller's transaction.

**Exactly once.** ``ledger_entries.business_key`` is unique (the PaymentIntent id for top-ups, the invoice
id for subscription periods). :func:`credit_once` inserts with ``ON CONFLICT DO NOTHING``: whichever path
gets there first (``payment_intent.succeeded``, ``checkout.session.completed``, ``invoice.paid``, the
reconciliation job, a retry after a crash) writes the entry and enqueues the mint; every other path finds
the key taken and does nothing. The mint's outbox key is ``mint:<business key>`` and its on-chain ``ref``
is ``keccak(business key)``, so even a duplicated outbox row could not mint twice (``RefAlreadyUsed``).

**Mint destination rule.** The user's own linked wallet (the first address linked through SIWE) if there
is one; otherwise the user's managed wallet, created on demand in the same transaction. The choice is
stored on the ledger entry (``wallet_address``, ``wallet_kind``) and never re-evaluated: a wallet linked
later does not redirect credit already on its way.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.crypto import keccak
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from chain.contracts import CreditTokenClient
from engine.identity.models import WalletLink
from engine.outbox import services as outbox
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.payments.models import LedgerEntry, Payment, PaymentStatus, StripeEvent
from engine.wallets.crypto import Keyring
from engine.wallets.services import ensure_managed_wallet

MINT_KIND = "credit.mint"


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def mint_ref(business_key: str) -> bytes:
    """The bytes32 ``ref`` of the mint for ``business_key``: ``keccak(business key)``."""
    return keccak(text=business_key)


def mint_key(business_key: str) -> str:
    return f"mint:{business_key}"


@dataclass(frozen=True)
class Credit:
    """Settled fiat to turn into credit. ``amount_cents`` is what was charged; ``credit_units`` minted."""

    business_key: str
    user_id: int
    kind: str  # "topup" | "subscription"
    currency: str
    amount_cents: int
    credit_units: int
    source: str
    payment_id: int | None = None
    subscription_id: int | None = None
    charge_id: str | None = None
    receipt_url: str | None = None


async def record_event(session: AsyncSession, event_id: str, type_: str, outcome: str) -> bool:
    """Store a processed webhook event id; ``False`` if it was stored before (the event is a duplicate)."""
    stmt = (
        _insert(session)(StripeEvent)
        .values(event_id=event_id, type=type_, outcome=outcome)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(StripeEvent.event_id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def event_seen(session: AsyncSession, event_id: str) -> bool:
    return await session.get(StripeEvent, event_id) is not None


async def mint_destination(session: AsyncSession, user_id: int, keyring: Keyring) -> tuple[str, str]:
    """``(address, kind)`` per the rule in the module docstring."""
    linked = (
        await session.execute(
            select(WalletLink.address)
            .where(WalletLink.user_id == user_id, WalletLink.kind != "managed")
            .order_by(WalletLink.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if linked is not None:
        return linked, "siwe"
    wallet = await ensure_managed_wallet(session, user_id, keyring)
    return wallet.address, "managed"


async def get_entry(session: AsyncSession, business_key: str) -> LedgerEntry | None:
    return (
        await session.execute(select(LedgerEntry).where(LedgerEntry.business_key == business_key))
    ).scalar_one_or_none()


async def credit_once(
    session: AsyncSession, credit: Credit, *, token: CreditTokenClient, keyring: Keyring
) -> LedgerEntry | None:
    """Ledger entry + outbox mint in the caller's transaction (no commit). ``None``: already credited."""
    if credit.credit_units <= 0 or credit.amount_cents < 0:
        raise ValueError(f"nothing to credit for {credit.business_key}")
    if await get_entry(session, credit.business_key) is not None:
        return None
    address, kind = await mint_destination(session, credit.user_id, keyring)
    ref = mint_ref(credit.business_key)
    key = mint_key(credit.business_key)
    stmt = (
        _insert(session)(LedgerEntry)
        .values(
            business_key=credit.business_key,
            user_id=credit.user_id,
            kind=credit.kind,
            payment_id=credit.payment_id,
            subscription_id=credit.subscription_id,
            currency=credit.currency,
            amount_cents=credit.amount_cents,
            credit_units=credit.credit_units,
            charge_id=credit.charge_id,
            receipt_url=credit.receipt_url,
            wallet_address=address,
            wallet_kind=kind,
            mint_ref="0x" + ref.hex(),
            mint_key=key,
            source=credit.source,
        )
        .on_conflict_do_nothing(index_elements=["business_key"])
        .returning(LedgerEntry.id)
    )
    entry_id = (await session.execute(stmt)).scalar_one_or_none()
    if entry_id is None:
        return None
    await outbox.enqueue(
        session,
        kind=MINT_KIND,
        to=token.address,
        data=token.encode_mint(address, credit.credit_units, ref),
        idempotency_key=key,
        args={
            "to": address,
            "amount": str(credit.credit_units),
            "ref": "0x" + ref.hex(),
            "business_key": credit.business_key,
        },
    )
    if credit.payment_id is not None:
        payment = await session.get(Payment, credit.payment_id)
        if payment is not None:
            payment.status = PaymentStatus.SUCCEEDED.value
    entry = await session.get(LedgerEntry, entry_id)
    assert entry is not None
    return entry


async def mint_status(session: AsyncSession, entry: LedgerEntry) -> OutboxStatus | None:
    row = await outbox.get_by_key(session, entry.mint_key)
    return None if row is None else row.status


async def pending_credit_units(session: AsyncSession, user_id: int) -> int:
    """Credit of the user's ledger entries whose mint is not confirmed yet (and not cancelled/failed)."""
    stmt = (
        select(func.coalesce(func.sum(LedgerEntry.credit_units), 0))
        .join(OutboxTx, OutboxTx.idempotency_key == LedgerEntry.mint_key)
        .where(
            LedgerEntry.user_id == user_id,
            OutboxTx.status.notin_([OutboxStatus.CONFIRMED, OutboxStatus.FAILED]),
        )
    )
    return int((await session.execute(stmt)).scalar_one())
