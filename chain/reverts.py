"""Turn revert data into typed Python exceptions.

Every custom error name gets one stable subclass of :class:`~chain.errors.ContractRevert`
(:func:`revert_class`), so callers write ``except errors_for("CreditToken").RefAlreadyUsed`` (or
``except revert_class("RefAlreadyUsed")``). Solidity's built-ins decode too: ``Error(string)`` as
``revert_class("Error")`` with ``{"message": ...}``, ``Panic(uint256)`` as ``revert_class("Panic")`` with
``{"code": ..., "reason": ...}``; data with an unknown selector as ``UnknownRevert`` and empty data as
``EmptyRevert``.

Revert data is pulled out of what web3.py 8 raises against a JSON-RPC node (``ContractLogicError.data``,
``Web3RPCError``'s response) and out of eth-tester's ``TransactionFailed`` message, so both dev chains give
the same typed exception. :func:`call_or_raise` / :func:`estimate_or_raise` wrap ``eth_call`` /
``eth_estimateGas`` with that conversion.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from web3.exceptions import ContractLogicError, Web3RPCError

from chain.artifacts import available_artifacts, load_artifact
from chain.errors import ArtifactError, ContractRevert

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)

PANIC_REASONS: dict[int, str] = {
    0x00: "generic compiler panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to uninitialised internal function",
}

# ---- stable exception classes ------------------------------------------------------------------

_CLASSES: dict[str, type[ContractRevert]] = {}


def revert_class(error_name: str) -> type[ContractRevert]:
    """The one :class:`ContractRevert` subclass for custom error ``error_name`` (created on first use)."""
    cls = _CLASSES.get(error_name)
    if cls is None:
        if not error_name.isidentifier():
            raise ValueError(f"not an error name: {error_name!r}")
        cls = type(error_name, (ContractRevert,), {"__module__": __name__, "__qualname__": error_name})
        _CLASSES[error_name] = cls
    return cls


class ContractErrors:
    """Attribute access to the revert classes of one contract: ``errors_for("CreditToken").ZeroRef``."""

    def __init__(self, contract: str, names: Iterable[str]) -> None:
        self.contract = contract
        self.names = frozenset(names)

    def __getattr__(self, name: str) -> type[ContractRevert]:
        if name in self.names:
            return revert_class(name)
        raise AttributeError(f"{self.contract} declares no error {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(self.names)


def error_entries(abi: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [entry for entry in abi if entry.get("type") == "error"]


def errors_for(contract: str | Mapping[str, Any] | list[dict[str, Any]]) -> ContractErrors:
    """Revert classes of a contract, by artifact name or by an ABI list."""
    if isinstance(contract, str):
        abi: Iterable[Mapping[str, Any]] = load_artifact(contract).abi
        name = contract
    else:
        abi = contract if isinstance(contract, list) else [contract]
        name = "<abi>"
    return ContractErrors(name, (str(e["name"]) for e in error_entries(abi)))


# ---- selector registry -------------------------------------------------------------------------


def abi_type(param: Mapping[str, Any]) -> str:
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param.get("components", []))
        return f"({inner}){typ[len('tuple') :]}"
    return typ


@dataclass(frozen=True)
class ErrorSpec:
    contract: str
    name: str
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.arg_types)})"

    @property
    def selector(self) -> bytes:
        return function_signature_to_4byte_selector(self.signature)


class ErrorRegistry:
    """Selector -> custom error, across any number of contract ABIs."""

    def __init__(self) -> None:
        self._by_selector: dict[bytes, list[ErrorSpec]] = {}

    @classmethod
    def from_abis(cls, abis: Mapping[str, Iterable[Mapping[str, Any]]]) -> ErrorRegistry:
        registry = cls()
        for contract, abi in abis.items():
            registry.add_abi(contract, abi)
        return registry

    def add_abi(self, contract: str, abi: Iterable[Mapping[str, Any]]) -> None:
        for entry in error_entries(abi):
            inputs = entry.get("inputs", [])
            spec = ErrorSpec(
                contract=contract,
                name=str(entry["name"]),
                arg_names=tuple(str(p.get("name") or f"arg{i}") for i, p in enumerate(inputs)),
                arg_types=tuple(abi_type(p) for p in inputs),
            )
            specs = self._by_selector.setdefault(spec.selector, [])
            if all(s.signature != spec.signature or s.contract != contract for s in specs):
                specs.append(spec)

    def lookup(self, selector: bytes, contract: str | None = None) -> ErrorSpec | None:
        specs = self._by_selector.get(selector)
        if not specs:
            return None
        for spec in specs:
            if spec.contract == contract:
                return spec
        return specs[0]

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_selector.values())


@lru_cache(maxsize=1)
def _artifact_registry(names: tuple[str, ...]) -> ErrorRegistry:
    registry = ErrorRegistry()
    for name in names:
        try:
            registry.add_abi(name, load_artifact(name).abi)
        except ArtifactError:
            continue  # a broken artifact must not stop decoding the others (decode_revert never raises)
    return registry


def default_registry() -> ErrorRegistry:
    """A registry of the custom errors of every compiled artifact (cached)."""
    return _artifact_registry(tuple(available_artifacts()))


# ---- decoding ----------------------------------------------------------------------------------


def _plain(value: Any, typ: str) -> Any:
    if typ == "address":
        return to_checksum_address(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def decode_revert(
    data: bytes | str | None,
    abis: ErrorRegistry | Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
    *,
    contract: str | None = None,
    tx_hash: str | None = None,
) -> ContractRevert:
    """Decode revert ``data`` into a typed :class:`ContractRevert` (never raises for bad data).

    ``abis`` is a registry, a ``{contract name: abi}`` mapping, or ``None`` for every artifact's errors;
    ``contract`` names the contract called (it breaks selector ties and is stored on the exception).
    """
    raw = _to_bytes(data)
    if abis is None:
        registry = default_registry()
    elif isinstance(abis, ErrorRegistry):
        registry = abis
    else:
        registry = ErrorRegistry.from_abis(abis)

    def make(name: str, args: dict[str, Any], where: str | None = contract) -> ContractRevert:
        return revert_class(name)(name, args, contract=where, data=raw, tx_hash=tx_hash)

    if not raw:
        return make("EmptyRevert", {})
    selector, body = raw[:4], raw[4:]
    try:
        if selector == ERROR_STRING_SELECTOR:
            (message,) = abi_decode(["string"], body)
            return make("Error", {"message": message})
        if selector == PANIC_SELECTOR:
            (code,) = abi_decode(["uint256"], body)
            return make("Panic", {"code": code, "reason": PANIC_REASONS.get(code, "unknown panic code")})
        spec = registry.lookup(selector, contract)
        if spec is not None:
            values = abi_decode(list(spec.arg_types), body)
            args = {n: _plain(v, t) for n, v, t in zip(spec.arg_names, values, spec.arg_types, strict=True)}
            return make(spec.name, args, contract or spec.contract)
    except (DecodingError, ValueError, OverflowError):
        pass
    return make("UnknownRevert", {"selector": "0x" + selector.hex()})


def _to_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    text = data.removeprefix("Reverted ").strip()
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        return b""


# ---- extracting revert data from exceptions ----------------------------------------------------

_REVERT_PREFIX = "execution reverted"


def _from_eth_tester_message(message: str) -> bytes | None:
    """eth-tester says ``execution reverted: b'...'`` (a bytes repr) or, for ``Error(string)``, the text."""
    text = message
    if text.startswith(_REVERT_PREFIX):
        text = text[len(_REVERT_PREFIX) :].lstrip(": ").strip()
    if text.startswith(("b'", 'b"')):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None
        return bytes(value) if isinstance(value, bytes) else None
    if message.startswith(_REVERT_PREFIX + ": "):
        from eth_abi.abi import encode as abi_encode

        return ERROR_STRING_SELECTOR + abi_encode(["string"], [text])
    return None


def revert_data_of(exc: BaseException) -> bytes | None:
    """The revert data carried by ``exc``, or ``None`` if ``exc`` is not a revert."""
    if isinstance(exc, ContractRevert):
        return exc.data
    if isinstance(exc, ContractLogicError):
        data = exc.data
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and data:
            return _to_bytes(data)
        return b""
    if isinstance(exc, Web3RPCError):
        error = (exc.rpc_response or {}).get("error")
        if isinstance(error, dict):
            message = str(error.get("message", ""))
            data = error.get("data")
            if isinstance(data, str) and data.startswith("0x"):
                return _to_bytes(data)
            if _REVERT_PREFIX in message.lower():
                return b""
        return None
    if type(exc).__name__ == "TransactionFailed" and type(exc).__module__.startswith("eth_tester"):
        first = exc.args[0] if exc.args else ""
        if isinstance(first, bytes):
            return first
        return _from_eth_tester_message(str(first)) or b""
    return None


def revert_from_exception(
    exc: BaseException,
    abis: ErrorRegistry | Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
    *,
    contract: str | None = None,
    tx_hash: str | None = None,
) -> ContractRevert | None:
    """A typed revert for ``exc``, or ``None`` when ``exc`` is some other failure (network, nonce...)."""
    data = revert_data_of(exc)
    if data is None:
        return None
    return decode_revert(data, abis, contract=contract, tx_hash=tx_hash)


def _normalized(tx: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(tx)
    for key in ("from", "to"):
        if isinstance(out.get(key), str):
            out[key] = to_checksum_address(out[key])
    return out


async def call_or_raise(
    w3: Any,
    tx: Mapping[str, Any],
    *,
    block: str | int = "latest",
    contract: str | None = None,
    abis: ErrorRegistry | Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
) -> bytes:
    """``eth_call``; a revert raises its typed :class:`ContractRevert` (chained to web3's exception)."""
    try:
        return bytes(await w3.eth.call(_normalized(tx), block))
    except Exception as exc:
        revert = revert_from_exception(exc, abis, contract=contract)
        if revert is None:
            raise
        raise revert from exc


async def estimate_or_raise(
    w3: Any,
    tx: Mapping[str, Any],
    *,
    contract: str | None = None,
    abis: ErrorRegistry | Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
) -> int:
    """``eth_estimateGas``; a revert raises its typed :class:`ContractRevert`."""
    try:
        return int(await w3.eth.estimate_gas(_normalized(tx)))
    except Exception as exc:
        revert = revert_from_exception(exc, abis, contract=contract)
        if revert is None:
            raise
        raise revert from exc
