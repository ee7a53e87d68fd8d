"""Users and wallet links.

:func:`ensure_user` is called on every authenticated request: it returns the user row for a ``sub``,
creating it on first sight with ``INSERT .. ON CONFLICT (sub) DO NOTHING`` followed by a ``SELECT``, so two
first requests racing for one new ``sub`` both end up with the same single row (SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from eth_utils.address import is_checksum_address, to_checksum_address
from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from engine.identity.errors import AddressAlreadyLinked, InvalidSettings, UserNotFound
from engine.identity.models import User, WalletLink, utcnow

MAX_SETTINGS_BYTES = 16 * 1024
WALLET_SUB_PREFIX = "siwe:"


@dataclass(frozen=True)
class Profile:
    """Optional profile claims taken from a token on first sight (never overwritten later)."""

    email: str | None = None
    name: str | None = None


def checksum(address: str) -> str:
    """EIP-55 form of ``address`` (raises ValueError if it is not a 20-byte hex address)."""
    return str(to_checksum_address(address))


def wallet_sub(address: str) -> str:
    return WALLET_SUB_PREFIX + checksum(address)


async def ensure_user(session: AsyncSession, sub: str, profile: Profile | None = None) -> User:
    """The user for ``sub``, created if new. Idempotent under concurrency; commits only on creation."""
    found = (await session.execute(select(User).where(User.sub == sub))).scalar_one_or_none()
    if found is not None:
        return found
    values: dict[str, Any] = {
        "sub": sub,
        "email": profile.email if profile else None,
        "name": profile.name if profile else None,
        "settings": {},
        "created_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(User).values(**values).on_conflict_do_nothing(index_elements=["sub"])
    elif dialect == "sqlite":
        stmt = sqlite.insert(User).values(**values).on_conflict_do_nothing(index_elements=["sub"])
    else:  # pragma: no cover - only the two supported backends
        raise RuntimeError(f"unsupported database dialect {dialect}")
    await session.execute(stmt)
    await session.commit()
    return (await session.execute(select(User).where(User.sub == sub))).scalar_one()


# Hot-path reads (every authenticated request whose principal is not cached, GET /api/auth/session):
# plain Core statements on the tables, built once with bind parameters, so a call neither builds an
# expression nor goes through the ORM; they run on a session or on a bare connection alike.
_users = cast(Table, User.__table__)
_links = cast(Table, WalletLink.__table__)
_PRINCIPAL_BY_SUB = (
    select(_users.c.id, _links.c.address)
    .select_from(_users.outerjoin(_links, _links.c.user_id == _users.c.id))
    .where(_users.c.sub == bindparam("sub"))
    .order_by(_links.c.id)
)
_PRINCIPAL_BY_ID = (
    select(_users.c.sub, _links.c.address)
    .select_from(_users.outerjoin(_links, _links.c.user_id == _users.c.id))
    .where(_users.c.id == bindparam("user_id"))
    .order_by(_links.c.id)
)
_PROFILE = select(_users.c.sub, _users.c.email, _users.c.name).where(_users.c.id == bindparam("user_id"))


async def principal_by_sub(db: AsyncSession | AsyncConnection, sub: str) -> tuple[int, list[str]] | None:
    """``(user id, linked wallet addresses oldest first)`` of the user with ``sub``, or None (one SELECT)."""
    rows = (await db.execute(_PRINCIPAL_BY_SUB, {"sub": sub})).all()
    if not rows:
        return None
    return rows[0][0], [r[1] for r in rows if r[1] is not None]


async def principal_by_id(db: AsyncSession | AsyncConnection, user_id: int) -> tuple[str, list[str]] | None:
    """``(sub, linked wallet addresses oldest first)`` of user ``user_id``, or None (one SELECT)."""
    rows = (await db.execute(_PRINCIPAL_BY_ID, {"user_id": user_id})).all()
    if not rows:
        return None
    return rows[0][0], [r[1] for r in rows if r[1] is not None]


async def profile_row(db: AsyncSession | AsyncConnection, user_id: int) -> tuple[str, str | None, str | None]:
    """``(sub, email, name)`` of user ``user_id`` (one SELECT). Raises :class:`UserNotFound`."""
    row = (await db.execute(_PROFILE, {"user_id": user_id})).first()
    if row is None:
        raise UserNotFound(user_id)
    return row[0], row[1], row[2]


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound(user_id)
    return user


async def wallet_addresses(session: AsyncSession, user_id: int) -> list[str]:
    rows = await session.execute(
        select(WalletLink.address).where(WalletLink.user_id == user_id).order_by(WalletLink.id)
    )
    return [r[0] for r in rows]


async def wallet_links(session: AsyncSession, user_id: int) -> list[WalletLink]:
    rows = await session.execute(
        select(WalletLink).where(WalletLink.user_id == user_id).order_by(WalletLink.id)
    )
    return list(rows.scalars())


async def user_for_address(session: AsyncSession, address: str) -> User | None:
    row = await session.execute(
        select(User)
        .join(WalletLink, WalletLink.user_id == User.id)
        .where(WalletLink.address == checksum(address))
    )
    return row.scalar_one_or_none()


async def link_wallet(session: AsyncSession, user_id: int, address: str, kind: str = "siwe") -> WalletLink:
    """Link ``address`` (stored EIP-55) to ``user_id`` and commit. Idempotent for the same user.

    Raises :class:`AddressAlreadyLinked` if another user holds it (the unique constraint decides, so two
    racing links cannot both win).
    """
    addr = checksum(address)
    assert is_checksum_address(addr)
    existing = (
        await session.execute(select(WalletLink).where(WalletLink.address == addr))
    ).scalar_one_or_none()
    if existing is not None:
        if existing.user_id == user_id:
            return existing
        raise AddressAlreadyLinked(addr, existing.user_id)
    link = WalletLink(user_id=user_id, address=addr, kind=kind)
    session.add(link)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise AddressAlreadyLinked(addr, None) from exc
    return link


def validate_settings(settings: Any) -> dict[str, Any]:
    if not isinstance(settings, dict):
        raise InvalidSettings("settings must be a JSON object")
    size = len(json.dumps(settings, separators=(",", ":")).encode())
    if size > MAX_SETTINGS_BYTES:
        raise InvalidSettings(f"settings are {size} bytes; the limit is {MAX_SETTINGS_BYTES}")
    return settings


async def put_settings(session: AsyncSession, user_id: int, settings: Any) -> dict[str, Any]:
    """Replace the user's settings object (validated: a JSON object of at most 16 KiB). Commits."""
    value = validate_settings(settings)
    user = await get_user(session, user_id)
    user.settings = dict(value)
    await session.commit()
    return user.settings
