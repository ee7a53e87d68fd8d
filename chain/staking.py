"""Typed clients for the staking contracts: ``PlatformToken`` (the staked ERC-20) and ``StakingTiers``.

Reads with ``eth_call``; writes are calldata only (a user's wallet signs them, or the engine's outbox sends
the operator's and the spend reporter's). The discount formula lives in the contract
(``contracts/src/interfaces/IStakingTiers.sol``); :func:`discount_for` mirrors it for the engine's previews.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chain.contracts import OPERATOR_ROLE, ContractClient, _RoleMixin

SPEND_REPORTER_ROLE = keccak(text="SPEND_REPORTER_ROLE")
TOKEN_UNIT = 10**18  # PlatformToken has 18 decimals; coverPerToken is per whole token
MAX_TIERS = 6
MAX_DISCOUNT_BPS = 6_000
MAX_LOCK = 4 * 365 * 24 * 3600

# EIP-712 request types of the by-signature entry points (``IStakingTiers``; domain "CloudmarketStaking"/"1")
STAKE_REQUEST_FIELDS = [
    {"name": "account", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "lockUntil", "type": "uint32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
UNSTAKE_REQUEST_FIELDS = [
    {"name": "account", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
WITHDRAW_REQUEST_FIELDS = [
    {"name": "account", "type": "address"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


@dataclass(frozen=True)
class Tier:
    """One tier: the active stake it needs (token base units), the remaining lock it needs (seconds, 0 = none)
    and its discount (bps)."""

    min_stake: int
    min_lock: int
    discount_bps: int

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.min_stake, self.min_lock, self.discount_bps)


@dataclass(frozen=True)
class TierSet:
    tiers: tuple[Tier, ...]
    cover_per_token: int  # credit units per second covered by one whole staked token
    activates_at: int = 0  # 0: in force now


@dataclass(frozen=True)
class StakeInfo:
    active: int
    cooling: int
    cooling_end: int
    locked_until: int


@dataclass(frozen=True)
class TierStatus:
    level: int  # 1-based index into the tiers in force, 0 = none
    covered_rate: int  # credit units per second the active stake covers
    discount_bps: int  # what the escrow would apply at an open now (before its own cap)


def covered_rate(active: int, cover_per_token: int) -> int:
    """``floor(active * coverPerToken / 1e18)``, as the contract computes it."""
    return active * cover_per_token // TOKEN_UNIT


def level_for(tiers: Sequence[Tier], stake: StakeInfo, now: int) -> int:
    """The highest tier (1-based) whose stake and remaining lock ``stake`` meets at ``now``; 0 = none."""
    for index in range(len(tiers), 0, -1):
        tier = tiers[index - 1]
        locked_enough = tier.min_lock == 0 or stake.locked_until >= now + tier.min_lock
        if stake.active >= tier.min_stake and locked_enough:
            return index
    return 0


def discount_for(tier_set: TierSet, stake: StakeInfo, spend_rate: int, now: int) -> TierStatus:
    """The contract's formula: level by stake and lock; the discount only while ``spend_rate`` <= covered."""
    level = level_for(tier_set.tiers, stake, now)
    covered = covered_rate(stake.active, tier_set.cover_per_token)
    discount = tier_set.tiers[level - 1].discount_bps if level and spend_rate <= covered else 0
    return TierStatus(level=level, covered_rate=covered, discount_bps=discount)


class PlatformTokenClient(ContractClient):
    """``PlatformToken``: a plain ERC-20 (18 decimals, EIP-2612)."""

    artifact_name = "PlatformToken"

    async def balance_of(self, account: str, *, block: str | int = "latest") -> int:
        return int((await self.call("balanceOf", to_checksum_address(account), block=block))[0])

    async def allowance(self, owner: str, spender: str) -> int:
        owner, spender = to_checksum_address(owner), to_checksum_address(spender)
        return int((await self.call("allowance", owner, spender))[0])

    def encode_approve(self, spender: str, amount: int) -> bytes:
        return self.encode("approve", to_checksum_address(spender), amount)

    def encode_transfer(self, to: str, amount: int) -> bytes:
        return self.encode("transfer", to_checksum_address(to), amount)


