"""deploy_suite on anvil and eth-tester: deployment, manifest reuse without transactions, redeploy; plan_admin
(what the engine enqueues in its outbox) lists exactly the admin differences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import keccak, to_checksum_address

from chain.artifacts import load_artifact
from chain.connect import connect
from chain.contracts import MINTER_ROLE, PAUSER_ROLE, CreditTokenClient, EscrowClient, RegistryClient
from chain.deploy import (
    SUITE,
    SuiteConfig,
    deploy_suite,
    load_manifest,
    manifest_path,
    plan_admin,
    send_transaction,
)
from chain.devchain import Anvil, dev_signer_key
from chain.quotes import QUOTE_SIGNER_ROLE
from chain.signer import LocalSigner
from tests.chain.conftest import Suite


async def test_suite_is_deployed_and_manifest_written(suite: Suite) -> None:
    manifest, conn = suite.manifest, suite.conn
    assert manifest.chain_id == conn.chain_id
    assert manifest.deployer == suite.signer.address
    on_disk = json.loads(manifest_path(suite.manifest_dir, conn.chain_id).read_text())
    assert on_disk == manifest.to_json()
    assert set(on_disk["contracts"]) == set(SUITE)
    assert {"CreditToken", "Multicall", "ProviderRegistry", "DeploymentEscrow"} <= set(SUITE)
    assert {"PlatformToken", "StakingTiers"} <= set(SUITE)  # issue 13
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


async def test_reuse_sends_nothing_and_plans_only_the_missing_minter(suite: Suite) -> None:
    conn, signer = suite.conn, suite.signer
    new_minter = to_checksum_address("0x" + keccak(text=f"minter-{conn.kind}").hex()[-40:])
    token = suite.token
    assert not await token.has_role(MINTER_ROLE, new_minter)
    nonce = await conn.w3.eth.get_transaction_count(signer.address)
    minters = [new_minter, signer.address]
    again = await deploy_suite(conn, signer, manifest_dir=suite.manifest_dir, minters=minters)
    assert again == suite.manifest
    assert await conn.w3.eth.get_transaction_count(signer.address) == nonce  # admin drift: not sent here
    plan = await plan_admin(conn, suite.manifest, signer.address, SuiteConfig(), minters)
    assert [(c.kind, c.slot, c.args) for c in plan] == [
        (
            "token.grantRole",
            f"token.grantRole:MINTER_ROLE:{new_minter}",
            {"role": "MINTER_ROLE", "account": new_minter},
        )
    ]
    await send_transaction(conn, signer, to=plan[0].to, data=plan[0].data)
    assert await token.has_role(MINTER_ROLE, new_minter)
    assert await plan_admin(conn, suite.manifest, signer.address, SuiteConfig(), minters) == []


async def test_plan_lists_each_config_difference_once_in_a_fixed_order(suite: Suite) -> None:
    conn, signer = suite.conn, suite.signer
    treasury = to_checksum_address("0x" + "ab" * 20)
    config = SuiteConfig(fee_bps=123, min_notice=3600, treasury=treasury)
    plan = await plan_admin(conn, suite.manifest, signer.address, config)
    assert [c.kind for c in plan] == [
        "registry.setConfig",
        "registry.setTreasury",
        "escrow.setTreasury",
        "escrow.setFeeParams",
    ]
    assert plan[0].args["min_notice"] == 3600 and plan[1].args == {"treasury": treasury}
    assert plan[3].args == {"fee_bps": 123, "keeper_share_bps": 1_000, "max_tip": 10**6}
    assert await plan_admin(conn, suite.manifest, signer.address, SuiteConfig()) == []


async def test_bootstrap_wires_the_escrow_and_plans_the_quote_signer_and_pauser(suite: Suite) -> None:
    """Issue 10: the registry reports node stops to the escrow (``setEscrow`` at bootstrap, or else no lease
    can open); the admin may pause; the quoting key gets ``QUOTE_SIGNER_ROLE`` (at bootstrap when named,
    else through the reconcile)."""
    conn, signer, manifest = suite.conn, suite.signer, suite.manifest
    registry = RegistryClient(conn.w3, manifest.address("ProviderRegistry"))
    escrow = EscrowClient(conn.w3, manifest.address("DeploymentEscrow"))
    assert await registry.escrow() == escrow.address
    assert await escrow.has_role(PAUSER_ROLE, signer.address)
    assert not await escrow.has_role(QUOTE_SIGNER_ROLE, signer.address)  # never the minter's
    quote_signer = to_checksum_address("0x" + keccak(text=f"quoter-{conn.kind}").hex()[-40:])
    plan = await plan_admin(conn, manifest, signer.address, SuiteConfig(), quote_signer=quote_signer)
    assert [(c.kind, c.slot) for c in plan] == [
        ("escrow.grantRole", f"escrow.grantRole:QUOTE_SIGNER_ROLE:{quote_signer}")
    ]
    await send_transaction(conn, signer, to=plan[0].to, data=plan[0].data)
    assert await escrow.has_role(QUOTE_SIGNER_ROLE, quote_signer)
    assert await plan_admin(conn, manifest, signer.address, SuiteConfig(), quote_signer=quote_signer) == []


async def test_a_fresh_suite_grants_the_quote_signer_at_bootstrap(tmp_path: Path) -> None:
    conn = await connect("eth-tester://")
    try:
        signer = LocalSigner(dev_signer_key(conn))
        quote_signer = to_checksum_address("0x" + "9a" * 20)
        manifest = await deploy_suite(conn, signer, manifest_dir=tmp_path, quote_signer=quote_signer)
        escrow = EscrowClient(conn.w3, manifest.address("DeploymentEscrow"))
        assert await escrow.has_role(QUOTE_SIGNER_ROLE, quote_signer)
        registry = RegistryClient(conn.w3, manifest.address("ProviderRegistry"))
        assert await registry.escrow() == escrow.address
    finally:
        await conn.close()


def test_suite_config_holds_the_registrys_window_cap() -> None:
    for bad in (0, 9):
        with pytest.raises(ValueError, match="max_windows_per_month"):
            SuiteConfig(max_windows_per_month=bad)
    assert SuiteConfig(max_windows_per_month=8).max_windows_per_month == 8


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
            # 4 contracts + registry.setEscrow + OPERATOR, SEIZER, TOPUP, PAUSER role grants;
            # issue 13 staking: 2 contracts + OPERATOR, SPEND_REPORTER grants + setDiscountOracle + seed
            # approve and stake; issue 13 alliances: 1 contract + its OPERATOR grant
            assert await conn.w3.eth.get_transaction_count(signer.address) == 9 + 7 + 2
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
