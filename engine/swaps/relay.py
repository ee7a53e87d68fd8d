"""Managed wallets' swaps, relayed: the managed key signs, the backend signer sends through the outbox.

A managed wallet holds tokens but no ETH, and the router takes tokens from ``msg.sender``; so a managed swap
goes through the ``SwapTopUp`` adapter (``contracts/src/SwapTopUp.sol``): the managed key signs the payer's
EIP-712 ``SwapRequest`` (lease, path, amounts, slippage bound, nonce, deadline — a relayer can loosen
nothing) and an EIP-2612 permit of the input token for the adapter; the outbox sends
``swapAndTopUpWithPermit`` (a lease) or ``swapToCreditWithPermit`` (credit to the wallet) from the backend
signer, which pays the gas. The adapter's nonce is one sequence per payer, so at most one relayed swap per
payer is in flight (:func:`in_flight`).

The outbox row IS the swap record (no table of its own): kind ``swap.<function>``, idempotency key
``swap:<payer>:<nonce>:<request digest>``, ``args`` with the user, wallet, lease and amounts. A swap whose
bound is too tight reverts when the outbox estimates it (or, if the pool moved after that, when mined): the
row ends ``failed`` with the decoded revert in ``last_error`` and nothing is done — no tokens move, the
nonce stays unused.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chain.contracts import ContractClient
from chain.devswap import StablecoinClient
from chain.errors import ChainError
from chain.uniswap import SWAP_REQUEST_FIELDS, SwapTopUpClient
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.outbox.services import enqueue
from engine.relay.signing import NO_PERMIT, PERMIT_FIELDS, read_domain

KIND_PREFIX = "swap."
KEY_PREFIX = "swap:"
TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")
_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def _sign_typed(
    account: LocalAccount,
    domain: dict[str, Any],
    primary: str,
    fields: list[dict[str, str]],
    message: dict[str, Any],
) -> Any:
    typed = {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, primary: fields},
        "primaryType": primary,
        "domain": domain,
        "message": message,
    }
    return Account.sign_message(encode_typed_data(full_message=typed), account.key)


async def input_permit(
    account: LocalAccount, token: ContractClient, spender: str, value: int, deadline: int
) -> tuple[int, int, int, bytes, bytes]:
    """The owner's EIP-2612 permit of ``token`` for ``spender``; ``NO_PERMIT`` (use the allowance) when the
    token has no ``nonces`` / ERC-5267 ``eip712Domain``."""
    try:
        nonce = int((await token.call("nonces", account.address))[0])
        domain = await read_domain(token)
    except ChainError:
        return NO_PERMIT
    message = {
        "owner": account.address,
        "spender": to_checksum_address(spender),
        "value": value,
        "nonce": nonce,
        "deadline": deadline,
    }
    signed = _sign_typed(account, domain.as_dict(), "Permit", PERMIT_FIELDS, message)
    return (value, deadline, int(signed.v), signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big"))


def sign_swap_request(account: LocalAccount, domain: dict[str, Any], request: dict[str, Any]) -> Any:
    """``account``'s EIP-712 signature over ``SwapRequest`` ``request`` in the adapter's ``domain``
    (``eth_account``'s signed message: ``.signature``, ``.message_hash``)."""
    return _sign_typed(account, domain, "SwapRequest", SWAP_REQUEST_FIELDS, request)


async def in_flight(session: AsyncSession, payer: str) -> OutboxTx | None:
    """``payer``'s relayed swap that is not final yet, if any."""
    return (
        await session.scalars(
            select(OutboxTx)
            .where(
                OutboxTx.idempotency_key.like(f"{KEY_PREFIX}{payer.lower()}:%"),
                OutboxTx.status.notin_((OutboxStatus.CONFIRMED, OutboxStatus.FAILED)),
            )
            .limit(1)
        )
    ).first()


async def relay_swap(
    session: AsyncSession,
    adapter: SwapTopUpClient,
    account: LocalAccount,
    *,
    user_id: int,
    path: list[str],
    amount_in: int,
    amount_out_min: int,
    deadline: int,
    lease_id: int,
    args: dict[str, Any],
) -> OutboxTx:
    """Sign ``account``'s swap request (``lease_id`` 0: credit to the wallet) and its input permit, and add
    the relayed call to the caller's transaction (no commit). Returns the outbox row."""
    payer = account.address
    nonce = await adapter.nonces(payer)
    request = {
        "payer": payer,
        "leaseId": lease_id,
        "path": [to_checksum_address(p) for p in path],
        "amountIn": amount_in,
        "amountOutMin": amount_out_min,
        "nonce": nonce,
        "deadline": deadline,
    }
    domain = await read_domain(adapter)
    signed = sign_swap_request(account, domain.as_dict(), request)
    token = StablecoinClient(adapter.w3, path[0])  # any OpenZeppelin ERC20Permit: nonces + eip712Domain
    permit = await input_permit(account, token, adapter.address, amount_in, deadline)
    data = adapter.encode_with_permit(request, permit, bytes(signed.signature))
    kind = "swapAndTopUpWithPermit" if lease_id else "swapToCreditWithPermit"
    return await enqueue(
        session,
        kind=KIND_PREFIX + kind,
        to=adapter.address,
        data=data,
        idempotency_key=f"{KEY_PREFIX}{payer.lower()}:{nonce}:{signed.message_hash.hex()[:16]}",
        args={
            "user_id": user_id,
            "wallet": payer,
            "lease_id": str(lease_id) if lease_id else None,
            "amount_in": str(amount_in),
            "amount_out_min": str(amount_out_min),
            "nonce": nonce,
            "deadline": deadline,
        }
        | args,
    )


async def amount_out_of(w3: Any, credit: str, tx_hash: str) -> int | None:
    """The credit a mined relayed swap delivered: the value of its last credit-token ``Transfer`` (pair ->
    wallet for ``swapToCredit...``; pair -> adapter -> escrow for a top-up, both of the amount out). The
    adapter emits no event of its own (see ``ISwapTopUp``)."""
    receipt = await w3.eth.get_transaction_receipt(tx_hash)
    found = None
    for log in receipt["logs"]:
        topics = log["topics"]
        if (
            to_checksum_address(log["address"]) == to_checksum_address(credit)
            and topics
            and bytes(topics[0]) == TRANSFER_TOPIC
        ):
            found = int.from_bytes(bytes(log["data"])[-32:], "big")
    return found
