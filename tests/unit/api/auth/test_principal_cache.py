"""The authenticator's cache: a token is verified once, its principal costs no SQL while fresh, and a
wallet link/unlink, a deleted user or an expired token takes effect on the very next request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth.devissuer import DevIssuer
from api.auth.errors import Unauthorized
from api.auth.middleware import Authenticator
from api.auth.principal import CLOUD_OPERATOR, CLOUD_USER, SOURCE_SESSION
from api.auth.session import SessionTokens
from engine import db
from engine.identity import changes
from engine.identity.models import User, WalletLink
from engine.identity.services import ensure_user, link_wallet

WALLET = "0x00000000000000000000000000000000000000A1"
OTHER = "0x00000000000000000000000000000000000000b2"


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def hook(_conn: object, _cursor: object, stmt: str, *_args: object) -> None:
        seen.append(stmt)

    event.listen(engine.sync_engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", hook)


def authenticator(engine: AsyncEngine, tmp_path: Path, clock: Clock) -> tuple[Authenticator, DevIssuer]:
    dev = DevIssuer(tmp_path)
    auth = Authenticator(
        db.make_sessionmaker(engine), SessionTokens(b"s" * 32), dev=dev.verifier(), clock=clock
    )
    return auth, dev


async def test_verified_once_and_no_sql_while_fresh(migrated_engine, tmp_path) -> None:
    clock = Clock()
    auth, dev = authenticator(migrated_engine, tmp_path, clock)
    token = dev.mint([CLOUD_USER], "dev|cache-hit", 600)
    first = await auth.authenticate(token)
    assert first.user_id is not None and first.roles == frozenset({CLOUD_USER})
    with statements(migrated_engine) as seen:
        again = await auth.authenticate(token)
    assert again == first and seen == []
    clock.t += auth.ttl + 1  # stale principal: read again (another process may have changed it)
    with statements(migrated_engine) as seen:
        assert await auth.authenticate(token) == first
    assert seen
    # the roles are the token's own: another token of the same subject has its own entry
    other = await auth.authenticate(dev.mint([CLOUD_OPERATOR], "dev|cache-hit", 600))
    assert other.user_id == first.user_id and other.roles == frozenset({CLOUD_OPERATOR})


async def test_expired_token_is_not_served_from_the_cache(migrated_engine, tmp_path) -> None:
    dev = DevIssuer(tmp_path)
    verifier = dev.verifier(leeway=60)
    auth = Authenticator(db.make_sessionmaker(migrated_engine), SessionTokens(b"s" * 32), dev=verifier)
    token = dev.mint([CLOUD_USER], "dev|cache-exp", 60, now=time.time() - 90)  # expired 30 s ago
    await auth.authenticate(token)  # accepted within the verifier's leeway
    verifier.leeway = 0  # the cache holds it only until exp: it is verified again, and refused
    with pytest.raises(Unauthorized, match="expired"):
        await auth.authenticate(token)


async def test_wallet_link_and_unlink_take_effect_at_once(migrated_engine, tmp_path) -> None:
    auth, dev = authenticator(migrated_engine, tmp_path, Clock())
    token = dev.mint([CLOUD_USER], "dev|cache-link", 600)
    user_id = (await auth.authenticate(token)).user_id
    assert user_id is not None
    sm = db.make_sessionmaker(migrated_engine)
    async with sm() as s:
        await link_wallet(s, user_id, WALLET)
    assert (await auth.authenticate(token)).wallets == (WALLET,)
    async with sm() as s:
        link = (await s.scalars(select(WalletLink).where(WalletLink.user_id == user_id))).one()
        await s.delete(link)
        await s.commit()
    assert (await auth.authenticate(token)).wallets == ()


async def test_siwe_session_refused_once_its_wallet_is_unlinked(migrated_engine, tmp_path) -> None:
    auth, _dev = authenticator(migrated_engine, tmp_path, Clock())
    sm = db.make_sessionmaker(migrated_engine)
    async with sm() as s:
        user = await ensure_user(s, "siwe:" + OTHER.lower())
        link = await link_wallet(s, user.id, OTHER)
    token = auth.sessions.issue(user.id, user.sub, link.address)
    principal = await auth.authenticate(token)
    assert principal.source == SOURCE_SESSION and principal.wallets == (link.address,)
    async with sm() as s:
        await s.delete(await s.get(WalletLink, link.id))
        await s.commit()
    with pytest.raises(Unauthorized, match="no longer linked"):
        await auth.authenticate(token)
    async with sm() as s:  # a Core delete does not pass through the ORM: its author bumps
        await s.execute(delete(User).where(User.id == user.id))
        await s.commit()
    changes.bump()
    with pytest.raises(Unauthorized, match="user is gone"):
        await auth.authenticate(token)


async def test_the_cache_is_bounded(migrated_engine, tmp_path) -> None:
    auth, dev = authenticator(migrated_engine, tmp_path, Clock())
    auth.cache_size = 2
    tokens = [dev.mint([CLOUD_USER], f"dev|cache-lru-{i}", 600) for i in range(3)]
    for token in tokens:
        await auth.authenticate(token)
    assert len(auth._cache) == 2
