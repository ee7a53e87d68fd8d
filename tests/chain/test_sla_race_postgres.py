"""SLA exactly-once on PostgreSQL (issue 13): two evaluations of the same breached (lease, period), each in
its own engine (its own connections, as two processes would have), released at the same instant into the
record insert, make ONE record, ONE seizure and ONE credit.

How the race is forced rather than hoped for: a third connection holds ``LOCK TABLE sla_records IN SHARE
MODE`` (reads pass, inserts wait); both evaluations read, judge and block on their insert; once PostgreSQL
shows both inserts waiting on that lock, it is released and both inserts run against each other. The unique
(lease, period) key and ``ON CONFLICT DO NOTHING`` leave one row; the loser enqueues and notifies nothing.
The rest of the breach (seize, approve, top-up) is driven by the job and the outbox on anvil; the SQLite
twin of this race is in ``tests/chain/test_sla.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from chain.devchain import Anvil
from engine import db
from engine.context import Context
from engine.sla import commands as sla
from tests.chain.deployments_support import Market, market
from tests.chain.test_sla import PERIOD, SPEC, close, deploy, drive, next_period, outbox, records, run_period
from tests.support.postgres import PgCluster

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
async def pg_market(
    anvil: Anvil, pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Market, str, dict[str, Any]]]:
    url = pg_cluster.createdb("sla_race")
    async with market(anvil, tmp_path_factory.mktemp("sla-pg"), database_url=url) as mk:
        _wallet, _prov, nodes = await mk.onboard(
            "dev|sla-pg-provider", [{"name": "pg1", "region": "eu-west"}]
        )
        oper = mk.headers("cloud-operator", "dev|sla-pg-operator")
        body = {"values": {"sla_period": PERIOD, "node_offline_after": 60}}
        await mk.call("PUT", "/api/cloud-operator/settings", oper, 200, json=body)
        yield mk, url, {"wallet": _wallet, "node": nodes[0]}


def count_inserts(engine: AsyncEngine, seen: list[str]) -> None:
    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO SLA_RECORDS"):
            seen.append(statement)


async def test_two_evaluations_racing_on_postgresql_make_one_record_one_seizure_one_credit(
    pg_market: tuple[Market, str, dict[str, Any]],
) -> None:
    mk, url, world = pg_market
    ctx = mk.runtime.context
    registry = ctx.contracts.require_registry()
    assert (mk.runtime.settings.database_url or "").startswith("postgresql")
    headers, dep_id, lease = await deploy(mk, "dev|sla-pg-tenant", SPEC)
    lease_id = lease["lease_id"]
    start = await next_period(mk)
    await run_period(mk, lease["node_id"], start, lambda i: i < 10)  # silent after tick 9: a breach
    end = start + PERIOD

    # two "processes": each its own engine (own connection pool) over the same database
    engines = [db.make_engine(url), db.make_engine(url)]
    inserts: list[str] = []
    for e in engines:
        count_inserts(e, inserts)
    contexts: list[Context] = [
        dataclasses.replace(ctx, sessionmaker=async_sessionmaker(e, expire_on_commit=False)) for e in engines
    ]
    provider = world["wallet"].address
    collateral = (await registry.provider_info(provider)).collateral
    balance = (await mk.escrow.lease(int(lease_id))).balance
    try:
        async with engines[0].connect() as gate, engines[0].connect() as watch:
            held = await gate.begin()
            await gate.execute(text("LOCK TABLE sla_records IN SHARE MODE"))  # reads pass, inserts wait
            racing = [asyncio.create_task(sla.evaluate_sla(c, at=end + 1)) for c in contexts]
            waiting = 0
            async with asyncio.timeout(60):
                while waiting < 2:
                    await asyncio.sleep(0.05)
                    waiting = int(
                        (
                            await watch.execute(
                                text(
                                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                                    "WHERE c.relname = 'sla_records' AND NOT l.granted"
                                )
                            )
                        ).scalar_one()
                    )
                    await watch.commit()
                    assert not any(t.done() for t in racing), [t.result() for t in racing if t.done()]
            await held.commit()  # both inserts run now, against each other
            results = await asyncio.gather(*racing)
    finally:
        for e in engines:
            await e.dispose()

    (rec,) = await records(mk, lease_id)
    assert len(inserts) == 2  # both evaluations really inserted...
    assert sorted(r.breaches for r in results) == [(), (rec.id,)]  # ...and exactly one row won
    prefix = f"sla:{ctx.chain_id}:"
    assert [r.idempotency_key for r in await outbox(mk, prefix + "seize:")] == [rec.seize_key]
    assert rec.rebate > 0 and rec.seized == rec.rebate

    # the job and the outbox finish the breach: one seizure, one credit, on chain
    await drive(mk, end + 2, rec.id, "credited")
    await asyncio.gather(sla.evaluate_sla(ctx, at=end + 3), sla.evaluate_sla(ctx, at=end + 3))
    await mk.sync()
    assert len(await records(mk, lease_id)) == 1
    (seize,) = await outbox(mk, prefix + "seize:")
    (credit,) = await outbox(mk, prefix + "credit:")
    assert seize.status.value == "confirmed" and credit.status.value == "confirmed"
    assert (await registry.provider_info(provider)).collateral == collateral - rec.seized
    assert (await mk.escrow.lease(int(lease_id))).balance == balance + rec.rebate
    await close(mk, headers, dep_id)
