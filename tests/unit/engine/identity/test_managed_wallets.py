"""Managed wallets: AES-GCM at rest, bound to the user, rotation by key id, never shown."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import stat

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import select

from engine.db import make_engine, make_sessionmaker
from engine.identity.services import ensure_user, wallet_addresses
from engine.wallets.crypto import Keyring, MasterKey, Sealed, load_or_create_dev_master_key
from engine.wallets.errors import DecryptionFailed, MasterKeyError, UnknownKeyId
from engine.wallets.models import ManagedWallet
from engine.wallets.services import ensure_managed_wallet, load_account, open_wallet

KEY = MasterKey.parse("11" * 32)


def test_seal_roundtrip_and_aad_binding() -> None:
    ring = Keyring(KEY)
    sealed = ring.seal(b"secret-bytes", user_id=1, address="0xA")
    assert ring.open(sealed, user_id=1, address="0xA") == b"secret-bytes"
    with pytest.raises(DecryptionFailed):
        ring.open(sealed, user_id=2, address="0xA")  # another user's row
    with pytest.raises(DecryptionFailed):
        ring.open(sealed, user_id=1, address="0xB")
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    tampered = dataclasses.replace(sealed, ciphertext=flipped)
    with pytest.raises(DecryptionFailed):
        ring.open(tampered, user_id=1, address="0xA")
    with pytest.raises(DecryptionFailed):
        Keyring(MasterKey("k-other", b"\x22" * 32)).open(
            Sealed("k-other", sealed.nonce, sealed.ciphertext), user_id=1, address="0xA"
        )


def test_rotation_keeps_old_rows_readable() -> None:
    old = Keyring(MasterKey("k1", b"\x01" * 32))
    sealed = old.seal(b"x", user_id=1, address="0xA")
    new = Keyring(MasterKey("k2", b"\x02" * 32), retired=(old.current,))
    assert new.open(sealed, user_id=1, address="0xA") == b"x"
    assert new.seal(b"y", user_id=1, address="0xA").key_id == "k2"
    with pytest.raises(UnknownKeyId):
        Keyring(MasterKey("k2", b"\x02" * 32)).open(sealed, user_id=1, address="0xA")


def test_master_key_parsing_and_repr() -> None:
    hexkey = "ab" * 32
    key = MasterKey.parse(hexkey)
    assert key.key == bytes.fromhex(hexkey)
    assert MasterKey.parse("prod-2025:" + hexkey).key_id == "prod-2025"
    assert hexkey not in repr(key) and hexkey not in str(key)
    with pytest.raises(MasterKeyError):
        MasterKey.parse("ab" * 16)


def test_dev_master_key_file(tmp_path) -> None:
    k1 = load_or_create_dev_master_key(tmp_path)
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600
    assert load_or_create_dev_master_key(tmp_path) == k1


async def test_managed_wallet_roundtrip_and_never_shown(db_session, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    ring = Keyring(KEY)
    user = await ensure_user(db_session, "auth0|managed-1")
    row = await ensure_managed_wallet(db_session, user.id, ring)
    assert (await ensure_managed_wallet(db_session, user.id, ring)).id == row.id  # one per user
    acct = await load_account(db_session, user.id, ring)
    assert acct.address == row.address
    assert await wallet_addresses(db_session, user.id) == [row.address]
    signed = acct.sign_message(encode_defunct(text="hi"))
    assert Account.recover_message(encode_defunct(text="hi"), signature=signed.signature) == row.address
    secret_hex = bytes(acct.key).hex()
    assert secret_hex not in bytes(row.ciphertext).hex()  # encrypted at rest
    assert secret_hex not in repr(row) and row.ciphertext.hex() not in repr(row)
    assert secret_hex not in caplog.text
    # a row moved to another user does not decrypt (AAD binds the user id)
    other = await ensure_user(db_session, "auth0|managed-2")
    row.user_id = other.id
    with pytest.raises(DecryptionFailed):
        open_wallet(row, ring)
    row.user_id = user.id
    with pytest.raises(DecryptionFailed):
        open_wallet(row, Keyring(MasterKey(row.key_id, b"\x33" * 32)))


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_concurrent_first_payments_create_one_managed_wallet(database_url: str) -> None:
    """Racing ``ensure_managed_wallet`` calls (separate sessions, real commits): one row, one address."""
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    ring = Keyring(KEY)
    try:
        async with sessions() as s:
            user_id = (await ensure_user(s, "auth0|race-managed")).id

        async def first_payment() -> tuple[str, int]:
            async with sessions() as s:
                row = await ensure_managed_wallet(s, user_id, ring)
                await s.commit()
                return row.address, row.id

        results = await asyncio.gather(*(first_payment() for _ in range(6)))
        assert len(set(results)) == 1
        async with sessions() as s:
            rows = (
                (await s.execute(select(ManagedWallet).where(ManagedWallet.user_id == user_id)))
                .scalars()
                .all()
            )
            assert [(r.address, r.id) for r in rows] == [results[0]]
            assert await wallet_addresses(s, user_id) == [results[0][0]]  # linked once
            assert (await load_account(s, user_id, ring)).address == results[0][0]
    finally:
        await engine.dispose()
