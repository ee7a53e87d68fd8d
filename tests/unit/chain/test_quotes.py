"""chain.quotes signs exactly what DeploymentEscrow recovers.

The vector is hard-coded on both sides: contracts/test/Issue10.t.sol ``test_Quote_PythonVector`` runs the
escrow's own ``digestQuote`` (its bytecode etched at the address below, chain id 31337) and asserts the same
digest and the same compact signature (foundry's ``vm.signCompact``, RFC 6979 like eth-keys).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_utils.crypto import keccak

from chain.quotes import (
    QUOTE_TYPE,
    Quote,
    QuoteSignature,
    quote_digest,
    recover_quote_signer,
    sign_quote,
)

CHAIN_ID = 31337
ESCROW = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")  # anvil account 0
SIGNER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
QUOTE = Quote(
    payer="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    node_id=7,
    rate_per_second=1234,
    spec_hash=keccak(text="spec-vector"),
    expiry=1_800_000_000,
)
# From forge (test_Quote_PythonVector), not from this module.
FORGE_DIGEST = "9280b932b59e5bd88bfd6cf51fdc408762bcaaac5710e7a0fa4aa33871803c25"
FORGE_R = "669d6bbd18d2c1e8b05118f6ed27ebc582c587c09f5a62d66c3d9b3a5e99cc50"
FORGE_VS = "e8920a149b548dd1fb168df57c29c053b2608879ddc898b2d1e05b379dcb5671"


def test_type_string_is_the_contracts():
    assert (
        QUOTE_TYPE
        == "Quote(address payer,uint64 nodeId,uint256 ratePerSecond,bytes32 specHash,uint256 expiry)"
    )


def test_digest_matches_the_escrow():
    assert quote_digest(QUOTE, chain_id=CHAIN_ID, escrow=ESCROW).hex() == FORGE_DIGEST


def test_signature_matches_forge_and_recovers_the_signer():
    sig = sign_quote(KEY, QUOTE, chain_id=CHAIN_ID, escrow=ESCROW)
    assert len(sig) == 64
    assert sig[:32].hex() == FORGE_R
    assert sig[32:].hex() == FORGE_VS
    assert recover_quote_signer(sig, QUOTE, chain_id=CHAIN_ID, escrow=ESCROW) == SIGNER
    assert QuoteSignature.of(QUOTE, sig).as_tuple() == (QUOTE.expiry, sig[:32], sig[32:])


@pytest.mark.parametrize(
    "edit",
    [
        {"rate_per_second": 1},
        {"node_id": 8},
        {"spec_hash": keccak(text="other")},
        {"payer": SIGNER},
        {"expiry": QUOTE.expiry + 1},
    ],
)
def test_edited_terms_recover_another_signer(edit):
    sig = sign_quote(KEY, QUOTE, chain_id=CHAIN_ID, escrow=ESCROW)
    assert recover_quote_signer(sig, replace(QUOTE, **edit), chain_id=CHAIN_ID, escrow=ESCROW) != SIGNER


def test_domain_binds_chain_and_escrow():
    sig = sign_quote(KEY, QUOTE, chain_id=CHAIN_ID, escrow=ESCROW)
    assert recover_quote_signer(sig, QUOTE, chain_id=1, escrow=ESCROW) != SIGNER
    other = "0x" + "11" * 20
    assert recover_quote_signer(sig, QUOTE, chain_id=CHAIN_ID, escrow=other) != SIGNER


def test_rejects_malformed_terms():
    with pytest.raises(ValueError):
        replace(QUOTE, rate_per_second=0)
    with pytest.raises(ValueError):
        replace(QUOTE, node_id=2**64)
    with pytest.raises(ValueError):
        replace(QUOTE, spec_hash=b"\x00" * 31)
