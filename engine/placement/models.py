"""Placement value objects: what a node offers (``NodeCandidate``), what the operator charges
(``PricingPolicy``) and what placement returns (``Placement``). Why it can fail: ``engine.placement.errors``.

Units. Rates are credit units per second (``engine.money.CreditUnits``). Unit prices are finer: they are in
*price units*, ``1 price unit = 1 / PRICE_SCALE credit unit`` (``PRICE_SCALE = 10**6``), per resource unit
per second. Reason: with 6-decimal credit, one vCPU-hour at $0.036 is 0.01 credit units per millicore per
second — an integer price in whole credit units could not express it. The rate a lease opens with is
rounded up to whole credit units once, at the end (see ``engine.placement.pricing``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PRICE_SCALE = 10**6


@dataclass(frozen=True, slots=True)
class Capacity:
    cpu_millicores: int
    memory_mb: int
    disk_gb: int
    gpu_model: str | None = None
    gpu_count: int = 0


@dataclass(frozen=True, slots=True)
class UnitPrices:
    """Price units (1/``PRICE_SCALE`` credit unit) per resource unit per second."""

    per_cpu_millicore: int
    per_memory_mb: int
    per_disk_gb: int
    per_gpu: int


@dataclass(frozen=True, slots=True)
class NodeCandidate:
    """A snapshot of one node as placement sees it. ``allocated`` is what running leases already hold;
    ``online`` comes from the heartbeat, ``in_maintenance`` is true when a maintenance window overlaps now or
    the lease horizon. The ``free_*`` fields are derived once at construction (placement reads them in its
    hot loop)."""

    node_id: str
    provider_id: str
    alliance_id: str | None
    region: str
    country: str
    capacity: Capacity
    allocated: Capacity
    prices: UnitPrices
    attributes: frozenset[str] = frozenset()
    certified: bool = False
    provider_approved: bool = True
    online: bool = True
    in_maintenance: bool = False
    uptime_bps: int = 10_000
    bandwidth_mbps: int = 0
    free_cpu: int = field(init=False, repr=False, compare=False)
    free_memory: int = field(init=False, repr=False, compare=False)
    free_disk: int = field(init=False, repr=False, compare=False)
    free_gpu: int = field(init=False, repr=False, compare=False)
    gpu_model: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cap, used = self.capacity, self.allocated
        setter = object.__setattr__
        setter(self, "free_cpu", cap.cpu_millicores - used.cpu_millicores)
        setter(self, "free_memory", cap.memory_mb - used.memory_mb)
        setter(self, "free_disk", cap.disk_gb - used.disk_gb)
        setter(self, "free_gpu", cap.gpu_count - used.gpu_count)
        setter(self, "gpu_model", cap.gpu_model)


@dataclass(frozen=True, slots=True)
class PricingPolicy:
    """Operator pricing. ``floor`` is the minimum unit price (a node's price below it is raised to it);
    ``certified_premium_bps`` is added to certified nodes' rates; ``platform_fee_bps`` is the share of the
    rate the escrow sends to the treasury (shown separately in a quote, never added on top)."""

    floor: UnitPrices
    certified_premium_bps: int = 0
    platform_fee_bps: int = 0


@dataclass(frozen=True, slots=True)
class RateQuote:
    """One replica on one node. ``rate_per_second`` is what the lease opens with; of it, the escrow sends
    ``platform_fee_per_second`` to the treasury and ``provider_per_second`` to the node's payee."""

    rate_per_second: int
    certified_premium_applied: bool
    platform_fee_per_second: int
    provider_per_second: int


@dataclass(frozen=True, slots=True)
class PlacedNode:
    node_id: str
    provider_id: str
    alliance_id: str | None
    region: str
    rate_per_second: int
    score: int  # lower is better; see engine.placement.scoring
    load_bps_after: int  # max(cpu, memory) utilisation of the node once this replica runs there


@dataclass(frozen=True, slots=True)
class Placement:
    primaries: tuple[PlacedNode, ...]
    backup: PlacedNode | None
    eligible: int  # nodes that passed every hard filter
    considered: int  # nodes looked at (all candidates)

    @property
    def total_rate_per_second(self) -> int:
        """Primaries only: a backup VM is placed (reserved) but its lease is opened by failover."""
        return sum(p.rate_per_second for p in self.primaries)
