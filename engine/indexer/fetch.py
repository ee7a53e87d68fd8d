"""What the indexer reads from the node: the head, block headers (batched), and logs (split on refusal).

All through :mod:`chain.jsonrpc`, so anvil/any HTTP or WS node and eth-tester share one code path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chain import jsonrpc as rpc
from chain.connect import ChainConnection
from engine.indexer.decoding import EventCatalog


@dataclass(frozen=True)
class BlockHeader:
    number: int
    hash: str  # lower-case 0x hex
    parent_hash: str


def _int(value: Any) -> int:
    return value if isinstance(value, int) else int(str(value), 16)


async def head_number(conn: ChainConnection) -> int:
    return _int(await rpc.call_ok(conn, "eth_blockNumber", []))


async def headers(conn: ChainConnection, numbers: Iterable[int]) -> dict[int, BlockHeader | None]:
    """Headers of ``numbers`` in one JSON-RPC batch; ``None`` for a block the node does not have."""
    wanted = sorted(set(numbers))
    answers = await rpc.batch(conn, [("eth_getBlockByNumber", [hex(n), False]) for n in wanted])
    out: dict[int, BlockHeader | None] = {}
    for number, answer in zip(wanted, answers, strict=True):
        if not answer.ok:
            raise rpc.RpcError("eth_getBlockByNumber", None, f"block {number}: {answer.message}")
        block = answer.result
        out[number] = (
            None
            if block is None
            else BlockHeader(
                _int(block["number"]), str(block["hash"]).lower(), str(block["parentHash"]).lower()
            )
        )
    return out


async def logs(conn: ChainConnection, catalog: EventCatalog, from_block: int, to_block: int) -> list[Any]:
    """The registered events' logs in ``from_block..to_block``.

    A node that refuses the range (too many results, response size, timeout) gets two halves instead,
    down to single blocks.
    """
    if not catalog.addresses:
        return []
    answer = await rpc.call(conn, "eth_getLogs", [catalog.log_filter(from_block, to_block)])
    if answer.ok:
        return list(answer.result or [])
    if from_block >= to_block:
        raise rpc.RpcError("eth_getLogs", None, f"block {from_block}: {answer.message}")
    middle = (from_block + to_block) // 2
    return await logs(conn, catalog, from_block, middle) + await logs(conn, catalog, middle + 1, to_block)
