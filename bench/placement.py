"""Placement among 100,000 nodes: ours (cold from a list, and with a reusable ``CandidateIndex``) vs a
naive implementation (per-node dicts, filter, then ``sorted`` with a Python key function).

Run: ``.venv/bin/python bench/placement.py [N] [ROUNDS]``. Seeded; prints ms per placement (median, p95)
and the ratio naive / ours. No assertions.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from engine.deployments.spec import BackupConfig, DeploymentSpec, GpuRequest, Resources
from engine.placement import (
    CandidateIndex,
    Capacity,
    NodeCandidate,
    NoNodeFits,
    PricingPolicy,
    UnitPrices,
    place,
)
from engine.placement.pricing import quote_rate

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
POLICY = PricingPolicy(
    UnitPrices(8_000, 4_000, 50_000, 300_000_000), certified_premium_bps=1_000, platform_fee_bps=500
)


def make_nodes(count: int, seed: int = 7) -> list[NodeCandidate]:
    rng = random.Random(seed)
    providers = [f"prov-{i:05d}" for i in range(count // 20)]
    alliances = [f"all-{i:03d}" for i in range(40)]
    nodes = []
    for i in range(count):
        region = rng.choice(REGIONS)
        gpu = rng.choice(GPUS) if rng.random() < 0.1 else None
        cpu = rng.choice([4_000, 8_000, 16_000, 32_000, 64_000])
        mem = cpu // 1000 * rng.choice([2_048, 4_096, 8_192])
        cap = Capacity(
            cpu, mem, rng.choice([100, 250, 500, 1_000]), gpu, rng.choice([1, 2, 4, 8]) if gpu else 0
        )
        used = rng.random() * 0.9
        alloc = Capacity(
            int(cpu * used),
            int(mem * used),
            int(cap.disk_gb * used * 0.5),
            gpu,
            rng.randint(0, cap.gpu_count) if gpu else 0,
        )
        nodes.append(
            NodeCandidate(
                node_id=f"node-{i:06d}",
                provider_id=rng.choice(providers),
                alliance_id=rng.choice(alliances) if rng.random() < 0.3 else None,
                region=region,
                country=COUNTRY[region],
                capacity=cap,
                allocated=alloc,
                prices=UnitPrices(
                    rng.randint(6_000, 20_000),
                    rng.randint(3_000, 9_000),
                    rng.randint(40_000, 90_000),
                    rng.randint(250_000_000, 900_000_000),
                ),
                attributes=frozenset(a for a in ATTRS if rng.random() < 0.4),
                certified=rng.random() < 0.2,
                provider_approved=rng.random() < 0.97,
                online=rng.random() < 0.95,
                in_maintenance=rng.random() < 0.02,
                uptime_bps=rng.randint(9_000, 10_000),
                bandwidth_mbps=rng.choice([100, 1_000, 10_000]),
            )
        )
    return nodes


SPECS = {
    "broad": DeploymentSpec(Resources(1_000, 2_048, 20), replicas=3, backup=BackupConfig(True, False)),
    "region-restricted": DeploymentSpec(
        Resources(2_000, 4_096, 50),
        replicas=3,
        regions=frozenset({"eu-west"}),
        countries=frozenset({"IE"}),
        required_attributes=frozenset({"ssd"}),
        min_uptime_bps=9_500,
        backup=BackupConfig(True, False),
    ),
    "gpu": DeploymentSpec(
        Resources(4_000, 16_384, 100, GpuRequest("h100", 1)), replicas=3, backup=BackupConfig(True, True)
    ),
    "tight-price": DeploymentSpec(
        Resources(1_000, 2_048, 20),
        replicas=3,
        max_price_per_second=25,
        min_uptime_bps=9_800,
        preferred_alliance="all-007",
        backup=BackupConfig(True, False),
    ),
}


def naive_place(spec: DeploymentSpec, nodes: Sequence[NodeCandidate]) -> list[str]:
    """Per-node dicts, filter, sort everything with a key function, then pick distinct providers."""
    rows = []
    res = spec.resources
    for n in nodes:
        row = {
            "id": n.node_id,
            "provider": n.provider_id,
            "region": n.region,
            "country": n.country,
            "ok": n.provider_approved and n.online and not n.in_maintenance,
            "free_cpu": n.capacity.cpu_millicores - n.allocated.cpu_millicores,
            "free_mem": n.capacity.memory_mb - n.allocated.memory_mb,
            "free_disk": n.capacity.disk_gb - n.allocated.disk_gb,
            "free_gpu": n.capacity.gpu_count - n.allocated.gpu_count,
            "gpu": n.capacity.gpu_model,
            "attrs": n.attributes,
            "uptime": n.uptime_bps,
            "rate": quote_rate(res, n, POLICY),
            "load": (n.allocated.cpu_millicores + res.cpu_millicores) / n.capacity.cpu_millicores,
            "alliance": n.alliance_id,
        }
        rows.append(row)
    ok = [
        r
        for r in rows
        if r["ok"]
        and (not spec.regions or r["region"] in spec.regions)
        and (not spec.countries or r["country"] in spec.countries)
        and r["free_cpu"] >= res.cpu_millicores
        and r["free_mem"] >= res.memory_mb
        and r["free_disk"] >= res.disk_gb
        and r["free_gpu"] >= res.gpu_count
        and (res.gpu is None or r["gpu"] == res.gpu.model)
        and spec.required_attributes <= r["attrs"]
        and r["uptime"] >= spec.min_uptime_bps
        and (spec.max_price_per_second is None or r["rate"] <= spec.max_price_per_second)
    ]
    ok.sort(
        key=lambda r: (r["rate"], -r["uptime"], r["load"], r["alliance"] != spec.preferred_alliance, r["id"])
    )
    chosen, providers = [], set()
    for r in ok:
        if r["provider"] not in providers:
            chosen.append(r["id"])
            providers.add(r["provider"])
            if len(chosen) == spec.replicas + 1:
                break
    return chosen


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        try:
            fn()
        except NoNodeFits:
            pass
        out.append((time.perf_counter() - t0) * 1000)
    return out


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(len(xs) * 0.95) - 1)]


def main(count: int, rounds: int) -> None:
    t0 = time.perf_counter()
    nodes = make_nodes(count)
    t1 = time.perf_counter()
    index = CandidateIndex(nodes)
    t2 = time.perf_counter()
    print(f"{count} nodes generated in {(t1 - t0):.1f} s; CandidateIndex built in {(t2 - t1) * 1000:.1f} ms")
    header = (
        f"{'spec':<18} {'eligible':>8} {'cold med':>9} {'cold p95':>9} {'idx med':>8} {'idx p95':>8} "
        f"{'naive med':>10} {'naive/cold':>10} {'naive/idx':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, spec in SPECS.items():
        try:
            eligible: object = place(spec, nodes, POLICY).eligible
        except NoNodeFits as exc:
            eligible = f"NoFit:{exc.role}"
        cold = timed(lambda s=spec: place(s, nodes, POLICY), rounds)
        idx = timed(lambda s=spec: place(s, index, POLICY), rounds)
        naive = timed(lambda s=spec: naive_place(s, nodes), max(3, rounds // 3))
        cm, im, nm = statistics.median(cold), statistics.median(idx), statistics.median(naive)
        print(
            f"{name:<18} {eligible!s:>8} {cm:9.1f} {p95(cold):9.1f} {im:8.1f} {p95(idx):8.1f} {nm:10.1f} "
            f"{nm / cm:10.1f} {nm / im:9.1f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, int(sys.argv[2]) if len(sys.argv) > 2 else 15)
