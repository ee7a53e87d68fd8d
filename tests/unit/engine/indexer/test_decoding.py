"""EventCatalog: filters and decoding of CreditToken logs built by hand (real ABI, real eth_abi)."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.deploy import DeployedContract, Manifest
from engine.indexer.decoding import (
    ContractSpec,
    EventCatalog,
    _NotCanonical,
    _word_reader,
    checksum_address,
    to_json_value,
)
from engine.indexer.errors import UnknownContract

TOKEN = "0x" + "11" * 20
ALICE = "0x" + "aa" * 20
BOB = "0x" + "bb" * 20
TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
MINTED = "0x" + keccak(text="CreditMinted(address,uint256,bytes32)").hex()


def manifest() -> Manifest:
    entry = DeployedContract(
        address=TOKEN, tx_hash="0x" + "00" * 32, block_number=1, source_hash="", code_hash=""
    )
    return Manifest(chain_id=31337, deployed_at_block=1, deployer=ALICE, contracts={"CreditToken": entry})


def word(address: str) -> str:
    return "0x" + "00" * 12 + address[2:]


def log(topics: list[str], data: bytes, *, log_index: int = 0) -> dict[str, object]:
    return {
        "address": TOKEN.upper().replace("0X", "0x"),
        "topics": topics,
        "data": "0x" + data.hex(),
        "blockNumber": "0x10",
        "blockHash": "0x" + "CD" * 32,
        "transactionHash": "0x" + "EF" * 32,
        "transactionIndex": "0x2",
        "logIndex": hex(log_index),
    }


def test_filter_names_every_registered_event_and_address() -> None:
    catalog = EventCatalog.build(manifest(), ["CreditToken"])
    flt = catalog.log_filter(5, 9)
    assert flt["fromBlock"] == "0x5" and flt["toBlock"] == "0x9" and flt["address"] == [TOKEN]
    assert TRANSFER in flt["topics"][0] and MINTED in flt["topics"][0]
    only = EventCatalog.build(manifest(), [ContractSpec("CreditToken", events=("CreditMinted",))])
    assert only.topics == [MINTED]


def test_transfer_decodes_with_big_value_as_decimal_string() -> None:
    catalog = EventCatalog.build(manifest(), ["CreditToken"])
    value = 2**255 + 3
    item = catalog.decode(log([TRANSFER, word(ALICE), word(BOB)], encode(["uint256"], [value]), log_index=7))
    assert item is not None
    assert (item.event, item.contract, item.address, item.block_number, item.log_index) == (
        "Transfer",
        "CreditToken",
        TOKEN,
        16,
        7,
    )
    assert list(item.args) == ["from", "to", "value"] and item.args["value"] == str(value)
    assert item.args["from"].lower() == ALICE and item.args["to"].lower() == BOB
    assert item.accounts == {ALICE: "from", BOB: "to"}
    assert item.block_hash == "0x" + "cd" * 32 and item.tx_hash == "0x" + "ef" * 32 and item.ref is None


def test_mint_extracts_ref_and_skips_the_zero_address() -> None:
    catalog = EventCatalog.build(manifest(), ["CreditToken"])
    ref = "0x" + "42" * 32
    minted = catalog.decode(log([MINTED, word(BOB), ref], encode(["uint256"], [5])))
    assert minted is not None and minted.ref == ref and minted.args["amount"] == "5"
    assert minted.accounts == {BOB: "to"}
    zero = "0x" + "00" * 20
    transfer = catalog.decode(log([TRANSFER, word(zero), word(BOB)], encode(["uint256"], [5])))
    assert transfer is not None and transfer.accounts == {BOB: "to"}
    self_transfer = catalog.decode(log([TRANSFER, word(BOB), word(BOB)], encode(["uint256"], [1])))
    assert self_transfer is not None and self_transfer.accounts == {BOB: "from,to"}


def test_foreign_logs_are_ignored() -> None:
    catalog = EventCatalog.build(manifest(), ["CreditToken"])
    other_topic = "0x" + keccak(text="Other(uint256)").hex()
    assert catalog.decode(log([other_topic], encode(["uint256"], [1]))) is None
    assert catalog.decode(log([], b"")) is None
    wrong = log([TRANSFER, word(ALICE), word(BOB)], encode(["uint256"], [1]))
    wrong["address"] = BOB
    assert catalog.decode(wrong) is None
    # same signature, value indexed too (ERC-721 style): not the event we registered
    assert catalog.decode(log([TRANSFER, word(ALICE), word(BOB), "0x" + "00" * 31 + "01"], b"")) is None


def test_unknown_contract_or_event_is_refused() -> None:
    with pytest.raises(UnknownContract) as info:
        EventCatalog.build(manifest(), ["ProviderRegistry"])
    assert info.value.contract == "ProviderRegistry"
    with pytest.raises(UnknownContract):
        EventCatalog.build(manifest(), [ContractSpec("CreditToken", events=("Nope",))])


def test_json_values() -> None:
    assert to_json_value("uint256[]", [1, 2**200]) == ["1", str(2**200)]
    assert to_json_value("(address,bool,bytes)", (ALICE, True, b"\x01")) == [
        to_json_value("address", ALICE),
        True,
        "0x01",
    ]
    assert to_json_value("int8", -5) == "-5"


REGISTRY = "0x" + "22" * 20
ESCROW = "0x" + "33" * 20


def marketplace() -> Manifest:
    def entry(address: str) -> DeployedContract:
        return DeployedContract(address, "0x" + "00" * 32, 1, "", "")

    return Manifest(31337, 1, ALICE, {"ProviderRegistry": entry(REGISTRY), "DeploymentEscrow": entry(ESCROW)})


def _at(address: str, topics: list[str], data: bytes) -> dict[str, object]:
    return log(topics, data) | {"address": address}


def test_issue_10_events_are_indexed_and_decoded() -> None:
    """The registry's stops and claims and the escrow's stops and pause decode from the real ABIs."""
    catalog = EventCatalog.build(marketplace(), ["ProviderRegistry", "DeploymentEscrow"])
    topic = {
        name: "0x" + keccak(text=sig).hex()
        for name, sig in {
            "NodeRemoved": "NodeRemoved(uint64)",
            "ProviderDeactivated": "ProviderDeactivated(address,uint256)",
            "ClaimFiled": "ClaimFiled(address,bytes32)",
            "ClaimResolved": "ClaimResolved(address,bytes32)",
            "EscrowSet": "EscrowSet(address)",
            "LeaseStopped": "LeaseStopped(uint256,uint256)",
            "PauseSet": "PauseSet(bool,address)",
        }.items()
    }
    assert set(topic.values()) <= set(catalog.topics)
    removed = catalog.decode(_at(REGISTRY, [topic["NodeRemoved"], "0x" + f"{7:064x}"], b""))
    assert removed is not None and removed.event == "NodeRemoved" and removed.args == {"nodeId": "7"}
    off = catalog.decode(_at(REGISTRY, [topic["ProviderDeactivated"], word(BOB)], encode(["uint256"], [99])))
    assert off is not None and off.args["at"] == "99" and off.accounts == {BOB: "provider"}
    ref = "0x" + "5e" * 32
    filed = catalog.decode(_at(REGISTRY, [topic["ClaimFiled"], word(BOB), ref], b""))
    assert filed is not None and filed.ref == ref and filed.event == "ClaimFiled"
    stopped = catalog.decode(
        _at(ESCROW, [topic["LeaseStopped"], "0x" + f"{5:064x}"], encode(["uint256"], [1234]))
    )
    assert stopped is not None and stopped.args == {"leaseId": "5", "stoppedAt": "1234"}
    paused = catalog.decode(_at(ESCROW, [topic["PauseSet"], word(ALICE)], encode(["bool"], [True])))
    assert paused is not None and paused.args["paused"] is True


WORD_TYPES = ["address", "bool", "uint8", "uint64", "uint256", "int8", "int128", "int256", "bytes1", "bytes4"]
WORD_TYPES += ["bytes32"]


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(WORD_TYPES),
    word=st.one_of(
        st.binary(min_size=32, max_size=32),
        st.integers(0, 2**256 - 1).map(lambda v: v.to_bytes(32, "big")),
        st.integers(0, 2**70).map(lambda v: v.to_bytes(32, "big")),
        st.integers(-(2**70), -1).map(lambda v: v.to_bytes(32, "big", signed=True)),
        st.binary(min_size=1, max_size=31).map(lambda b: b + bytes(32 - len(b))),
    ),
)
def test_word_readers_agree_with_eth_abi(kind: str, word: bytes) -> None:
    """The fast readers give eth_abi's value or step aside (then eth_abi decides, and may raise)."""
    reader = _word_reader(kind)
    assert reader is not None
    try:
        (value,) = abi_decode([kind], word)
        expected = to_json_value(kind, value)
    except Exception:
        expected = None
    try:
        got = reader(word)
    except _NotCanonical:
        got = None
    assert got == expected


@given(st.binary(min_size=20, max_size=20))
def test_checksum_matches_eth_utils(raw: bytes) -> None:
    assert checksum_address(raw.hex()) == to_checksum_address(raw.hex())


def test_fast_and_reference_paths_decode_a_log_alike() -> None:
    """A dirty-padded word makes the fast path step aside: eth_abi raises as before."""
    catalog = EventCatalog.build(manifest(), ["CreditToken"])
    dirty = "0x" + "01" + "00" * 11 + ALICE[2:]
    with pytest.raises(Exception, match="Padding"):
        catalog.decode(log([TRANSFER, dirty, word(BOB)], encode(["uint256"], [1])))
    with pytest.raises(Exception, match="bytes"):
        catalog.decode(log([TRANSFER, word(ALICE), word(BOB)], b"\x01" * 31))
