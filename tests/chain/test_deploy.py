"""deploy_suite on anvil and eth-tester: deployment, manifest reuse without transactions, redeploy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import keccak

from chain.artifacts import load_artifact
from chain.connect import connect
from chain.contracts import MINTER_ROLE, CreditTokenClient
from chain.deploy import deploy_suite, load_manifest, manifest_path
from chain.devchain import Anvil, dev_signer_key
from chain.signer import LocalSigner
from tests.chain.conftest import Suite


async def test_suite_is_deployed_and_manifest_written(suite: Suite) -> None:
    manifest, conn = suite.manifest, suite.conn
    assert manifest.chain_id == conn.chain_id
    assert manifest.deployer == suite.signer.address
    on_disk = json.loads(manifest_path(suite.manifest_dir, conn.chain_id).read_text())
    assert on_disk == manifest.to_json()
    assert set(on_disk["contracts"]) == {"CreditToken", "Multicall", "ProviderRegistry", "DeploymentEscrow"}
    for name, entry in manifest.contracts.items():
        code = bytes(await conn.w3.eth.get_code(entry.address))
        assert code, name
        assert "0x" + keccak(code).hex() == entry.code_hash
        assert entry.source_hash == load_artifact(name).source_hash
        receipt = await conn.w3.eth.get_transaction_receipt(entry.tx_hash)
        assert receipt["contractAddress"] == entry.address
        assert receipt["blockNumber"] == entry.block_number >= manifest.deployed_at_block
    token = CreditTokenClient(conn.w3, manifest.address("CreditToken"))
    assert await token.decimals() == 6
    assert await token.has_role(MINTER_ROLE, suite.signer.address)
    assert await token.has_role(token.DEFAULT_ADMIN_ROLE, suite.signer.address)


async def test_second_deploy_reuses_manifest_without_any_transaction(suite: Suite) -> None:
    conn, signer = suite.conn, suite.signer
    nonce = await conn.w3.eth.get_transaction_count(signer.address)
    block = await conn.w3.eth.block_number
    again = await deploy_suite(conn, signer, manifest_dir=suite.manifest_dir)
    assert again == suite.manifest
    assert await conn.w3.eth.get_transaction_count(signer.address) == nonce
    assert await conn.w3.eth.block_number == block


async def test_reuse_grants_only_missing_minters(suite: Suite) -> None:
    conn, signer = suite.conn, suite.signer
    new_minter = "0x" + keccak(text=f"minter-{conn.kind}").hex()[-40:]
    token = suite.token
    assert not await token.has_role(MINTER_ROLE, new_minter)
    nonce = await conn.w3.eth.get_transaction_count(signer.address)
    again = await deploy_suite(
        conn, signer, manifest_dir=suite.manifest_dir, minters=[new_minter, signer.address]
    )
    assert again == suite.manifest
    assert await token.has_role(MINTER_ROLE, new_minter)
    assert await conn.w3.eth.get_transaction_count(signer.address) == nonce + 1  # one grantRole, no deploy
    await deploy_suite(conn, signer, manifest_dir=suite.manifest_dir, minters=[new_minter])
    assert await conn.w3.eth.get_transaction_count(signer.address) == nonce + 1


async def test_eth_tester_fresh_chain_redeploys_and_overwrites(tmp_path: Path) -> None:
    first = await connect("eth-tester://")
    signer = LocalSigner(dev_signer_key(first))
    try:
        old = await deploy_suite(first, signer, manifest_dir=tmp_path, minters=[signer.address])
    finally:
        await first.close()
    fresh = await connect("eth-tester://")  # a brand-new in-process chain with the same chain id
    try:
        await fresh.w3.eth.send_transaction(
            {"from": (await fresh.w3.eth.accounts)[1], "to": signer.address, "value": 1}
        )  # shift block numbers
        assert fresh.chain_id == old.chain_id
        assert await fresh.w3.eth.get_code(old.address("CreditToken")) == b""
        new = await deploy_suite(fresh, signer, manifest_dir=tmp_path)
        assert new != old
        assert await fresh.w3.eth.get_code(new.address("CreditToken")) != b""
        assert load_manifest(tmp_path, fresh.chain_id) == new
    finally:
        await fresh.close()


async def test_anvil_fresh_chain_redeploys(fresh_anvil: Anvil, tmp_path: Path) -> None:
    for round_ in range(2):
        conn = await connect(fresh_anvil.url)
        signer = LocalSigner(dev_signer_key(conn))
        try:
            manifest = await deploy_suite(conn, signer, manifest_dir=tmp_path)
            # 4 contracts + OPERATOR, SEIZER, TOPUP role grants
            assert await conn.w3.eth.get_transaction_count(signer.address) == 7
            assert load_manifest(tmp_path, conn.chain_id) == manifest
        finally:
            await conn.close()
        if round_ == 0:
            fresh_anvil.stop()
            fresh_anvil.start()  # same port, empty chain: the manifest points at nothing


async def test_changed_sources_redeploy(tmp_path: Path, tester_conn) -> None:
    signer = LocalSigner(dev_signer_key(tester_conn))
    first = await deploy_suite(tester_conn, signer, manifest_dir=tmp_path)
    path = manifest_path(tmp_path, tester_conn.chain_id)
    raw = json.loads(path.read_text())
    raw["contracts"]["Multicall"]["source_hash"] = "0xstale"
    path.write_text(json.dumps(raw))
    second = await deploy_suite(tester_conn, signer, manifest_dir=tmp_path)
    assert second.address("Multicall") != first.address("Multicall")
    assert load_manifest(tmp_path, tester_conn.chain_id) == second


@pytest.mark.parametrize("content", ["{not json", '{"chain_id": 1}', "[]"])
def test_unreadable_manifest_is_ignored(tmp_path: Path, content: str) -> None:
    manifest_path(tmp_path, 1).write_text(content)
    assert load_manifest(tmp_path, 1) is None
