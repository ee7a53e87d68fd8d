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
from chain.quotes import QUOTE_SIGNER_ROLE, QuoteSignature
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


# ---- marketplace ------------------------------------------------------------------------------------

OPERATOR_ROLE = keccak(text="OPERATOR_ROLE")
SEIZER_ROLE = keccak(text="SEIZER_ROLE")
TOPUP_ROLE = keccak(text="TOPUP_ROLE")
PAUSER_ROLE = keccak(text="PAUSER_ROLE")

# IProviderRegistry.ProviderStatus
PROVIDER_STATUSES: tuple[str, ...] = ("None", "Pending", "Approved", "Suspended", "Exiting")


@dataclass(frozen=True)
class RegistryConfig:
    """``IProviderRegistry.RegistryConfig``: collateral in credit units, durations in seconds."""

    min_collateral: int
    min_notice: int
    max_window_length: int
    exit_cooldown: int
    max_windows_per_month: int

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (
            self.min_collateral,
            self.min_notice,
            self.max_window_length,
            self.exit_cooldown,
            self.max_windows_per_month,
        )


@dataclass(frozen=True)
class ProviderInfo:
    """``IProviderRegistry.ProviderInfo`` (times are unix seconds, zero = never)."""

    collateral: int
    status: str  # one of PROVIDER_STATUSES
    exit_available_at: int  # when withdrawCollateral becomes possible (fixed at requestExit)
    stopped_at: int = 0  # when it last stopped being Approved (suspension or exit)
    resumed_at: int = 0
    prev_stopped_at: int = 0
    open_claims: int = 0
    busy_nodes: int = 0  # its nodes with open leases


@dataclass(frozen=True)
class NodeInfo:
    provider: str  # zero address when the node does not exist
    payee: str
    removed: bool
    maintenance_start: int
    maintenance_end: int
    removed_at: int = 0


@dataclass(frozen=True)
class LeaseInfo:
    payer: str
    node_id: int
    balance: int
    rate_per_second: int
    settled_at: int
    open: bool


class _RoleMixin(ContractClient):
    async def has_role(self, role: bytes, account: str) -> bool:
        return bool((await self.call("hasRole", role, to_checksum_address(account)))[0])

    def encode_grant_role(self, role: bytes, account: str) -> bytes:
        return self.encode("grantRole", role, to_checksum_address(account))


