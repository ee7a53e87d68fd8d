"""``place``: choose nodes for a spec's replicas and its backup VM.

1. If the user's max price is below the cheapest possible rate (``pricing.floor_rate``), fail at once
   (``NoNodeFits(reason="max_price_below_floor")``).
2. One pass over the candidates (``filters.scan``) applies the hard filters and scores the survivors.
3. Survivors are consumed lazily in (score, node_id) order from a heap (``heapify`` is O(n); only as many
   nodes as needed are popped).
4. Primaries, greedily: the best node of each not-yet-used provider until ``replicas`` are chosen; only if
   there are too few providers, the best remaining nodes of used providers (never the same node twice).
5. Backup (if enabled): the best remaining node whose provider differs from every primary's (and region,
   if ``different_region``). If greedy primaries used up every possible backup provider/region, it retries
   with the backup chosen first (the best few distinct provider/region candidates) and the primaries
   chosen among the rest, so a feasible arrangement is found when one exists among those tries.

Capacity: each chosen node gets one replica's resources; ``Placement.consumed_by_node`` returns what the
caller must add to ``allocated``. Anti-affinity means a node is never used twice in one pass, so a second
replica can never overcommit a node that fit only one.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence

from engine.deployments.spec import DeploymentSpec, Resources
from engine.money import BPS_DENOMINATOR
from engine.placement.errors import NoNodeFits
from engine.placement.filters import FILTERS, scan
from engine.placement.models import NodeCandidate, PlacedNode, Placement, PricingPolicy
from engine.placement.pricing import floor_rate, quote_rate
from engine.placement.scoring import DEFAULT_WEIGHTS, INDEX_BITS, INDEX_MASK, MAX_CANDIDATES, ScoreWeights

_BACKUP_FIRST_TRIES = 16


class ShortList(Exception):
    """``place(..., partial=True)`` had to look past the end of the candidates it was given: they are a
    prefix of the full order (``engine.placement.store``) and the decision may lie beyond it."""


class _Order:
    """Eligible positions in (score, node_id) order, popped lazily from a heap and remembered so the
    order can be walked again from the start."""

    def __init__(self, keys: list[int], nodes: Sequence[NodeCandidate]) -> None:
        heapq.heapify(keys)
        self._heap = keys
        self._nodes = nodes
        self.seen: list[tuple[int, int]] = []  # (position, score)
        self.exhausted = False  # some walk reached the end of the candidates

    def _more(self) -> bool:
        heap = self._heap
        if not heap:
            self.exhausted = True
            return False
        first = heapq.heappop(heap)
        score = first >> INDEX_BITS
        group = [first & INDEX_MASK]
        while heap and heap[0] >> INDEX_BITS == score:
            group.append(heapq.heappop(heap) & INDEX_MASK)
        if len(group) > 1:
            nodes = self._nodes
            group.sort(key=lambda i: nodes[i].node_id)
        self.seen.extend((i, score) for i in group)
        return True

    def __iter__(self) -> Iterator[tuple[int, int]]:
        k = 0
        while True:
            if k == len(self.seen) and not self._more():
                return
            yield self.seen[k]
            k += 1


def _pick_primaries(
    order: Iterable[tuple[int, int]],
    nodes: Sequence[NodeCandidate],
    replicas: int,
    ban_provider: str | None,
    ban_region: str | None,
    ban_node: str | None,
) -> list[tuple[int, int]]:
    chosen: list[tuple[int, int]] = []
    providers: set[str] = set()
    ids: set[str] = set()
    spill: list[tuple[int, int]] = []
    for item in order:
        n = nodes[item[0]]
        if n.provider_id == ban_provider or n.region == ban_region or n.node_id == ban_node:
            continue
        if n.node_id in ids:  # a duplicated node id in the snapshot: never the same node twice
            continue
        if n.provider_id in providers:
            spill.append(item)
            continue
        chosen.append(item)
        providers.add(n.provider_id)
        ids.add(n.node_id)
        if len(chosen) == replicas:
            return chosen
    for item in spill:  # fewer providers than replicas: reuse providers, never nodes
        n = nodes[item[0]]
        if n.node_id not in ids:
            chosen.append(item)
            ids.add(n.node_id)
            if len(chosen) == replicas:
                break
    return chosen


def _pick_backup(
    order: Iterable[tuple[int, int]],
    nodes: Sequence[NodeCandidate],
    primaries: list[tuple[int, int]],
    different_region: bool,
) -> tuple[int, int] | None:
    providers = {nodes[i].provider_id for i, _ in primaries}
    regions = {nodes[i].region for i, _ in primaries}
    ids = {nodes[i].node_id for i, _ in primaries}
    for item in order:
        n = nodes[item[0]]
        if n.provider_id in providers or n.node_id in ids or (different_region and n.region in regions):
            continue
        return item
    return None


def _placed(
    item: tuple[int, int], nodes: Sequence[NodeCandidate], spec: DeploymentSpec, pricing: PricingPolicy
) -> PlacedNode:
    n = nodes[item[0]]
    res = spec.resources
    cap = n.capacity
    load = max(
        (cap.cpu_millicores - n.free_cpu + res.cpu_millicores) * BPS_DENOMINATOR // cap.cpu_millicores,
        (cap.memory_mb - n.free_memory + res.memory_mb) * BPS_DENOMINATOR // cap.memory_mb,
    )
    return PlacedNode(
        n.node_id, n.provider_id, n.alliance_id, n.region, quote_rate(res, n, pricing), item[1], load
    )


def place(
    spec: DeploymentSpec,
    candidates: Sequence[NodeCandidate],
    pricing: PricingPolicy,
    *,
    exclude_nodes: Iterable[str] = (),
    exclude_providers: Iterable[str] = (),
    weights: ScoreWeights = DEFAULT_WEIGHTS,
    partial: bool = False,
) -> Placement:
    """Place ``spec.replicas`` primaries (distinct nodes, distinct providers when possible) and, if
    ``spec.backup.enabled``, one backup on a provider (and region, if asked) no primary uses.

    ``partial``: ``candidates`` are only the best of the eligible nodes in placement order (a short list,
    :mod:`engine.placement.store`); raises :class:`ShortList` instead of deciding when a walk over them
    reaches their end (the decision over a prefix that was never walked to its end is the decision over
    the whole order).

    Raises ``NoNodeFits`` with per-filter rejection counts when that is impossible."""
    if len(candidates) > MAX_CANDIDATES:
        raise ValueError(f"at most {MAX_CANDIDATES} candidates")
    nodes = candidates
    cheapest = floor_rate(spec.resources, pricing)
    if spec.max_price_per_second is not None and spec.max_price_per_second < cheapest:
        raise NoNodeFits(
            role="primary",
            needed=spec.replicas,
            found=0,
            rejections={"price": len(candidates)},
            floor_rate=cheapest,
            reason="max_price_below_floor",
        )
    result = scan(nodes, spec, pricing, weights, frozenset(exclude_nodes), frozenset(exclude_providers))
    rejections = {name: result.rejections[name] for name in FILTERS}
    eligible = len(result.keys)
    order = _Order(result.keys, nodes)
    primaries = _pick_primaries(order, nodes, spec.replicas, None, None, None)
    if len(primaries) < spec.replicas:
        raise NoNodeFits(
            role="primary",
            needed=spec.replicas,
            found=len(primaries),
            rejections=rejections,
            floor_rate=cheapest,
        )
    backup: tuple[int, int] | None = None
    if spec.backup.enabled:
        backup = _pick_backup(order, nodes, primaries, spec.backup.different_region)
        if backup is None:
            retry, backup = _backup_first(order, nodes, spec)
            if backup is None:
                # eligible nodes left over once the primaries were placed, none usable as the backup
                rejections["anti_affinity"] = eligible - len(primaries)
                raise NoNodeFits(role="backup", needed=1, found=0, rejections=rejections, floor_rate=cheapest)
            primaries = retry
    if partial and order.exhausted:
        raise ShortList()
    return Placement(
        primaries=tuple(_placed(p, nodes, spec, pricing) for p in primaries),
        backup=None if backup is None else _placed(backup, nodes, spec, pricing),
        eligible=eligible,
        considered=len(candidates),
    )


def _backup_first(
    order: _Order, nodes: Sequence[NodeCandidate], spec: DeploymentSpec
) -> tuple[list[tuple[int, int]], tuple[int, int] | None]:
    tried: set[tuple[str, str]] = set()
    for item in order:
        n = nodes[item[0]]
        key = (n.provider_id, n.region if spec.backup.different_region else "")
        if key in tried:
            continue
        tried.add(key)
        primaries = _pick_primaries(
            order,
            nodes,
            spec.replicas,
            n.provider_id,
            n.region if spec.backup.different_region else None,
            n.node_id,
        )
        if len(primaries) == spec.replicas:
            return primaries, item
        if len(tried) >= _BACKUP_FIRST_TRIES:
            break
    return [], None


def consumed_by_node(placement: Placement, resources: Resources) -> dict[str, Resources]:
    """What each chosen node must add to its ``allocated`` (one replica each; the backup is reserved)."""
    out: dict[str, Resources] = {}
    chosen = [*placement.primaries, *([placement.backup] if placement.backup else [])]
    for p in chosen:
        assert p.node_id not in out, "a node is never used twice in one placement"
        out[p.node_id] = resources
    return out
