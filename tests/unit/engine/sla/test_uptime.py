"""The SLA arithmetic (engine.sla.services): uptime from ticks, maintenance exclusion, credits, identities."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.sla import services as sv

POLICY = sv.Policy(9_950, 600, ((9_950, 1_000), (9_900, 2_500), (9_500, 5_000)))


def ticks(start: int, oks: list[bool], span: int = 60) -> list[sv.Check]:
    return [sv.Check(start + i * span, span, ok) for i, ok in enumerate(oks)]


def test_every_tick_up_is_full_uptime_and_a_silent_half_is_half() -> None:
    assert sv.measure(ticks(0, [True] * 10), 0, 600, []).uptime_bps == 10_000
    half = sv.measure(ticks(0, [True] * 5 + [False] * 5), 0, 600, [])
    assert (half.up, half.down, half.excluded, half.uptime_bps) == (300, 300, 0, 5_000)
    assert half.down_ticks == 5 and half.failures == {"heartbeat": 5}


def test_a_tick_is_down_when_any_of_its_checks_fails() -> None:
    checks = [*ticks(0, [True] * 10), sv.Check(120, 60, False, "probe", "tcp:80")]
    got = sv.measure(checks, 0, 600, [])
    assert (got.up, got.down, got.failures) == (540, 60, {"probe:tcp:80": 1})


def test_downtime_inside_maintenance_is_excluded_not_counted() -> None:
    got = sv.measure(ticks(0, [True] * 2 + [False] * 6 + [True] * 2), 0, 600, [(120, 480)])
    assert (got.up, got.down, got.excluded, got.uptime_bps) == (240, 0, 360, 10_000)
    assert got.covered == 600


def test_no_ticks_means_no_uptime_and_gaps_count_for_nothing() -> None:
    assert sv.measure([], 0, 600, []).uptime_bps is None
    # the engine looked at 0 and 300 only (span 60): 120 s counted, the rest unknown
    got = sv.measure([sv.Check(0, 60, True), sv.Check(300, 60, False)], 0, 600, [])
    assert (got.up, got.down, got.covered) == (60, 60, 120)


def test_ticks_are_cut_at_the_next_tick_and_the_period_end() -> None:
    got = sv.measure([sv.Check(0, 100, True), sv.Check(30, 100, False), sv.Check(580, 100, True)], 0, 600, [])
    assert (got.up, got.down) == (30 + 20, 100)


def test_credit_bands_pick_the_highest_band_that_applies() -> None:
    assert POLICY.credit_bps(10_000) == 0 and not POLICY.breached(9_950)
    assert POLICY.breached(9_949) and POLICY.credit_bps(9_949) == 1_000
    assert POLICY.credit_bps(9_899) == 2_500 and POLICY.credit_bps(0) == 5_000
    assert sv.rebate(1_000_001, 5_000) == 500_000  # floor


def test_closed_periods_are_the_last_ones_ended() -> None:
    assert sv.closed_periods(1_250, 600, 2) == [0, 600]
    assert sv.closed_periods(1_200, 600, 2) == [0, 600]
    assert sv.closed_periods(500, 600, 2) == []


def test_ref_and_keys_are_deterministic_and_distinct_per_lease_and_period() -> None:
    escrow = "0x" + "11" * 20
    a = sv.seize_ref(31337, escrow, 7, 600)
    assert a == sv.seize_ref(31337, escrow, 7, 600) and len(a) == 32
    assert len({a, sv.seize_ref(31337, escrow, 8, 600), sv.seize_ref(31337, escrow, 7, 1200)}) == 3
    assert sv.outbox_key(1, "seize", 7, 600) == "sla:1:seize:7:600"


def test_evidence_is_canonical_so_its_hash_does_not_depend_on_key_order() -> None:
    assert sv.canonical_json({"b": 1, "a": [1, 2]}) == b'{"a":[1,2],"b":1}'
    assert sv.evidence_hash({"b": 1, "a": 2}) == sv.evidence_hash({"a": 2, "b": 1})


windows_st = st.lists(
    st.tuples(st.integers(-100, 700), st.integers(0, 400)).map(lambda t: (t[0], t[0] + t[1])), max_size=4
)
checks_st = st.lists(
    st.tuples(st.integers(-50, 650), st.integers(1, 200), st.booleans()).map(lambda t: sv.Check(*t)),
    max_size=30,
)


@pytest.mark.fuzzing
@given(checks=checks_st, windows=windows_st)
def test_uptime_never_exceeds_100_percent_and_seconds_add_up(
    checks: list[sv.Check], windows: list[tuple[int, int]]
) -> None:
    got = sv.measure(checks, 0, 600, windows)
    assert got.up >= 0 and got.down >= 0 and got.excluded >= 0
    assert got.covered <= 600
    if got.uptime_bps is not None:
        assert 0 <= got.uptime_bps <= 10_000


@pytest.mark.fuzzing
@given(checks=checks_st, windows=windows_st)
def test_maintenance_never_counts_as_downtime(checks: list[sv.Check], windows: list[tuple[int, int]]) -> None:
    got = sv.measure(checks, 0, 600, windows)
    inside = [sv.Check(c.at, c.span, c.ok) for c in checks]
    # every failing second inside a window is excluded: downtime is at most the failing ticks' time outside
    down_outside = sv.measure([sv.Check(c.at, c.span, False) for c in inside], 0, 600, windows).down
    assert got.down <= down_outside
    # with every tick failing, downtime + excluded = covered, and excluded = the ticks' overlap with windows
    all_down = sv.measure([sv.Check(c.at, c.span, False) for c in checks], 0, 600, windows)
    assert all_down.up == 0 and all_down.down + all_down.excluded == all_down.covered
    # a window covering the whole period leaves nothing counted
    assert sv.measure(checks, 0, 600, [(-10_000, 10_000)]).counted == 0
