"""SIWE verification against a real database (SQLite and PostgreSQL): nonces, checks, linking."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine import db
from engine.identity.errors import (
    AddressAlreadyLinked,
    SiweMismatch,
    SiweNonceError,
    SiweParseError,
    SiweSignatureError,
    SiweTimeError,
)
from engine.identity.models import User, WalletLink
from engine.identity.services import ensure_user, wallet_addresses
from engine.identity.siwe import SiweService, sign_in_with_wallet
from tests.unit.engine.identity.conftest import T0, message, sign


async def links(session: AsyncSession, address: str) -> int:
    return int(
        (
            await session.execute(
                select(func.count()).select_from(WalletLink).where(WalletLink.address == address)
            )
        ).scalar_one()
    )


async def test_wallet_only_sign_in_creates_user_and_link(db_session, siwe: SiweService, alice) -> None:
    nonce = (await siwe.issue_nonce(db_session)).nonce
    text = message(alice, nonce)
    msg = await siwe.verify(db_session, text, sign(alice, text))
    user = await sign_in_with_wallet(db_session, msg.address, None)
    assert user.sub == f"siwe:{alice.address}"
    assert await wallet_addresses(db_session, user.id) == [alice.address]
    # the same wallet signs in again: same user, still one link
    nonce2 = (await siwe.issue_nonce(db_session)).nonce
    text2 = message(alice, nonce2)
    msg2 = await siwe.verify(db_session, text2, sign(alice, text2))
    assert (await sign_in_with_wallet(db_session, msg2.address, None)).id == user.id
    assert await links(db_session, alice.address) == 1


async def test_link_to_signed_in_user_and_refuse_second_owner(db_session, siwe, alice) -> None:
    carol = await ensure_user(db_session, "auth0|carol-link")
    dave = await ensure_user(db_session, "auth0|dave-link")
    nonce = (await siwe.issue_nonce(db_session)).nonce
    text = message(alice, nonce)
    msg = await siwe.verify(db_session, text, sign(alice, text))
    await sign_in_with_wallet(db_session, msg.address, carol.id)
    assert await wallet_addresses(db_session, carol.id) == [alice.address]
    nonce = (await siwe.issue_nonce(db_session)).nonce
    text = message(alice, nonce)
    msg = await siwe.verify(db_session, text, sign(alice, text))
    with pytest.raises(AddressAlreadyLinked) as info:
        await sign_in_with_wallet(db_session, msg.address, dave.id)
    assert info.value.address == alice.address
    assert await wallet_addresses(db_session, dave.id) == []


async def test_unissued_nonce(db_session, siwe, alice) -> None:
    text = message(alice, "neverissued0001")
    with pytest.raises(SiweNonceError, match="not issued"):
        await siwe.verify(db_session, text, sign(alice, text))
    assert await links(db_session, alice.address) == 0


async def test_reused_nonce(db_session, siwe, alice) -> None:
    nonce = (await siwe.issue_nonce(db_session)).nonce
    text = message(alice, nonce)
    await siwe.verify(db_session, text, sign(alice, text))
    with pytest.raises(SiweNonceError, match="already used"):
        await siwe.verify(db_session, text, sign(alice, text))


async def test_expired_nonce(db_session, siwe, clock, alice) -> None:
    nonce = (await siwe.issue_nonce(db_session)).nonce
    clock.t += 601
    text = message(alice, nonce, t=clock.t)
    with pytest.raises(SiweNonceError, match="expired"):
        await siwe.verify(db_session, text, sign(alice, text))
    assert await links(db_session, alice.address) == 0


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"domain": "evil.test"}, "domain"),
        ({"domain": "app.cloudmarket.test:444"}, "domain"),
        ({"uri": "https://evil.test/login"}, "uri"),
        ({"uri": "https://app.cloudmarket.test.evil.test/"}, "uri"),
        ({"chain_id": 1}, "chain_id"),
        ({"scheme": "ftp"}, "scheme"),
    ],
)
async def test_field_mismatch_burns_nonce_and_links_nothing(db_session, siwe, alice, over, field) -> None:
    nonce = (await siwe.issue_nonce(db_session)).nonce
    text = message(alice, nonce, **over)
    with pytest.raises(SiweMismatch) as info:
        await siwe.verify(db_session, text, sign(alice, text))
    assert info.value.field == field
    good = message(alice, nonce)
    with pytest.raises(SiweNonceError):  # a failed attempt used the nonce up
        await siwe.verify(db_session, good, sign(alice, good))
    assert await links(db_session, alice.address) == 0


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"expiration_time": "2023-11-14T22:00:00Z"}, "expiration_time"),  # before T0
        ({"not_before": "2023-11-15T00:00:00Z"}, "not_before"),  # ~2 h after T0
        ({"issued_at": "2023-11-15T00:00:00Z"}, "issued_at"),
    ],
)
async def test_time_checks(db_session, siwe, alice, over, field) -> None:
    nonce = (await siwe.issue_nonce(db_session)).nonce
    text = message(alice, nonce, **over)
    with pytest.raises(SiweTimeError) as info:
        await siwe.verify(db_session, text, sign(alice, text))
    assert info.value.field == field


async def test_signature_of_another_address(db_session, siwe, alice, bob) -> None:
    nonce = (await siwe.issue_nonce(db_session)).nonce
    text = message(alice, nonce)
    with pytest.raises(SiweSignatureError):
        await siwe.verify(db_session, text, sign(bob, text))
    other = message(alice, (await siwe.issue_nonce(db_session)).nonce)
    with pytest.raises(SiweSignatureError):  # alice's signature of a different message
        await siwe.verify(db_session, other, sign(alice, text))
    with pytest.raises(SiweSignatureError):
        await siwe.verify(db_session, message(alice, (await siwe.issue_nonce(db_session)).nonce), "0x1234")
    assert await links(db_session, alice.address) == 0


async def test_malformed_message(db_session, siwe, alice) -> None:
    nonce = (await siwe.issue_nonce(db_session)).nonce
    text = message(alice, nonce).replace("Version: 1", "Version: 9")
    with pytest.raises(SiweParseError):
        await siwe.verify(db_session, text, sign(alice, text))
    good = message(alice, nonce)  # a malformed message does not touch the nonce
    await siwe.verify(db_session, good, sign(alice, good))


async def test_ensure_user_idempotent(db_session) -> None:
    a = await ensure_user(db_session, "auth0|same")
    b = await ensure_user(db_session, "auth0|same")
    assert a.id == b.id
    n = await db_session.execute(select(func.count()).select_from(User).where(User.sub == "auth0|same"))
    assert n.scalar_one() == 1


@pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_concurrent_verify_one_nonce_exactly_one_wins(database_url, clock, alice) -> None:
    from engine.identity.siwe import SiweConfig
    from tests.unit.engine.identity.conftest import CHAIN_ID, DOMAIN, URI

    siwe = SiweService(SiweConfig(domain=DOMAIN, uri=URI, chain_id=CHAIN_ID), clock=clock)
    engine = db.make_engine(database_url)
    maker = db.make_sessionmaker(engine)
    try:
        async with maker() as s:
            nonce = (await siwe.issue_nonce(s)).nonce
        text = message(alice, nonce, t=T0)
        sig = sign(alice, text)

        async def attempt() -> object:
            async with maker() as s:
                try:
                    msg = await siwe.verify(s, text, sig)
                    return await sign_in_with_wallet(s, msg.address, None)
                except SiweNonceError as exc:
                    return exc

        for _round in range(3):  # several rounds, each with a fresh nonce, to give a race a chance
            results = await asyncio.gather(*(attempt() for _ in range(4)))
            wins = [r for r in results if isinstance(r, User)]
            assert len(wins) == 1, results
            assert sum(isinstance(r, SiweNonceError) for r in results) == 3
            async with maker() as s:
                nonce = (await siwe.issue_nonce(s)).nonce
            text = message(alice, nonce, t=T0)
            sig = sign(alice, text)
        async with maker() as s:
            assert await links(s, alice.address) == 1
    finally:
        await engine.dispose()
