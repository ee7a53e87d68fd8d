"""Local transaction signing (eth-account; coincurve makes the secp256k1 math fast).

The key is held by :class:`LocalSigner` and never appears in ``repr`` or logs. Signing is pure: it needs
no RPC, so a signed raw transaction can be stored before anything is broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NewType

import coincurve
import rlp
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import Hash32
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

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


def _eip1559_fields(tx: TxRequest) -> list[object]:
    to = b"" if tx.to is None else to_canonical_address(tx.to)
    return [
        tx.chain_id,
        tx.nonce,
        tx.max_priority_fee_per_gas,
        tx.max_fee_per_gas,
        tx.gas,
        to,
        tx.value,
        tx.data,
        [],
    ]


class LocalSigner:
    """Signs EIP-1559 transactions.

    :meth:`sign` serializes the typed transaction (EIP-2718 type 2, EIP-1559 field order) with ``rlp`` and
    signs its hash with coincurve directly: about 6x faster than ``Account.sign_transaction`` (which
    re-validates and re-formats the dict on every call). ``tests/unit/chain/test_signer.py`` checks the
    bytes are identical to eth-account's for arbitrary transactions.
    """

    def __init__(self, private_key: str | bytes) -> None:
        self._account: LocalAccount = Account.from_key(private_key)
        self._ck = coincurve.PrivateKey(bytes(self._account.key))

    def __repr__(self) -> str:
        return f"LocalSigner({self.address})"

    @property
    def address(self) -> str:
        return str(self._account.address)

    def sign(self, tx: TxRequest) -> SignedTx:
        fields = _eip1559_fields(tx)
        digest = keccak(b"\x02" + rlp.encode(fields))
        sig = self._ck.sign_recoverable(digest, hasher=None)  # r(32) | s(32) | recovery id(1)
        r, s_, y_parity = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
        if s_ > SECP256K1_N // 2:  # libsecp256k1 already emits low-s; keep EIP-2 explicit anyway
            s_, y_parity = SECP256K1_N - s_, y_parity ^ 1
        raw = b"\x02" + rlp.encode([*fields, y_parity, r, s_])
        return self._signed(tx, raw)

    def sign_reference(self, tx: TxRequest) -> SignedTx:
        """The same signature through eth-account's generic path (used to cross-check :meth:`sign`)."""
        return self._signed(tx, bytes(self._account.sign_transaction(tx.as_dict()).raw_transaction))

    def _signed(self, tx: TxRequest, raw: bytes) -> SignedTx:
        return SignedTx(
            raw=raw,
            hash="0x" + keccak(raw).hex(),
            nonce=tx.nonce,
            max_fee_per_gas=tx.max_fee_per_gas,
            max_priority_fee_per_gas=tx.max_priority_fee_per_gas,
        )

    def sign_message_hash(self, message_hash: bytes) -> bytes:
        return bytes(self._account.unsafe_sign_hash(Hash32(message_hash)).signature)
