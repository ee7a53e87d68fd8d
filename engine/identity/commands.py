"""Identity commands: one function per identity route action, ``async def cmd(ctx: Context, ...)``.

Each command owns its database session (``ctx.sessionmaker``) and returns a typed result; the errors it
can raise are :mod:`engine.identity.errors` leaves (each with its code and kind), listed per command.
SIWE commands are given the :class:`~engine.identity.siwe.SiweService` built once at start-up (it holds
the domain, URI, chain id and clock the messages are checked against).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine import db
from engine.context import Context
from engine.identity import node_tokens, services
from engine.identity.node_tokens import IssuedToken
from engine.identity.siwe import SiweService, sign_in_with_wallet
from engine.wallets import services as wallet_services
from engine.wallets.crypto import Keyring


@dataclass(frozen=True)
class SessionUser:
    user_id: int
    sub: str
    email: str | None
    name: str | None


@dataclass(frozen=True)
class IssuedNonce:
    nonce: str
    expires_at: int
    domain: str
    uri: str
    chain_id: int


@dataclass(frozen=True)
class WalletSignIn:
    """A verified SIWE message applied: ``linked`` to the signed-in user, or ``user_id`` signed in."""

    user_id: int
    sub: str
    address: str
    linked: bool


@dataclass(frozen=True)
class RevokedToken:
    id: int
    node_id: int


@dataclass(frozen=True)
class ManagedWalletInfo:
    user_id: int
    address: str


async def session_user(ctx: Context, user_id: int) -> SessionUser:
    """The signed-in user's profile. Raises :class:`~engine.identity.errors.UserNotFound`."""
    async with db.read_only(ctx.sessionmaker) as conn:
        sub, email, name = await services.profile_row(conn, user_id)
    return SessionUser(user_id=user_id, sub=sub, email=email, name=name)


async def get_settings(ctx: Context, user_id: int) -> dict[str, Any]:
    """The user's settings object. Raises :class:`~engine.identity.errors.UserNotFound`."""
    async with ctx.sessionmaker() as session:
        user = await services.get_user(session, user_id)
        return dict(user.settings)


async def put_settings(ctx: Context, user_id: int, settings: Any) -> dict[str, Any]:
    """Replace the user's settings (a JSON object of at most 16 KiB).

    Raises :class:`~engine.identity.errors.InvalidSettings`, :class:`~engine.identity.errors.UserNotFound`."""
    async with ctx.sessionmaker() as session:
        return dict(await services.put_settings(session, user_id, settings))


async def issue_siwe_nonce(ctx: Context, siwe: SiweService) -> IssuedNonce:
    """A fresh single-use nonce and what the message must say to be for us. Raises nothing of ours."""
    async with ctx.sessionmaker() as session:
        row = await siwe.issue_nonce(session)
        cfg = siwe.config
        return IssuedNonce(
            nonce=row.nonce, expires_at=row.expires_at, domain=cfg.domain, uri=cfg.uri, chain_id=cfg.chain_id
        )


async def verify_siwe(
    ctx: Context, siwe: SiweService, message: str, signature: str, current_user_id: int | None
) -> WalletSignIn:
    """Verify a signed SIWE message, then link the address to ``current_user_id`` or, when nobody is
    signed in, sign in the address's user (created wallet-only when new).

    Raises :class:`~engine.identity.errors.SiweError` (any step; ``SiweParseError`` for a malformed
    message), :class:`~engine.identity.errors.AddressAlreadyLinked`."""
    async with ctx.sessionmaker() as session:
        msg = await siwe.verify(session, message, signature)
        user = await sign_in_with_wallet(session, msg.address, current_user_id)
        return WalletSignIn(
            user_id=user.id, sub=user.sub, address=msg.address, linked=current_user_id is not None
        )


async def managed_wallet(ctx: Context, keyring: Keyring, user_id: int) -> ManagedWalletInfo:
    """The user's managed wallet, created (key sealed under ``keyring``, linked as ``managed``) if missing.

    Raises :class:`~engine.wallets.errors.ManagedWalletMissing` (only if a racing creator rolled back)."""
    async with ctx.sessionmaker() as session, session.begin():
        row = await wallet_services.ensure_managed_wallet(session, user_id, keyring)
        return ManagedWalletInfo(user_id=row.user_id, address=row.address)


async def issue_node_token(ctx: Context, node_id: int, provider_user_id: int) -> IssuedToken:
    """A new token for a node of the provider (the plaintext is in the result only).

    Raises :class:`~engine.identity.errors.NodeNotFound` (no such node, or another provider's)."""
    async with ctx.sessionmaker() as session:
        return await node_tokens.issue_node_token(session, node_id, provider_user_id)


async def revoke_node_token(ctx: Context, node_id: int, token_id: int, provider_user_id: int) -> RevokedToken:
    """Revoke a token of a node of the provider (idempotent).

    Raises :class:`~engine.identity.errors.NodeNotFound` (node or token not the provider's)."""
    async with ctx.sessionmaker() as session:
        row = await node_tokens.revoke_node_token(session, node_id, token_id, provider_user_id)
        return RevokedToken(id=row.id, node_id=row.node_id)
