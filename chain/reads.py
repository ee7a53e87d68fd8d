"""Batched reads of many balances: one request carries many ``eth_call``s, never one request per wallet.

Over HTTP(S) a :class:`BatchReader` sends raw JSON-RPC batches (:class:`chain.jsonrpc.RpcClient`, chunks of
``chunk_size`` calls, ``concurrency`` chunks in flight). Elsewhere (eth-tester, websockets) it calls
``Multicall.aggregate`` / ``getEthBalances`` in chunks. Both paths return the same numbers; an item that
failed makes the whole read raise :class:`~chain.errors.BatchReadError` naming every failed item.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import aiohttp
from eth_utils.address import to_checksum_address

from chain.connect import ChainConnection
from chain.contracts import MulticallClient
from chain.errors import BatchReadError, ChainError
from chain.jsonrpc import RpcClient
from chain.reverts import decode_revert

BALANCE_OF = bytes.fromhex("70a08231")  # balanceOf(address)

Block = str | int


def _block_param(block: Block) -> str:
    return hex(block) if isinstance(block, int) else block


def _balance_of_calldata(account: str) -> bytes:
    return BALANCE_OF + bytes(12) + bytes.fromhex(to_checksum_address(account)[2:])


def _balance_of_hex(account: str) -> str:
    """``balanceOf(account)`` calldata as hex; a cheap shape check instead of a checksum (keccak) per item."""
    if len(account) != 42 or account[:2] not in ("0x", "0X"):
        raise ValueError(f"not an address: {account!r}")
    int(account, 16)  # raises on non-hex
    return "0x70a08231000000000000000000000000" + account[2:].lower()


class BatchReader:
    """Reads many balances at once. Build one per connection; ``close()`` (or ``async with``) at the end."""

    def __init__(
        self,
        conn: ChainConnection,
        multicall_address: str | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        chunk_size: int = 1000,
        concurrency: int = 4,
        multicall_chunk: int = 500,
        transport: str = "auto",
    ) -> None:
        """``transport``: ``"auto"`` (JSON-RPC batches over HTTP(S), else multicall) or ``"multicall"``."""
        if transport not in ("auto", "multicall"):
            raise ValueError(f"unknown transport {transport!r}")
        self.conn = conn
        self.multicall = MulticallClient(conn.w3, multicall_address) if multicall_address else None
        self.multicall_chunk = multicall_chunk
        self.rpc: RpcClient | None = None
        if conn.kind == "http" and transport == "auto":
            self.rpc = RpcClient(conn.url, session=session, chunk_size=chunk_size, concurrency=concurrency)

    @property
    def mode(self) -> str:
        return "rpc-batch" if self.rpc is not None else "multicall"

    async def close(self) -> None:
        if self.rpc is not None:
            await self.rpc.close()

    async def __aenter__(self) -> BatchReader:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _need_multicall(self) -> MulticallClient:
        if self.multicall is None:
            raise ChainError(
                f"{self.conn.kind} connection has no JSON-RPC batch transport here: "
                "pass multicall_address to BatchReader"
            )
        return self.multicall

    # ---- generic --------------------------------------------------------------------------------

    async def call_many(
        self, calls: Sequence[tuple[str, bytes]], *, block: Block = "latest"
    ) -> list[bytes | ChainError]:
        """``eth_call`` each ``(target, calldata)``; an item that failed is a ``ChainError`` in the list."""
        if self.rpc is not None:
            answers = await self._eth_calls_hex([(t, "0x" + d.hex()) for t, d in calls], block)
            return [a if isinstance(a, ChainError) else bytes.fromhex(a[2:]) for a in answers]
        multicall = self._need_multicall()
        results: list[bytes | ChainError] = []
        for start in range(0, len(calls), self.multicall_chunk):
            part = calls[start : start + self.multicall_chunk]
            for ok, data in await multicall.aggregate(part, block=block):
                results.append(data if ok else decode_revert(data))
        return results

    async def _eth_calls_hex(self, calls: Sequence[tuple[str, str]], block: Block) -> list[str | ChainError]:
        """The JSON-RPC batch path: hex calldata in, hex results (or typed errors) out."""
        assert self.rpc is not None
        tag = _block_param(block)
        targets: dict[str, str] = {}  # checksumming costs a keccak: once per distinct target
        requests = []
        for target, data in calls:
            to = targets.get(target)
            if to is None:
                to = targets[target] = to_checksum_address(target)
            requests.append(("eth_call", ({"to": to, "data": data}, tag)))
        answers = await self.rpc.batch(requests)
        out: list[str | ChainError] = []
        for answer in answers:
            if (exc := answer.exception()) is not None:
                revert = answer.error_data
                out.append(decode_revert(revert) if revert is not None and revert.startswith("0x") else exc)
            elif isinstance(answer.result, str) and answer.result.startswith("0x"):
                out.append(answer.result)
            else:
                out.append(ChainError(f"eth_call answered {answer.result!r:.80}"))
        return out

    # ---- balances -------------------------------------------------------------------------------

    async def token_balances(
        self, token: str, addresses: Sequence[str], block: Block = "latest"
    ) -> list[int]:
        """ERC-20 ``balanceOf`` of every address, in order (raises :class:`BatchReadError` on any failure)."""
        failures: dict[int, tuple[Any, ChainError]] = {}
        balances: list[int] = []
        if self.rpc is not None:
            answers: Sequence[str | bytes | ChainError] = await self._eth_calls_hex(
                [(token, _balance_of_hex(a)) for a in addresses], block
            )
        else:
            answers = await self.call_many([(token, _balance_of_calldata(a)) for a in addresses], block=block)
        for i, answer in enumerate(answers):
            if isinstance(answer, ChainError):
                failures[i] = (addresses[i], answer)
            elif len(answer) != (66 if isinstance(answer, str) else 32):
                failures[i] = (addresses[i], ChainError(f"balanceOf on {token} answered {answer!r:.80}"))
            else:
                balances.append(int(answer, 16) if isinstance(answer, str) else int.from_bytes(answer, "big"))
                continue
            balances.append(0)
        if failures:
            raise BatchReadError(f"token_balances({token})", failures)
        return balances

    async def eth_balances(self, addresses: Sequence[str], block: Block = "latest") -> list[int]:
        """Native balances (wei) of every address, in order."""
        if self.rpc is not None:
            tag = _block_param(block)
            answers = await self.rpc.batch(
                [("eth_getBalance", [to_checksum_address(a), tag]) for a in addresses]
            )
            failures: dict[int, tuple[Any, ChainError]] = {
                i: (addresses[i], exc) for i, a in enumerate(answers) if (exc := a.exception()) is not None
            }
            if failures:
                raise BatchReadError("eth_balances", failures)
            return [int(str(a.result), 16) for a in answers]
        if not self.conn.exact_balances_in_eth_call:
            # In-process chain: nothing to batch, and eth-tester charges eth_call gas to the default
            # sender (its account 0), so Multicall.getEthBalances would under-report that account.
            w3: Any = self.conn.w3
            return [int(await w3.eth.get_balance(to_checksum_address(a), block)) for a in addresses]
        multicall = self._need_multicall()
        out: list[int] = []
        for start in range(0, len(addresses), self.multicall_chunk):
            out += await multicall.eth_balances(addresses[start : start + self.multicall_chunk], block=block)
        return out
