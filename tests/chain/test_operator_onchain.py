"""Operator settings reach the chain, on anvil through the HTTP API: a settings PUT that changes a contract
limit enqueues ``registry.setConfig`` / ``escrow.setFeeParams`` in its transaction, the outbox (backend
signer, admin role) applies it; a PUT that changes nothing on chain enqueues nothing; and maintenance is
checked against the stricter of the database and the chain while a change is still on its way.

Every operator setting changes behaviour; which test proves it:

* ``platform_fee_bps`` (``setFeeParams``), ``maintenance_min_notice`` and
  ``maintenance_max_windows_per_month`` (``setConfig``) through the outbox:
  :func:`test_settings_put_reaches_the_chain_and_noops_enqueue_nothing`; ``maintenance_min_notice`` binds
  the API too: :func:`test_maintenance_checked_against_the_stricter_of_db_and_chain`.
* ``provider_min_collateral``, ``maintenance_max_window`` (chain and API):
  :func:`test_collateral_and_window_length_bind_chain_and_api`.
* ``max_nodes_per_provider``: :func:`test_max_nodes_per_provider_refuses_the_next_node`.
* ``regions``: :func:`test_regions_refuse_an_unknown_region`.
* ``max_replicas``: :func:`test_max_replicas_refuses_a_spec`.
* ``node_offline_after``: ``tests/unit/engine/operator/test_liveness_setting.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from chain.contracts import RegistryClient
from chain.devchain import Anvil
from engine.identity.services import link_wallet
from engine.operator.onchain import SET_CONFIG, SET_FEE_PARAMS, sync_key
from engine.outbox.models import OutboxTx
from engine.runtime import suite_config
from tests.chain.deployments_support import NOTICE, Market, deliver_outbox, market, sign_and_send

SETTINGS = "/api/cloud-operator/settings"
REGISTER = "/api/cloud-provider/register"
NODES = "/api/cloud-provider/nodes"
MAINTENANCE = "/api/cloud-provider/maintenance"
DEPLOY = "/api/cloud-user/deployments"


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
    v = await put(mk, oper, {"maintenance_min_notice": 900, "maintenance_max_windows_per_month": 6})
    assert await sync_rows(mk) == rows + 1
    await deliver_outbox(mk.runtime, sync_key(v["version"], SET_CONFIG))
    cfg = await registry.config()
    assert cfg.min_notice == 900 and cfg.max_windows_per_month == 6
    assert cfg.min_collateral == suite.min_collateral and cfg.exit_cooldown == suite.exit_cooldown
    assert cfg.max_window_length == suite.max_window_length

    # the same values again: no new version, nothing enqueued
    again = await put(mk, oper, {"maintenance_min_notice": 900})
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
    v = await put(mk, oper, {"maintenance_min_notice": strict})
    await deliver_outbox(mk.runtime, sync_key(v["version"], SET_CONFIG))
    assert (await registry.config()).min_notice == strict

    # loosen in the database; the setConfig is enqueued but not yet mined: the chain still wants `strict`
    v = await put(mk, oper, {"maintenance_min_notice": loose})
    assert v["values"]["maintenance_min_notice"] == loose
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
                {"maintenance_min_notice": 7_200, "platform_fee_bps": 750},
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
        # start-up reconciliation goes through the outbox (engine.outbox.admin): let the sender run
        for _ in range(20):
            await second.sender.run_once()
            if (await registry.config()).min_notice == 7_200 and (await escrow.fee_params())[0] == 750:
                break
        assert (await registry.config()).min_notice == 7_200
        assert (await escrow.fee_params())[0] == 750
    finally:
        await second.close()


async def _restore(mk: Market, oper: dict[str, str], values: dict[str, Any]) -> None:
    v = await put(mk, oper, values)
    for kind in (SET_CONFIG, SET_FEE_PARAMS):
        key = sync_key(v["version"], kind)
        async with mk.runtime.sessionmaker() as s:
            queued = await s.scalar(select(OutboxTx.id).where(OutboxTx.idempotency_key == key))
        if queued is not None:
            await deliver_outbox(mk.runtime, key)


async def test_collateral_and_window_length_bind_chain_and_api(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    registry: RegistryClient = world["registry"]
    oper, prov, node = world["oper"], world["prov"], world["node"]
    before = (await mk.call("GET", SETTINGS, oper, 200))["values"]
    minimum, longest = 300 * 10**6, 1_200
    v = await put(mk, oper, {"provider_min_collateral": minimum, "maintenance_max_window": longest})
    await deliver_outbox(mk.runtime, sync_key(v["version"], SET_CONFIG))
    cfg = await registry.config()
    assert (cfg.min_collateral, cfg.max_window_length) == (minimum, longest)

    # the API refuses what the operator's values refuse (both were allowed by the environment's)
    newcomer = mk.headers("cloud-provider", "dev|opchain-newcomer")
    wallet = await mk.funded_wallet(10**9)
    async with mk.runtime.sessionmaker() as s:
        await link_wallet(s, await mk.user_id(newcomer), wallet.address)
    body = {"wallet": wallet.address, "company": "N", "contact_name": "N", "contact_email": "n@n.io"}
    low = await mk.call("POST", REGISTER, newcomer, 400, json=body | {"collateral": minimum - 1})
    assert low["error"]["code"] == "collateral_too_low"
    assert low["error"]["details"] == {"collateral": minimum - 1, "minimum": minimum}
    await mk.call("POST", REGISTER, newcomer, 201, json=body | {"collateral": minimum})

    start = await mk.now() + 2 * NOTICE
    long = {"node_id": node["id"], "start": start, "end": start + longest + 1}
    refused = await mk.call("POST", MAINTENANCE, prov, 400, json=long)
    assert refused["error"]["code"] == "maintenance_too_long"
    assert refused["error"]["details"] == {"limit": longest}
    await _restore(
        mk,
        oper,
        {k: before[k] for k in ("provider_min_collateral", "maintenance_max_window")},
    )


async def test_max_nodes_per_provider_refuses_the_next_node(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    oper, prov = world["oper"], world["prov"]
    before = (await mk.call("GET", SETTINGS, oper, 200))["values"]["max_nodes_per_provider"]
    owned = len((await mk.call("GET", NODES, prov, 200))["nodes"])
    await put(mk, oper, {"max_nodes_per_provider": owned + 1})
    await mk.call("POST", NODES, prov, 201, json={"name": "last one"})
    refused = await mk.call("POST", NODES, prov, 409, json={"name": "one too many"})
    assert refused["error"]["code"] == "too_many_nodes"
    assert refused["error"]["details"] == {"limit": owned + 1}
    await put(mk, oper, {"max_nodes_per_provider": before})
    await mk.call("POST", NODES, prov, 201, json={"name": "allowed again"})


async def test_regions_refuse_an_unknown_region(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    oper, prov = world["oper"], world["prov"]
    before = (await mk.call("GET", SETTINGS, oper, 200))["values"]["regions"]
    dropped = next(r for r in before if r != "eu-west")
    await mk.call("POST", NODES, prov, 201, json={"name": "r1", "region": dropped})
    await put(mk, oper, {"regions": ["eu-west", "mars-1"]})
    refused = await mk.call("POST", NODES, prov, 400, json={"name": "r2", "region": dropped})
    assert refused["error"]["code"] == "unknown_region"
    await mk.call("POST", NODES, prov, 201, json={"name": "r3", "region": "mars-1"})
    await put(mk, oper, {"regions": before})


async def test_max_replicas_refuses_a_spec(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    oper = world["oper"]
    before = (await mk.call("GET", SETTINGS, oper, 200))["values"]["max_replicas"]
    user = mk.headers("cloud-user", "dev|opchain-replicas")
    async with mk.runtime.sessionmaker() as s:
        await link_wallet(s, await mk.user_id(user), (await mk.funded_wallet(0)).address)
    spec = {
        "image": "nginx:1.27",
        "resources": {"cpu_millicores": 1000, "memory_mb": 1024, "disk_gb": 10},
        "regions": ["eu-west"],
        "replicas": 2,
    }
    await put(mk, oper, {"max_replicas": 1})
    refused = await mk.call("POST", DEPLOY, user, 400, json={"spec": spec, "duration_seconds": 60})
    assert refused["error"]["code"] == "invalid_spec"
    assert [e["path"] for e in refused["error"]["details"]["errors"]] == ["/spec/replicas"]
    await put(mk, oper, {"max_replicas": before})
    allowed = await mk.client.post(DEPLOY, headers=user, json={"spec": spec, "duration_seconds": 60})
    assert allowed.status != 400 or (await allowed.json())["error"]["code"] != "invalid_spec"
