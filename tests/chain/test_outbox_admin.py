"""Admin reconciliation (roles, registry config, fee params, treasuries) goes through the outbox.

The multi-process test starts two service runtimes (``engine.runtime.start_runtime`` + the outbox sender,
what ``cloudmarket serve`` runs) in two subprocesses, released at the same instant, on ONE PostgreSQL
database and ONE anvil whose deployed suite differs from the settings in five admin values. Each change
must land on chain exactly once (counted as events), with no nonce conflict (every admin row confirmed
by its first attempt, nonces consecutive, nobody logs "key used elsewhere").
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import sys
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import select

from chain import jsonrpc
from chain.connect import ChainConnection, connect
from chain.contracts import TOPUP_ROLE, EscrowClient, RegistryClient
from chain.deploy import SuiteConfig, deploy_suite, plan_admin, send_transaction
from chain.devchain import Anvil
from chain.quotes import QUOTE_SIGNER_ROLE
from chain.signer import LocalSigner
from engine import db
from engine.outbox.admin import enqueue_admin_reconcile
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.outbox.sender import OutboxSender
from engine.runtime import quote_signer_address
from engine.settings import ANVIL_DEV_KEY, Settings, load_settings
from tests.support.postgres import PgCluster

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]
REPO = Path(__file__).resolve().parents[2]

# What the settings of the processes want (engine.runtime.suite_config with these env values) ...
WANTED_FEE_BPS, WANTED_MIN_COLLATERAL = 250, 7 * 10**6
WANTED_TREASURY = to_checksum_address("0x" + "7e" * 20)
# ... and what the suite was deployed with (every one of them different).
DEPLOYED = SuiteConfig(fee_bps=400, min_collateral=3 * 10**6, treasury=to_checksum_address("0x" + "3d" * 20))

EVENTS = {
    "ConfigSet": "ConfigSet((uint96,uint32,uint32,uint32,uint8))",
    "FeeParamsSet": "FeeParamsSet(uint256,uint256,uint256)",
    "TreasurySet": "TreasurySet(address)",
    "RoleGranted": "RoleGranted(bytes32,address,address)",
}

PROCESS = r"""
import asyncio, json, os, sys, time
from pathlib import Path
from sqlalchemy import select
from engine.outbox.models import OutboxTx
from engine.runtime import start_runtime
from engine.settings import load_settings

async def main() -> None:
    me, barrier = sys.argv[1], Path(sys.argv[2])
    (barrier / f"ready-{me}").touch()
    while not (barrier / "go").exists():
        await asyncio.sleep(0.005)
    runtime = await start_runtime(load_settings(), spawn_dev_chain=False)
    stop = asyncio.Event()
    sender = asyncio.create_task(runtime.sender.run_forever(stop))
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            async with runtime.sessionmaker() as s:
                rows = (await s.scalars(select(OutboxTx).where(OutboxTx.kind.startswith("admin.")))).all()
            if rows and all(r.status.is_final for r in rows):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await sender
        await runtime.close()
    print(json.dumps({"admin_rows": len(rows)}), flush=True)

asyncio.run(main())
"""


def topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


async def count_events(conn: ChainConnection, address: str, name: str, from_block: int) -> int:
    logs = await jsonrpc.call_ok(
        conn,
        "eth_getLogs",
        [
            {
                "address": address,
                "fromBlock": hex(from_block),
                "toBlock": "latest",
                "topics": [topic(EVENTS[name])],
            }
        ],
    )
    return len(logs)


@pytest.fixture
async def world(fresh_anvil: Anvil, pg_cluster: PgCluster, tmp_path: Path):
    """A suite deployed with :data:`DEPLOYED` and the signer's TOPUP_ROLE revoked; a migrated database."""
    conn = await connect(fresh_anvil.url)
    signer = LocalSigner(ANVIL_DEV_KEY)
    manifest_dir = tmp_path / "data" / "manifests"
    manifest = await deploy_suite(conn, signer, manifest_dir=manifest_dir, config=DEPLOYED)
    escrow = EscrowClient(conn.w3, manifest.address("DeploymentEscrow"))
    await send_transaction(
        conn, signer, to=escrow.address, data=escrow.encode("revokeRole", TOPUP_ROLE, signer.address)
    )
    url = pg_cluster.createdb(f"admin_{secrets.token_hex(4)}")
    await db.upgrade(url)
    try:
        yield conn, signer, manifest, url, tmp_path
    finally:
        await conn.close()


