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
