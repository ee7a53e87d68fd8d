"""Revert decoding with hand-encoded data and hand-made ABIs (no chain)."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_tester.exceptions import TransactionFailed
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3RPCError

from chain.errors import ChainError, ContractRevert
from chain.reverts import (
    ErrorRegistry,
    decode_revert,
    errors_for,
    revert_class,
    revert_data_of,
    revert_from_exception,
)

ABI = [
    {
        "type": "error",
        "name": "Overdrawn",
        "inputs": [{"name": "account", "type": "address"}, {"name": "needed", "type": "uint256"}],
    },
    {
        "type": "error",
        "name": "BadBatch",
        "inputs": [
            {
                "name": "",
                "type": "tuple[]",
                "components": [{"name": "id", "type": "uint64"}, {"name": "tag", "type": "bytes32"}],
            }
        ],
    },
    {"type": "error", "name": "Nothing", "inputs": []},
    {"type": "function", "name": "f", "inputs": [], "outputs": []},
]
ABIS = {"Escrowish": ABI}
ALICE = to_checksum_address("0x" + "ab" * 20)


def sel(sig: str) -> bytes:
    return function_signature_to_4byte_selector(sig)


def error_string(message: str) -> bytes:
    return sel("Error(string)") + encode(["string"], [message])


def test_error_string() -> None:
    err = decode_revert(error_string("not enough credit"), ABIS)
    assert type(err) is revert_class("Error")
    assert err.error_args == {"message": "not enough credit"}
    assert "not enough credit" in str(err)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (0x11, "arithmetic overflow or underflow"),
        (0x12, "division or modulo by zero"),
        (0x99, "unknown panic code"),
    ],
)
def test_panic(code: int, reason: str) -> None:
    err = decode_revert("0x" + (sel("Panic(uint256)") + encode(["uint256"], [code])).hex(), ABIS)
    assert isinstance(err, revert_class("Panic"))
    assert err.error_args == {"code": code, "reason": reason}


def test_custom_error_with_args_and_contract() -> None:
    data = sel("Overdrawn(address,uint256)") + encode(["address", "uint256"], [ALICE, 10**18])
    err = decode_revert(data, ABIS, tx_hash="0xfeed")
    assert isinstance(err, errors_for(ABI).Overdrawn)
    assert err.error_args == {"account": ALICE, "needed": 10**18}
    assert err.contract == "Escrowish" and err.tx_hash == "0xfeed" and err.data == data


def test_tuple_array_args_and_unnamed_params() -> None:
    data = sel("BadBatch((uint64,bytes32)[])") + encode(
        ["(uint64,bytes32)[]"], [[(1, b"\x01" * 32), (2, b"\x02" * 32)]]
    )
    err = decode_revert(data, ABIS)
    assert err.error == "BadBatch"
    assert err.error_args == {"arg0": [(1, b"\x01" * 32), (2, b"\x02" * 32)]}


def test_unknown_selector_empty_and_garbage() -> None:
    unknown = decode_revert(b"\xde\xad\xbe\xef" + bytes(32), ABIS)
    assert type(unknown) is revert_class("UnknownRevert")
    assert unknown.error_args == {"selector": "0xdeadbeef"}
    assert type(decode_revert(b"", ABIS)) is revert_class("EmptyRevert")
    assert type(decode_revert(None, ABIS)) is revert_class("EmptyRevert")
    truncated = sel("Overdrawn(address,uint256)") + b"\x00" * 5
    assert type(decode_revert(truncated, ABIS)) is revert_class("UnknownRevert")


def test_revert_classes_are_stable_and_catchable() -> None:
    assert revert_class("Overdrawn") is revert_class("Overdrawn") is errors_for(ABI).Overdrawn
    assert issubclass(revert_class("Overdrawn"), ContractRevert)
    assert issubclass(revert_class("Overdrawn"), ChainError)
    assert revert_class("Overdrawn") is not revert_class("Nothing")
    with pytest.raises(AttributeError):
        _ = errors_for(ABI).NotDeclared
    with pytest.raises(ValueError):
        revert_class("not a name")
    with pytest.raises(revert_class("Nothing")):
        raise decode_revert(sel("Nothing()"), ABIS)


def test_selector_ties_prefer_the_called_contract() -> None:
    other = [{"type": "error", "name": "Nothing", "inputs": []}]
    registry = ErrorRegistry.from_abis({"A": other, "B": ABI})
    assert decode_revert(sel("Nothing()"), registry, contract="B").contract == "B"
    assert decode_revert(sel("Nothing()"), registry, contract="A").contract == "A"


def test_real_artifacts_registry_decodes_credit_token_errors() -> None:
    ref = b"\x07" * 32
    err = decode_revert(sel("RefAlreadyUsed(bytes32)") + ref)
    assert isinstance(err, errors_for("CreditToken").RefAlreadyUsed)
    assert err.error_args == {"ref": ref}
    assert err.contract == "CreditToken"


# ---- extraction from what web3 / eth-tester raise ----------------------------------------------

CUSTOM = sel("Overdrawn(address,uint256)") + encode(["address", "uint256"], [ALICE, 5])


@pytest.mark.parametrize(
    "exc",
    [
        ContractCustomError("0x" + CUSTOM.hex(), data="0x" + CUSTOM.hex()),
        ContractLogicError("execution reverted", data="0x" + CUSTOM.hex()),
        ContractLogicError("execution reverted", data={"data": "0x" + CUSTOM.hex()}),
        Web3RPCError(
            "boom",
            rpc_response={
                "jsonrpc": "2.0",
                "id": 1,
                "error": {"code": 3, "message": "execution reverted", "data": "0x" + CUSTOM.hex()},
            },
        ),
        TransactionFailed(f"execution reverted: {CUSTOM!r}"),
    ],
)
def test_custom_error_from_each_exception_shape(exc: Exception) -> None:
    err = revert_from_exception(exc, ABIS)
    assert isinstance(err, revert_class("Overdrawn"))
    assert err.error_args == {"account": ALICE, "needed": 5}


def test_error_string_from_anvil_and_eth_tester() -> None:
    data = error_string("paused")
    anvil = ContractLogicError("execution reverted: paused", data="0x" + data.hex())
    tester = TransactionFailed("execution reverted: paused")  # eth-tester decodes Error(string) itself
    for exc in (anvil, tester):
        err = revert_from_exception(exc, ABIS)
        assert isinstance(err, revert_class("Error")) and err.error_args == {"message": "paused"}
    prefixed = ContractLogicError("execution reverted: paused", data="Reverted 0x" + data.hex())
    assert revert_data_of(prefixed) == data


def test_panic_and_empty_reverts_from_exceptions() -> None:
    panic = sel("Panic(uint256)") + encode(["uint256"], [0x32])
    err = revert_from_exception(ContractPanicError("out of bounds", data="0x" + panic.hex()), ABIS)
    assert isinstance(err, revert_class("Panic")) and err.error_args["code"] == 0x32
    assert type(revert_from_exception(ContractLogicError("execution reverted", data=None))) is revert_class(
        "EmptyRevert"
    )
    assert type(revert_from_exception(TransactionFailed("execution reverted: b''"))) is revert_class(
        "EmptyRevert"
    )


def test_non_reverts_are_not_converted() -> None:
    assert revert_from_exception(ConnectionError("refused")) is None
    assert (
        revert_from_exception(
            Web3RPCError(
                "nonce too low",
                rpc_response={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "error": {"code": -32000, "message": "nonce too low"},
                },
            )
        )
        is None
    )
