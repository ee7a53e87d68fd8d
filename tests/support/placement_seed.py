"""Many placement candidates in the database at once (SQLAlchemy Core executemany), for the placement store's
tests and ``bench/placement.py``.

``seed_nodes`` writes ``count`` active nodes with the bench's distribution (8 regions, 10 % GPU nodes, 20
nodes per provider, 3 % of providers not approved, 5 % of nodes offline, 2 % in maintenance now, 30 % paid
to an alliance), ``minutes`` uptime minutes per online node (some missing: uptime varies), and one live
lease (its own deployment) on every ``lease_every``-th node. Ids start at ``id_base`` so the rows never meet
rows a test made through the ORM.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from engine.deployments import models as dm
from engine.identity.models import User
from engine.nodes.models import NODE_ACTIVE, WINDOW_SCHEDULED, MaintenanceWindow, Node
from engine.providers.models import ProviderChainState
from engine.workloads import models as wm

REGIONS = ["us-east", "us-west", "eu-west", "eu-central", "ap-south", "ap-northeast", "sa-east", "af-south"]
COUNTRY = {
    "us-east": "US",
    "us-west": "US",
    "eu-west": "IE",
    "eu-central": "DE",
    "ap-south": "IN",
    "ap-northeast": "JP",
    "sa-east": "BR",
    "af-south": "ZA",
}
GPUS = ["a100", "h100", "l4", "t4"]
ATTRS = ["ssd", "nvme", "ipv6", "sgx", "sev", "10g"]
BATCH = 5_000


def address(kind: int, i: int) -> str:
    return f"0x{kind:02x}{i:038x}"


@dataclass(frozen=True)
class Seeded:
    nodes: int
    leases: int
    uptime_minutes: int


async def _insert(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    for k in range(0, len(rows), BATCH):
        await session.execute(insert(table), rows[k : k + BATCH])


async def seed_nodes(
    session: AsyncSession,
    count: int,
    *,
    wall_now: datetime,
    now: int,
    seed: int = 7,
    id_base: int = 10_000_000,
    minutes: int = 3,
    lease_every: int = 10,
) -> Seeded:
    rng = random.Random(seed)
    user_id = id_base
    await _insert(session, User.__table__, [{"id": user_id, "sub": f"seed|{id_base}", "settings": {}}])
    n_prov = max(1, count // 20)
    await _insert(
        session,
        ProviderChainState.__table__,
        [
            {
                "address": address(1, id_base + p),
                "status": "Approved" if rng.random() < 0.97 else "Suspended",
                "updated_at": wall_now,
            }
            for p in range(n_prov)
        ],
    )
    nodes: list[dict[str, Any]] = []
    lives: list[dict[str, Any]] = []
    ups: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    deps: list[dict[str, Any]] = []
    leases: list[dict[str, Any]] = []
    now_min = int(wall_now.timestamp()) // 60
    for i in range(count):
        nid = id_base + i
        region = rng.choice(REGIONS)
        gpu = rng.choice(GPUS) if rng.random() < 0.1 else None
        cpu = rng.choice([4_000, 8_000, 16_000, 32_000, 64_000])
        mem = cpu // 1000 * rng.choice([2_048, 4_096, 8_192])
        wallet = address(1, id_base + rng.randrange(n_prov))
        nodes.append(
            {
                "id": nid,
                "provider_user_id": user_id,
                "name": f"n{i}",
                "created_at": wall_now,
                "wallet_address": wallet,
                "payee": address(2, rng.randrange(40)) if rng.random() < 0.3 else wallet,
                "chain_node_id": nid,
                "status": NODE_ACTIVE,
                "cpu_millicores": cpu,
                "memory_mb": mem,
                "disk_gb": rng.choice([100, 250, 500, 1_000]),
                "gpu_model": gpu,
                "gpu_count": rng.choice([1, 2, 4, 8]) if gpu else 0,
                "bandwidth_mbps": rng.choice([100, 1_000, 10_000]),
                "region": region,
                "country": COUNTRY[region],
                "price_per_cpu_millicore": rng.randint(6_000, 20_000),
                "price_per_memory_mb": rng.randint(3_000, 9_000),
                "price_per_disk_gb": rng.randint(40_000, 90_000),
                "price_per_gpu": rng.randint(250_000_000, 900_000_000),
                "attributes": [a for a in ATTRS if rng.random() < 0.4],
                "certified": rng.random() < 0.2,
            }
        )
        online = rng.random() < 0.95
        seen = wall_now - timedelta(seconds=rng.randint(0, 20) if online else 3_600)
        first = wall_now - timedelta(minutes=minutes)
        lives.append({"node_id": nid, "first_seen_at": first, "last_seen_at": seen, "heartbeats": minutes})
        if online:
            kept = [k for k in range(minutes) if k == 0 or rng.random() < 0.9]
            ups.extend({"node_id": nid, "minute": now_min - k} for k in kept)
        if rng.random() < 0.02:
            windows.append(
                {
                    "node_id": nid,
                    "chain_node_id": nid,
                    "start_at": now - 60,
                    "end_at": now + 3_600,
                    "status": WINDOW_SCHEDULED,
                    "tx_hash": "0x" + f"{nid:064x}",
                    "log_index": 0,
                    "block_number": 1,
                    "created_at": wall_now,
                }
            )
        if lease_every and i % lease_every == 0:
            res = {"cpu_millicores": cpu // 2, "memory_mb": mem // 2, "disk_gb": 20, "gpu": None}
            deps.append(
                {
                    "id": nid,
                    "user_id": user_id,
                    "spec": {"resources": res},
                    "spec_hash": "0x" + f"{nid:064x}",
                    "status": dm.STARTING,
                    "replicas": 1,
                    "rate_per_second": 1,
                    "payer": wallet,
                    "funding": dm.FUNDING_WALLET,
                    "created_at": wall_now,
                    "updated_at": wall_now,
                }
            )
            leases.append(
                {
                    "id": nid,
                    "deployment_id": nid,
                    "replica_index": 0,
                    "role": dm.PRIMARY,
                    "node_id": nid,
                    "chain_node_id": nid,
                    "rate_per_second": 1,
                    "deposit": 1,
                    "status": dm.LEASE_OPEN,
                    "created_at": wall_now,
                }
            )
    await _insert(session, Node.__table__, nodes)
    await _insert(session, wm.NodeLiveness.__table__, lives)
    await _insert(session, wm.NodeUptimeMinute.__table__, ups)
    await _insert(session, MaintenanceWindow.__table__, windows)
    await _insert(session, dm.Deployment.__table__, deps)
    await _insert(session, dm.Lease.__table__, leases)
    if session.get_bind().dialect.name == "postgresql":
        # what autovacuum does after a bulk load: without statistics the planner takes every fresh table
        # for one row and re-aggregates the live leases once per node (nested loop)
        for table in ("nodes", "providers", "node_liveness", "node_uptime_minutes", "maintenance_windows"):
            await session.execute(text(f"ANALYZE {table}"))
        await session.execute(text("ANALYZE leases"))
        await session.execute(text("ANALYZE deployments"))
    return Seeded(count, len(leases), len(ups))
