"""The placement score: one integer per eligible node, lower is better. Documented here; the hot loop in
``engine.placement.filters`` inlines the same arithmetic (a test checks it against ``score`` below).

    price_points  = (exact - floor_exact) * 10_000 // floor_exact     premium over the floor rate, in bps
    uptime_points = 10_000 - uptime_bps                               downtime, in bps
    load_points   = max(cpu, memory) utilisation in bps once this replica runs on the node
    alliance      = alliance_bonus if the spec prefers an alliance and the node is not in it, else 0

    score = price * price_points + uptime * uptime_points + load * load_points + alliance

``exact`` is the node's unrounded rate numerator (``pricing.scaled_cost * multiplier``) and ``floor_exact``
the same at floor prices for an uncertified node, so the price term is exact before its one floor division
and never negative (unless every floor and price is zero). Every term is monotone: a strictly cheaper,
strictly more available, strictly less loaded node in the same alliance position never scores worse.
With the defaults, 1 % of uptime (100 bps) weighs as much as a 10 % price premium or 10 % more load, and
being in the preferred alliance as much as a 20 % price premium.

Ties are broken by ``node_id`` (string order), so the result does not depend on input order.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.money import BPS_DENOMINATOR

# A key packs (score, candidate position): score << INDEX_BITS | position. 2**24 candidates max.
INDEX_BITS = 24
INDEX_MASK = (1 << INDEX_BITS) - 1
MAX_CANDIDATES = 1 << INDEX_BITS


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    price: int = 1
    uptime: int = 10
    load: int = 1
    alliance_bonus: int = 2_000

    def __post_init__(self) -> None:
        for name in ("price", "uptime", "load", "alliance_bonus"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"ScoreWeights.{name} must be a non-negative int, got {value!r}")


DEFAULT_WEIGHTS = ScoreWeights()


def load_bps_after(capacity: int, free: int, request: int) -> int:
    """Utilisation of one resource once ``request`` more is used (``capacity >= 1``)."""
    return (capacity - free + request) * BPS_DENOMINATOR // capacity


def score(
    *,
    exact: int,
    floor_exact: int,
    uptime_bps: int,
    load_bps: int,
    alliance_miss: bool,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
) -> int:
    """Reference implementation of the formula in the module docstring."""
    floor_exact = max(floor_exact, 1)
    price_points = (exact - floor_exact) * BPS_DENOMINATOR // floor_exact
    return (
        weights.price * price_points
        + weights.uptime * (BPS_DENOMINATOR - uptime_bps)
        + weights.load * load_bps
        + (weights.alliance_bonus if alliance_miss else 0)
    )
