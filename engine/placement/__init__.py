"""Placement: choose nodes for a deployment spec (hard filters, a documented score, anti-affinity).

``place`` is pure domain code over a ``NodeCandidate`` list; ``store`` runs it against the database
(filters and score in SQL, ``place`` on a short list). Layout: ``models`` (value objects), ``errors``,
``pricing`` (rates), ``filters`` (hard filters, the reference pass), ``scoring`` (the score), ``services``
(``place``), ``store`` (candidates from the database; import it from there).
"""

from engine.placement.errors import NoNodeFits, PlacementError
from engine.placement.filters import FILTERS
from engine.placement.models import (
    PRICE_SCALE,
    Capacity,
    NodeCandidate,
    PlacedNode,
    Placement,
    PricingPolicy,
    RateQuote,
    UnitPrices,
)
from engine.placement.pricing import floor_rate, quote, quote_rate
from engine.placement.scoring import DEFAULT_WEIGHTS, ScoreWeights
from engine.placement.services import consumed_by_node, place

__all__ = [
    "DEFAULT_WEIGHTS",
    "FILTERS",
    "PRICE_SCALE",
    "Capacity",
    "NoNodeFits",
    "NodeCandidate",
    "PlacedNode",
    "Placement",
    "PlacementError",
    "PricingPolicy",
    "RateQuote",
    "ScoreWeights",
    "UnitPrices",
    "consumed_by_node",
    "floor_rate",
    "place",
    "quote",
    "quote_rate",
]
