"""Which contracts and events are indexed, and how a raw log becomes a decoded event.

A :class:`ContractSpec` registers a contract by its artifact name (addresses come from the deployment
manifest, ABIs from ``contracts/artifacts``); :class:`EventCatalog` turns the specs into the
``eth_getLogs`` filter and decodes logs with ``eth_abi``. Adding a contract to the indexer is adding a
spec, never code here.

JSON form of arguments: integers as decimal strings, addresses checksummed, bytes as 0x hex, bools as
bools, tuples and arrays as lists. Indexed dynamic values (string, bytes, arrays) are only present as
their keccak hash in a topic; they are kept as that 0x hash.

Speed (issue 15 §3: catch-up is bound by decoding and storing). Each registered event gets an
:class:`EventDecoder` once, when the catalog is built: its topics' and data's types resolved, and for the
usual case (every value a single 32-byte word: address, bool, (u)intN, bytesN) a word reader per argument,
so a log is decoded by slicing words, without eth_abi's per-call type lookups and stream machinery. Any
word those readers do not accept as canonical (dirty padding, short data) and every other type (bytes,
string, arrays, tuples) go through ``eth_abi`` as before, so malformed data fails exactly as it did.
Checksummed addresses are cached (the same accounts recur in every range).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chain.artifacts import Artifact, load_artifact
from chain.deploy import Manifest
from engine.indexer.errors import UnknownContract

ZERO_ADDRESS = "0x" + "00" * 20
_ADDRESS_TOPIC = "0x" + "00" * 12  # an address word's zero padding
_ZERO_WORD = bytes(32)
_ONE_WORD = bytes(31) + b"\x01"

try:  # the C keccak of safe-pysha3 when installed: ~10x pycryptodome's, for checksums of new addresses
    from sha3 import keccak_256 as _keccak_256  # type: ignore[import-not-found, unused-ignore]

    def _keccak_hex(data: bytes) -> str:
        return str(_keccak_256(data).hexdigest())

except ImportError:  # pragma: no cover - eth_utils' backend (pycryptodome)

    def _keccak_hex(data: bytes) -> str:
        return keccak(data).hex()


_CHECKSUMS: dict[str, str] = {}
_CHECKSUM_CACHE_SIZE = 100_000


def checksum_address(lower_hex: str) -> str:
    """EIP-55 form of a 40-digit lower-case hex address (no 0x), cached; equals ``to_checksum_address``."""
    found = _CHECKSUMS.get(lower_hex)
    if found is None:
        digest = _keccak_hex(lower_hex.encode("ascii"))
        # per digit: upper-case where the hash's nibble is >= 8 (no per-character method call)
        found = "0x" + "".join(
            [u if d > "7" else c for c, u, d in zip(lower_hex, lower_hex.upper(), digest, strict=False)]
        )
        if len(_CHECKSUMS) >= _CHECKSUM_CACHE_SIZE:
            _CHECKSUMS.clear()
        _CHECKSUMS[lower_hex] = found
    return found


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


@dataclass(slots=True)
class DecodedLog:
    """One decoded log, built per log at catch-up: read-only by convention, not ``frozen`` (a frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__``, 3x the cost)."""

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


@contextmanager
def gc_paused() -> Iterator[None]:
    """Cyclic GC off for a synchronous burst of allocations (decoding a range: tens of thousands of dicts
    and strings, none of them cyclic garbage); the collector's passes over the growing heap cost about a
    third of decoding otherwise. Used around synchronous bursts, and around the receiving of one range's
    responses (:meth:`engine.indexer.indexer.EventIndexer._receive`, awaits included); other coroutines and
    threads only see collection delayed. Interleaved uses never leave it off: the use that found it on
    turns it back on at its exit (maybe while another use is still inside: that one just collects)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _NotCanonical(Exception):
    """A word the fast reader does not take as is: decode it with eth_abi instead (which may raise)."""


WordReader = Callable[[bytes], Any]


def _word_reader(kind: str) -> WordReader | None:
    """A reader of one 32-byte ABI word of type ``kind`` into its JSON form (see the module docstring),
    raising :class:`_NotCanonical` on anything eth_abi would not decode to the same value; ``None`` for a
    type that is not one word (or not handled here)."""
    if kind == "address":

        def address(word: bytes) -> str:
            if len(word) != 32 or word[:12] != _ZERO_WORD[:12]:
                raise _NotCanonical
            return checksum_address(word[12:].hex())

        return address
    if kind == "bool":

        def boolean(word: bytes) -> bool:
            if word == _ZERO_WORD:
                return False
            if word == _ONE_WORD:
                return True
            raise _NotCanonical

        return boolean
    for prefix, signed in (("uint", False), ("int", True)):
        if kind.startswith(prefix) and kind[len(prefix) :].isdigit():
            bits = int(kind[len(prefix) :])
            if not (8 <= bits <= 256 and bits % 8 == 0):
                return None
            low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1)) if signed else (0, 2**bits)

            def integer(word: bytes, low: int = low, high: int = high, signed: bool = signed) -> str:
                if len(word) != 32:
                    raise _NotCanonical
                value = int.from_bytes(word, "big", signed=signed)
                if not low <= value < high:
                    raise _NotCanonical
                return str(value)

            return integer
    if kind.startswith("bytes") and kind[5:].isdigit():
        size = int(kind[5:])
        if not 1 <= size <= 32:
            return None

        def fixed_bytes(word: bytes, size: int = size) -> str:
            if len(word) != 32 or (size < 32 and word[size:] != _ZERO_WORD[size:]):
                raise _NotCanonical
            return "0x" + word[:size].hex()

        return fixed_bytes
    return None


