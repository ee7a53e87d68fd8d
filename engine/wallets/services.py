"""Managed wallets: create one for a user (key generated here, sealed, linked), load it for signing.

The private key leaves this module only inside :class:`eth_account.signers.local.LocalAccount` returned by
:func:`load_account`, for the signer that needs it; it is never logged, returned by the API, or put in an
exception.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from engine.identity.models import WalletLink
from engine.settings import Settings
from engine.wallets.crypto import Keyring, MasterKey, Sealed, load_or_create_dev_master_key
from engine.wallets.errors import ManagedWalletMissing
from engine.wallets.models import ManagedWallet, utcnow


async def get_managed_wallet(session: AsyncSession, user_id: int) -> ManagedWallet | None:
    return (
        await session.execute(select(ManagedWallet).where(ManagedWallet.user_id == user_id))
    ).scalar_one_or_none()


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"unsupported database dialect {dialect}")  # pragma: no cover


async def ensure_managed_wallet(session: AsyncSession, user_id: int, keyring: Keyring) -> ManagedWallet:
    """The user's managed wallet, created (and linked as kind ``managed``) if missing. Caller commits.

    Idempotent under concurrency: the row goes in with ``INSERT .. ON CONFLICT (user_id) DO NOTHING``, so
    when two first payments race, the unique constraint picks one winner (PostgreSQL makes the loser wait
    for the winner's transaction), the loser's freshly generated key is dropped unstored, and both return
    the single stored row. Only the winner adds the wallet link.
    """
    existing = await get_managed_wallet(session, user_id)
    if existing is not None:
        return existing
    acct: LocalAccount = Account.create()
    address = acct.address  # EIP-55
    sealed = keyring.seal(bytes(acct.key), user_id=user_id, address=address)
    del acct
    stmt = (
        _insert(session)(ManagedWallet)
        .values(
            user_id=user_id,
            address=address,
            key_id=sealed.key_id,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["user_id"])
        .returning(ManagedWallet.id)
    )
    inserted = (await session.execute(stmt)).scalar_one_or_none()
    if inserted is not None:
        session.add(WalletLink(user_id=user_id, address=address, kind="managed"))
        await session.flush()
    row = await get_managed_wallet(session, user_id)
    if row is None:  # pragma: no cover - the winner rolled back between our insert and select
        raise ManagedWalletMissing(user_id)
    return row


def open_wallet(row: ManagedWallet, keyring: Keyring) -> LocalAccount:
    """Decrypt ``row`` (AAD: its user id and address) into an account that can sign."""
    secret = keyring.open(
        Sealed(row.key_id, row.nonce, row.ciphertext), user_id=row.user_id, address=row.address
    )
    acct: LocalAccount = Account.from_key(secret)
    if acct.address != row.address:  # cannot happen unless the row was edited; refuse loudly
        raise ValueError(f"managed wallet {row.id}: key does not match address")
    return acct


async def load_account(session: AsyncSession, user_id: int, keyring: Keyring) -> LocalAccount:
    row = await get_managed_wallet(session, user_id)
    if row is None:
        raise ManagedWalletMissing(user_id)
    return open_wallet(row, keyring)


def keyring_for(settings: Settings) -> Keyring:
    """The managed-wallet keyring: ``CLOUDMARKET_MASTER_KEY``, or in dev the key file in the data dir.

    The one place that turns settings into a keyring (billing's clawbacks and the escrow relay both use it).
    """
    if settings.master_key:
        return Keyring(MasterKey.parse(settings.master_key))
    return Keyring(load_or_create_dev_master_key(settings.data_dir))
