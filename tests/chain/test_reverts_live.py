"""Typed reverts from real failing eth_call / eth_estimateGas / transactions, on anvil and eth-tester."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address
from web3.exceptions import ContractLogicError

from chain.contracts import MINTER_ROLE
from chain.deploy import send_transaction
from chain.errors import ContractRevert
from chain.reverts import call_or_raise, errors_for, estimate_or_raise, revert_class, revert_from_exception
from tests.chain.conftest import Suite, fresh_ref

RECEIVER = to_checksum_address("0x00000000000000000000000000000000000000a1")


async def _mint_once(suite: Suite) -> bytes:
    ref = fresh_ref()
    token = suite.token
    await send_transaction(
        suite.conn, suite.signer, to=token.address, data=token.encode_mint(RECEIVER, 7, ref)
    )
    assert await token.ref_used(ref)
    return ref


async def test_double_mint_eth_call_raises_ref_already_used(suite: Suite) -> None:
    ref = await _mint_once(suite)
    token = suite.token
    tx = {"from": suite.signer.address, "to": token.address, "data": token.encode_mint(RECEIVER, 7, ref)}
    with pytest.raises(errors_for("CreditToken").RefAlreadyUsed) as caught:
        await call_or_raise(suite.conn.w3, tx, contract="CreditToken")
    err = caught.value
    assert isinstance(err, ContractRevert)
    assert type(err) is revert_class("RefAlreadyUsed")
    assert err.error == "RefAlreadyUsed"
    assert err.error_args == {"ref": ref}
    assert err.contract == "CreditToken"
    assert err.data[4:] == ref


async def test_double_mint_estimate_and_send_raise_typed(suite: Suite) -> None:
    ref = await _mint_once(suite)
    token = suite.token
    tx = {"from": suite.signer.address, "to": token.address, "data": token.encode_mint(RECEIVER, 7, ref)}
    with pytest.raises(revert_class("RefAlreadyUsed")):
        await estimate_or_raise(suite.conn.w3, tx)
    nonce = await suite.conn.w3.eth.get_transaction_count(suite.signer.address)
    with pytest.raises(revert_class("RefAlreadyUsed")) as caught:
        await send_transaction(suite.conn, suite.signer, to=token.address, data=tx["data"])
    assert caught.value.error_args["ref"] == ref
    assert await suite.conn.w3.eth.get_transaction_count(suite.signer.address) == nonce  # nothing sent


async def test_web3_contract_call_exception_is_converted(suite: Suite) -> None:
    """What web3's own contract objects raise (ContractCustomError / eth-tester TransactionFailed) decodes."""
    ref = await _mint_once(suite)
    token = suite.token
    contract = suite.conn.w3.eth.contract(address=token.address, abi=token.artifact.abi)
    with pytest.raises(Exception) as caught:
        await contract.functions.mint(RECEIVER, 7, ref).call({"from": suite.signer.address})
    if suite.conn.kind == "http":
        assert isinstance(caught.value, ContractLogicError)
    else:
        assert type(caught.value).__name__ == "TransactionFailed"
    revert = revert_from_exception(caught.value, contract="CreditToken")
    assert isinstance(revert, revert_class("RefAlreadyUsed"))
    assert revert.error_args == {"ref": ref}


async def test_unauthorized_mint_decodes_access_control_error(suite: Suite) -> None:
    token = suite.token
    # A funded account without MINTER_ROLE (eth-tester refuses eth_call from an account that cannot pay gas).
    stranger = (await suite.conn.w3.eth.accounts)[1]
    tx = {"from": stranger, "to": token.address, "data": token.encode_mint(RECEIVER, 1, fresh_ref())}
    with pytest.raises(token.errors.AccessControlUnauthorizedAccount) as caught:
        await call_or_raise(suite.conn.w3, tx, contract="CreditToken")
    assert caught.value.error_args == {"account": stranger, "neededRole": MINTER_ROLE}


async def test_argumentless_custom_error(suite: Suite) -> None:
    token = suite.token
    tx = {
        "from": suite.signer.address,
        "to": token.address,
        "data": token.encode_mint(RECEIVER, 1, bytes(32)),
    }
    with pytest.raises(token.errors.ZeroRef) as caught:
        await call_or_raise(suite.conn.w3, tx)
    assert caught.value.error_args == {}
    assert caught.value.data == bytes(caught.value.data[:4])
