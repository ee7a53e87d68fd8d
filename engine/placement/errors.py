"""Placement errors (data as attributes and in ``details``)::

EngineError
 └── PlacementError            root of this package's errors
      └── NoNodeFits           nothing (or not enough) passed the filters: 409 ``no_node_fits``, or
                               422 ``max_price_below_floor`` when the user's cap is below every rate
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class PlacementError(EngineError):
    """Root of placement errors."""

    code = "placement_error"
    kind = Kind.CONFLICT


class NoNodeFits(PlacementError):
    """Not enough nodes fit. ``role`` is ``"primary"`` or ``"backup"``; ``needed`` / ``found`` count nodes
    for that role; ``rejections`` maps a filter name (``engine.placement.filters.FILTERS``, plus
    ``anti_affinity`` for the backup's provider/region rule) to how many candidates it rejected first;
    ``floor_rate`` is the cheapest rate any node could quote for these resources, and ``reason`` is
    ``"max_price_below_floor"`` when the user's cap is below it (422), else ``"filters"`` (409)."""

    code = "no_node_fits"
    kind = Kind.CONFLICT

    def __init__(
        self,
        *,
        role: str,
        needed: int,
        found: int,
        rejections: dict[str, int],
        floor_rate: int,
        reason: str = "filters",
    ) -> None:
        self.role = role
        self.needed = needed
        self.found = found
        self.rejections = {k: v for k, v in rejections.items() if v}
        self.floor_rate = floor_rate
        self.reason = reason
        below_floor = reason == "max_price_below_floor"
        if below_floor:
            msg = f"max price is below the cheapest possible rate ({floor_rate} credit units/s)"
        else:
            top = ", ".join(f"{k}={v}" for k, v in sorted(self.rejections.items(), key=lambda kv: -kv[1]))
            msg = f"no node fits for {role}: needed {needed}, found {found} ({top or 'no candidates'})"
        super().__init__(
            msg,
            code="max_price_below_floor" if below_floor else None,
            kind=Kind.UNPROCESSABLE if below_floor else None,
            details={
                "role": role,
                "needed": needed,
                "found": found,
                "rejections": self.rejections,
                "floor_rate": floor_rate,
                "reason": reason,
            },
        )