def _tiers(raw: Sequence[Sequence[int]]) -> tuple[Tier, ...]:
    return tuple(Tier(int(t[0]), int(t[1]), int(t[2])) for t in raw)


class StakingClient(_RoleMixin):
    """``StakingTiers``: stakes, tiers, the discount oracle."""

    artifact_name = "StakingTiers"
    OPERATOR_ROLE: ClassVar[bytes] = OPERATOR_ROLE
    SPEND_REPORTER_ROLE: ClassVar[bytes] = SPEND_REPORTER_ROLE

    # staker-signed
    def encode_stake(self, amount: int, lock_until: int = 0) -> bytes:
        return self.encode("stake", amount, lock_until)

    def encode_request_unstake(self, amount: int) -> bytes:
        return self.encode("requestUnstake", amount)

    def encode_withdraw(self) -> bytes:
        return self.encode("withdraw")

    # by signature (a managed wallet's request, sent by the engine's signer through the outbox)
    def encode_stake_by_sig(
        self, req: dict[str, Any], permit: tuple[int, int, int, bytes, bytes], sig: bytes
    ) -> bytes:
        r = req
        account = to_checksum_address(r["account"])
        return self.encode(
            "stakeBySig", (account, r["amount"], r["lockUntil"], r["nonce"], r["deadline"]), permit, sig
        )

    def encode_request_unstake_by_sig(self, req: dict[str, Any], sig: bytes) -> bytes:
        r = req
        account = to_checksum_address(r["account"])
        return self.encode("requestUnstakeBySig", (account, r["amount"], r["nonce"], r["deadline"]), sig)

    def encode_withdraw_by_sig(self, req: dict[str, Any], sig: bytes) -> bytes:
        account = to_checksum_address(req["account"])
        return self.encode("withdrawBySig", (account, req["nonce"], req["deadline"]), sig)

    async def nonces(self, account: str) -> int:
        """``account``'s next by-signature nonce (one sequence for stake, unstake and withdraw requests)."""
        return int((await self.call("nonces", to_checksum_address(account)))[0])

    # operator / engine (outbox)
    def encode_schedule_tiers(self, tiers: Sequence[Tier], cover_per_token: int) -> bytes:
        return self.encode("scheduleTiers", [t.as_tuple() for t in tiers], cover_per_token)

    def encode_report_spend_rates(self, accounts: Sequence[str], rates: Sequence[int]) -> bytes:
        return self.encode("reportSpendRates", [to_checksum_address(a) for a in accounts], list(rates))

    # reads
    async def token(self) -> str:
        return to_checksum_address((await self.call("token"))[0])

    async def cooldown(self) -> int:
        return int((await self.call("cooldown"))[0])

    async def tier_delay(self) -> int:
        return int((await self.call("tierDelay"))[0])

    async def stake_of(self, account: str, *, block: str | int = "latest") -> StakeInfo:
        ((active, cooling, cooling_end, locked_until),) = await self.call(
            "stakeOf", to_checksum_address(account), block=block
        )
        return StakeInfo(int(active), int(cooling), int(cooling_end), int(locked_until))

    async def spend_rate_of(self, account: str, *, block: str | int = "latest") -> int:
        return int((await self.call("spendRateOf", to_checksum_address(account), block=block))[0])

    async def tiers(self, *, block: str | int = "latest") -> TierSet:
        raw, cover = await self.call("tiers", block=block)
        return TierSet(_tiers(raw), int(cover))

    async def pending_tiers(self, *, block: str | int = "latest") -> TierSet | None:
        raw, cover, at = await self.call("pendingTiers", block=block)
        return TierSet(_tiers(raw), int(cover), int(at)) if int(at) else None

    async def tier_of(self, account: str, *, block: str | int = "latest") -> TierStatus:
        level, covered, discount = await self.call("tierOf", to_checksum_address(account), block=block)
        return TierStatus(int(level), int(covered), int(discount))

    async def discount_bps(self, account: str, *, block: str | int = "latest") -> int:
        return int((await self.call("discountBps", to_checksum_address(account), block=block))[0])
