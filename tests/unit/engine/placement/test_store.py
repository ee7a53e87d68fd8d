"""engine.placement.store on both backends: placing from the SQL short list equals placing over every node
(the reference path), and no statement carries a parameter per node (PostgreSQL caps a statement at
32,767 parameters: the old candidate load failed above that many nodes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from engine.deployments.spec import BackupConfig, DeploymentSpec, GpuRequest, Resources
from engine.placement import NoNodeFits, PricingPolicy, UnitPrices, place
from engine.placement.store import Clock, live_candidates, place_live
from engine.workloads.heartbeats import LivenessPolicy
from tests.support.placement_seed import seed_nodes

WALL = datetime(2026, 12, 6, 12, 0, 30, tzinfo=UTC)
NOW = 1_800_000_000
CLOCK = Clock(NOW, WALL, 3_600, LivenessPolicy())
POLICY = PricingPolicy(
    UnitPrices(8_000, 4_000, 50_000, 300_000_000), certified_premium_bps=1_000, platform_fee_bps=500
)
SPECS = {
    "broad": DeploymentSpec(Resources(1_000, 2_048, 20), replicas=3, backup=BackupConfig(True, False)),
    "restricted": DeploymentSpec(
        Resources(2_000, 4_096, 50),
        replicas=2,
        regions=frozenset({"eu-west", "us-east"}),
        countries=frozenset({"IE"}),
        required_attributes=frozenset({"ssd", "ipv6"}),
        min_uptime_bps=9_000,
        backup=BackupConfig(True, True),
    ),
    "gpu": DeploymentSpec(
        Resources(4_000, 16_384, 100, GpuRequest("h100", 1)), replicas=2, backup=BackupConfig(True, True)
    ),
    "tight-price": DeploymentSpec(
        Resources(1_000, 2_048, 20),
        replicas=3,
        max_price_per_second=25,
        preferred_alliance="0x02" + "0" * 37 + "7",
    ),
    "too-big": DeploymentSpec(Resources(64_000, 600_000, 20), replicas=1),
}


def outcome(run: Any) -> Any:
    try:
        p = run()
    except NoNodeFits as exc:
        return ("nofit", exc.role, exc.needed, exc.found, exc.rejections, exc.reason)
    return (
        [(x.node_id, x.rate_per_second, x.score, x.load_bps_after) for x in p.primaries],
        None if p.backup is None else (p.backup.node_id, p.backup.score),
    )


async def _outcome_async(coro: Any) -> Any:
    try:
        p = await coro
    except NoNodeFits as exc:
        return ("nofit", exc.role, exc.needed, exc.found, exc.rejections, exc.reason)
    return (
        [(x.node_id, x.rate_per_second, x.score, x.load_bps_after) for x in p.primaries],
        None if p.backup is None else (p.backup.node_id, p.backup.score),
    )


@pytest.mark.parametrize("first", [1, 64])
async def test_short_list_places_like_the_full_snapshot(db_session: AsyncSession, first: int) -> None:
    await seed_nodes(db_session, 800, wall_now=WALL, now=NOW, minutes=4, lease_every=3)
    everything = await live_candidates(db_session, CLOCK)
    assert len(everything) == 800
    assert any(not c.online for c in everything) and any(c.in_maintenance for c in everything)
    assert any(c.allocated.cpu_millicores for c in everything)
    assert len({c.uptime_bps for c in everything if c.online}) > 1
    for name, spec in SPECS.items():
        expected = outcome(lambda s=spec: place(s, everything, POLICY))
        got = await _outcome_async(place_live(db_session, spec, POLICY, CLOCK, first=first))
        assert got == expected, name
    assert outcome(lambda: place(SPECS["too-big"], everything, POLICY))[0] == "nofit"


async def test_no_statement_has_a_parameter_per_node(db_session: AsyncSession) -> None:
    counts: list[int] = []

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if not many:
            counts.append(len(parameters or ()))

    sync_engine = db_session.bind.engine.sync_engine  # type: ignore[union-attr]
    per_size: dict[int, list[int]] = {}
    for size, base in ((50, 10_000_000), (700, 20_000_000)):
        await seed_nodes(db_session, size, wall_now=WALL, now=NOW, id_base=base, lease_every=2)
        event.listen(sync_engine, "before_cursor_execute", count)
        try:
            for spec in SPECS.values():
                try:
                    await place_live(db_session, spec, POLICY, CLOCK, first=1)
                except NoNodeFits:
                    pass
            await live_candidates(db_session, CLOCK)
        finally:
            event.remove(sync_engine, "before_cursor_execute", count)
        per_size[size] = list(counts)
        counts.clear()
    assert max(per_size[700]) < 400  # spec and clock values only
    assert max(per_size[700]) == max(per_size[50])
