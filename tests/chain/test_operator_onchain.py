"""Operator settings reach the chain, on anvil through the HTTP API: a settings PUT that changes a contract
limit enqueues ``registry.setConfig`` / ``escrow.setFeeParams`` in its transaction, the outbox (backend
signer, admin role) applies it; a PUT that changes nothing on chain enqueues nothing; and maintenance is
checked against the stricter of the database and the chain while a change is still on its way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from chain.contracts import RegistryClient
from chain.devchain import Anvil
from engine.operator.onchain import SET_CONFIG, SET_FEE_PARAMS, sync_key
from engine.outbox.models import OutboxTx
from engine.runtime import suite_config
from tests.chain.deployments_support import NOTICE, Market, deliver_outbox, market, sign_and_send

SETTINGS = "/api/cloud-operator/settings"


@pytest.fixture(scope="module")
async def world(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    async with market(anvil, tmp_path_factory.mktemp("operator-onchain")) as mk:
        wallet, prov, (node,) = await mk.onboard("dev|opchain-p", [{"name": "n", "region": "eu-west"}])
        registry = RegistryClient(mk.runtime.chain.w3, mk.runtime.manifest.address("ProviderRegistry"))
        oper = mk.headers("cloud-operator", "dev|opchain-operator")
        yield {"mk": mk, "wallet": wallet, "prov": prov, "node": node, "registry": registry, "oper": oper}


async def sync_rows(mk: Market) -> int:
    async with mk.runtime.sessionmaker() as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(OutboxTx)
                .where(OutboxTx.kind.in_([SET_CONFIG, SET_FEE_PARAMS]))
            )
            or 0
        )


async def put(mk: Market, oper: dict[str, str], values: dict[str, Any], status: int = 200) -> Any:
    return await mk.call("PUT", SETTINGS, oper, status, json={"values": values})


async def test_settings_put_reaches_the_chain_and_noops_enqueue_nothing(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    registry: RegistryClient = world["registry"]
    oper = world["oper"]
    suite = suite_config(mk.runtime.settings)
    assert (await registry.config()) == suite.registry_config()
    rows = await sync_rows(mk)

    # not a contract limit: a new version, nothing for the chain
    v = await put(mk, oper, {"max_replicas": 7, "regions": ["eu-west", "us-east"]})
    assert v["values"]["max_replicas"] == 7
    assert await sync_rows(mk) == rows

    # a new notice and window count: one setConfig, keyed by the new version, applied by the outbox
    v = await put(mk, oper, {"maintenance_min_notice_s": 900, "maintenance_max_windows_per_month": 6})
    assert await sync_rows(mk) == rows + 1
    await deliver_outbox(mk.runtime, sync_key(v["version"], SET_CONFIG))
    cfg = await registry.config()
    assert cfg.min_notice == 900 and cfg.max_windows_per_month == 6
    assert cfg.min_collateral == suite.min_collateral and cfg.exit_cooldown == suite.exit_cooldown
    assert cfg.max_window_length == suite.max_window_length

    # the same values again: no new version, nothing enqueued
    again = await put(mk, oper, {"maintenance_min_notice_s": 900})
    assert again["version"] == v["version"] and await sync_rows(mk) == rows + 1

    # the fee goes to the escrow (keeper share and tip kept from the suite config)
    fee_before = await mk.escrow.fee_params()
    v = await put(mk, oper, {"platform_fee_bps": fee_before[0] + 100})
    assert await sync_rows(mk) == rows + 2  # setFeeParams only: no registry field changed
    await deliver_outbox(mk.runtime, sync_key(v["version"], SET_FEE_PARAMS))
    assert await mk.escrow.fee_params() == (fee_before[0] + 100, suite.keeper_share_bps, suite.max_tip)

    # above DeploymentEscrow.MAX_FEE_BPS the chain would revert: refused up front, nothing enqueued
    await put(mk, oper, {"platform_fee_bps": 2_001}, status=400)
    assert await sync_rows(mk) == rows + 2


async def test_maintenance_checked_against_the_stricter_of_db_and_chain(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    registry: RegistryClient = world["registry"]
    oper, prov, node = world["oper"], world["prov"], world["node"]
    strict, loose = 1_800, NOTICE
    v = await put(mk, oper, {"maintenance_min_notice_s": strict})
    await deliver_outbox(mk.runtime, sync_key(v["version"], SET_CONFIG))
    assert (await registry.config()).min_notice == strict

    # loosen in the database; the setConfig is enqueued but not yet mined: the chain still wants `strict`
    v = await put(mk, oper, {"maintenance_min_notice_s": loose})
    assert v["values"]["maintenance_min_notice_s"] == loose
    now = await mk.now()
    window = {"node_id": node["id"], "start": now + strict // 2, "end": now + strict // 2 + 600}
    refused = await mk.call("POST", "/api/cloud-provider/maintenance", prov, 400, json=window)
    assert refused["error"]["code"] == "maintenance_notice"
    assert refused["error"]["details"]["earliest"] == now + strict

    # once the chain has the looser value, the same window is handed out
    await deliver_outbox(mk.runtime, sync_key(v["version"], SET_CONFIG))
    assert (await registry.config()).min_notice == loose
    ok = await mk.call("POST", "/api/cloud-provider/maintenance", prov, 200, json=window)
    await sign_and_send(mk.runtime, world["wallet"], ok["transactions"])  # and the chain takes it


async def test_restart_keeps_the_operators_settings_on_chain(fresh_anvil, tmp_path) -> None:
    """A restart reconciles the contracts to the operator's newest settings, not back to the environment."""
    from chain.contracts import EscrowClient, RegistryClient
    from engine.operator import services as operator
    from engine.runtime import start_runtime
    from engine.settings import Settings

    settings = Settings(
        data_dir=tmp_path,
        chain_url=fresh_anvil.url,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cm.db'}",
        scheduler_enabled=False,
    )
    first = await start_runtime(settings, spawn_dev_chain=False)
    try:
        registry = RegistryClient(first.chain.w3, first.manifest.address("ProviderRegistry"))
        assert (await registry.config()).min_notice == settings.maintenance_min_notice
        async with first.sessionmaker() as session, session.begin():
            # stored without its chain sync, as if the process died before the outbox delivered it
            await operator.update(
                session,
                operator.SETTINGS,
                {"maintenance_min_notice_s": 7_200, "platform_fee_bps": 750},
                actor_user_id=None,
                overrides=operator.overrides_from_settings(settings)[operator.SETTINGS],
            )
    finally:
        await first.close()
    second = await start_runtime(settings, spawn_dev_chain=False)
    try:
        assert second.manifest.address("ProviderRegistry") == registry.address  # reused, not redeployed
        registry = RegistryClient(second.chain.w3, registry.address)
        escrow = EscrowClient(second.chain.w3, second.manifest.address("DeploymentEscrow"))
        assert (await registry.config()).min_notice == 7_200
        assert (await escrow.fee_params())[0] == 750
    finally:
        await second.close()
