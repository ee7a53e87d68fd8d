"""Thin typed clients over deployed contracts: read with ``eth_call``, build calldata for writes.

Clients never sign or send: writes go through the engine's transaction outbox, which takes the calldata
from ``encode_*`` methods. A revert in a read raises the typed exception from :mod:`chain.reverts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chain.artifacts import Artifact, available_artifacts, load_artifact
from chain.reverts import ContractErrors, ErrorRegistry, abi_type, call_or_raise, errors_for

MINTER_ROLE = keccak(text="MINTER_ROLE")
DEFAULT_ADMIN_ROLE = b"\x00" * 32


@dataclass(frozen=True)
class AbiFunction:
    name: str
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]

    @cached_property
    def selector(self) -> bytes:
        return function_signature_to_4byte_selector(f"{self.name}({','.join(self.input_types)})")

    def encode(self, args: Sequence[Any]) -> bytes:
        return self.selector + abi_encode(list(self.input_types), list(args))

    def decode(self, data: bytes) -> tuple[Any, ...]:
        return tuple(abi_decode(list(self.output_types), data))


def _functions(abi: Sequence[dict[str, Any]]) -> dict[tuple[str, int], AbiFunction]:
    found: dict[tuple[str, int], AbiFunction] = {}
    for entry in abi:
        if entry.get("type") != "function":
            continue
        fn = AbiFunction(
            name=str(entry["name"]),
            input_types=tuple(abi_type(p) for p in entry.get("inputs", [])),
            output_types=tuple(abi_type(p) for p in entry.get("outputs", [])),
        )
        found.setdefault((fn.name, len(fn.input_types)), fn)
    return found


class ContractClient:
    """A deployed contract at ``address`` described by artifact ``artifact_name``."""

    artifact_name: ClassVar[str] = ""

    def __init__(self, w3: Any, address: str, *, artifact: Artifact | None = None) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.artifact = artifact or load_artifact(self.artifact_name)
        self._functions = _functions(self.artifact.abi)
        # Our own ABI first (selector ties go to it); every artifact's errors catch reverts bubbling up
        # from contracts this one calls.
        self._registry = ErrorRegistry.from_abis(
            {self.artifact.name: self.artifact.abi}
            | {name: load_artifact(name).abi for name in available_artifacts() if name != self.artifact.name}
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address})"

    @classmethod
    def artifact_abi(cls) -> list[dict[str, Any]]:
        """The ABI of this client's contract (for code that needs a web3 contract object)."""
        return load_artifact(cls.artifact_name).abi

    @property
    def errors(self) -> ContractErrors:
        return errors_for(self.artifact.abi)

    def function(self, name: str, arity: int) -> AbiFunction:
        try:
            return self._functions[(name, arity)]
        except KeyError:
            raise AttributeError(f"{self.artifact.name} has no function {name} with {arity} args") from None

    def encode(self, name: str, *args: Any) -> bytes:
        """Calldata for ``name(*args)``."""
        return self.function(name, len(args)).encode(args)

    async def call(self, name: str, *args: Any, block: str | int = "latest") -> tuple[Any, ...]:
        """``eth_call`` of a view function; returns the decoded outputs as a tuple."""
        fn = self.function(name, len(args))
        raw = await call_or_raise(
            self.w3,
            {"to": self.address, "data": fn.encode(args)},
            block=block,
            contract=self.artifact.name,
            abis=self._registry,
        )
        return fn.decode(raw)


class CreditTokenClient(ContractClient):
    artifact_name = "CreditToken"
    MINTER_ROLE: ClassVar[bytes] = MINTER_ROLE
    DEFAULT_ADMIN_ROLE: ClassVar[bytes] = DEFAULT_ADMIN_ROLE

    async def balance_of(self, account: str, *, block: str | int = "latest") -> int:
        return int((await self.call("balanceOf", to_checksum_address(account), block=block))[0])

    async def total_supply(self, *, block: str | int = "latest") -> int:
        return int((await self.call("totalSupply", block=block))[0])

    async def decimals(self) -> int:
        return int((await self.call("decimals"))[0])

    async def ref_used(self, ref: bytes) -> bool:
        return bool((await self.call("refUsed", ref))[0])

    async def has_role(self, role: bytes, account: str) -> bool:
        return bool((await self.call("hasRole", role, to_checksum_address(account)))[0])

    async def allowance(self, owner: str, spender: str) -> int:
        return int(
            (await self.call("allowance", to_checksum_address(owner), to_checksum_address(spender)))[0]
        )

    def encode_mint(self, to: str, amount: int, ref: bytes) -> bytes:
        return self.encode("mint", to_checksum_address(to), amount, ref)

    def encode_transfer(self, to: str, amount: int) -> bytes:
        return self.encode("transfer", to_checksum_address(to), amount)

    def encode_approve(self, spender: str, amount: int) -> bytes:
        return self.encode("approve", to_checksum_address(spender), amount)

    def encode_burn(self, amount: int) -> bytes:
        return self.encode("burn", amount)

    def encode_grant_role(self, role: bytes, account: str) -> bytes:
        return self.encode("grantRole", role, to_checksum_address(account))


class MulticallClient(ContractClient):
    artifact_name = "Multicall"

    def encode_aggregate(self, calls: Sequence[tuple[str, bytes]]) -> bytes:
        return self.encode("aggregate", [(to_checksum_address(t), d) for t, d in calls])

    async def aggregate(
        self, calls: Sequence[tuple[str, bytes]], *, block: str | int = "latest"
    ) -> list[tuple[bool, bytes]]:
        (results,) = await self.call(
            "aggregate", [(to_checksum_address(t), d) for t, d in calls], block=block
        )
        return [(bool(ok), bytes(data)) for ok, data in results]

    async def eth_balances(self, accounts: Sequence[str], *, block: str | int = "latest") -> list[int]:
        (balances,) = await self.call(
            "getEthBalances", [to_checksum_address(a) for a in accounts], block=block
        )
        return [int(b) for b in balances]
