"""Exceptions raised by ``chain``.

::

    ChainError
    ├── ChainConnectionError     endpoint unreachable or unsupported URL      (.url)
    ├── ArtifactError            missing/stale compiled contract artifact     (.name)
    ├── DevChainError            anvil could not be started / stopped         (.detail)
    ├── RpcError                 JSON-RPC error answer / transport failure   (.method, .code, .message, .data)
    ├── BatchReadError           items of a batched read failed                (.failures)
    └── ContractRevert           a call or transaction reverted               (.contract, .error, .error_args,
        │                                                                      .data, .tx_hash)
        └── (typed subclasses are created per custom error name, see chain.reverts)
"""

from __future__ import annotations

from typing import Any


class ChainError(Exception):
    """Root of every error raised by the ``chain`` package."""


class ChainConnectionError(ChainError):
    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"cannot use chain at {url}: {detail}")
        self.url = url
        self.detail = detail


class ArtifactError(ChainError):
    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"contract artifact {name}: {detail}")
        self.name = name
        self.detail = detail


class DevChainError(ChainError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ContractRevert(ChainError):
    """A call or transaction reverted. ``error`` is the custom error name (or ``Error``/``Panic``)."""

    def __init__(
        self,
        error: str,
        args: dict[str, Any] | None = None,
        *,
        contract: str | None = None,
        data: bytes = b"",
        tx_hash: str | None = None,
    ) -> None:
        self.error = error
        self.error_args = dict(args or {})
        self.contract = contract
        self.data = data
        self.tx_hash = tx_hash
        shown = ", ".join(f"{k}={v!r}" for k, v in self.error_args.items())
        where = f"{contract}: " if contract else ""
        super().__init__(f"{where}reverted with {error}({shown})")


class RpcError(ChainError):
    """A JSON-RPC request answered with an error object (or the transport failed)."""

    def __init__(self, method: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"{method} failed: {message}" + (f" (code {code})" if code is not None else ""))
        self.method = method
        self.code = code
        self.message = message
        self.data = data


class BatchReadError(ChainError):
    """Some items of a batched read failed; ``failures`` maps item index -> (item, error)."""

    def __init__(self, what: str, failures: dict[int, tuple[Any, ChainError]]) -> None:
        first = next(iter(failures.items()))
        super().__init__(
            f"{what}: {len(failures)} item(s) failed, first #{first[0]} {first[1][0]}: {first[1][1]}"
        )
        self.failures = failures
