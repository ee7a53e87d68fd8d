"""Managed wallets' staking, relayed: the managed key signs, the engine's signer sends through the outbox.

A managed wallet holds tokens but no ETH (its platform tokens arrive by a plain ERC-20 transfer to its
address, shown by ``GET /api/wallet``; nothing in the engine mints or grants them). ``StakingTiers`` has
by-signature entry points for it (``contracts/README.md``, "Issue 13: StakingTiers"): the managed key signs
the account's EIP-712 ``StakeRequest`` / ``UnstakeRequest`` / ``WithdrawRequest`` (amount, lock, nonce,
deadline: a relayer can change nothing) and, for a stake, an EIP-2612 permit of the platform token for
exactly the amount (so no prior ``approve``, which would need gas); the outbox sends ``stakeBySig`` /
``requestUnstakeBySig`` / ``withdrawBySig`` from the engine's signer, which pays the gas. Tokens only ever
move between the account and the contract.

The outbox row IS the request's record (no table of its own): kind ``staking.<function>``, idempotency key
``staking-relay:<account>:<nonce>:<digest>``, ``args`` with the user, account, amount and nonce. The
contract's nonce is one sequence per account and the outbox estimates each call against the chain (a
request carrying nonce ``n + 1`` reverts until ``n`` is mined), so at most ONE relayed staking request per
account is in flight (:func:`in_flight`); the command refuses a second one (409 ``staking_in_flight``). A
request that reverts (estimate or mined) ends ``failed`` with the decoded revert in ``last_error``, its nonce
unused.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chain.staking import (
    STAKE_REQUEST_FIELDS,
    UNSTAKE_REQUEST_FIELDS,
    WITHDRAW_REQUEST_FIELDS,
    PlatformTokenClient,
    StakingClient,
)
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.outbox.services import enqueue
from engine.relay.signing import NO_PERMIT, Domain, permit_tuple, read_domain

KIND_PREFIX = "staking."
KEY_PREFIX = "staking-relay:"
REQUEST_TTL = 3_600  # seconds of chain time a signed request (and its permit) stays valid
STAKE, UNSTAKE, WITHDRAW = "stakeBySig", "requestUnstakeBySig", "withdrawBySig"
_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_TYPES = {
    STAKE: ("StakeRequest", STAKE_REQUEST_FIELDS),
    UNSTAKE: ("UnstakeRequest", UNSTAKE_REQUEST_FIELDS),
    WITHDRAW: ("WithdrawRequest", WITHDRAW_REQUEST_FIELDS),
}


def _sign_typed(
    account: LocalAccount, domain: Domain, primary: str, fields: list[dict[str, str]], message: dict[str, Any]
) -> Any:
    typed = {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, primary: fields},
        "primaryType": primary,
        "domain": domain.as_dict(),
        "message": message,
    }
    return Account.sign_message(encode_typed_data(full_message=typed), account.key)


def sign_request(account: LocalAccount, domain: Domain, function: str, message: dict[str, Any]) -> Any:
    """``account``'s EIP-712 signature of the request ``message`` for ``function`` (eth_account's signed
    message: ``.signature``, ``.message_hash``)."""
    primary, fields = _TYPES[function]
    return _sign_typed(account, domain, primary, fields, message)


def kind_of(row: OutboxTx) -> str:
    return row.kind.removeprefix(KIND_PREFIX)


async def in_flight(session: AsyncSession, account: str) -> OutboxTx | None:
    """``account``'s relayed staking request that is not final yet, if any."""
    return (
        await session.scalars(
            select(OutboxTx)
            .where(
                OutboxTx.idempotency_key.like(f"{KEY_PREFIX}{account.lower()}:%"),
                OutboxTx.status.notin_((OutboxStatus.CONFIRMED, OutboxStatus.FAILED)),
            )
            .order_by(OutboxTx.id.desc())
            .limit(1)
        )
    ).first()


async def latest(session: AsyncSession, account: str) -> OutboxTx | None:
    """``account``'s newest relayed staking request (any status), if any."""
    return (
        await session.scalars(
            select(OutboxTx)
            .where(OutboxTx.idempotency_key.like(f"{KEY_PREFIX}{account.lower()}:%"))
            .order_by(OutboxTx.id.desc())
            .limit(1)
        )
    ).first()


async def relay(
    session: AsyncSession,
    staking: StakingClient,
    token: PlatformTokenClient,
    account: LocalAccount,
    function: str,
    *,
    user_id: int,
    now: int,
    amount: int = 0,
    lock_until: int = 0,
) -> OutboxTx:
    """Sign ``account``'s request for ``function`` (``STAKE``: with a permit for ``amount`` unless it is 0)
    and add the relayed call to the caller's transaction (no commit). Returns the outbox row."""
    address = account.address
    nonce = await staking.nonces(address)
    deadline = now + REQUEST_TTL
    domain = await read_domain(staking)
    if function == STAKE:
        message: dict[str, Any] = {
            "account": address,
            "amount": amount,
            "lockUntil": lock_until,
            "nonce": nonce,
            "deadline": deadline,
        }
        signed = sign_request(account, domain, function, message)
        permit = (
            await permit_tuple(account, token, staking.address, amount, deadline) if amount else NO_PERMIT
        )
        data = staking.encode_stake_by_sig(message, permit, bytes(signed.signature))
    elif function == UNSTAKE:
        message = {"account": address, "amount": amount, "nonce": nonce, "deadline": deadline}
        signed = sign_request(account, domain, function, message)
        data = staking.encode_request_unstake_by_sig(message, bytes(signed.signature))
    else:
        message = {"account": address, "nonce": nonce, "deadline": deadline}
        signed = sign_request(account, domain, function, message)
        data = staking.encode_withdraw_by_sig(message, bytes(signed.signature))
    return await enqueue(
        session,
        kind=KIND_PREFIX + function,
        to=staking.address,
        data=data,
        idempotency_key=f"{KEY_PREFIX}{address.lower()}:{nonce}:{signed.message_hash.hex()[:16]}",
        args={
            "user_id": user_id,
            "account": address,
            "amount": str(amount),
            "lock_until": lock_until,
            "nonce": nonce,
            "deadline": deadline,
        },
    )
