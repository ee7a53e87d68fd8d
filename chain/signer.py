"""Local transaction signing (eth-account; coincurve makes the secp256k1 math fast).

The key is held by :class:`LocalSigner` and never appears in ``repr`` or logs. Signing is pure: it needs
no RPC, so a signed raw transaction can be stored before anything is broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NewType

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

Wei = NewType("Wei", int)


@dataclass(frozen=True)
class SignedTx:
    raw: bytes
    hash: str  # 0x-prefixed
    nonce: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True)
class TxRequest:
    """An EIP-1559 transaction before signing."""

    chain_id: int
    nonce: int
    to: str | None
    data: bytes
    value: int
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    def as_dict(self) -> dict[str, Any]:
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": self.nonce,
            "data": self.data,
            "value": self.value,
            "gas": self.gas,
            "maxFeePerGas": self.max_fee_per_gas,
            "maxPriorityFeePerGas": self.max_priority_fee_per_gas,
        }
        if self.to is not None:
            tx["to"] = to_checksum_address(self.to)
        return tx


class LocalSigner:
    def __init__(self, private_key: str | bytes) -> None:
        self._account: LocalAccount = Account.from_key(private_key)

    def __repr__(self) -> str:
        return f"LocalSigner({self.address})"

    @property
    def address(self) -> str:
        return str(self._account.address)

    def sign(self, tx: TxRequest) -> SignedTx:
        signed = self._account.sign_transaction(tx.as_dict())
        raw = bytes(signed.raw_transaction)
        return SignedTx(raw=raw, hash="0x" + keccak(raw).hex(), nonce=tx.nonce,
                        max_fee_per_gas=tx.max_fee_per_gas,
                        max_priority_fee_per_gas=tx.max_priority_fee_per_gas)

    def sign_message_hash(self, message_hash: bytes) -> bytes:
        return bytes(self._account.unsafe_sign_hash(message_hash).signature)
