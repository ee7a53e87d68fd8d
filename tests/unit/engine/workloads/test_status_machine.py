"""The deployment status machine's table, checked exhaustively, and the health verdict."""

from __future__ import annotations

import itertools

import pytest

from engine.deployments import status as st
from engine.workloads.health import verdict

LEGAL = {
    ("pending", "funding"),
    ("pending", "placing"),
    ("pending", "closing"),
    ("pending", "closed"),
    ("pending", "failed"),
    ("funding", "placing"),
    ("funding", "starting"),
    ("funding", "closing"),
    ("funding", "closed"),
    ("funding", "failed"),
    ("funding", "expired"),
    ("placing", "funding"),
    ("placing", "starting"),
    ("placing", "closing"),
    ("placing", "closed"),
    ("placing", "failed"),
    ("starting", "running"),
    ("starting", "degraded"),
    ("starting", "placing"),
    ("starting", "failing-over"),
    ("starting", "closing"),
    ("starting", "closed"),
    ("starting", "failed"),
    ("running", "degraded"),
    ("running", "placing"),
    ("running", "starting"),
    ("running", "failing-over"),
    ("running", "closing"),
    ("running", "closed"),
    ("running", "failed"),
    ("degraded", "running"),
    ("degraded", "placing"),
    ("degraded", "starting"),
    ("degraded", "failing-over"),
    ("degraded", "closing"),
    ("degraded", "closed"),
    ("degraded", "failed"),
    ("failing-over", "starting"),
    ("failing-over", "running"),
    ("failing-over", "degraded"),
    ("failing-over", "closing"),
    ("failing-over", "closed"),
    ("failing-over", "failed"),
    ("closing", "closed"),
    ("failed", "closing"),
    ("failed", "closed"),
}
PAIRS = [(a, b) for a, b in itertools.product(st.STATUSES, st.STATUSES) if a != b]


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_every_pair_follows_the_table(src: str, dst: str) -> None:
    if (src, dst) in LEGAL:
        st.check(src, dst)
        assert st.allowed(src, dst)
    else:
        with pytest.raises(st.IllegalTransition) as info:
            st.check(src, dst, 7)
        assert (info.value.deployment_id, info.value.from_status, info.value.to_status) == (7, src, dst)


def test_the_table_and_its_edges() -> None:
    assert set(st.TRANSITIONS) == set(st.STATUSES)
    assert st.TRANSITIONS["closed"] == frozenset()  # terminal
    st.check(None, "funding")
    st.check("running", "running")  # staying is no transition
    for bad in ((None, "running"), ("running", "sleeping"), ("sleeping", "running")):
        with pytest.raises(st.IllegalTransition):
            st.check(*bad)
    # every live status can be closed; nothing leaves the terminal statuses (closed, expired)
    assert st.TERMINAL == {"closed", "expired"} and all(st.TRANSITIONS[s] == frozenset() for s in st.TERMINAL)
    assert all("closed" in st.TRANSITIONS[s] for s in st.STATUSES if s not in st.TERMINAL)


@pytest.mark.parametrize(
    ("current", "reports", "expected"),
    [
        ("starting", [("a", "running", True), ("b", "running", True)], "running"),
        ("starting", [("a", "running", True), ("b", None, True)], "starting"),
        ("starting", [("a", "running", True), ("b", "starting", True)], "starting"),
        ("starting", [("a", "crashed", True)], "degraded"),
        ("running", [("a", "running", True), ("b", "starting", True)], "degraded"),
        ("running", [("a", "running", True), ("b", "running", False)], "degraded"),
        ("running", [("a", "rejected", True)], "degraded"),
        ("degraded", [("a", "running", True)], "running"),
        ("degraded", [("a", "starting", True)], "degraded"),
        ("running", [], "degraded"),
    ],
)
def test_health_verdict(current: str, reports: list[tuple[str, str | None, bool]], expected: str) -> None:
    to, reason = verdict(current, reports)
    assert to == expected
    assert (reason != "") == (to != current)
