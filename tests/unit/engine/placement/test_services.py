"""place(): anti-affinity, backup rules, determinism, the score's order, cold vs indexed equivalence."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.placement import Capacity, NoNodeFits, UnitPrices, consumed_by_node, place
from engine.placement.filters import floor_exact, scan
from engine.placement.scoring import DEFAULT_WEIGHTS, INDEX_BITS, INDEX_MASK, load_bps_after, score
from engine.placement.services import ShortList
from tests.unit.engine.placement.builders import POLICY, node, spec, with_backup


def ids(placement) -> list[str]:
    return [p.node_id for p in placement.primaries]


def test_replicas_on_distinct_providers_when_enough() -> None:
    nodes = [node(f"n{i}", provider_id=f"p{i % 3}") for i in range(9)]
    result = place(spec(replicas=3), nodes, POLICY)
    assert len(set(ids(result))) == 3
    assert len({p.provider_id for p in result.primaries}) == 3


def test_same_provider_allowed_only_when_too_few_providers_never_same_node() -> None:
    nodes = [node("a", provider_id="p1"), node("b", provider_id="p1"), node("c", provider_id="p2")]
    result = place(spec(replicas=3), nodes, POLICY)
    assert sorted(ids(result)) == ["a", "b", "c"]
    with pytest.raises(NoNodeFits) as info:
        place(spec(replicas=4), nodes, POLICY)
    assert info.value.needed == 4 and info.value.found == 3


def test_worse_node_on_new_provider_beats_better_node_on_used_provider() -> None:
    nodes = [
        node("a1", provider_id="A", uptime_bps=10_000),
        node("a2", provider_id="A", uptime_bps=10_000),
        node("b1", provider_id="B", uptime_bps=9_000),
    ]
    assert ids(place(spec(replicas=2), nodes, POLICY)) == ["a1", "b1"]


def test_backup_on_other_provider_and_region() -> None:
    nodes = [
        node("a", provider_id="A", region="eu-west"),
        node("b", provider_id="B", region="eu-west"),
        node("c", provider_id="A", region="us-east", uptime_bps=9_000),
        node("d", provider_id="C", region="us-east", uptime_bps=8_000),
    ]
    r = place(with_backup(spec(replicas=2)), nodes, POLICY)
    assert ids(r) == ["a", "b"] and r.backup is not None and r.backup.provider_id not in {"A", "B"}
    r2 = place(with_backup(spec(replicas=1), different_region=True), nodes, POLICY)
    assert r2.backup is not None
    assert r2.backup.provider_id != r2.primaries[0].provider_id
    assert r2.backup.region != r2.primaries[0].region
    consumed = consumed_by_node(r, spec().resources)
    assert set(consumed) == {"a", "b", r.backup.node_id}


def test_backup_first_retry_finds_the_feasible_arrangement() -> None:
    # greedy would put 2 replicas on A and B and leave no provider for the backup; A,A + B works.
    nodes = [
        node("a1", provider_id="A"),
        node("a2", provider_id="A", uptime_bps=9_900),
        node("b1", provider_id="B", uptime_bps=9_950),
    ]
    r = place(with_backup(spec(replicas=2)), nodes, POLICY)
    assert r.backup is not None
    assert r.backup.provider_id not in {p.provider_id for p in r.primaries}
    assert len({p.node_id for p in r.primaries} | {r.backup.node_id}) == 3


def test_backup_impossible() -> None:
    nodes = [node("a1", provider_id="A"), node("a2", provider_id="A")]
    with pytest.raises(NoNodeFits) as info:
        place(with_backup(spec(replicas=1)), nodes, POLICY)
    assert info.value.role == "backup"
    assert info.value.rejections == {"anti_affinity": 1}


# ---- random snapshots -----------------------------------------------------------------------------


def random_nodes(seed: int, count: int) -> list:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        cpu = rng.choice([2_000, 4_000, 8_000])
        out.append(
            node(
                f"n{i:03d}",
                provider_id=f"p{rng.randrange(max(1, count // 3))}",
                alliance_id=rng.choice([None, "al1", "al2"]),
                region=rng.choice(["eu-west", "us-east", "ap-south"]),
                capacity=Capacity(cpu, 8_192, 100),
                allocated=Capacity(rng.randrange(0, cpu), rng.randrange(0, 6_000), rng.randrange(0, 80)),
                prices=UnitPrices(rng.choice([1_000, 2_000, 3_000]), rng.choice([500, 1_000]), 20_000, 0),
                certified=rng.random() < 0.3,
                online=rng.random() < 0.9,
                uptime_bps=rng.choice([9_000, 9_500, 10_000]),
            )
        )
    return out


def summary(p) -> tuple:
    return (
        tuple((x.node_id, x.rate_per_second, x.score) for x in p.primaries),
        None if p.backup is None else p.backup.node_id,
        p.eligible,
    )


def outcome(s, cands):
    try:
        return summary(place(s, cands, POLICY))
    except NoNodeFits as exc:
        return ("nofit", exc.role, exc.rejections)


SPECS = [
    spec(replicas=2),
    with_backup(spec(replicas=3)),
    spec(preferred_alliance="al1", replicas=2),
    with_backup(spec(replicas=1, regions=frozenset({"eu-west", "us-east"})), different_region=True),
    spec(max_price_per_second=3, min_uptime_bps=9_500),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    count=st.integers(0, 40),
    which=st.integers(0, len(SPECS) - 1),
    shuffle_seed=st.integers(0, 10**6),
)
def test_deterministic_and_short_list_equivalent(seed, count, which, shuffle_seed) -> None:
    nodes = random_nodes(seed, count)
    shuffled = list(nodes)
    random.Random(shuffle_seed).shuffle(shuffled)
    s = SPECS[which]
    expected = outcome(s, nodes)
    assert outcome(s, shuffled) == expected
    # engine.placement.store hands place() a prefix of the eligible nodes in its own order: a decision
    # taken inside any prefix (no ShortList) is the decision over every node
    keys = sorted(scan(nodes, s, POLICY, DEFAULT_WEIGHTS, frozenset(), frozenset()).keys)
    order = sorted(keys, key=lambda k: (k >> INDEX_BITS, nodes[k & INDEX_MASK].node_id))
    ranked = [nodes[k & INDEX_MASK] for k in order]
    for cut in range(1, len(ranked) + 1):
        try:
            got = place(s, ranked[:cut], POLICY, partial=True)
        except (ShortList, NoNodeFits):
            continue
        assert expected[0] != "nofit"
        assert summary(got)[:2] == expected[:2], cut


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), count=st.integers(1, 40), which=st.integers(0, len(SPECS) - 1))
def test_chosen_node_is_never_dominated(seed, count, which) -> None:
    nodes = random_nodes(seed, count)
    s = SPECS[which]
    result = scan(nodes, s, POLICY, DEFAULT_WEIGHTS, frozenset(), frozenset())
    eligible = [nodes[k & INDEX_MASK] for k in result.keys]
    try:
        placement = place(s, nodes, POLICY)
    except NoNodeFits:
        return
    from engine.placement import quote_rate

    def metrics(n):
        load = max(
            load_bps_after(n.capacity.cpu_millicores, n.free_cpu, s.resources.cpu_millicores),
            load_bps_after(n.capacity.memory_mb, n.free_memory, s.resources.memory_mb),
        )
        return quote_rate(s.resources, n, POLICY), n.uptime_bps, load, n.alliance_id == s.preferred_alliance

    # Nodes of the backup's provider are out of reach for primaries when place() had to pick the backup
    # first (its documented retry), so they are not counter-examples.
    used: set[str] = {placement.backup.provider_id} if placement.backup else set()
    for chosen in placement.primaries:
        c = metrics(next(n for n in nodes if n.node_id == chosen.node_id))
        for other in eligible:
            if other.provider_id in used or other.node_id == chosen.node_id:
                continue
            o = metrics(other)
            dominated = o[0] < c[0] and o[1] > c[1] and o[2] < c[2] and o[3] == c[3]
            assert not dominated, (chosen, other)
        used.add(chosen.provider_id)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), which=st.integers(0, len(SPECS) - 1))
def test_hot_loop_score_matches_reference(seed, which) -> None:
    nodes = random_nodes(seed, 30)
    s = SPECS[which]
    result = scan(nodes, s, POLICY, DEFAULT_WEIGHTS, frozenset(), frozenset())
    from engine.placement.pricing import scaled_cost

    for key in result.keys:
        n = nodes[key & INDEX_MASK]
        mult = 10_000 + (POLICY.certified_premium_bps if n.certified else 0)
        load = max(
            load_bps_after(n.capacity.cpu_millicores, n.free_cpu, s.resources.cpu_millicores),
            load_bps_after(n.capacity.memory_mb, n.free_memory, s.resources.memory_mb),
        )
        miss = s.preferred_alliance is not None and n.alliance_id != s.preferred_alliance
        expected = score(
            exact=scaled_cost(s.resources, n.prices, POLICY.floor) * mult,
            floor_exact=floor_exact(s, POLICY),
            uptime_bps=n.uptime_bps,
            load_bps=load,
            alliance_miss=miss,
        )
        assert key >> INDEX_BITS == expected


def test_alliance_preference_and_price_order() -> None:
    cheap = node("cheap", prices=UnitPrices(1_000, 500, 10_000, 0))
    dear = node("dear", prices=UnitPrices(1_100, 550, 11_000, 0), alliance_id="al1")
    assert ids(place(spec(), [dear, cheap], POLICY)) == ["cheap"]
    assert ids(place(spec(preferred_alliance="al1"), [cheap, dear], POLICY)) == ["dear"]


def test_tie_broken_by_node_id() -> None:
    assert ids(place(spec(), [node("b"), node("c"), node("a")], POLICY)) == ["a"]
