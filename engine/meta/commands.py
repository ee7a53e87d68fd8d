"""Meta commands: the chain description (``GET /api/chain``) and the scrape-time gauges of ``GET /metrics``.

:func:`chain_info` is what a wallet or frontend needs to talk to our contracts: the chain id, the RPC URL
for wallets (``public_rpc_url`` setting, default the URL the service uses), the confirmations a write
waits for, and every deployed contract's address and ABI (the deployment manifest and the compiled
artifacts). :func:`database_answers` and :func:`chain_answers` are the readiness probes of ``GET /readyz``.
No command here raises an error of ours (the probes let the driver's exception through: its type is the
verdict).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from eth_utils.address import to_checksum_address
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain import jsonrpc as rpc
from chain.connect import ChainConnection
from chain.uniswap import contract_artifact
from engine.context import Context
from engine.indexer.models import IndexerCursor
from engine.meta.models import ChainInfo, ContractInfo, OutboxGauge, ServiceGauges
from engine.outbox import services as outbox_services
from engine.outbox.models import SignerNonce

log = logging.getLogger(__name__)

CHAIN_SCRAPE_TIMEOUT = 2.0  # seconds a /metrics scrape waits for the chain's head and nonce


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


def _quantity(value: object) -> int:
    """A JSON-RPC quantity: hex over the wire, an int from eth-tester."""
    return int(value, 16) if isinstance(value, str) else int(value)  # type: ignore[call-overload]


async def service_gauges(ctx: Context, *, chain_timeout: float = CHAIN_SCRAPE_TIMEOUT) -> ServiceGauges:
    """The scrape-time gauges of ``GET /metrics``: open outbox rows per status with the oldest one's age
    (one query), the sender's next nonce and the indexer's cursor (one query), and the chain's head and
    the signer's mined transaction count (one JSON-RPC batch, at most ``chain_timeout`` seconds: a slow
    or absent chain leaves the chain figures ``None`` and never fails the scrape)."""
    address = ctx.signer_address.lower()
    async with ctx.sessionmaker() as session:
        open_rows = await outbox_services.open_by_status(session)
        next_nonce, indexer_block = (
            await session.execute(
                select(
                    select(SignerNonce.next_nonce)
                    .where(SignerNonce.address == address, SignerNonce.chain_id == ctx.chain_id)
                    .scalar_subquery(),
                    select(IndexerCursor.block_number)
                    .where(IndexerCursor.chain_id == ctx.chain_id)
                    .scalar_subquery(),
                )
            )
        ).one()
    now = datetime.now(UTC)
    outbox = {
        status: OutboxGauge(count, None if oldest is None else max(0.0, (now - oldest).total_seconds()))
        for status, (count, oldest) in open_rows.items()
    }
    head: int | None = None
    mined: int | None = None
    try:
        results = await asyncio.wait_for(
            rpc.batch(
                ctx.chain,
                [
                    ("eth_blockNumber", []),
                    ("eth_getTransactionCount", [to_checksum_address(address), "latest"]),
                ],
            ),
            chain_timeout,
        )
        head, mined = (_quantity(r.unwrap()) for r in results)
    except Exception as exc:  # the chain's state is a gauge here, not a precondition
        log.warning("metrics: chain did not answer (%r)", exc)
    return ServiceGauges(
        outbox=outbox,
        chain_reachable=head is not None,
        head_block=head,
        indexer_block=indexer_block,
        indexer_lag_blocks=None if head is None or indexer_block is None else max(0, head - indexer_block),
        next_nonce=next_nonce,
        mined_nonce=mined,
        nonce_lag=None if mined is None or next_nonce is None else max(0, next_nonce - mined),
    )


async def database_answers(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Readiness probe: the database answers ``SELECT 1`` (raises the driver's error otherwise)."""
    async with sessionmaker() as session:
        await session.execute(text("SELECT 1"))


async def chain_answers(chain: ChainConnection) -> None:
    """Readiness probe: the chain node answers ``eth_blockNumber`` (raises the transport error otherwise)."""
    await chain.w3.eth.block_number
