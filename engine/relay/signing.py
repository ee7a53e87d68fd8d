"""EIP-712 requests a managed payer signs for the escrow (``OpenRequest``, ``TopUpRequest``,
``CloseRequest``; domain "CloudmarketEscrow"/"1") and the credit token's EIP-2612 ``Permit``, and the
``openBySig`` / ``topUpBySig`` / ``closeBySig`` calldata carrying them. Type strings are those of
``contracts/src/interfaces/IDeploymentEscrow.sol``; the domain is read from the contracts
(``eip712Domain()``), never assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from chain.contracts import ContractClient, EscrowClient
from chain.quotes import QuoteSignature

_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
OPEN_FIELDS = [
    {"name": "payer", "type": "address"},
    {"name": "nodeId", "type": "uint64"},
    {"name": "ratePerSecond", "type": "uint256"},
    {"name": "deposit", "type": "uint256"},
    {"name": "specHash", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
TOP_UP_FIELDS = [
    {"name": "payer", "type": "address"},
    {"name": "leaseId", "type": "uint256"},
    {"name": "amount", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
CLOSE_FIELDS = [
    {"name": "payer", "type": "address"},
    {"name": "leaseId", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
PERMIT_FIELDS = [
    {"name": "owner", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
NO_PERMIT: tuple[int, int, int, bytes, bytes] = (0, 0, 0, b"\x00" * 32, b"\x00" * 32)


@dataclass(frozen=True)
class Domain:
    name: str
    version: str
    chain_id: int
    verifying_contract: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


async def read_domain(client: ContractClient) -> Domain:
    """The contract's EIP-712 domain (ERC-5267 ``eip712Domain()``)."""
    raw = await client.call("eip712Domain")
    return Domain(str(raw[1]), str(raw[2]), int(raw[3]), to_checksum_address(raw[4]))


def _sign(
    account: LocalAccount, domain: Domain, primary: str, fields: list[dict[str, str]], message: dict[str, Any]
) -> bytes:
    typed = {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, primary: fields},
        "primaryType": primary,
        "domain": domain.as_dict(),
        "message": message,
    }
    signed = Account.sign_message(encode_typed_data(full_message=typed), account.key)
    return bytes(signed.signature)


async def permit_tuple(
    account: LocalAccount, token: ContractClient, spender: str, value: int, deadline: int
) -> tuple[int, int, int, bytes, bytes]:
    """The ``Permit`` tuple of ``IDeploymentEscrow`` / ``IStakingTiers``: ``account``'s EIP-2612 permit of any
    OpenZeppelin ERC20Permit ``token`` for ``value`` (its current token nonce)."""
    nonce = int((await token.call("nonces", account.address))[0])
    domain = await read_domain(token)
    message = {
        "owner": account.address,
        "spender": to_checksum_address(spender),
        "value": value,
        "nonce": nonce,
        "deadline": deadline,
    }
    typed = {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "Permit": PERMIT_FIELDS},
        "primaryType": "Permit",
        "domain": domain.as_dict(),
        "message": message,
    }
    signed = Account.sign_message(encode_typed_data(full_message=typed), account.key)
    return (value, deadline, int(signed.v), signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big"))


def open_request(
    payer: str, node_id: int, rate: int, deposit: int, spec_hash: bytes, nonce: int, deadline: int
) -> dict[str, Any]:
    return {
        "payer": to_checksum_address(payer),
        "nodeId": node_id,
        "ratePerSecond": rate,
        "deposit": deposit,
        "specHash": spec_hash,
        "nonce": nonce,
        "deadline": deadline,
    }


def sign_open(account: LocalAccount, domain: Domain, req: dict[str, Any]) -> bytes:
    return _sign(account, domain, "OpenRequest", OPEN_FIELDS, req)


def sign_top_up(account: LocalAccount, domain: Domain, req: dict[str, Any]) -> bytes:
    return _sign(account, domain, "TopUpRequest", TOP_UP_FIELDS, req)


def sign_close(account: LocalAccount, domain: Domain, req: dict[str, Any]) -> bytes:
    return _sign(account, domain, "CloseRequest", CLOSE_FIELDS, req)


def encode_open_by_sig(
    escrow: EscrowClient, req: dict[str, Any], quote: QuoteSignature, permit: tuple[Any, ...], sig: bytes
) -> bytes:
    """``openBySig(req, quote, permit, sig)``: ``quote`` is the engine's signature over the request's
    payer, node, rate and spec (:class:`chain.quotes.Quoter`)."""
    r = req
    return escrow.encode(
        "openBySig",
        (r["payer"], r["nodeId"], r["ratePerSecond"], r["deposit"], r["specHash"], r["nonce"], r["deadline"]),
        quote.as_tuple(),
        permit,
        sig,
    )


def encode_top_up_by_sig(
    escrow: EscrowClient, req: dict[str, Any], permit: tuple[Any, ...], sig: bytes
) -> bytes:
    r = req
    return escrow.encode(
        "topUpBySig", (r["payer"], r["leaseId"], r["amount"], r["nonce"], r["deadline"]), permit, sig
    )


def encode_close_by_sig(escrow: EscrowClient, req: dict[str, Any], sig: bytes) -> bytes:
    r = req
    return escrow.encode("closeBySig", (r["payer"], r["leaseId"], r["nonce"], r["deadline"]), sig)
