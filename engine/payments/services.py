"""The fiat ledger: crediting settled fiat exactly once, recording reversals, and the queries over both.

Everything here works in the caller's session and transaction (no commit); the use cases that own their
transactions (deciding and advancing reversals) are in :mod:`engine.payments.commands`.

**Crediting.** :func:`credit_once` writes the ledger entry and its outbox mint together.

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

**Reversals.** A refund or dispute is *recorded* here (:func:`record_reversal`, in the webhook's
transaction); the rule that decides it is in :mod:`engine.payments.commands`. :func:`can_create_deployments`
answers whether an open account flag blocks new deployments.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.crypto import keccak
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from chain.contracts import CreditTokenClient
from engine.identity.models import WalletLink
from engine.money import Cents, CreditUnits, ceil_div
from engine.outbox import services as outbox
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.payments.models import (
    AccountFlag,
    LedgerEntry,
    Payment,
    PaymentStatus,
    Reversal,
    ReversalAction,
    StripeEvent,
)
from engine.wallets import history
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
    amount_cents: Cents
    credit_units: CreditUnits
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
    history.record_payment(  # issue 15: the wallet history's row, same transaction (engine.wallets.history)
        session,
        entry_id=entry.id,
        user_id=entry.user_id,
        kind=entry.kind,
        created_at=entry.created_at,
        amount_cents=entry.amount_cents,
        credit_units=entry.credit_units,
        wallet=entry.wallet_address,
        mint_key=entry.mint_key,
    )
    return entry


async def mint_status(session: AsyncSession, entry: LedgerEntry) -> OutboxStatus | None:
    row = await outbox.get_by_key(session, entry.mint_key)
    return None if row is None else row.status


async def user_ledger(session: AsyncSession, user_id: int, limit: int = 1000) -> list[LedgerEntry]:
    """The user's ledger entries, newest first, at most ``limit``."""
    stmt = (
        select(LedgerEntry).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id.desc()).limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def user_reversals(
    session: AsyncSession, user_id: int, limit: int = 1000
) -> list[tuple[Reversal, LedgerEntry]]:
    """The user's refunds and disputes with the ledger entry each reverses, newest first, at most
    ``limit``."""
    stmt = (
        select(Reversal, LedgerEntry)
        .join(LedgerEntry, LedgerEntry.id == Reversal.ledger_entry_id)
        .where(Reversal.user_id == user_id)
        .order_by(Reversal.id.desc())
        .limit(limit)
    )
    return [(rev, entry) for rev, entry in (await session.execute(stmt)).all()]


async def pending_credit_units(session: AsyncSession, user_id: int) -> CreditUnits:
    """Credit of the user's ledger entries whose mint is not confirmed yet (and not cancelled/failed)."""
    stmt = (
        select(func.coalesce(func.sum(LedgerEntry.credit_units), 0))
        .join(OutboxTx, OutboxTx.idempotency_key == LedgerEntry.mint_key)
        .where(
            LedgerEntry.user_id == user_id,
            OutboxTx.status.notin_([OutboxStatus.CONFIRMED, OutboxStatus.FAILED]),
        )
    )
    return CreditUnits(int((await session.execute(stmt)).scalar_one()))


def reversal_units(entry: LedgerEntry, reversed_cents: Cents, charged_cents: Cents) -> CreditUnits:
    """Credit matching ``reversed_cents`` of a ``charged_cents`` charge, rounded up (in the platform's
    favour: it takes back at least the reversed share), capped at the credit."""
    if charged_cents <= 0:
        return entry.credit_units
    share = ceil_div(entry.credit_units * max(0, reversed_cents), charged_cents)
    return CreditUnits(min(entry.credit_units, share))


async def record_reversal(
    session: AsyncSession, *, business_key: str, kind: str, entry: LedgerEntry, target_units: CreditUnits
) -> Reversal | None:
    """A reversal of ``target_units`` in total for ``entry`` (no commit). ``None``: nothing new to reverse."""
    already = CreditUnits(
        int(
            (
                await session.execute(
                    select(func.coalesce(func.sum(Reversal.credit_units), 0)).where(
                        Reversal.ledger_entry_id == entry.id
                    )
                )
            ).scalar_one()
        )
    )
    delta = min(target_units, entry.credit_units) - already
    if delta <= 0:
        return None
    stmt = (
        _insert(session)(Reversal)
        .values(
            business_key=business_key,
            ledger_entry_id=entry.id,
            user_id=entry.user_id,
            kind=kind,
            credit_units=delta,
            action=ReversalAction.PENDING.value,
            clawback_units=0,
            debt_units=0,
        )
        .on_conflict_do_nothing(index_elements=["business_key"])
        .returning(Reversal.id)
    )
    rid = (await session.execute(stmt)).scalar_one_or_none()
    if rid is None:
        return None
    rev = await session.get(Reversal, rid)
    assert rev is not None
    history.record_reversal(  # issue 15: the wallet history's row, same transaction (engine.wallets.history)
        session,
        reversal_id=rev.id,
        user_id=rev.user_id,
        kind=rev.kind,
        created_at=rev.created_at,
        credit_units=rev.credit_units,
        entry_id=entry.id,
        wallet=entry.wallet_address,
    )
    return rev


async def flag_account(
    session: AsyncSession, reversal: Reversal, debt_units: CreditUnits, reason: str
) -> None:
    """Set the reversal's debt flag to ``debt_units`` (one flag per reversal; raised, never lowered here)."""
    if debt_units <= 0:
        return
    stmt = _insert(session)(AccountFlag).values(
        user_id=reversal.user_id, reason=reason, debt_units=debt_units, reversal_id=reversal.id
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["reversal_id"], set_={"debt_units": debt_units, "reason": reason}
    )
    await session.execute(stmt)


async def can_create_deployments(session: AsyncSession, user_id: int) -> tuple[bool, str | None]:
    """``(False, reason)`` while the account has an open flag (unrecovered refund/dispute debt)."""
    debt = (
        await session.execute(
            select(func.count(AccountFlag.id), func.coalesce(func.sum(AccountFlag.debt_units), 0)).where(
                AccountFlag.user_id == user_id, AccountFlag.cleared_at.is_(None)
            )
        )
    ).one()
    if int(debt[0]) == 0:
        return True, None
    return False, (
        f"account flagged: {int(debt[1])} credit units of refunded or disputed credit could not "
        "be recovered; new deployments are blocked until it is settled"
    )
