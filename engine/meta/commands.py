"""Meta commands: the public chain description (``GET /api/chain``) and the counters ``GET /metrics`` shows.

:func:`chain_info` is what a wallet or frontend needs to talk to our contracts: the chain id, the RPC URL
for wallets (``public_rpc_url`` setting, default the URL the service uses), the confirmations a write
waits for, and every deployed contract's address and ABI (the deployment manifest and the compiled
artifacts). :func:`database_answers` and :func:`chain_answers` are the readiness probes of ``GET /readyz``.
No command here raises an error of ours (the probes let the driver's exception through: its type is the
verdict).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain.connect import ChainConnection
from chain.uniswap import contract_artifact
from engine.context import Context
from engine.meta.models import ChainInfo, ContractInfo
from engine.outbox import services as outbox_services


def chain_info(ctx: Context) -> ChainInfo:
    """The chain and the deployed suite, by contract name (sorted)."""
    manifest = ctx.manifest
    return ChainInfo(
        chain_id=ctx.chain_id,
        rpc_url=ctx.settings.public_rpc_url or ctx.chain.url,
        confirmations=ctx.settings.effective_confirmations,
        contracts={
            name: ContractInfo(address=manifest.address(name), abi=list(contract_artifact(name).abi))
            for name in sorted(manifest.contracts)
        },
    )


async def outbox_counts(ctx: Context) -> dict[str, int]:
    """Outbox transactions by status."""
    async with ctx.sessionmaker() as session:
        return dict(await outbox_services.count_by_status(session))


async def database_answers(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Readiness probe: the database answers ``SELECT 1`` (raises the driver's error otherwise)."""
    async with sessionmaker() as session:
        await session.execute(text("SELECT 1"))


async def chain_answers(chain: ChainConnection) -> None:
    """Readiness probe: the chain node answers ``eth_blockNumber`` (raises the transport error otherwise)."""
    await chain.w3.eth.block_number