def service_env(chain_url: str, db_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDMARKET_")}
    env.update(
        CLOUDMARKET_CHAIN_URL=chain_url,
        CLOUDMARKET_DATABASE_URL=db_url,
        CLOUDMARKET_DATA_DIR=str(data_dir),
        CLOUDMARKET_SIGNER_KEY=ANVIL_DEV_KEY,
        CLOUDMARKET_CONFIRMATIONS="1",
        CLOUDMARKET_TX_POLL_INTERVAL="0.05",
        CLOUDMARKET_PLATFORM_FEE_BPS=str(WANTED_FEE_BPS),
        CLOUDMARKET_PROVIDER_MIN_COLLATERAL=str(WANTED_MIN_COLLATERAL),
        CLOUDMARKET_TREASURY_ADDRESS=WANTED_TREASURY,
    )
    return env


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_two_processes_starting_at_once_make_each_admin_change_once(world) -> None:
    conn, signer, manifest, db_url, tmp_path = world
    start_block = int(await jsonrpc.call_ok(conn, "eth_blockNumber"), 16) + 1
    start_nonce = int(await jsonrpc.call_ok(conn, "eth_getTransactionCount", [signer.address, "latest"]), 16)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = []
    for me in ("a", "b"):
        data_dir = tmp_path / f"data-{me}"  # each process its own data dir, with the same manifest
        shutil.copytree(tmp_path / "data", data_dir)
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                PROCESS,
                me,
                str(barrier),
                cwd=REPO,
                env=service_env(conn.url, db_url, data_dir),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        )
    # the barrier is files written by two other processes: there is no Event to wait on
    while not all((barrier / f"ready-{me}").exists() for me in ("a", "b")):  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    (barrier / "go").touch()
    outputs = [await asyncio.wait_for(p.communicate(), timeout=150) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-3000:]
        # 5 + QUOTE_SIGNER_ROLE for the dev quote key (the fixture's suite was deployed without it)
        assert json.loads(out.decode().strip().splitlines()[-1]) == {"admin_rows": 6}
        assert "used elsewhere" not in err.decode() and "ahead of outbox nonce" not in err.decode()

    engine = db.make_engine(db_url)
    try:
        async with db.make_sessionmaker(engine)() as s:
            rows = (await s.scalars(select(OutboxTx).order_by(OutboxTx.nonce))).all()
    finally:
        await engine.dispose()
    assert sorted(r.kind for r in rows) == [
        "admin.escrow.grantRole",
        "admin.escrow.grantRole",
        "admin.escrow.setFeeParams",
        "admin.escrow.setTreasury",
        "admin.registry.setConfig",
        "admin.registry.setTreasury",
    ]
    assert all(r.status is OutboxStatus.CONFIRMED and r.attempt_count == 1 for r in rows), rows
    assert [r.nonce for r in rows] == list(range(start_nonce, start_nonce + 6))
    end_nonce = int(await jsonrpc.call_ok(conn, "eth_getTransactionCount", [signer.address, "latest"]), 16)
    assert end_nonce == start_nonce + 6  # nothing sent outside the outbox
    quote_signer = quote_signer_address(Settings())
    assert await EscrowClient(conn.w3, manifest.address("DeploymentEscrow")).has_role(
        QUOTE_SIGNER_ROLE, quote_signer
    )

    registry, escrow = manifest.address("ProviderRegistry"), manifest.address("DeploymentEscrow")
    assert await count_events(conn, registry, "ConfigSet", start_block) == 1
    assert await count_events(conn, registry, "TreasurySet", start_block) == 1
    assert await count_events(conn, escrow, "TreasurySet", start_block) == 1
    assert await count_events(conn, escrow, "FeeParamsSet", start_block) == 1
    assert await count_events(conn, escrow, "RoleGranted", start_block) == 2
    escrow_client = EscrowClient(conn.w3, escrow)
    assert (await escrow_client.fee_params())[0] == WANTED_FEE_BPS
    assert await escrow_client.treasury() == WANTED_TREASURY
    assert (await RegistryClient(conn.w3, registry).config()).min_collateral == WANTED_MIN_COLLATERAL
    assert await escrow_client.has_role(TOPUP_ROLE, signer.address)
    # a third start with the chain now in line plans and enqueues nothing
    settings = load_settings(service_env(conn.url, db_url, tmp_path / "data"))
    wanted = SuiteConfig(
        min_collateral=WANTED_MIN_COLLATERAL, fee_bps=WANTED_FEE_BPS, treasury=WANTED_TREASURY
    )
    assert settings.platform_fee_bps == WANTED_FEE_BPS
    assert await plan_admin(conn, manifest, signer.address, wanted) == []
    assert await plan_admin(conn, manifest, signer.address, wanted, quote_signer=quote_signer) == []


async def drain(sender: OutboxSender, sm) -> None:
    for _ in range(200):
        await sender.run_once()
        async with sm() as s:
            rows = (await s.scalars(select(OutboxTx))).all()
        if all(r.status.is_final for r in rows):
            return
    raise AssertionError(f"outbox not drained: {rows}")


async def test_a_value_set_back_gets_a_new_key_and_a_failed_row_is_retried(world) -> None:
    """A -> B -> A: the second A is a new row (epoch 2), not swallowed by the first A's confirmed key."""
    conn, signer, manifest, db_url, _ = world
    engine = db.make_engine(db_url)
    sm = db.make_sessionmaker(engine)
    sender = OutboxSender(
        sm, conn, signer, confirmations=1, replace_after=3600, max_fee_cap=10**12, poll_interval=0.05
    )
    escrow = EscrowClient(conn.w3, manifest.address("DeploymentEscrow"))
    keys: list[str] = []
    try:
        for fee in (100, 200, 100):
            config = SuiteConfig(
                fee_bps=fee, min_collateral=DEPLOYED.min_collateral, treasury=DEPLOYED.treasury
            )
            # twice per value: the second enqueue is the same row (same key), not a second change
            first = await enqueue_admin_reconcile(sm, conn, manifest, signer.address, config)
            again = await enqueue_admin_reconcile(sm, conn, manifest, signer.address, config)
            fee_rows = [r for r in first if r.kind == "admin.escrow.setFeeParams"]
            assert [r.idempotency_key for r in fee_rows] == [
                r.idempotency_key for r in again if r.kind == "admin.escrow.setFeeParams"
            ]
            keys.append(fee_rows[0].idempotency_key)
            await drain(sender, sm)
            assert (await escrow.fee_params())[0] == fee
        assert len(set(keys)) == 3
        assert [k.split(":")[-2] for k in keys] == ["0", "1", "2"]  # epochs
        async with sm() as s:
            fee_rows_all = (
                await s.scalars(select(OutboxTx).where(OutboxTx.kind == "admin.escrow.setFeeParams"))
            ).all()
        assert len(fee_rows_all) == 3 and all(r.status is OutboxStatus.CONFIRMED for r in fee_rows_all)
    finally:
        await engine.dispose()