class EventDecoder:
    """One registered event's decoder, built once (types resolved, word readers picked)."""

    def __init__(self, event: EventAbi) -> None:
        self.event = event
        inputs = event.inputs
        self.names = tuple(str(p["name"]) for p in inputs)  # ABI order
        indexed = [p for p in inputs if p.get("indexed")]
        plain = [p for p in inputs if not p.get("indexed")]
        self.topic_count = len(indexed) + 1
        # (name, type, static, reader) per indexed argument; a dynamic one stays its topic (keccak hash)
        self.indexed: tuple[tuple[str, str, bool, WordReader | None], ...] = tuple(
            (str(p["name"]), kind, _is_static_word(kind), _word_reader(kind))
            for p in indexed
            for kind in (_canonical_type(p),)
        )
        self.plain_names = tuple(str(p["name"]) for p in plain)
        self.indexed_names = tuple(name for name, *_ in self.indexed)
        self.in_abi_order = self.indexed_names + self.plain_names == self.names
        self.plain_types = [_canonical_type(p) for p in plain]
        readers = [_word_reader(kind) for kind in self.plain_types]
        self.plain_readers: tuple[WordReader, ...] | None = (
            tuple(cast(WordReader, r) for r in readers) if all(r is not None for r in readers) else None
        )
        self.plain_size = 32 * len(self.plain_types)
        self.address_args = tuple(str(p["name"]) for p in inputs if p["type"] == "address")
        self.ref_arg = (
            event.ref_arg
            if any(p["name"] == event.ref_arg and p["type"] == "bytes32" for p in inputs)
            else None
        )

    def _topic_value(self, kind: str, reader: WordReader | None, topic: str) -> Any:
        raw = _hex_bytes(topic)
        if reader is not None:
            try:
                return reader(raw)
            except _NotCanonical:
                pass
        (value,) = abi_decode([kind], raw)
        return to_json_value(kind, value)

    def _plain_values(self, data_hex: str) -> list[Any]:
        data = _hex_bytes(data_hex)
        readers = self.plain_readers
        if readers is not None and len(data) >= self.plain_size:
            try:
                return [read(data[32 * i : 32 * i + 32]) for i, read in enumerate(readers)]
            except _NotCanonical:
                pass
        decoded = abi_decode(self.plain_types, data)
        return [to_json_value(kind, value) for kind, value in zip(self.plain_types, decoded, strict=True)]

    def decode(self, log: Mapping[str, Any], topics: list[str], address: str) -> DecodedLog | None:
        if len(topics) != self.topic_count:
            return None  # same signature, different indexing: not the event we registered
        found: list[Any] = []
        for (_name, kind, static, reader), topic in zip(self.indexed, topics[1:], strict=True):
            if not static:
                found.append(topic)
            elif kind == "address" and len(topic) == 66 and topic.startswith(_ADDRESS_TOPIC):
                # the usual indexed argument, read off the hex (fromhex validates a new address's digits)
                lower = topic[26:]
                checksummed = _CHECKSUMS.get(lower)
                found.append(
                    checksummed if checksummed is not None else checksum_address(bytes.fromhex(lower).hex())
                )
            else:
                found.append(self._topic_value(kind, reader, topic))
        if self.plain_names:
            found += self._plain_values(str(log.get("data", "0x")))
        if self.in_abi_order:  # the usual case: indexed arguments first
            args = dict(zip(self.names, found, strict=True))
        else:
            values = dict(zip(self.indexed_names + self.plain_names, found, strict=True))
            args = {name: values[name] for name in self.names}  # ABI order
        accounts: dict[str, str] = {}
        for name in self.address_args:
            account = args[name].lower()
            if account != ZERO_ADDRESS:
                accounts[account] = f"{accounts[account]},{name}" if account in accounts else name
        block_number, tx_index, log_index = log["blockNumber"], log["transactionIndex"], log["logIndex"]
        return DecodedLog(
            block_number if isinstance(block_number, int) else int(str(block_number), 16),
            str(log["blockHash"]).lower(),
            str(log["transactionHash"]).lower(),
            tx_index if isinstance(tx_index, int) else int(str(tx_index), 16),
            log_index if isinstance(log_index, int) else int(str(log_index), 16),
            self.event.contract,
            address,
            self.event.name,
            args,
            args[self.ref_arg] if self.ref_arg is not None else None,
            accounts,
        )


class EventCatalog:
    """The registered contracts' addresses and events, keyed for decoding."""

    def __init__(self, events: Mapping[tuple[str, str], EventAbi]) -> None:
        self._events = dict(events)  # (lower-case address, topic0) -> event
        self._decoders = {key: EventDecoder(event) for key, event in self._events.items()}

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
        topics = [t.lower() if isinstance(t, str) else str(t).lower() for t in log.get("topics", ())]
        if not topics:
            return None
        address = str(log["address"]).lower()
        decoder = self._decoders.get((address, topics[0]))
        if decoder is None:
            return None
        return decoder.decode(log, topics, address)
