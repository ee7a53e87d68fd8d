"""Staking errors. One root (an :class:`~engine.errors.EngineError`), data in attributes and ``details``.

::

    StakingError                                       .code                         status
    ├── InvalidStakeAmount  (.field, .reason)          invalid_stake_amount          422 (nothing built)
    ├── InvalidTiers  (.index, .reason)                invalid_tiers                 422 (nothing enqueued)
    ├── StakingInFlight  (.address, .outbox_id)        staking_in_flight             409 (one at a time)
    ├── StakingRelayUnavailable                        staking_relay_unavailable     503 (no relay configured)
    ├── StakeLocked  (.locked_until)                   stake_locked                  409
    ├── InsufficientStake  (.active, .requested)       insufficient_stake            409
    └── NothingToWithdraw  (.cooling, .cooling_end)    nothing_to_withdraw           409 (none, or cooling)
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class StakingError(EngineError):
    """Root of the staking room's errors."""

    code = "staking_error"
    kind = Kind.INTERNAL


class InvalidStakeAmount(StakingError):
    code = "invalid_stake_amount"
    kind = Kind.UNPROCESSABLE

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", details={"field": field, "reason": reason})
        self.field = field
        self.reason = reason


class InvalidTiers(StakingError):
    code = "invalid_tiers"
    kind = Kind.UNPROCESSABLE

    def __init__(self, index: int | None, reason: str) -> None:
        where = "tiers" if index is None else f"tiers[{index}]"
        super().__init__(f"{where}: {reason}", details={"index": index, "reason": reason})
        self.index = index
        self.reason = reason


class StakingInFlight(StakingError):
    """A managed wallet's previous relayed staking request is not final yet: its by-signature nonce is one
    sequence, so the next request waits for it (poll ``GET /api/staking/me``, ``relay``)."""

    code = "staking_in_flight"
    kind = Kind.CONFLICT

    def __init__(self, address: str, outbox_id: int) -> None:
        super().__init__(
            "the wallet's previous staking request is still being relayed: retry once it is final",
            details={"address": address, "outbox_id": outbox_id},
        )
        self.address = address
        self.outbox_id = outbox_id


class StakingRelayUnavailable(StakingError):
    """This deployment has no relay (no escrow, hence no managed-wallet keyring): managed wallets cannot
    stake here."""

    code = "staking_relay_unavailable"
    kind = Kind.UNAVAILABLE

    def __init__(self) -> None:
        super().__init__("relayed staking is not available on this deployment")


class StakeLocked(StakingError):
    code = "stake_locked"
    kind = Kind.CONFLICT

    def __init__(self, locked_until: int) -> None:
        super().__init__(
            f"the stake is locked until {locked_until} (unix time)", details={"locked_until": locked_until}
        )
        self.locked_until = locked_until


class InsufficientStake(StakingError):
    code = "insufficient_stake"
    kind = Kind.CONFLICT

    def __init__(self, active: int, requested: int) -> None:
        super().__init__(
            f"only {active} active stake, {requested} requested",
            details={"active": str(active), "requested": str(requested)},
        )
        self.active = active
        self.requested = requested


class NothingToWithdraw(StakingError):
    code = "nothing_to_withdraw"
    kind = Kind.CONFLICT

    def __init__(self, cooling: int, cooling_end: int) -> None:
        reason = "nothing is cooling" if cooling == 0 else f"the cooldown ends at {cooling_end} (unix time)"
        super().__init__(reason, details={"cooling": str(cooling), "cooling_end": cooling_end})
        self.cooling = cooling
        self.cooling_end = cooling_end