class RegistryClient(_RoleMixin):
    """``ProviderRegistry``: reads, and calldata for the operator (outbox) and for providers' wallets."""

    artifact_name = "ProviderRegistry"
    OPERATOR_ROLE: ClassVar[bytes] = OPERATOR_ROLE
    SEIZER_ROLE: ClassVar[bytes] = SEIZER_ROLE

    # provider-signed
    def encode_register(self, collateral: int) -> bytes:
        return self.encode("register", collateral)

    def encode_add_collateral(self, amount: int) -> bytes:
        return self.encode("addCollateral", amount)

    def encode_add_node(self, payee: str | None = None) -> bytes:
        """``addNode(payee)``; ``None`` means the zero address (the provider itself)."""
        return self.encode("addNode", to_checksum_address(payee or "0x" + "00" * 20))

    def encode_set_node_payee(self, node_id: int, payee: str) -> bytes:
        return self.encode("setNodePayee", node_id, to_checksum_address(payee))

    def encode_remove_node(self, node_id: int) -> bytes:
        return self.encode("removeNode", node_id)

    def encode_schedule_maintenance(self, node_id: int, start: int, end: int) -> bytes:
        return self.encode("scheduleMaintenance", node_id, start, end)

    def encode_cancel_maintenance(self, node_id: int) -> bytes:
        return self.encode("cancelMaintenance", node_id)

    def encode_request_exit(self) -> bytes:
        return self.encode("requestExit")

    # operator / admin (backend signer)
    def encode_approve_provider(self, provider: str) -> bytes:
        return self.encode("approveProvider", to_checksum_address(provider))

    def encode_suspend_provider(self, provider: str, reason: bytes) -> bytes:
        return self.encode("suspendProvider", to_checksum_address(provider), reason)

    def encode_seize(self, provider: str, amount: int, ref: bytes, evidence_hash: bytes) -> bytes:
        return self.encode("seize", to_checksum_address(provider), amount, ref, evidence_hash)

    def encode_set_config(self, config: RegistryConfig) -> bytes:
        return self.encode("setConfig", config.as_tuple())

    def encode_set_treasury(self, treasury: str) -> bytes:
        return self.encode("setTreasury", to_checksum_address(treasury))

    # reads
    async def config(self) -> RegistryConfig:
        (raw,) = await self.call("config")
        return RegistryConfig(*(int(v) for v in raw))

    async def treasury(self) -> str:
        return to_checksum_address((await self.call("treasury"))[0])

    async def provider_info(self, provider: str, *, block: str | int = "latest") -> ProviderInfo:
        ((collateral, status, exit_at, stopped, resumed, prev_stopped, claims, busy),) = await self.call(
            "providerInfo", to_checksum_address(provider), block=block
        )
        return ProviderInfo(
            int(collateral),
            PROVIDER_STATUSES[int(status)],
            int(exit_at),
            int(stopped),
            int(resumed),
            int(prev_stopped),
            int(claims),
            int(busy),
        )

    async def node_info(self, node_id: int, *, block: str | int = "latest") -> NodeInfo:
        ((provider, payee, removed, removed_at, start, end),) = await self.call(
            "nodeInfo", node_id, block=block
        )
        return NodeInfo(
            to_checksum_address(provider),
            to_checksum_address(payee),
            bool(removed),
            int(start),
            int(end),
            int(removed_at),
        )

    async def node_count(self) -> int:
        return int((await self.call("nodeCount"))[0])

    async def is_node_active(self, node_id: int) -> bool:
        return bool((await self.call("isNodeActive", node_id))[0])

    async def in_maintenance(self, node_id: int) -> bool:
        return bool((await self.call("inMaintenance", node_id))[0])

    # ---- issue 10 interface ---------------------------------------------------------------------------
    def encode_set_escrow(self, escrow: str) -> bytes:
        """``setEscrow(escrow)`` (admin, after deploying the escrow: stops reach it, withdrawals ask it)."""
        return self.encode("setEscrow", to_checksum_address(escrow))

    def encode_raise_claim(self, provider: str, ref: bytes) -> bytes:
        return self.encode("raiseClaim", to_checksum_address(provider), ref)

    def encode_dismiss_claim(self, ref: bytes) -> bytes:
        return self.encode("dismissClaim", ref)

    async def escrow(self) -> str:
        """The escrow the registry reports stops to (zero address before ``setEscrow``)."""
        return to_checksum_address((await self.call("escrow"))[0])

    async def lease_accrual_end(self, node_id: int, since: int) -> int:
        """Until when a lease on ``node_id`` settled up to ``since`` accrues (2**256-1: no stop)."""
        return int((await self.call("leaseAccrualEnd", node_id, since))[0])


