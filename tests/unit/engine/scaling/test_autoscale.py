"""The autoscale decision, table-driven: cooldown, bounds, too few samples, above / below target with
tolerance, samples from before the last scaling or outside the window ignored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.scaling.autoscale import Policy, Sample, decide

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
P = Policy(min_replicas=1, max_replicas=4, cpu_target_bps=6_000, cooldown_seconds=120)


def s(ago: int, util: int, replicas: int = 2) -> Sample:
    return Sample(NOW - timedelta(seconds=ago), replicas, util)


def three(util: int, replicas: int = 2) -> list[Sample]:
    return [s(30, util, replicas), s(20, util, replicas), s(10, util, replicas)]


CASES = [
    ("no samples", P, [], None, 0),
    ("hot: +1", P, three(9_000), None, 1),
    ("just above target, inside tolerance", P, three(6_500), None, 0),
    ("above target + tolerance", P, three(6_700), None, 1),
    ("hot but at max", P, three(9_000, replicas=4), None, 0),
    ("cold: -1", P, three(1_000), None, -1),
    ("cold but at min", P, three(1_000, replicas=1), None, 0),
    ("one replica fewer would exceed target - tolerance", P, three(2_800), None, 0),
    ("one replica fewer stays under", P, three(2_600), None, -1),
    ("too few samples", P, [s(10, 9_000), s(5, 9_000)], None, 0),
    ("inside cooldown", P, three(9_000), NOW - timedelta(seconds=60), 0),
    ("cooldown over, fresh samples", P, three(9_000), NOW - timedelta(seconds=121), 1),
    ("samples before the last scaling are ignored", P, three(9_000), NOW - timedelta(seconds=200), 1),
    (
        "only samples older than the last scaling",
        P,
        [s(300, 9_000), s(290, 9_000), s(280, 9_000)],
        NOW - timedelta(seconds=200),
        0,
    ),
    ("outside the window", P, [s(900, 9_000), s(800, 9_000), s(700, 9_000)], None, 0),
    ("below min: +1 even when cold", Policy(3, 5, 6_000, 60), three(100, replicas=2), None, 1),
    ("above max: -1 even when hot", Policy(1, 2, 6_000, 60), three(9_900, replicas=4), None, -1),
    ("bounds wait for the cooldown", Policy(3, 5, 6_000, 60), three(100), NOW - timedelta(seconds=1), 0),
]


@pytest.mark.parametrize(
    ("policy", "samples", "last", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide(policy: Policy, samples: list[Sample], last: datetime | None, want: int) -> None:
    assert decide(policy, samples, NOW, last) == want
