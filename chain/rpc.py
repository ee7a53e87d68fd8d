"""Raw JSON-RPC over HTTP with batches: many requests in one POST, a few POSTs in flight.

This is the shortest path to an EVM node and what :mod:`chain.reads` and ``bench/chain_io.py`` use for
bulk reads. :class:`RpcClient` owns (or borrows) one :class:`aiohttp.ClientSession`; build it once and
close it (``async with``).  Per-item errors come back as :class:`~chain.errors.RpcError` values in the
result list; a failed POST raises.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import aiohttp

from chain.errors import RpcError

Request = tuple[str, Sequence[Any]]


class RpcClient:
    def __init__(
        self,
        url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        chunk_size: int = 1000,
        concurrency: int = 4,
        timeout: float = 60.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"RpcClient speaks HTTP(S) only, not {url}")
        if chunk_size < 1 or concurrency < 1:
            raise ValueError("chunk_size and concurrency must be positive")
        self.url = url
        self.chunk_size = chunk_size
        self._own_session = session is None
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._limit = asyncio.Semaphore(concurrency)
        self._next_id = 1

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._own_session = True
        return self._session

    def _take_ids(self, count: int) -> int:
        first = self._next_id
        self._next_id += count
        return first

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _post(self, payload: Any, what: str) -> Any:
        body = json.dumps(payload, separators=(",", ":"))
        async with self._limit:
            try:
                async with self._get_session().post(
                    self.url, data=body, headers={"Content-Type": "application/json"}
                ) as resp:
                    if resp.status != 200:
                        raise RpcError(what, resp.status, f"HTTP {resp.status}: {(await resp.text())[:200]}")
                    return await resp.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise RpcError(what, None, f"transport: {exc!r}") from exc

    async def request(self, method: str, *params: Any) -> Any:
        """One request; an error answer raises :class:`RpcError`."""
        answer = await self._post(
            {"jsonrpc": "2.0", "id": self._take_ids(1), "method": method, "params": list(params)}, method
        )
        return _unwrap(method, answer)

    async def batch(self, requests: Sequence[Request]) -> list[Any]:
        """Results in request order; an item that failed is an :class:`RpcError` instance, not raised."""
        chunks = [requests[i : i + self.chunk_size] for i in range(0, len(requests), self.chunk_size)]
        parts = await asyncio.gather(*(self._batch_chunk(chunk) for chunk in chunks))
        return [item for part in parts for item in part]

    async def _batch_chunk(self, chunk: Sequence[Request]) -> list[Any]:
        if not chunk:
            return []
        first_id = self._take_ids(len(chunk))
        payload = [
            {"jsonrpc": "2.0", "id": first_id + i, "method": method, "params": list(params)}
            for i, (method, params) in enumerate(chunk)
        ]
        answer = await self._post(payload, f"batch of {len(chunk)} ({chunk[0][0]}...)")
        if isinstance(answer, dict):  # the server refused the whole batch
            error = answer.get("error") or {}
            raise RpcError(
                f"batch of {len(chunk)}",
                error.get("code"),
                str(error.get("message", answer)),
                error.get("data"),
            )
        results: list[Any] = [None] * len(chunk)
        seen = [False] * len(chunk)
        for item in answer:
            index = int(item.get("id", -1)) - first_id
            if not 0 <= index < len(chunk):
                continue
            seen[index] = True
            results[index] = _unwrap_item(chunk[index][0], item)
        for index, ok in enumerate(seen):
            if not ok:
                results[index] = RpcError(chunk[index][0], None, "no answer in batch response")
        return results


def _unwrap_item(method: str, item: dict[str, Any]) -> Any:
    error = item.get("error")
    if error is not None:
        if isinstance(error, dict):
            return RpcError(method, error.get("code"), str(error.get("message", "")), error.get("data"))
        return RpcError(method, None, str(error))
    return item.get("result")


def _unwrap(method: str, answer: Any) -> Any:
    if not isinstance(answer, dict):
        raise RpcError(method, None, f"unexpected answer {answer!r:.200}")
    result = _unwrap_item(method, answer)
    if isinstance(result, RpcError):
        raise result
    return result
