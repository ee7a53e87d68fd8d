"""What every engine command is given: one :class:`Context`, built once per process by the runtime.

A command is ``async def command(ctx: Context, <typed arguments>) -> <typed result>``. It owns its database
transaction (``ctx.sessionmaker``), uses the contract clients it was given (``ctx.contracts``), reads the
environment's defaults from ``ctx.settings`` and the time from ``ctx.clock`` / :meth:`Context.chain_now`.
Routes, jobs and the CLI call commands; none of them builds a client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain.alliances import AllianceSplitsClient
from chain.connect import ChainConnection
from chain.contracts import CreditTokenClient, EscrowClient, MulticallClient, RegistryClient
from chain.quotes import Quoter
from chain.staking import PlatformTokenClient, StakingClient
from engine.errors import ContractMissing
from engine.notify import Hub, LocalHub
from engine.settings import Settings

if TYPE_CHECKING:
    from chain.deploy import Manifest
    from chain.uniswap import SwapClients
    from engine.relay.services import Relay


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Contracts:
    """Typed clients for the deployed suite, built once from the manifest. A contract the manifest does
    not name is ``None`` (e.g. a chain with only the credit token)."""

    chain_id: int
    token: CreditTokenClient
    escrow: EscrowClient | None = None
    registry: RegistryClient | None = None
    multicall: MulticallClient | None = None
    staking: StakingClient | None = None  # issue 13: StakingTiers, the escrow's discount oracle
    platform_token: PlatformTokenClient | None = None  # the token staked there
    alliances: AllianceSplitsClient | None = None  # issue 13: AllianceSplits (provider alliances)

    @classmethod
    def from_manifest(cls, w3: Any, manifest: Manifest, chain_id: int) -> Contracts:
        names = manifest.contracts

        def addr(name: str) -> str | None:
            return manifest.address(name) if name in names else None

        escrow, registry, multicall = addr("DeploymentEscrow"), addr("ProviderRegistry"), addr("Multicall")
        return cls(
            chain_id=chain_id,
            token=CreditTokenClient(w3, manifest.address("CreditToken")),
            escrow=EscrowClient(w3, escrow) if escrow else None,
            registry=RegistryClient(w3, registry) if registry else None,
            multicall=MulticallClient(w3, multicall) if multicall else None,
            staking=StakingClient(w3, staking) if (staking := addr("StakingTiers")) else None,
            platform_token=PlatformTokenClient(w3, platform) if (platform := addr("PlatformToken")) else None,
            alliances=AllianceSplitsClient(w3, splits) if (splits := addr("AllianceSplits")) else None,
        )

    def require_escrow(self) -> EscrowClient:
        if self.escrow is None:
            raise ContractMissing("DeploymentEscrow")
        return self.escrow

    def require_registry(self) -> RegistryClient:
        if self.registry is None:
            raise ContractMissing("ProviderRegistry")
        return self.registry

    def require_alliances(self) -> AllianceSplitsClient:
        if self.alliances is None:
            raise ContractMissing("AllianceSplits")
        return self.alliances

    def require_staking(self) -> tuple[StakingClient, PlatformTokenClient]:
        if self.staking is None or self.platform_token is None:
            raise ContractMissing("StakingTiers")
        return self.staking, self.platform_token


@dataclass
class Context:
    """Everything a command may use. Immutable in spirit: built by the runtime, shared by all requests."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    chain: ChainConnection
    contracts: Contracts
    manifest: Manifest
    signer_address: str
    relay: Relay | None = None
    hub: Hub = field(default_factory=LocalHub)
    swaps: SwapClients | None = None  # the swap router and offered tokens (engine.swaps); None: no swaps
    clock: Callable[[], datetime] = utc_now
    # the escrow's quoting key (issue 10): signs every lease open's price; None without an escrow
    quoter: Quoter | None = None
    # (block number, paused) of the escrow's last ``paused()`` read: one read per block (escrow_paused)
    _paused_at: tuple[int, bool] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id

    def require_quoter(self) -> Quoter:
        """Raises ``ContractMissing`` when there is no escrow (hence nothing to quote for)."""
        if self.quoter is None:
            raise ContractMissing("DeploymentEscrow")
        return self.quoter

    async def escrow_paused(self) -> bool:
        """Whether the escrow's emergency pause is on (new opens and top-ups revert; closes, refunds and
        withdrawals work), read at the latest block and cached for that block. ``False`` without an escrow."""
        escrow = self.contracts.escrow
        if escrow is None:
            return False
        block = int(await self.chain.w3.eth.block_number)
        cached = self._paused_at
        if cached is not None and cached[0] == block:
            return cached[1]
        paused = bool((await escrow.call("paused", block=block))[0])
        self._paused_at = (block, paused)
        return paused

    async def chain_now(self) -> int:
        """The latest block's timestamp: the time the contracts will see (dev chains may run ahead)."""
        return int((await self.chain.w3.eth.get_block("latest"))["timestamp"])
