"""Placement: choose nodes for a deployment spec (hard filters, a documented score, anti-affinity).

Pure domain code, no database: callers load a ``NodeCandidate`` snapshot (optionally a ``CandidateIndex``
built once) and call ``place``. Layout: ``models`` (value objects), ``errors``, ``pricing`` (rates),
``filters`` (hard filters, the hot loop), ``scoring`` (the score), ``index`` (pre-bucketed snapshot),
``services`` (``place``).
"""

from engine.placement.errors import NoNodeFits, PlacementError
from engine.placement.filters import FILTERS
from engine.placement.index import CandidateIndex
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
    "CandidateIndex",
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
