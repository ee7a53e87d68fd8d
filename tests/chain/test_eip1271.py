"""EIP-1271 contract wallets in SIWE: a real contract on anvil and eth-tester answers ``isValidSignature``.

The wallet below (compiled here with solc-js through node, so the test does not depend on the project's
contract artifacts) returns the magic value ``0x1626ba7e`` iff ``ecrecover(hash, sig)`` is its owner.
:class:`engine.identity.siwe.SiweService` must accept a SIWE message for the *contract's* address
signed by the owner EOA (EIP-191 recovery gives the owner, not the contract, so only the EIP-1271 call can
accept it), and reject one signed by anyone else, or a contract that is not a wallet.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy.ext.asyncio import AsyncSession

from chain.connect import ChainConnection
from engine.identity.errors import SiweSignatureError
from engine.identity.siwe import SiweConfig, SiweService
from engine.identity.siwe_message import SiweMessage

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "node_modules"

WALLET_SOL = """
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

contract OwnerWallet {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata sig) external view returns (bytes4) {
        if (sig.length != 65) return 0xffffffff;
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := calldataload(sig.offset)
            s := calldataload(add(sig.offset, 32))
            v := byte(0, calldataload(add(sig.offset, 64)))
        }
        address signer = ecrecover(hash, v, r, s);
        if (signer != address(0) && signer == owner) return 0x1626ba7e;
        return 0xffffffff;
    }
}

contract NotAWallet {
    function ping() external pure returns (uint256) {
        return 1;
    }
}
"""

COMPILE_JS = """
const solc = require(process.argv[1] + '/solc');
const input = {language: 'Solidity', sources: {'W.sol': {content: process.argv[2]}},
  settings: {optimizer: {enabled: true, runs: 200}, outputSelection: {'*': {'*': ['evm.bytecode.object']}}}};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter(e => e.severity === 'error');
if (errors.length) { console.error(JSON.stringify(errors)); process.exit(1); }
const res = {};
for (const [name, c] of Object.entries(out.contracts['W.sol'])) res[name] = c.evm.bytecode.object;
console.log(JSON.stringify(res));
"""

DOMAIN, URI = "wallet.test", "https://wallet.test"


@pytest.fixture(scope="module")
def bytecode() -> dict[str, bytes]:
    result = subprocess.run(
        ["node", "-e", COMPILE_JS, str(NODE_MODULES), WALLET_SOL],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return {name: bytes.fromhex(code) for name, code in json.loads(result.stdout).items()}


async def _deploy(conn: ChainConnection, code: bytes, args: bytes = b"") -> str:
    w3 = conn.w3
    sender = (await w3.eth.accounts)[-1]  # not the dev signer the suite and outbox tests use
    tx = await w3.eth.send_transaction({"from": sender, "data": "0x" + (code + args).hex(), "gas": 1_000_000})
    receipt = await w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.02)
    assert receipt["status"] == 1
    return str(receipt["contractAddress"])


def _message(address: str, chain_id: int, nonce: str) -> str:
    return SiweMessage(
        domain=DOMAIN,
        address=address,
        uri=URI + "/login",
        version="1",
        chain_id=chain_id,
        nonce=nonce,
        issued_at="2020-01-01T00:00:00Z",
    ).to_text()


def _sign(key: Any, text: str) -> str:
    return "0x" + bytes(key.sign_message(encode_defunct(text=text)).signature).hex()


async def test_contract_wallet_signs_in_through_eip1271(
    chain_conn: ChainConnection, db_session: AsyncSession, bytecode: dict[str, bytes]
) -> None:
    owner, stranger = Account.create(), Account.create()
    wallet = await _deploy(chain_conn, bytecode["OwnerWallet"], bytes(12) + bytes.fromhex(owner.address[2:]))
    service = SiweService(SiweConfig(domain=DOMAIN, uri=URI, chain_id=chain_conn.chain_id), w3=chain_conn.w3)

    # signed by the owner: accepted for the contract's address
    nonce = (await service.issue_nonce(db_session)).nonce
    text = _message(wallet, chain_conn.chain_id, nonce)
    verified = await service.verify(db_session, text, _sign(owner, text))
    assert verified.address == wallet

    # signed by someone else: rejected
    nonce = (await service.issue_nonce(db_session)).nonce
    text = _message(wallet, chain_conn.chain_id, nonce)
    with pytest.raises(SiweSignatureError):
        await service.verify(db_session, text, _sign(stranger, text))

    # the owner's signature over a different message: rejected (the hash is checked, not just the key)
    nonce = (await service.issue_nonce(db_session)).nonce
    text = _message(wallet, chain_conn.chain_id, nonce)
    other = _message(wallet, chain_conn.chain_id, "0" * 32)
    with pytest.raises(SiweSignatureError):
        await service.verify(db_session, text, _sign(owner, other))


async def test_contract_without_isvalidsignature_is_rejected(
    chain_conn: ChainConnection, db_session: AsyncSession, bytecode: dict[str, bytes]
) -> None:
    owner = Account.create()
    contract = await _deploy(chain_conn, bytecode["NotAWallet"])
    service = SiweService(SiweConfig(domain=DOMAIN, uri=URI, chain_id=chain_conn.chain_id), w3=chain_conn.w3)
    nonce = (await service.issue_nonce(db_session)).nonce
    text = _message(contract, chain_conn.chain_id, nonce)
    with pytest.raises(SiweSignatureError):
        await service.verify(db_session, text, _sign(owner, text))
