"""Value types of the meta room (no tables): what ``GET /api/chain`` describes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ContractInfo:
    address: str
    abi: list[Any]


@dataclass(frozen=True)
class ChainInfo:
    chain_id: int
    rpc_url: str
    confirmations: int
    contracts: dict[str, ContractInfo]


@dataclass(frozen=True)
class OutboxGauge:
    """Open outbox rows of one status and the age of the oldest one (``None``: no row)."""

    count: int
    oldest_age_seconds: float | None


@dataclass(frozen=True)
class ServiceGauges:
    """What ``GET /metrics`` reads from the database and the chain at scrape time (same answer in every
    process). A chain figure is ``None`` when the chain did not answer in time or there is nothing to
    compare yet (no nonce row: the sender never signed; no cursor: the indexer never ran)."""

    outbox: dict[str, OutboxGauge]
    chain_reachable: bool
    head_block: int | None
    indexer_block: int | None
    indexer_lag_blocks: int | None
    next_nonce: int | None
    mined_nonce: int | None
    nonce_lag: int | None
