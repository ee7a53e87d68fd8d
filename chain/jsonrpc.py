"""The one JSON-RPC client: single calls and batches, with one result convention.

**Convention.** Everything that can fail per item returns an :class:`RpcResult` (``ok``, ``result``, the
error object, ``unwrap()``); everything that is one request and must succeed returns the bare ``result``
and raises :class:`~chain.errors.RpcError` (``call_ok``, ``RpcClient.request``; ``RpcResult.unwrap``).
A whole batch that could not be sent (transport down, batch refused) raises :class:`RpcError` too.

Two transports, same results:

* :func:`call` / :func:`call_ok` / :func:`batch` go through a :class:`~chain.connect.ChainConnection`
  (its :meth:`~chain.connect.ChainConnection.request`), so anvil / any HTTP or WS node and the in-process
  eth-tester chain share one code path. Used by the outbox sender, the event indexer and wallet reads.
  Over HTTP/WS a batch is sent as JSON-RPC batches of at most ``chunk`` calls; where the backend has no
  batches (eth-tester) the calls run concurrently through the same provider.
* :class:`RpcClient` owns (or borrows) one :class:`aiohttp.ClientSession` on an HTTP(S) URL and keeps
  several batch POSTs in flight: the fastest path for bulk reads (:mod:`chain.reads`, ``bench/chain_io.py``).

web3's own batch API raises when any call in a batch fails; callers here need the opposite (one "nonce
too low" among 500 sends is expected), hence per-item results.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from chain.connect import ChainConnection, to_wire
from chain.errors import RpcError

__all__ = ["Call", "RpcClient", "RpcError", "RpcResult", "batch", "call", "call_ok", "to_wire"]

Call = tuple[str, Sequence[Any]]


@dataclass(frozen=True)
class RpcResult:
    """The answer to one JSON-RPC call: ``result`` when ``ok``, else the ``error`` object."""

    method: str = ""
    result: Any = None
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        return str((self.error or {}).get("message", ""))

    @property
    def code(self) -> int | None:
        code = (self.error or {}).get("code")
        return code if isinstance(code, int) else None

    @property
    def error_data(self) -> str | None:
        data = (self.error or {}).get("data")
        return data if isinstance(data, str) else None

    def exception(self) -> RpcError | None:
        """The error answer as an :class:`RpcError` (not raised), ``None`` when ``ok``."""
        if self.error is None:
            return None
        return RpcError(self.method, self.code, self.message, self.error.get("data"))

    def unwrap(self) -> Any:
        """The result; an error answer raises :class:`RpcError`."""
        if (exc := self.exception()) is not None:
            raise exc
        return self.result


def _to_result(method: str, resp: Any) -> RpcResult:
    if isinstance(resp, dict) and resp.get("error") is not None:
        err = resp["error"]
        return RpcResult(method, error=err if isinstance(err, dict) else {"message": str(err)})
    if isinstance(resp, dict):
        return RpcResult(method, result=resp.get("result"))
    return RpcResult(method, error={"message": f"malformed response {resp!r:.200}"})


# ---- through a ChainConnection (every backend) ------------------------------------------------------


async def call(conn: ChainConnection, method: str, params: Sequence[Any]) -> RpcResult:
    """One call; an error answer or a transport failure is a result with ``ok == False``."""
    return _to_result(method, await conn.request(method, list(params)))


async def call_ok(conn: ChainConnection, method: str, params: Sequence[Any] = ()) -> Any:
    """One call's result; an error answer raises :class:`RpcError`."""
    return (await call(conn, method, params)).unwrap()


async def batch(conn: ChainConnection, calls: Sequence[Call], *, chunk: int = 500) -> list[RpcResult]:
    """Results in the order of ``calls``."""
    if not calls:
        return []
    if not conn.supports_rpc_batch:
        return list(await asyncio.gather(*(call(conn, m, p) for m, p in calls)))
    out: list[RpcResult] = []
    for start in range(0, len(calls), chunk):
        part = [(m, list(p)) for m, p in calls[start : start + chunk]]
        try:
            resp = await conn.batch_request(part)
        except Exception as exc:
            raise RpcError(part[0][0], None, str(exc)) from exc
        if not isinstance(resp, list):
            raise RpcError(part[0][0], None, f"batch rejected: {resp!r}")
        if len(resp) != len(part):
            raise RpcError(part[0][0], None, f"batch answered {len(resp)} of {len(part)} calls")
        out.extend(_to_result(m, r) for (m, _), r in zip(part, resp, strict=True))
    return out


# ---- raw HTTP(S) with its own session (bulk reads) ---------------------------------------------------


class RpcClient:
    """JSON-RPC over HTTP(S) with batches: many requests in one POST, ``concurrency`` POSTs in flight.

    Build it once and close it (``async with``)."""

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
        """One request's result; an error answer raises :class:`RpcError`."""
        answer = await self._post(
            {"jsonrpc": "2.0", "id": self._take_ids(1), "method": method, "params": list(params)}, method
        )
        return _to_result(method, answer).unwrap()

    async def batch(self, requests: Sequence[Call]) -> list[RpcResult]:
        """Results in request order, one :class:`RpcResult` per request."""
        chunks = [requests[i : i + self.chunk_size] for i in range(0, len(requests), self.chunk_size)]
        parts = await asyncio.gather(*(self._batch_chunk(chunk) for chunk in chunks))
        return [item for part in parts for item in part]

    async def _batch_chunk(self, chunk: Sequence[Call]) -> list[RpcResult]:
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
        results: list[RpcResult | None] = [None] * len(chunk)
        for item in answer:
            index = int(item.get("id", -1)) - first_id
            if 0 <= index < len(chunk):
                results[index] = _to_result(chunk[index][0], item)
        return [
            r if r is not None else RpcResult(chunk[i][0], error={"message": "no answer in batch response"})
            for i, r in enumerate(results)
        ]
