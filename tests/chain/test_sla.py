"""SLA monitoring and enforcement (issue 13, engine.sla) on its own anvil, through the real prober, job,
outbox sender and indexer:

* a node silent for half a period: one breach record with its evidence; the provider's collateral is seized
  on chain by exactly the schedule's amount (with the evidence hash and the (lease, period) ref), the lease's
  balance on chain goes up by the rebate, both parties are notified; the job run again and two evaluations
  racing change nothing (one record, one seize, one credit); a second seize with the same ref reverts;
* silence inside a maintenance window announced on chain: no breach;
* the prober's failed TCP checks of a declared port count as downtime (heartbeats all fine).

Time: periods are 600 s of chain time placed after the chain's clock; the ticks of the prober are taken at
chosen chain times (``at``) and the node's heartbeats at chosen wall-clock times (the engine's own
``record_heartbeat``), so the test decides exactly which ticks are up.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from eth_typing import HexStr
from sqlalchemy import func, select

from chain.deploy import send_transaction
from chain.devchain import Anvil
from engine.notifications.models import Notification
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.outbox.services import enqueue
from engine.sla import commands as sla
from engine.sla import services as sv
from engine.sla.models import SlaRecord
from engine.workloads.heartbeats import LivenessPolicy, record_heartbeat
from tests.chain.deployments_support import HEARTBEAT, Market, market
from tests.chain.test_scaling_failover import in_service, managed_user, until

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(300)]

DEPLOY = "/api/cloud-user/deployments"
PERIOD = 600
TICK = 30
SPEC = {"command": ["sleep", "600"], "resources": {"cpu_millicores": 500, "memory_mb": 256, "disk_gb": 1}}


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    # its own anvil: seizures and SLA credits move collateral and balances no other module expects
    async with Anvil() as own_anvil, market(own_anvil, tmp_path_factory.mktemp("sla")) as mk:
        wallet, prov, nodes = await mk.onboard("dev|sla-provider", [{"name": "s1", "region": "eu-west"}])
        oper = mk.headers("cloud-operator", "dev|sla-operator")
        body = {"values": {"sla_period": PERIOD, "node_offline_after": 60}}
        await mk.call("PUT", "/api/cloud-operator/settings", oper, 200, json=body)
        yield {"mk": mk, "wallet": wallet, "provider": prov, "node": nodes[0], "operator": oper}


async def deploy(mk: Market, sub: str, spec: dict[str, Any]) -> tuple[dict[str, str], int, dict[str, Any]]:
    _, headers = await managed_user(mk, sub)
    created = await mk.call("POST", DEPLOY, headers, 201, json={"spec": spec, "deposit_per_replica": 10**8})
    dep_id = created["deployment"]["id"]
    (lease,) = in_service(await until(mk, dep_id, headers, "starting"))
    return headers, dep_id, lease


async def close(mk: Market, headers: dict[str, str], dep_id: int) -> None:
    await mk.call("POST", f"{DEPLOY}/{dep_id}/close", headers, 200)
    # one intermittent stall of over 60 s was seen here on a loaded 2-core machine (cause not found): 150 s
    await until(mk, dep_id, headers, "closed", seconds=150)


async def next_period(mk: Market) -> int:
    """A period that starts at least one period after the chain's clock (room for maintenance notice)."""
    return sv.period_of(await mk.now(), PERIOD) + 2 * PERIOD


async def tick(mk: Market, node_id: int, at: int, wall: datetime, *, beat: bool) -> None:
    if beat:
        async with mk.runtime.sessionmaker() as s, s.begin():
            await record_heartbeat(s, node_id, HEARTBEAT, now=wall, policy=LivenessPolicy())
    await sla.probe_round(mk.runtime.context, at=at, wall_now=wall)


_WALL: list[datetime] = []  # where the last simulated period ended (wall clock), see wall_start


def wall_start(mk: Market) -> datetime:
    """Wall-clock start of a simulated period: after every heartbeat an earlier test simulated (the module's
    tests share a node, and a heartbeat stamped later than the next test's ticks would make it look alive)."""
    wall = max([mk.runtime.context.clock(), *(w + timedelta(hours=1) for w in _WALL)])
    _WALL.append(wall + timedelta(seconds=PERIOD))
    return wall


