"""The hard filters and the single pass that applies them (the hot loop of placement).

A candidate is counted under the FIRST filter that rejects it, in this order (``FILTERS``):

    provider_approved  the provider is approved by the operator
    online             the node's heartbeat is fresh
    maintenance        no maintenance window overlaps now / the lease horizon
    region             node.region in spec.regions (when the spec restricts regions)
    gpu                node's GPU model == the requested model (GPU specs only)
    country            node.country in spec.countries (when restricted)
    excluded           node or provider excluded by the caller (e.g. a failed node, the user's own)
    capacity           free cpu, memory, disk and GPU count >= one replica's request
    attributes         spec.required_attributes is a subset of node.attributes
    uptime             node.uptime_bps >= spec.min_uptime_bps
    price              quoted rate <= spec.max_price_per_second

The database applies the same filters in SQL before anything reaches Python (``engine.placement.store``);
this pass is the reference, and the one that counts rejections when nothing fits.

Performance: one pass, integer comparisons on slot attributes, no allocation per node except one packed
``int`` key per eligible node (score << INDEX_BITS | position). The price check compares the unrounded
numerator against ``max_price * RATE_DENOMINATOR`` (no division); the score is computed only for nodes
that pass every filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.deployments.spec import DeploymentSpec
from engine.money import BPS_DENOMINATOR
from engine.placement.models import NodeCandidate, PricingPolicy
from engine.placement.pricing import RATE_DENOMINATOR, scaled_cost
from engine.placement.scoring import INDEX_BITS, ScoreWeights

FILTERS = (
    "provider_approved",
    "online",
    "maintenance",
    "region",
    "gpu",
    "country",
    "excluded",
    "capacity",
    "attributes",
    "uptime",
    "price",
)


@dataclass(slots=True)
class ScanResult:
    keys: list[int]  # packed (score, position) of every eligible node
    rejections: dict[str, int]


def floor_exact(spec: DeploymentSpec, pricing: PricingPolicy) -> int:
    """The rate numerator of an uncertified node priced at the floor (the score's price reference)."""
    return max(scaled_cost(spec.resources, pricing.floor, pricing.floor) * BPS_DENOMINATOR, 1)


def scan(
    nodes: Sequence[NodeCandidate],
    spec: DeploymentSpec,
    pricing: PricingPolicy,
    weights: ScoreWeights,
    exclude_nodes: frozenset[str],
    exclude_providers: frozenset[str],
) -> ScanResult:
    """Filter and score every node."""
    res = spec.resources
    cpu, mem, disk = res.cpu_millicores, res.memory_mb, res.disk_gb
    gpus = res.gpu_count
    gpu_model = None if res.gpu is None else res.gpu.model
    regions = spec.regions or None
    countries = spec.countries or None
    attrs = spec.required_attributes or None
    min_up = spec.min_uptime_bps
    floor = pricing.floor
    fc, fm, fd, fg = floor.per_cpu_millicore, floor.per_memory_mb, floor.per_disk_gb, floor.per_gpu
    bps = BPS_DENOMINATOR
    cert_mult = bps + pricing.certified_premium_bps
    max_exact = -1 if spec.max_price_per_second is None else spec.max_price_per_second * RATE_DENOMINATOR
    f_exact = floor_exact(spec, pricing)
    wp, wu, wl = weights.price, weights.uptime, weights.load
    pref = spec.preferred_alliance
    bonus = weights.alliance_bonus
    has_excl = bool(exclude_nodes or exclude_providers)

    r_appr = r_online = r_maint = r_region = r_gpu = 0
    r_country = r_excl = r_cap = r_attr = r_up = r_price = 0
    keys: list[int] = []
    append = keys.append
    for i in range(len(nodes)):
        n = nodes[i]
        if not n.provider_approved:
            r_appr += 1
            continue
        if not n.online:
            r_online += 1
            continue
        if n.in_maintenance:
            r_maint += 1
            continue
        if regions is not None and n.region not in regions:
            r_region += 1
            continue
        if gpu_model is not None and n.gpu_model != gpu_model:
            r_gpu += 1
            continue
        if countries is not None and n.country not in countries:
            r_country += 1
            continue
        if has_excl and (n.node_id in exclude_nodes or n.provider_id in exclude_providers):
            r_excl += 1
            continue
        if n.free_cpu < cpu or n.free_memory < mem or n.free_disk < disk or n.free_gpu < gpus:
            r_cap += 1
            continue
        if attrs is not None and not attrs <= n.attributes:
            r_attr += 1
            continue
        if n.uptime_bps < min_up:
            r_up += 1
            continue
        p = n.prices
        pc = p.per_cpu_millicore
        if pc < fc:
            pc = fc
        pm = p.per_memory_mb
        if pm < fm:
            pm = fm
        pd = p.per_disk_gb
        if pd < fd:
            pd = fd
        base = pc * cpu + pm * mem + pd * disk
        if gpus:
            pg = p.per_gpu
            base += (pg if pg > fg else fg) * gpus
        exact = base * cert_mult if n.certified else base * bps
        if max_exact >= 0 and exact > max_exact:
            r_price += 1
            continue
        cap = n.capacity
        ccpu = cap.cpu_millicores
        cmem = cap.memory_mb
        lc = (ccpu - n.free_cpu + cpu) * bps // ccpu
        lm = (cmem - n.free_memory + mem) * bps // cmem
        load = lc if lc > lm else lm
        s = wp * ((exact - f_exact) * bps // f_exact) + wu * (bps - n.uptime_bps) + wl * load
        if pref is not None and n.alliance_id != pref:
            s += bonus
        append(s << INDEX_BITS | i)
    rejections = dict(
        zip(
            FILTERS,
            (r_appr, r_online, r_maint, r_region, r_gpu, r_country, r_excl, r_cap, r_attr, r_up, r_price),
            strict=True,
        )
    )
    return ScanResult(keys, rejections)
