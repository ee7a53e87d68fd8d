"""Which contracts and events are indexed, and how a raw log becomes a decoded event.

A :class:`ContractSpec` registers a contract by its artifact name (addresses come from the deployment
manifest, ABIs from ``contracts/artifacts``); :class:`EventCatalog` turns the specs into the
``eth_getLogs`` filter and decodes logs with ``eth_abi``. Adding a contract to the indexer is adding a
spec, never code here.

JSON form of arguments: integers as decimal strings, addresses checksummed, bytes as 0x hex, bools as
bools, tuples and arrays as lists. Indexed dynamic values (string, bytes, arrays) are only present as
their keccak hash in a topic; they are kept as that 0x hash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chain.artifacts import Artifact, load_artifact
from chain.deploy import Manifest
from engine.indexer.errors import UnknownContract

ZERO_ADDRESS = "0x" + "00" * 20
_STATIC_INDEXABLE = ("address", "bool", "uint", "int", "bytes")  # bytes<N> only: see _is_static


@dataclass(frozen=True)
class ContractSpec:
    """Index ``name``'s ``events`` (``None``: every non-anonymous event of its ABI).

    ``ref_arg``: the bytes32 argument stored in the queryable ``ref`` column, in any event that has it.
    """

    name: str
    events: tuple[str, ...] | None = None
    ref_arg: str = "ref"


def _canonical_type(param: Mapping[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param.get("components", []))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _is_static_word(kind: str) -> bool:
    """A type whose indexed topic holds the value itself (not its hash)."""
    if "[" in kind or kind.startswith("(") or kind in ("string", "bytes"):
        return False
    return kind.startswith(_STATIC_INDEXABLE)


@dataclass(frozen=True)
class EventAbi:
    contract: str
    name: str
    inputs: tuple[dict[str, Any], ...] = field(repr=False)
    ref_arg: str = "ref"

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(_canonical_type(p) for p in self.inputs)})"

    @property
    def topic0(self) -> str:
        return "0x" + keccak(text=self.signature).hex()


@dataclass(frozen=True)
class DecodedLog:
    block_number: int
    block_hash: str
    tx_hash: str
    tx_index: int
    log_index: int
    contract: str
    address: str  # lower-case
    event: str
    args: dict[str, Any]  # JSON form
    ref: str | None
    accounts: dict[str, str]  # lower-case address -> comma-joined argument names


def to_json_value(kind: str, value: Any) -> Any:
    """One decoded ABI value in its JSON form (see the module docstring)."""
    if kind.endswith("]"):
        inner = kind[: kind.rindex("[")]
        return [to_json_value(inner, v) for v in value]
    if kind.startswith("("):
        parts = _split_tuple(kind[1 : kind.rindex(")")])
        return [to_json_value(t, v) for t, v in zip(parts, value, strict=True)]
    if kind == "address":
        return to_checksum_address(value)
    if kind == "bool":
        return bool(value)
    if kind.startswith(("uint", "int")):
        return str(int(value))
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return value


def _split_tuple(body: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    if body:
        parts.append(body[start:])
    return parts


def _hex_int(value: Any) -> int:
    return value if isinstance(value, int) else int(str(value), 16)


def _hex_bytes(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


class EventCatalog:
    """The registered contracts' addresses and events, keyed for decoding."""

    def __init__(self, events: Mapping[tuple[str, str], EventAbi]) -> None:
        self._events = dict(events)  # (lower-case address, topic0) -> event

    @classmethod
    def build(
        cls,
        manifest: Manifest,
        specs: Sequence[ContractSpec | str],
        *,
        artifacts: Callable[[str], Artifact] = load_artifact,
    ) -> EventCatalog:
        events: dict[tuple[str, str], EventAbi] = {}
        for raw in specs:
            spec = ContractSpec(raw) if isinstance(raw, str) else raw
            if spec.name not in manifest.contracts:
                raise UnknownContract(spec.name, f"not in the manifest of chain {manifest.chain_id}")
            address = manifest.address(spec.name).lower()
            abi_events = {
                str(e["name"]): EventAbi(spec.name, str(e["name"]), tuple(e.get("inputs", [])), spec.ref_arg)
                for e in artifacts(spec.name).abi
                if e.get("type") == "event" and not e.get("anonymous", False)
            }
            wanted = spec.events if spec.events is not None else tuple(abi_events)
            for name in wanted:
                if name not in abi_events:
                    raise UnknownContract(spec.name, f"its ABI has no event {name!r}")
                event = abi_events[name]
                events[(address, event.topic0)] = event
        return cls(events)

    @property
    def addresses(self) -> list[str]:
        return sorted({address for address, _ in self._events})

    @property
    def topics(self) -> list[str]:
        return sorted({topic for _, topic in self._events})

    def log_filter(self, from_block: int, to_block: int) -> dict[str, Any]:
        """``eth_getLogs`` parameters for the registered contracts and events over a block range."""
        return {
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "address": self.addresses,
            "topics": [self.topics],
        }

    def decode(self, log: Mapping[str, Any]) -> DecodedLog | None:
        """Decode one wire-format log; ``None`` for a log that is not a registered event."""
        topics = [str(t).lower() for t in log.get("topics", [])]
        if not topics:
            return None
        address = str(log["address"]).lower()
        event = self._events.get((address, topics[0]))
        if event is None:
            return None
        indexed = [p for p in event.inputs if p.get("indexed")]
        plain = [p for p in event.inputs if not p.get("indexed")]
        if len(indexed) != len(topics) - 1:
            return None  # same signature, different indexing: not the event we registered
        values: dict[str, Any] = {}
        for param, topic in zip(indexed, topics[1:], strict=True):
            kind = _canonical_type(param)
            if _is_static_word(kind):
                (value,) = abi_decode([kind], _hex_bytes(topic))
                values[param["name"]] = to_json_value(kind, value)
            else:
                values[param["name"]] = topic  # the keccak hash of the value
        plain_types = [_canonical_type(p) for p in plain]
        decoded = abi_decode(plain_types, _hex_bytes(str(log.get("data", "0x"))))
        for param, kind, value in zip(plain, plain_types, decoded, strict=True):
            values[param["name"]] = to_json_value(kind, value)
        args = {str(p["name"]): values[p["name"]] for p in event.inputs}  # ABI order
        accounts: dict[str, list[str]] = {}
        for param in event.inputs:
            if param["type"] == "address" and args[param["name"]].lower() != ZERO_ADDRESS:
                accounts.setdefault(args[param["name"]].lower(), []).append(str(param["name"]))
        ref_param = next((p for p in event.inputs if p["name"] == event.ref_arg), None)
        ref = args[event.ref_arg] if ref_param is not None and ref_param["type"] == "bytes32" else None
        return DecodedLog(
            block_number=_hex_int(log["blockNumber"]),
            block_hash=str(log["blockHash"]).lower(),
            tx_hash=str(log["transactionHash"]).lower(),
            tx_index=_hex_int(log["transactionIndex"]),
            log_index=_hex_int(log["logIndex"]),
            contract=event.contract,
            address=address,
            event=event.name,
            args=args,
            ref=ref,
            accounts={a: ",".join(r) for a, r in accounts.items()},
        )
