"""Artifacts loading, manifest (de)serialisation and calldata builders (no chain)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from chain.artifacts import load_artifact
from chain.contracts import MINTER_ROLE, CreditTokenClient, MulticallClient
from chain.deploy import DeployedContract, Manifest, load_manifest, manifest_path, write_manifest
from chain.errors import ArtifactError, ChainError

ALICE = to_checksum_address("0x" + "12" * 20)


def test_real_artifacts_load_and_are_cached() -> None:
    token = load_artifact("CreditToken")
    assert token.name == "CreditToken"
    assert token.bytecode and token.deployed_bytecode and len(token.source_hash) >= 32
    assert any(e.get("name") == "RefAlreadyUsed" for e in token.abi)
    assert load_artifact("CreditToken") is token
    assert load_artifact("Multicall").name == "Multicall"


def test_artifacts_dir_override_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDMARKET_ARTIFACTS_DIR", str(tmp_path))
    (tmp_path / "Tiny.json").write_text(
        json.dumps(
            {
                "contractName": "Tiny",
                "abi": [],
                "bytecode": "0x6000",
                "deployedBytecode": "0x",
                "sourceHash": "0x1",
            }
        )
    )
    tiny = load_artifact("Tiny")
    assert tiny.bytecode == b"\x60\x00" and tiny.deployed_bytecode == b""
    with pytest.raises(ArtifactError, match="not found") as caught:
        load_artifact("CreditToken")  # not in the override dir
    assert caught.value.name == "CreditToken"
    (tmp_path / "Broken.json").write_text("{")
    with pytest.raises(ArtifactError, match="JSON"):
        load_artifact("Broken")
    (tmp_path / "Linked.json").write_text(json.dumps({"abi": [], "bytecode": "0x__$lib$__"}))
    with pytest.raises(ArtifactError, match="hex"):
        load_artifact("Linked")


def _manifest(chain_id: int = 31337) -> Manifest:
    entry = DeployedContract(
        address=ALICE, tx_hash="0x" + "aa" * 32, block_number=3, source_hash="0xs", code_hash="0xc"
    )
    return Manifest(chain_id=chain_id, deployed_at_block=3, deployer=ALICE, contracts={"CreditToken": entry})


def test_manifest_round_trip(tmp_path: Path) -> None:
    manifest = _manifest()
    path = write_manifest(tmp_path, manifest)
    assert path == manifest_path(tmp_path, 31337)
    assert json.loads(path.read_text()) == manifest.to_json()
    assert load_manifest(tmp_path, 31337) == manifest
    assert manifest.address("CreditToken") == ALICE
    with pytest.raises(ChainError):
        manifest.address("Nope")
    assert load_manifest(tmp_path, 1) is None
    assert list(tmp_path.iterdir()) == [path]  # no temp files left behind


def test_manifest_with_wrong_chain_id_inside_is_ignored(tmp_path: Path) -> None:
    manifest_path(tmp_path, 5).write_text(json.dumps(_manifest(chain_id=6).to_json()))
    assert load_manifest(tmp_path, 5) is None


def test_calldata_matches_web3_encoding() -> None:
    abi = load_artifact("CreditToken").abi
    reference = Web3().eth.contract(address=ALICE, abi=abi)
    client = CreditTokenClient(None, ALICE)
    ref = b"\x05" * 32
    assert client.encode_mint(ALICE.lower(), 10**6, ref) == bytes.fromhex(
        reference.encode_abi("mint", args=[ALICE, 10**6, ref])[2:]
    )
    assert client.encode_grant_role(MINTER_ROLE, ALICE) == bytes.fromhex(
        reference.encode_abi("grantRole", args=[MINTER_ROLE, ALICE])[2:]
    )
    assert MINTER_ROLE == keccak(text="MINTER_ROLE")
    with pytest.raises(AttributeError):
        client.encode("mint", ALICE)  # wrong arity
    multicall = MulticallClient(None, ALICE)
    mc_ref = Web3().eth.contract(address=ALICE, abi=load_artifact("Multicall").abi)
    calls = [(ALICE, b"\x01\x02")]
    assert multicall.encode_aggregate(calls) == bytes.fromhex(
        mc_ref.encode_abi("aggregate", args=[calls])[2:]
    )
