"""Each hard filter rejects what it should, counted under its own name, in both the cold and indexed paths."""

from __future__ import annotations

import pytest

from engine.placement import Capacity, NoNodeFits, place
from tests.unit.engine.placement.builders import FLOOR, POLICY, gpu_spec, node, spec

GPU_CAP = Capacity(8_000, 16_384, 200, "a100", 2)

GPU_OK = dict(capacity=GPU_CAP, allocated=Capacity(0, 0, 0, "a100", 0))

# (filter, spec, overrides making a node fail it, overrides making a control node pass everything)
CASES = [
    ("provider_approved", spec(), dict(provider_approved=False), {}),
    ("online", spec(), dict(online=False), {}),
    ("maintenance", spec(), dict(in_maintenance=True), {}),
    ("region", spec(regions=frozenset({"us-east"})), {}, dict(region="us-east")),
    ("gpu", gpu_spec("h100"), GPU_OK, dict(capacity=Capacity(8_000, 16_384, 200, "h100", 1))),
    ("gpu", gpu_spec("a100"), {}, GPU_OK),  # no GPU at all
    ("country", spec(countries=frozenset({"DE"})), {}, dict(country="DE")),
    ("capacity", spec(), dict(allocated=Capacity(7_500, 0, 0)), dict(allocated=Capacity(7_000, 0, 0))),
    ("capacity", spec(), dict(allocated=Capacity(0, 16_000, 0)), {}),
    ("capacity", spec(), dict(allocated=Capacity(0, 0, 195)), dict(allocated=Capacity(0, 0, 190))),
    ("capacity", gpu_spec("a100", 2), dict(capacity=GPU_CAP, allocated=Capacity(0, 0, 0, "a100", 1)), GPU_OK),
    (
        "attributes",
        spec(required_attributes=frozenset({"ssd", "nvme"})),
        {},
        dict(attributes=frozenset({"ssd", "nvme", "ipv6"})),
    ),
    ("uptime", spec(min_uptime_bps=9_991), {}, dict(uptime_bps=9_991)),
    ("price", spec(max_price_per_second=3), {}, dict(prices=FLOOR)),  # the default node quotes 4, floor 2
]


@pytest.mark.parametrize(("name", "s", "bad_kw", "good_kw"), CASES)
def test_filter_rejects(name, s, bad_kw, good_kw) -> None:
    bad = node("bad", **bad_kw)
    with pytest.raises(NoNodeFits) as info:
        place(s, [bad], POLICY)
    assert info.value.rejections == {name: 1}
    assert info.value.role == "primary" and info.value.found == 0
    # a control node that differs in that one respect passes; the bad one is still rejected beside it
    both = [bad, node("good", **good_kw)]
    result = place(s, both, POLICY)
    assert [p.node_id for p in result.primaries] == ["good"]
    assert result.eligible == 1 and result.considered == 2


def test_exclusions() -> None:
    nodes = [node("a", provider_id="p1"), node("b", provider_id="p2"), node("c", provider_id="p3")]
    with pytest.raises(NoNodeFits) as info:
        place(spec(), nodes, POLICY, exclude_nodes=["a"], exclude_providers=["p2", "p3"])
    assert info.value.rejections == {"excluded": 3}
    assert place(spec(), nodes, POLICY, exclude_nodes=["a", "b"]).primaries[0].node_id == "c"


def test_counts_first_failing_filter_only_and_sum() -> None:
    nodes = [
        node("a", online=False, in_maintenance=True),
        node("b", in_maintenance=True, uptime_bps=1),
        node("c", uptime_bps=1),
        node("d", allocated=Capacity(8_000, 0, 0), uptime_bps=1),
    ]
    with pytest.raises(NoNodeFits) as info:
        place(spec(min_uptime_bps=9_000), nodes, POLICY)
    assert info.value.rejections == {"online": 1, "maintenance": 1, "uptime": 1, "capacity": 1}
