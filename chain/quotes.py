"""EIP-712 price quotes for ``DeploymentEscrow.open`` (issue 10): typed data and signing with a local key.

The engine's quoting key (an account holding the escrow's ``QUOTE_SIGNER_ROLE``, never the credit minter)
signs ``Quote(address payer,uint64 nodeId,uint256 ratePerSecond,bytes32 specHash,uint256 expiry)`` in the
escrow's domain (name ``CloudmarketEscrow``, version ``1``, chain id, verifying contract = the escrow). The
payer submits the open with the quoted terms and the signature; the escrow recovers the signer from the
open's own arguments, so an edited rate, node, spec or payer reverts (``InvalidQuote``), and a quote past
``expiry`` (inclusive) reverts (``QuoteExpired``).

``ratePerSecond`` is the LIST rate, before the payer's staking discount (the escrow applies the discount on
chain). The deposit is not quoted. A quote can be used more than once before it expires, only by its payer and
only at its terms.

Pure: no I/O, no chain access. The signature is the 64-byte EIP-2098 compact form ``r || vs`` the escrow takes
as ``QuoteSignature(expiry, r, vs)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from eth_abi.abi import encode as abi_encode
from eth_keys.datatypes import PrivateKey, Signature
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

DOMAIN_NAME = "CloudmarketEscrow"
DOMAIN_VERSION = "1"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
QUOTE_TYPE = "Quote(address payer,uint64 nodeId,uint256 ratePerSecond,bytes32 specHash,uint256 expiry)"
QUOTE_TYPEHASH = keccak(text=QUOTE_TYPE)
QUOTE_SIGNER_ROLE = keccak(text="QUOTE_SIGNER_ROLE")

_U64 = 2**64
_U256 = 2**256
_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


@dataclass(frozen=True)
class Quote:
    """The quoted terms: who may open, on which node, at which list rate, for which spec, until when."""

    payer: str
    node_id: int
    rate_per_second: int
    spec_hash: bytes
    expiry: int

    def __post_init__(self) -> None:
        if not 0 <= self.node_id < _U64:
            raise ValueError(f"node_id out of uint64 range: {self.node_id}")
        if not 0 < self.rate_per_second < _U256:
            raise ValueError(f"rate_per_second must be a positive uint256: {self.rate_per_second}")
        if len(self.spec_hash) != 32:
            raise ValueError("spec_hash must be 32 bytes")
        if not 0 <= self.expiry < _U256:
            raise ValueError(f"expiry out of uint256 range: {self.expiry}")

    def struct_hash(self) -> bytes:
        return keccak(
            abi_encode(
                ["bytes32", "address", "uint64", "uint256", "bytes32", "uint256"],
                [
                    QUOTE_TYPEHASH,
                    to_checksum_address(self.payer),
                    self.node_id,
                    self.rate_per_second,
                    self.spec_hash,
                    self.expiry,
                ],
            )
        )


@dataclass(frozen=True)
class QuoteSignature:
    """``IDeploymentEscrow.QuoteSignature``: the quote's expiry and its compact signature."""

    expiry: int
    r: bytes
    vs: bytes

    @classmethod
    def of(cls, quote: Quote, signature: bytes) -> QuoteSignature:
        if len(signature) != 64:
            raise ValueError("expected a 64-byte compact signature (r || vs)")
        return cls(quote.expiry, signature[:32], signature[32:])

    def as_tuple(self) -> tuple[int, bytes, bytes]:
        """The ABI tuple ``(uint256 expiry, bytes32 r, bytes32 vs)``."""
        return (self.expiry, self.r, self.vs)


def domain_separator(chain_id: int, escrow: str) -> bytes:
    """The escrow's EIP-712 domain separator (``eip712Domain()`` on chain)."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(text=DOMAIN_TYPE),
                keccak(text=DOMAIN_NAME),
                keccak(text=DOMAIN_VERSION),
                chain_id,
                to_checksum_address(escrow),
            ],
        )
    )


def quote_digest(quote: Quote, *, chain_id: int, escrow: str) -> bytes:
    """The EIP-712 digest the quote signer signs (the escrow's ``digestQuote``)."""
    digest: bytes = keccak(b"\x19\x01" + domain_separator(chain_id, escrow) + quote.struct_hash())
    return digest


def sign_quote(private_key: bytes, quote: Quote, *, chain_id: int, escrow: str) -> bytes:
    """Signs ``quote`` for ``escrow`` on ``chain_id``; returns the 64-byte compact signature ``r || vs``.

    Raises ``ValueError`` for a malformed key (eth-keys' validation).
    """
    sig = PrivateKey(private_key).sign_msg_hash(quote_digest(quote, chain_id=chain_id, escrow=escrow))
    r, s, v = int(sig.r), int(sig.s), int(sig.v)
    # eth-keys produces low-s signatures (EIP-2); the compact form and OpenZeppelin's ECDSA require them.
    if s > _HALF_N:
        raise ValueError("high-s signature")
    return r.to_bytes(32, "big") + (s | (v << 255)).to_bytes(32, "big")


def recover_quote_signer(signature: bytes, quote: Quote, *, chain_id: int, escrow: str) -> str:
    """The address that signed ``quote`` (what the escrow checks for ``QUOTE_SIGNER_ROLE``)."""
    if len(signature) != 64:
        raise ValueError("expected a 64-byte compact signature (r || vs)")
    r = int.from_bytes(signature[:32], "big")
    vs = int.from_bytes(signature[32:], "big")
    v, s = vs >> 255, vs & ((1 << 255) - 1)
    sig = Signature(vrs=(v, r, s))
    digest = quote_digest(quote, chain_id=chain_id, escrow=escrow)
    address: bytes = sig.recover_public_key_from_msg_hash(digest).to_canonical_address()
    return to_checksum_address(address)


@dataclass(frozen=True)
class Quoter:
    """The engine's quoting key bound to one escrow: built once by the runtime, used by every command that
    hands out or relays an ``open``. ``ttl`` is how long (chain seconds) a quote stays valid."""

    private_key: bytes = field(repr=False)
    chain_id: int
    escrow: str
    ttl: int

    @cached_property
    def address(self) -> str:
        """The account that must hold the escrow's ``QUOTE_SIGNER_ROLE``."""
        return to_checksum_address(PrivateKey(self.private_key).public_key.to_canonical_address())

    def quote(self, payer: str, node_id: int, rate_per_second: int, spec_hash: bytes, *, now: int) -> Quote:
        """The quote for these terms, valid until ``now + ttl`` (chain time)."""
        return Quote(to_checksum_address(payer), node_id, rate_per_second, spec_hash, now + self.ttl)

    def sign(self, quote: Quote) -> QuoteSignature:
        """``quote`` signed in the escrow's domain, as the escrow takes it."""
        signature = sign_quote(self.private_key, quote, chain_id=self.chain_id, escrow=self.escrow)
        return QuoteSignature.of(quote, signature)
