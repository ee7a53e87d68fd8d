"""Raw JSON-RPC through a :class:`ChainConnection`: many calls per request, per-call errors kept.

Used by the outbox sender, the event indexer and wallet reads. web3's batch API raises when any call in a
batch fails; callers here need the opposite (one "nonce too low" among 500 sends is expected). Unlike
:class:`chain.rpc.RpcClient` (its own aiohttp session on an HTTP URL, the fastest path for bulk reads), this
goes through the connection's provider, so the in-process eth-tester chain works the same way.
Over HTTP/WS it sends JSON-RPC batches of at most ``chunk`` calls; on eth-tester (no batches) it runs
the calls concurrently through the same provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from web3.types import RPCEndpoint

from chain.connect import ChainConnection
from chain.errors import RpcError

__all__ = ["Call", "RpcError", "RpcResult", "batch", "call", "call_ok", "to_wire"]

Call = tuple[str, list[Any]]


@dataclass(frozen=True)
class RpcResult:
    result: Any = None
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        return str((self.error or {}).get("message", ""))

    @property
    def error_data(self) -> str | None:
        data = (self.error or {}).get("data")
        return data if isinstance(data, str) else None


def _to_result(resp: Any) -> RpcResult:
    if isinstance(resp, dict) and resp.get("error") is not None:
        err = resp["error"]
        return RpcResult(error=err if isinstance(err, dict) else {"message": str(err)})
    if isinstance(resp, dict):
        return RpcResult(result=resp.get("result"))
    return RpcResult(error={"message": f"malformed response {resp!r}"})


def to_wire(value: Any) -> Any:
    """Python-typed RPC results (eth-tester through web3's formatters) back to JSON-RPC wire form."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    return value


async def call(conn: ChainConnection, method: str, params: list[Any]) -> RpcResult:
    try:
        if conn.kind == "eth-tester":
            # eth-tester's provider speaks Python types, not the wire format: go through web3's request
            # manager (which applies the tester's request/result formatters), then back to wire form.
            return RpcResult(result=to_wire(await conn.w3.manager.coro_request(RPCEndpoint(method), params)))
        resp = await conn.w3.provider.make_request(method, params)
    except Exception as exc:  # eth-tester raises instead of returning error objects
        return RpcResult(error={"message": str(exc), "data": getattr(exc, "data", None)})
    return _to_result(resp)


async def call_ok(conn: ChainConnection, method: str, params: list[Any]) -> Any:
    res = await call(conn, method, params)
    if not res.ok:
        err = res.error or {}
        raise RpcError(method, err.get("code"), res.message, err.get("data"))
    return res.result


async def batch(conn: ChainConnection, calls: Sequence[Call], *, chunk: int = 500) -> list[RpcResult]:
    """Results in the order of ``calls``."""
    if not calls:
        return []
    if not conn.supports_rpc_batch:
        return list(await asyncio.gather(*(call(conn, m, p) for m, p in calls)))
    out: list[RpcResult] = []
    provider: Any = conn.w3.provider
    for start in range(0, len(calls), chunk):
        part = list(calls[start : start + chunk])
        try:
            resp = await provider.make_batch_request(part)
        except Exception as exc:
            raise RpcError(part[0][0], None, str(exc)) from exc
        if not isinstance(resp, list):
            raise RpcError(part[0][0], None, f"batch rejected: {resp!r}")
        if len(resp) != len(part):
            raise RpcError(part[0][0], None, f"batch answered {len(resp)} of {len(part)} calls")
        out.extend(_to_result(r) for r in resp)
    return out
