"""SIWE nonces and verification, and what a verified message does (link a wallet or sign a user in).

Verification order, each step raising a :class:`~engine.identity.errors.SiweError`:

1. parse the message strictly (:mod:`engine.identity.siwe_message`);
2. **consume the nonce** with one atomic ``UPDATE siwe_nonces SET used_at=? WHERE nonce=? AND used_at IS
   NULL`` and commit; rowcount 1 means this request owns it. Two concurrent verifies of one nonce: the
   database lets exactly one UPDATE match (PostgreSQL re-checks the WHERE after the row lock, SQLite
   serialises writers with ``BEGIN IMMEDIATE``). Consuming first means a failed attempt also burns the
   nonce, so a signature can never be retried against it;
3. version, scheme, domain, URI and chain id against our configuration;
4. issued-at / expiration / not-before against the clock (``clock_skew`` seconds of tolerance for clocks
   ahead of ours);
5. the signature: EIP-191 ``personal_sign`` recovery (eth-account); if that does not give the message's
   address and the address holds code on our chain, EIP-1271 ``isValidSignature(hash, sig)`` through an
   ``eth_call`` must return the magic value ``0x1626ba7e``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from web3 import AsyncWeb3

from engine.identity.errors import (
    AddressAlreadyLinked,
    SiweMismatch,
    SiweNonceError,
    SiweSignatureError,
    SiweTimeError,
)
from engine.identity.models import SiweNonce, User
from engine.identity.nonces import prune_expired_nonces
from engine.identity.services import ensure_user, link_wallet, user_for_address, wallet_sub
from engine.identity.siwe_message import SiweMessage, parse_message

EIP1271_MAGIC = bytes.fromhex("1626ba7e")
EIP1271_SELECTOR = EIP1271_MAGIC  # isValidSignature(bytes32,bytes): the selector is the magic value
DEFAULT_NONCE_TTL = 600
DEFAULT_CLOCK_SKEW = 60


@dataclass(frozen=True)
class SiweConfig:
    """What a message must say to be for us.

    ``domain`` is the RFC 3986 authority the frontend is served from (``app.example.com`` or
    ``localhost:8080``); ``uri`` is the origin the message's URI must start with (equal, or followed by
    ``/``, ``?`` or ``#``); ``schemes`` are the schemes accepted when the message names one.
    """

    domain: str
    uri: str
    chain_id: int
    nonce_ttl: int = DEFAULT_NONCE_TTL
    clock_skew: int = DEFAULT_CLOCK_SKEW
    schemes: tuple[str, ...] = ("https", "http")


def eip191_hash(text: str) -> bytes:
    data = text.encode()
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data)


def _signature_bytes(signature: str | bytes) -> bytes:
    if isinstance(signature, bytes):
        return signature
    text = signature[2:] if signature.startswith(("0x", "0X")) else signature
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise SiweSignatureError("", "signature is not hex") from exc


class SiweService:
    def __init__(
        self, config: SiweConfig, *, w3: AsyncWeb3[Any] | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.w3 = w3
        self.clock = clock

    # ---- nonces -----------------------------------------------------------------------------------
    async def issue_nonce(self, session: AsyncSession) -> SiweNonce:
        """A fresh single-use nonce (32 hex characters: alphanumeric as the ABNF wants). Commits. Expired
        nonces are pruned first (:mod:`engine.identity.nonces`)."""
        now = int(self.clock())
        await prune_expired_nonces(session, now, grace=self.config.nonce_ttl)
        row = SiweNonce(nonce=secrets.token_hex(16), issued_at=now, expires_at=now + self.config.nonce_ttl)
        session.add(row)
        await session.commit()
        return row

    async def consume_nonce(self, session: AsyncSession, nonce: str) -> None:
        now = int(self.clock())
        result = await session.execute(
            update(SiweNonce)
            .where(SiweNonce.nonce == nonce, SiweNonce.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        if result.rowcount == 1:  # type: ignore[attr-defined]
            row = await session.get(SiweNonce, nonce, populate_existing=True)
            assert row is not None
            if row.expires_at <= now:
                raise SiweNonceError(nonce, "nonce expired")
            return
        exists = (await session.execute(select(SiweNonce.nonce).where(SiweNonce.nonce == nonce))).first()
        if exists is None:
            raise SiweNonceError(nonce, "nonce was not issued by this service")
        raise SiweNonceError(nonce, "nonce already used")

    # ---- checks -----------------------------------------------------------------------------------
    def check_fields(self, msg: SiweMessage) -> None:
        cfg = self.config
        if msg.scheme is not None and msg.scheme not in cfg.schemes:
            raise SiweMismatch("scheme", list(cfg.schemes), msg.scheme)
        if msg.domain != cfg.domain:
            raise SiweMismatch("domain", cfg.domain, msg.domain)
        base = cfg.uri.rstrip("/")
        if not (msg.uri == base or msg.uri.startswith((base + "/", base + "?", base + "#"))):
            raise SiweMismatch("uri", cfg.uri, msg.uri)
        if msg.chain_id != cfg.chain_id:
            raise SiweMismatch("chain_id", cfg.chain_id, msg.chain_id)

    def check_times(self, msg: SiweMessage) -> None:
        now = self.clock()
        skew = self.config.clock_skew
        if msg.issued_at_dt.timestamp() > now + skew:
            raise SiweTimeError("issued_at", "message issued in the future")
        exp = msg.expiration_dt
        if exp is not None and exp.timestamp() <= now:
            raise SiweTimeError("expiration_time", "message expired")
        nbf = msg.not_before_dt
        if nbf is not None and nbf.timestamp() > now + skew:
            raise SiweTimeError("not_before", "message not valid yet")

    async def check_signature(self, msg: SiweMessage, text: str, signature: str | bytes) -> None:
        sig = _signature_bytes(signature)
        recovered: str | None = None
        if len(sig) == 65:
            try:
                recovered = Account.recover_message(encode_defunct(text=text), signature=sig)
            except Exception:  # malformed r/s/v: treated like a wrong signature
                recovered = None
        if recovered == msg.address:
            return
        if self.w3 is not None and await self._eip1271_valid(msg.address, eip191_hash(text), sig):
            return
        raise SiweSignatureError(msg.address, "signature is not from the message's address")

    async def _eip1271_valid(self, address: str, digest: bytes, sig: bytes) -> bool:
        assert self.w3 is not None
        w3 = self.w3
        code = await w3.eth.get_code(w3.to_checksum_address(address))
        if not code:
            return False
        # ABI encoding of (bytes32 hash, bytes signature): head (hash, offset 0x40), then length + data.
        padded = sig + b"\x00" * (-len(sig) % 32)
        calldata = (
            EIP1271_SELECTOR + digest + (64).to_bytes(32, "big") + len(sig).to_bytes(32, "big") + padded
        )
        try:
            out = await w3.eth.call({"to": w3.to_checksum_address(address), "data": calldata})
        except Exception:  # a revert means "not valid"
            return False
        return bytes(out[:4]) == EIP1271_MAGIC

    # ---- the whole flow ---------------------------------------------------------------------------
    async def verify(self, session: AsyncSession, text: str, signature: str | bytes) -> SiweMessage:
        """Parse, consume the nonce, check fields, times and signature. Returns the verified message."""
        msg = parse_message(text)
        await self.consume_nonce(session, msg.nonce)
        self.check_fields(msg)
        self.check_times(msg)
        await self.check_signature(msg, text, signature)
        return msg


async def sign_in_with_wallet(session: AsyncSession, address: str, current_user_id: int | None) -> User:
    """Apply a verified address: link it to the signed-in user, or sign in the wallet's user.

    * signed in (``current_user_id``): link; :class:`AddressAlreadyLinked` if another user holds it;
    * not signed in, address known: that user;
    * not signed in, address new: a wallet-only user (``sub = siwe:<address>``) with the address linked.
    """
    holder = await user_for_address(session, address)
    if current_user_id is not None:
        if holder is not None and holder.id != current_user_id:
            raise AddressAlreadyLinked(address, holder.id)
        await link_wallet(session, current_user_id, address)
        user = await session.get(User, current_user_id)
        assert user is not None
        return user
    if holder is not None:
        return holder
    user = await ensure_user(session, wallet_sub(address))
    await link_wallet(session, user.id, address)
    return user