async def run_period(mk: Market, node_id: int, start: int, beating: Any) -> None:
    wall = wall_start(mk)
    for i in range(PERIOD // TICK):
        await tick(mk, node_id, start + i * TICK, wall + timedelta(seconds=i * TICK), beat=beating(i))


async def records(mk: Market, lease_id: str) -> list[SlaRecord]:
    async with mk.runtime.sessionmaker() as s:
        rows = await s.scalars(select(SlaRecord).where(SlaRecord.chain_lease_id == lease_id))
        return list(rows.all())


async def outbox(mk: Market, prefix: str) -> list[OutboxTx]:
    async with mk.runtime.sessionmaker() as s:
        rows = await s.scalars(select(OutboxTx).where(OutboxTx.idempotency_key.startswith(prefix)))
        return list(rows.all())


async def drive(mk: Market, at: int, record_id: int, want: str) -> SlaRecord:
    """Job runs and outbox passes until the record reaches ``want``."""
    seen = []
    for _ in range(12):
        await sla.evaluate_sla(mk.runtime.context, at=at)
        async with mk.runtime.sessionmaker() as s:
            rec = await s.get(SlaRecord, record_id)
        assert rec is not None
        if rec.status == want:
            return rec
        seen.append(rec.status)
        await mk.sync()
    raise AssertionError(seen)


async def test_a_silent_node_breaches_seizes_the_schedule_amount_and_credits_the_lease_once(
    world: dict[str, Any],
) -> None:
    mk: Market = world["mk"]
    ctx = mk.runtime.context
    registry = ctx.contracts.require_registry()
    headers, dep_id, lease = await deploy(mk, "dev|sla-tenant", SPEC)
    lease_id = lease["lease_id"]
    provider = world["wallet"].address
    start = await next_period(mk)

    # heartbeats for the first 10 ticks, then silence: ticks 0..11 are up (the last beat is <= 60 s old)
    await run_period(mk, lease["node_id"], start, lambda i: i < 10)
    end = start + PERIOD

    # not closed yet: nothing is judged
    assert (await sla.evaluate_sla(ctx, at=end - 1)).breaches == ()
    # the job twice in a row and two evaluations racing: one record, one seize row
    first = await sla.evaluate_sla(ctx, at=end + 1)
    await sla.evaluate_sla(ctx, at=end + 1)
    await asyncio.gather(sla.evaluate_sla(ctx, at=end + 2), sla.evaluate_sla(ctx, at=end + 2))
    (rec,) = await records(mk, lease_id)
    assert first.breaches == (rec.id,)
    on_chain = await mk.escrow.lease(int(lease_id))
    rate = on_chain.rate_per_second
    assert (rec.uptime_bps, rec.credit_bps) == (12 * TICK * 10_000 // PERIOD, 5_000)
    assert rec.charge == rate * PERIOD and rec.rebate == rec.charge * 5_000 // 10_000 == rec.seized > 0
    assert rec.evidence["seconds"] == {"up": 360, "down": 240, "excluded": 0}
    assert rec.evidence_hash == "0x" + sv.evidence_hash(rec.evidence).hex()
    assert rec.ref == "0x" + sv.seize_ref(ctx.chain_id, mk.escrow.address, int(lease_id), start).hex()
    prefix = f"sla:{ctx.chain_id}:"
    assert [r.idempotency_key for r in await outbox(mk, prefix + "seize:")] == [rec.seize_key]

    # both parties notified, once
    async with mk.runtime.sessionmaker() as s:
        kinds = (
            await s.execute(
                select(Notification.kind, func.count())
                .where(Notification.dedupe_key == f"sla_breach:{lease_id}:{start}")
                .group_by(Notification.kind)
            )
        ).all()
    assert sorted(kinds) == [("sla_breach", 1), ("sla_credit", 1)]

    # the seizure on chain: exactly the schedule's amount, with the evidence hash and the ref
    collateral = (await registry.provider_info(provider)).collateral
    balance = (await mk.escrow.lease(int(lease_id))).balance
    await mk.sync()
    (seize,) = await outbox(mk, prefix + "seize:")
    assert seize.status is OutboxStatus.CONFIRMED, seize.last_error
    assert (await registry.provider_info(provider)).collateral == collateral - rec.seized
    assert seize.tx_hash is not None
    receipt = await ctx.chain.w3.eth.get_transaction_receipt(HexStr(seize.tx_hash))
    topic = "0x" + ("00" * 12) + provider[2:].lower()
    (seized_log,) = [lg for lg in receipt["logs"] if lg["topics"][1].hex().removeprefix("0x") == topic[2:]]
    assert "0x" + seized_log["topics"][2].hex().removeprefix("0x") == rec.ref
    assert await registry.call("seizeRefUsed", bytes.fromhex(rec.ref[2:])) == (True,)

    # the credit: approve once, then topUp(lease, rebate); the lease's balance goes up by the rebate
    credited = await drive(mk, end + 3, rec.id, "credited")
    (credit,) = await outbox(mk, prefix + "credit:")
    assert credit.status is OutboxStatus.CONFIRMED and credited.credit_key == credit.idempotency_key
    after = (await mk.escrow.lease(int(lease_id))).balance
    # no settlement ran in between (only the sender and the indexer), so the balance moved by the rebate only
    assert after == balance + rec.rebate
    print(
        f"\nSLA flow: lease {lease_id} period [{start},{end}) uptime {rec.uptime_bps} bps, credit "
        f"{rec.credit_bps} bps of charge {rec.charge}; seize tx {seize.tx_hash} amount {rec.seized} "
        f"(collateral {collateral} -> {collateral - rec.seized}); credit tx {credit.tx_hash} amount "
        f"{rec.rebate} (lease balance {balance} -> {after}); evidence {rec.evidence_hash}"
    )
    async with mk.runtime.sessionmaker() as s:
        paid = await s.scalar(
            select(func.count()).where(Notification.dedupe_key == f"sla_credit_paid:{lease_id}:{start}")
        )
    assert paid == 1

    # more runs: nothing new; a second seize with the same ref (another key) reverts on chain
    await sla.evaluate_sla(ctx, at=end + 4)
    await mk.sync()
    assert len(await records(mk, lease_id)) == 1
    assert len(await outbox(mk, prefix + "seize:")) == 1 and len(await outbox(mk, prefix + "credit:")) == 1
    key = f"test.sla-double:{rec.ref}"
    async with mk.runtime.sessionmaker() as s, s.begin():
        data = registry.encode_seize(provider, rec.seized, bytes.fromhex(rec.ref[2:]), b"\x01" * 32)
        await enqueue(s, kind="test.seize", to=registry.address, data=data, idempotency_key=key, args={})
    await mk.sync(3)
    (again,) = await outbox(mk, key)
    assert again.status is OutboxStatus.FAILED and "RefAlreadyUsed" in (again.last_error or ""), (
        again.last_error
    )
    assert (await registry.provider_info(provider)).collateral == collateral - rec.seized
    print(f"second seize with the same ref: {again.last_error}")

    # the views: the tenant's own deployment, the provider's nodes, the operator's overview
    view = await mk.call("GET", f"{DEPLOY}/{dep_id}/sla", headers, 200)
    assert [r["id"] for r in view["records"]] == [rec.id] and view["records"][0]["status"] == "credited"
    other = mk.headers("cloud-user", "dev|sla-other")
    await mk.call("GET", f"{DEPLOY}/{dep_id}/sla", other, 404)
    mine = await mk.call("GET", "/api/cloud-provider/sla", world["provider"], 200)
    assert [r["id"] for r in mine["records"]] == [rec.id]
    stranger = await mk.call(
        "GET", "/api/cloud-provider/sla", mk.headers("cloud-provider", "dev|sla-p2"), 200
    )
    assert stranger["records"] == [] and stranger["nodes"] == []
    overview = await mk.call("GET", "/api/cloud-operator/sla", world["operator"], 200)
    assert overview["totals"]["records_credited"] >= 1 and overview["totals"]["seized"] >= rec.seized
    await close(mk, headers, dep_id)


async def test_silence_inside_an_announced_maintenance_window_is_no_breach(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    ctx = mk.runtime.context
    registry = ctx.contracts.require_registry()
    headers, dep_id, lease = await deploy(mk, "dev|sla-maint", SPEC)
    start = await next_period(mk)
    # announced on chain (the registry enforces the notice): [start + 120, start + 480)
    await send_transaction(
        ctx.chain,
        world["wallet"],
        to=registry.address,
        data=registry.encode_schedule_maintenance(lease["chain_node_id"], start + 120, start + 480),
    )
    await mk.sync()
    # silent from tick 4 (start + 120) to tick 15 (start + 450), beating again from tick 16 (start + 480)
    await run_period(mk, lease["node_id"], start, lambda i: i < 4 or i >= 16)
    got = await sla.evaluate_sla(ctx, at=start + PERIOD + 1)
    assert got.breaches == () and await records(mk, lease["lease_id"]) == []
    view = await mk.call("GET", f"{DEPLOY}/{dep_id}/sla", headers, 200)
    assert view["records"] == []
    await close(mk, headers, dep_id)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_failed_port_checks_of_the_prober_count_as_downtime(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    ctx = mk.runtime.context
    port = free_port()
    served = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
    headers, dep_id, lease = await deploy(mk, "dev|sla-probe", {**SPEC, "ports": [port]})
    node = world["node"]
    await sla.set_probe_endpoint(ctx, await mk.user_id(world["provider"]), node["id"], "127.0.0.1")
    start = await next_period(mk)
    wall = wall_start(mk)
    for i in range(PERIOD // TICK):
        if i == 10:  # the workload's port stops answering; the node keeps beating
            served.close()
            await served.wait_closed()
        await tick(mk, lease["node_id"], start + i * TICK, wall + timedelta(seconds=i * TICK), beat=True)
    got = await sla.evaluate_sla(ctx, at=start + PERIOD + 1)
    (rec,) = await records(mk, lease["lease_id"])
    assert got.breaches == (rec.id,)
    assert rec.uptime_bps == 5_000 and rec.credit_bps == 5_000
    assert rec.evidence["failures"] == {f"probe:tcp:{port}": 10}
    await close(mk, headers, dep_id)


async def test_a_rebate_for_a_lease_that_has_ended_is_paid_to_the_payers_wallet(
    world: dict[str, Any],
) -> None:
    mk: Market = world["mk"]
    ctx = mk.runtime.context
    payer, _ = await managed_user(mk, "dev|sla-ended")
    headers = mk.headers("cloud-user", "dev|sla-ended")
    created = await mk.call("POST", DEPLOY, headers, 201, json={"spec": SPEC, "deposit_per_replica": 10**8})
    dep_id = created["deployment"]["id"]
    (lease,) = in_service(await until(mk, dep_id, headers, "starting"))
    start = await next_period(mk)
    await run_period(mk, lease["node_id"], start, lambda i: False)  # silent all period: uptime 0
    await close(mk, headers, dep_id)  # the lease ends before the credit: topUp reverts (LeaseNotOpen)
    got = await sla.evaluate_sla(ctx, at=start + PERIOD + 1)
    (rec,) = await records(mk, lease["lease_id"])
    assert got.breaches == (rec.id,) and rec.uptime_bps == 0 and rec.credit_bps == 5_000
    before = await mk.token.balance_of(payer)
    paid = await drive(mk, start + PERIOD + 2, rec.id, "paid")
    assert await mk.token.balance_of(payer) == before + rec.rebate > before
    (credit,) = await outbox(mk, paid.credit_key or "")
    assert credit.status is OutboxStatus.FAILED and "LeaseNotOpen" in (credit.last_error or "")
    (pay,) = await outbox(mk, paid.pay_key or "")
    print(
        f"\nended lease {lease['lease_id']}: credit refused ({credit.last_error}); paid {rec.rebate} to "
        f"{payer} in tx {pay.tx_hash}"
    )