class EscrowClient(_RoleMixin):
    """``DeploymentEscrow``: lease reads, and calldata for payers' wallets, keepers and the engine."""

    artifact_name = "DeploymentEscrow"
    TOPUP_ROLE: ClassVar[bytes] = TOPUP_ROLE

    def encode_top_up(self, lease_id: int, amount: int) -> bytes:
        return self.encode("topUp", lease_id, amount)

    def encode_settle(self, lease_id: int) -> bytes:
        return self.encode("settle", lease_id)

    def encode_settle_many(self, lease_ids: Sequence[int]) -> bytes:
        return self.encode("settleMany", list(lease_ids))

    def encode_close(self, lease_id: int) -> bytes:
        return self.encode("close", lease_id)

    def encode_withdraw(self, node_id: int) -> bytes:
        return self.encode("withdraw", node_id)

    def encode_set_auto_top_up(self, max_per_day: int) -> bytes:
        return self.encode("setAutoTopUp", max_per_day)

    def encode_auto_top_up(self, lease_id: int, amount: int) -> bytes:
        return self.encode("autoTopUp", lease_id, amount)

    def encode_set_fee_params(self, fee_bps: int, keeper_share_bps: int, max_tip: int) -> bytes:
        return self.encode("setFeeParams", fee_bps, keeper_share_bps, max_tip)

    def encode_set_treasury(self, treasury: str) -> bytes:
        return self.encode("setTreasury", to_checksum_address(treasury))

    async def lease(self, lease_id: int, *, block: str | int = "latest") -> LeaseInfo:
        ((payer, node_id, balance, rate, settled_at, is_open),) = await self.call(
            "lease", lease_id, block=block
        )
        return LeaseInfo(
            to_checksum_address(payer), int(node_id), int(balance), int(rate), int(settled_at), bool(is_open)
        )

    async def due_now(self, lease_id: int) -> int:
        return int((await self.call("dueNow", lease_id))[0])

    async def node_owed(self, node_id: int) -> int:
        return int((await self.call("nodeOwed", node_id))[0])

    async def fees_owed(self) -> int:
        return int((await self.call("feesOwed"))[0])

    async def fee_params(self) -> tuple[int, int, int]:
        fee, share, tip = await self.call("feeParams")
        return int(fee), int(share), int(tip)

    async def treasury(self) -> str:
        return to_checksum_address((await self.call("treasury"))[0])

    async def lease_count(self) -> int:
        return int((await self.call("leaseCount"))[0])

    # ---- issue 10 interface ---------------------------------------------------------------------------
    QUOTE_SIGNER_ROLE: ClassVar[bytes] = QUOTE_SIGNER_ROLE
    PAUSER_ROLE: ClassVar[bytes] = PAUSER_ROLE

    def encode_open(
        self, node_id: int, rate_per_second: int, deposit: int, spec_hash: bytes, quote: QuoteSignature
    ) -> bytes:
        """``open(nodeId, ratePerSecond, deposit, specHash, quote)``; the rate is the quoted LIST rate."""
        return self.encode("open", node_id, rate_per_second, deposit, spec_hash, quote.as_tuple())

    def encode_open_with_permit(
        self,
        node_id: int,
        rate_per_second: int,
        deposit: int,
        spec_hash: bytes,
        quote: QuoteSignature,
        permit_deadline: int,
        v: int,
        r: bytes,
        s: bytes,
    ) -> bytes:
        return self.encode(
            "openWithPermit",
            node_id,
            rate_per_second,
            deposit,
            spec_hash,
            quote.as_tuple(),
            permit_deadline,
            v,
            r,
            s,
        )

    def encode_open_by_sig(
        self,
        request: tuple[str, int, int, int, bytes, int, int],
        quote: QuoteSignature,
        permit: tuple[int, int, int, bytes, bytes],
        signature: bytes,
    ) -> bytes:
        """``openBySig(OpenRequest, QuoteSignature, Permit, sig)``.

        ``request`` is (payer, nodeId, ratePerSecond, deposit, specHash, nonce, deadline); ``permit`` is
        (value, deadline, v, r, s), value 0 = none.
        """
        payer, *rest = request
        return self.encode(
            "openBySig", (to_checksum_address(payer), *rest), quote.as_tuple(), permit, signature
        )

    def encode_set_paused(self, paused: bool) -> bytes:
        """``setPaused(paused)`` (``PAUSER_ROLE``): stops new opens and top-ups, never closes or refunds."""
        return self.encode("setPaused", paused)

    async def paused(self) -> bool:
        return bool((await self.call("paused"))[0])

    # ---- issue 13: the staking discount oracle ------------------------------------------------------------
    def encode_set_discount_oracle(self, oracle: str) -> bytes:
        """``setDiscountOracle(oracle)`` (admin; the zero address disables discounts)."""
        return self.encode("setDiscountOracle", to_checksum_address(oracle))

    async def discount_oracle(self) -> str:
        return to_checksum_address((await self.call("discountOracle"))[0])

    async def max_discount_bps(self) -> int:
        """The escrow's own cap on an oracle's discount (a larger tier discount is applied at this cap)."""
        return int((await self.call("MAX_DISCOUNT_BPS"))[0])

    async def open_lease_count(self, node_id: int) -> int:
        """Leases open on ``node_id``."""
        return int((await self.call("openLeaseCount", node_id))[0])

    async def auto_top_up_of(self, payer: str) -> tuple[int, int]:
        """``(maxPerDay, available now)`` of the payer's rolling auto top-up bucket."""
        cap, available = await self.call("autoTopUpOf", to_checksum_address(payer))
        return int(cap), int(available)

    async def digest_quote(
        self, payer: str, node_id: int, rate_per_second: int, spec_hash: bytes, expiry: int
    ) -> bytes:
        """The escrow's own quote digest (cross-check of :func:`chain.quotes.quote_digest`)."""
        (digest,) = await self.call(
            "digestQuote", to_checksum_address(payer), node_id, rate_per_second, spec_hash, expiry
        )
        return bytes(digest)


@dataclass(frozen=True)
class UnsignedTx:
    """A transaction for a user's own wallet to sign (``eth_sendTransaction`` fields)."""

    to: str
    data: bytes
    chain_id: int
    value: int = 0
    from_address: str | None = None
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "to": self.to,
            "data": "0x" + self.data.hex(),
            "value": self.value,
            "chainId": self.chain_id,
            "description": self.description,
        }
        if self.from_address is not None:
            out["from"] = self.from_address
        return out
