"""Deploy the contract suite once per chain and remember it in a manifest.

:func:`deploy_suite` deploys ``CreditToken`` (admin and minter: the signer; extra minters granted
``MINTER_ROLE``), ``Multicall``, ``ProviderRegistry`` and ``DeploymentEscrow`` (constructor parameters from
a :class:`SuiteConfig`; admin: the signer; treasury: ``SuiteConfig.treasury`` or the signer), grants the
signer ``OPERATOR_ROLE`` + ``SEIZER_ROLE`` on the registry and ``TOPUP_ROLE`` + ``PAUSER_ROLE`` on the escrow,
points the registry at the escrow (``setEscrow``) and grants the quoting key ``QUOTE_SIGNER_ROLE``; issue 13:
``PlatformToken`` (supply to the signer) and ``StakingTiers`` (the signer gets ``OPERATOR_ROLE`` and
``SPEND_REPORTER_ROLE``; the escrow's discount oracle is pointed at it; the signer stakes ``STAKING_SEED``)
and ``AllianceSplits`` (token, registry, escrow; the signer gets its ``OPERATOR_ROLE``: suspend / reinstate),
signing locally (EIP-1559, nonce from the chain), and writes ``<manifest_dir>/<chain_id>.json``::

    {"chain_id", "deployed_at_block", "deployer",
     "contracts": {Name: {"address", "tx_hash", "block_number", "source_hash", "code_hash"}}}

It is idempotent: when the manifest exists, every contract still has the recorded runtime code
(``code_hash``) and was built from the current sources (``source_hash``), the manifest is returned and no
transaction is sent. A reset chain (no code) or changed sources lead to a fresh deployment of the whole
suite that overwrites the manifest (the source hash is shared by every artifact).

Admin state after that is not sent from here: :func:`plan_admin` reads the chain and returns, as data
(:class:`AdminCall`), what differs from the arguments — ``MINTER_ROLE`` for a minter that lacks it, the
signer's marketplace roles, ``setConfig`` / ``setFeeParams`` / ``setTreasury`` when the chain's values
differ from the :class:`SuiteConfig` (so changing a limit in settings takes effect on restart without a
redeploy). The engine enqueues those in its transaction outbox (``engine.outbox.admin``), so any number of
processes starting at once produce each change once and never race for nonces. Only the bootstrap of a
brand-new suite (deploy + its first role grants) signs and sends directly, here.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chain.alliances import AllianceSplitsClient
from chain.artifacts import Artifact, load_artifact
from chain.connect import ChainConnection
from chain.contracts import (
    MINTER_ROLE,
    OPERATOR_ROLE,
    PAUSER_ROLE,
    SEIZER_ROLE,
    TOPUP_ROLE,
    CreditTokenClient,
    EscrowClient,
    RegistryClient,
    RegistryConfig,
)
from chain.errors import ChainError
from chain.quotes import QUOTE_SIGNER_ROLE
from chain.reverts import estimate_or_raise, revert_from_exception
from chain.signer import LocalSigner, TxRequest
from chain.staking import SPEND_REPORTER_ROLE, PlatformTokenClient, StakingClient

SUITE = (
    "CreditToken",
    "Multicall",
    "ProviderRegistry",
    "DeploymentEscrow",
    "PlatformToken",
    "StakingTiers",
    "AllianceSplits",
)
# issue 13: one base unit staked by the deployer at bootstrap, so the staking contract's token balance is
# never zero and no staker pays its one-time zero -> non-zero write (~17k gas; contracts/README.md)
STAKING_SEED = 1
PRIORITY_FEE = 1_000_000_000  # 1 gwei tip; dev chains and L2s take far less
GAS_MARGIN_NUM, GAS_MARGIN_DEN = 6, 5  # estimate * 1.2 ...
# ... plus a fixed headroom: the state can change between the estimate and the block that includes the
# tx (a lease accrues one more second, so `close` settles and writes zero -> non-zero slots, 20k each).
# Unused gas is not charged, so headroom costs nothing but block space accounting.
GAS_HEADROOM = 60_000


def gas_limit(estimate: int, *, has_data: bool) -> int:
    """The gas limit we sign for an estimate: exact for a plain transfer, padded for contract calls."""
    if estimate == 21_000 and not has_data:
        return estimate
    return estimate * GAS_MARGIN_NUM // GAS_MARGIN_DEN + GAS_HEADROOM


@dataclass(frozen=True)
class SuiteConfig:
    """Constructor parameters of the marketplace contracts (credit units, seconds, basis points).

    Defaults suit a dev chain; production values come from settings (``engine.runtime``).
    """

    min_collateral: int = 100 * 10**6  # 100 credits
    min_notice: int = 24 * 3600  # maintenance announced a day ahead
    max_window_length: int = 4 * 3600
    exit_cooldown: int = 7 * 24 * 3600
    max_windows_per_month: int = 4
    fee_bps: int = 500
    keeper_share_bps: int = 1_000
    max_tip: int = 10**6  # 1 credit
    treasury: str | None = None  # None: the deploying signer
    # issue 13 (StakingTiers, fixed at deploy): unstake cooldown, delay before a new tier set applies, and the
    # platform token's supply (18 decimals), minted to the deploying signer
    stake_cooldown: int = 7 * 24 * 3600
    tier_delay: int = 24 * 3600
    platform_supply: int = 10**9 * 10**18

    def __post_init__(self) -> None:
        limits = {
            "min_collateral": (self.min_collateral, 2**96 - 1),
            "min_notice": (self.min_notice, 2**32 - 1),
            "max_window_length": (self.max_window_length, 2**32 - 1),
            "exit_cooldown": (self.exit_cooldown, 2**32 - 1),
            "max_windows_per_month": (self.max_windows_per_month, 8),
            "fee_bps": (self.fee_bps, 10_000),
            "keeper_share_bps": (self.keeper_share_bps, 10_000),
            "max_tip": (self.max_tip, 2**64 - 1),
            "stake_cooldown": (self.stake_cooldown, 2**32 - 1),
            "tier_delay": (self.tier_delay, 2**32 - 1),
            "platform_supply": (self.platform_supply, 2**256 - 1),
        }
        for name, (value, top) in limits.items():
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
                raise ValueError(f"SuiteConfig.{name} must be an int in [0, {top}], got {value!r}")
        if self.max_windows_per_month < 1:  # the registry refuses 0 (InvalidConfig); at most 8 (above)
            raise ValueError("SuiteConfig.max_windows_per_month must be in [1, 8]")

    def registry_config(self) -> RegistryConfig:
        return RegistryConfig(
            self.min_collateral,
            self.min_notice,
            self.max_window_length,
            self.exit_cooldown,
            self.max_windows_per_month,
        )

    def treasury_for(self, signer: str) -> str:
        return to_checksum_address(self.treasury or signer)


@dataclass(frozen=True)
class DeployedContract:
    address: str
    tx_hash: str
    block_number: int
    source_hash: str
    code_hash: str


@dataclass
class Manifest:
    chain_id: int
    deployed_at_block: int
    deployer: str
    contracts: dict[str, DeployedContract] = field(default_factory=dict)

    def address(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError:
            raise ChainError(f"manifest for chain {self.chain_id} has no contract {name!r}") from None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what is written to the manifest file)."""
        return {
            "chain_id": self.chain_id,
            "deployed_at_block": self.deployed_at_block,
            "deployer": self.deployer,
            "contracts": {name: asdict(c) for name, c in sorted(self.contracts.items())},
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Manifest:
        return cls(
            chain_id=int(raw["chain_id"]),
            deployed_at_block=int(raw["deployed_at_block"]),
            deployer=to_checksum_address(raw["deployer"]),
            contracts={
                name: DeployedContract(
                    address=to_checksum_address(c["address"]),
                    tx_hash=str(c["tx_hash"]),
                    block_number=int(c["block_number"]),
                    source_hash=str(c.get("source_hash", "")),
                    code_hash=str(c.get("code_hash", "")),
                )
                for name, c in raw["contracts"].items()
            },
        )


def manifest_path(manifest_dir: Path, chain_id: int) -> Path:
    return Path(manifest_dir) / f"{chain_id}.json"


def load_manifest(manifest_dir: Path, chain_id: int) -> Manifest | None:
    """The manifest written for ``chain_id``, or ``None`` if there is none (or it is unreadable)."""
    path = manifest_path(manifest_dir, chain_id)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        manifest = Manifest.from_json(raw)
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return None  # a half-written or foreign file: deploy again and overwrite it
    return manifest if manifest.chain_id == chain_id else None


def write_manifest(manifest_dir: Path, manifest: Manifest) -> Path:
    """Write atomically (temp file + rename), so a crash never leaves half a manifest."""
    path = manifest_path(manifest_dir, manifest.chain_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(manifest.dumps())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _w3(conn: ChainConnection) -> Any:
    """web3's stubs want NewTypes (ChecksumAddress, HexStr) everywhere; we pass checked plain strings."""
    return conn.w3


# ---- sending (bootstrap only; the engine's writes, admin ones included, go through its outbox) ------


async def suggest_fees(conn: ChainConnection) -> tuple[int, int]:
    """``(max_fee_per_gas, max_priority_fee_per_gas)``: twice the latest base fee plus a fixed tip."""
    block = await _w3(conn).eth.get_block("latest")
    base = int(block.get("baseFeePerGas", 0) or 0)
    return 2 * base + PRIORITY_FEE, PRIORITY_FEE


async def send_transaction(
    conn: ChainConnection,
    signer: LocalSigner,
    *,
    to: str | None,
    data: bytes,
    value: int = 0,
    nonce: int | None = None,
    gas: int | None = None,
    receipt_timeout: float = 120.0,
) -> dict[str, Any]:
    """Sign locally, broadcast, wait for the receipt. A revert raises its typed ``ContractRevert``."""
    w3: Any = conn.w3
    call: dict[str, Any] = {"from": signer.address, "data": data, "value": value}
    if to is not None:
        call["to"] = to_checksum_address(to)
    if gas is None:
        gas = gas_limit(await estimate_or_raise(w3, call), has_data=bool(data))
    if nonce is None:
        nonce = int(await w3.eth.get_transaction_count(signer.address, "pending"))
    max_fee, tip = await suggest_fees(conn)
    signed = signer.sign(
        TxRequest(
            chain_id=conn.chain_id,
            nonce=nonce,
            to=to,
            data=data,
            value=value,
            gas=gas,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=tip,
        )
    )
    await w3.eth.send_raw_transaction(signed.raw)
    receipt = dict(
        await w3.eth.wait_for_transaction_receipt(signed.hash, timeout=receipt_timeout, poll_latency=0.05)
    )
    if int(receipt["status"]) != 1:
        block = int(receipt["blockNumber"])
        try:
            await w3.eth.call(call, block)
        except Exception as exc:
            revert = revert_from_exception(exc, tx_hash=signed.hash)
            if revert is not None:
                raise revert from exc
        raise ChainError(f"transaction {signed.hash} failed (status 0) without revert data")
    return receipt


async def _deploy(
    conn: ChainConnection,
    signer: LocalSigner,
    artifact: Artifact,
    nonce: int,
    ctor_types: Sequence[str] = (),
    ctor_args: Sequence[Any] = (),
) -> DeployedContract:
    if not artifact.bytecode:
        raise ChainError(f"{artifact.name} has no creation bytecode (abstract contract?)")
    data = artifact.bytecode + abi_encode(list(ctor_types), list(ctor_args))
    receipt = await send_transaction(conn, signer, to=None, data=data, nonce=nonce)
    address = to_checksum_address(receipt["contractAddress"])
    code = bytes(await _w3(conn).eth.get_code(address))
    tx_hash = receipt["transactionHash"]
    return DeployedContract(
        address=address,
        tx_hash=tx_hash.to_0x_hex() if hasattr(tx_hash, "to_0x_hex") else str(tx_hash),
        block_number=int(receipt["blockNumber"]),
        source_hash=artifact.source_hash,
        code_hash="0x" + keccak(code).hex(),
    )


async def is_live(conn: ChainConnection, manifest: Manifest, artifacts: Mapping[str, Artifact]) -> bool:
    """Whether every contract of the suite still runs the recorded code, built from current sources."""
    if manifest.chain_id != conn.chain_id:
        return False
    for name, artifact in artifacts.items():
        entry = manifest.contracts.get(name)
        if entry is None or entry.source_hash != artifact.source_hash:
            return False
        code = bytes(await _w3(conn).eth.get_code(entry.address))
        if not code or "0x" + keccak(code).hex() != entry.code_hash:
            return False
    return True


async def _send_all(conn: ChainConnection, signer: LocalSigner, calls: Sequence[AdminCall]) -> None:
    """Send calls in order, one nonce after the other (each waits for its receipt). Bootstrap only."""
    if not calls:
        return
    nonce = int(await _w3(conn).eth.get_transaction_count(signer.address, "pending"))
    for admin_call in calls:
        await send_transaction(conn, signer, to=admin_call.to, data=admin_call.data, nonce=nonce)
        nonce += 1


ROLE_NAMES = {
    MINTER_ROLE: "MINTER_ROLE",
    OPERATOR_ROLE: "OPERATOR_ROLE",
    SEIZER_ROLE: "SEIZER_ROLE",
    TOPUP_ROLE: "TOPUP_ROLE",
    PAUSER_ROLE: "PAUSER_ROLE",
    QUOTE_SIGNER_ROLE: "QUOTE_SIGNER_ROLE",
    SPEND_REPORTER_ROLE: "SPEND_REPORTER_ROLE",
}


@dataclass(frozen=True)
class AdminCall:
    """One admin write that brings the chain in line with a :class:`SuiteConfig` (not yet sent).

    ``slot`` names what it changes (``token.grantRole:MINTER_ROLE:0xabc..``, ``registry.setConfig``), the
    same for every value, so a caller can key repeated changes of one thing; ``args`` is JSON-ready."""

    kind: str
    slot: str
    to: str
    data: bytes
    args: dict[str, Any]


async def plan_admin(
    conn: ChainConnection,
    manifest: Manifest,
    admin: str,
    config: SuiteConfig,
    minters: Iterable[str] = (),
    *,
    quote_signer: str | None = None,
) -> list[AdminCall]:
    """The admin calls that would bring roles and tunable parameters on chain in line with the arguments
    (only what differs, in a fixed order): the registry's escrow (``setEscrow``, first: no lease can open
    before it), the minters, the admin's ``OPERATOR_ROLE`` / ``SEIZER_ROLE`` / ``TOPUP_ROLE`` /
    ``PAUSER_ROLE``, ``QUOTE_SIGNER_ROLE`` for ``quote_signer`` (the engine's quoting key; ``None``: left
    as is), then the registry config, treasuries and fee parameters. Reads the chain; sends nothing."""
    w3 = conn.w3
    admin = to_checksum_address(admin)
    token = CreditTokenClient(w3, manifest.address("CreditToken"))
    registry = RegistryClient(w3, manifest.address("ProviderRegistry"))
    escrow = EscrowClient(w3, manifest.address("DeploymentEscrow"))
    calls: list[AdminCall] = []

    def grant(prefix: str, client: Any, role: bytes, account: str) -> AdminCall:
        name = ROLE_NAMES[role]
        return AdminCall(
            kind=f"{prefix}.grantRole",
            slot=f"{prefix}.grantRole:{name}:{account}",
            to=client.address,
            data=client.encode_grant_role(role, account),
            args={"role": name, "account": account},
        )

    if await registry.escrow() != escrow.address:
        calls.append(
            AdminCall(
                kind="registry.setEscrow",
                slot="registry.setEscrow",
                to=registry.address,
                data=registry.encode_set_escrow(escrow.address),
                args={"escrow": escrow.address},
            )
        )
    for minter in dict.fromkeys(to_checksum_address(m) for m in minters):
        if not await token.has_role(MINTER_ROLE, minter):
            calls.append(grant("token", token, MINTER_ROLE, minter))
    for role in (OPERATOR_ROLE, SEIZER_ROLE):
        if not await registry.has_role(role, admin):
            calls.append(grant("registry", registry, role, admin))
    for role in (TOPUP_ROLE, PAUSER_ROLE):
        if not await escrow.has_role(role, admin):
            calls.append(grant("escrow", escrow, role, admin))
    if quote_signer is not None:
        quote_signer = to_checksum_address(quote_signer)
        if not await escrow.has_role(QUOTE_SIGNER_ROLE, quote_signer):
            calls.append(grant("escrow", escrow, QUOTE_SIGNER_ROLE, quote_signer))
    wanted = config.registry_config()
    if await registry.config() != wanted:
        calls.append(
            AdminCall(
                kind="registry.setConfig",
                slot="registry.setConfig",
                to=registry.address,
                data=registry.encode_set_config(wanted),
                args={k: (v if v < 2**53 else str(v)) for k, v in asdict(wanted).items()},
            )
        )
    treasury = config.treasury_for(admin)
    for prefix, client in (("registry", registry), ("escrow", escrow)):
        if await client.treasury() != treasury:
            calls.append(
                AdminCall(
                    kind=f"{prefix}.setTreasury",
                    slot=f"{prefix}.setTreasury",
                    to=client.address,
                    data=client.encode_set_treasury(treasury),
                    args={"treasury": treasury},
                )
            )
    fees = (config.fee_bps, config.keeper_share_bps, config.max_tip)
    if await escrow.fee_params() != fees:
        calls.append(
            AdminCall(
                kind="escrow.setFeeParams",
                slot="escrow.setFeeParams",
                to=escrow.address,
                data=escrow.encode_set_fee_params(*fees),
                args={"fee_bps": fees[0], "keeper_share_bps": fees[1], "max_tip": fees[2]},
            )
        )
    calls.extend(await _plan_staking(conn, manifest, admin, escrow, grant))
    calls.extend(await _plan_alliances(conn, manifest, admin, grant))
    return calls


async def _plan_alliances(
    conn: ChainConnection, manifest: Manifest, admin: str, grant: Any
) -> list[AdminCall]:
    """Issue 13: the admin's ``OPERATOR_ROLE`` on ``AllianceSplits`` (suspend / reinstate members). Nothing
    for a manifest without alliances."""
    if "AllianceSplits" not in manifest.contracts:
        return []
    splits = AllianceSplitsClient(conn.w3, manifest.address("AllianceSplits"))
    if await splits.has_role(OPERATOR_ROLE, admin):
        return []
    return [grant("alliances", splits, OPERATOR_ROLE, admin)]


async def _plan_staking(
    conn: ChainConnection, manifest: Manifest, admin: str, escrow: EscrowClient, grant: Any
) -> list[AdminCall]:
    """Issue 13: the admin's ``OPERATOR_ROLE`` (tiers) and ``SPEND_REPORTER_ROLE`` on ``StakingTiers``, and
    the escrow's discount oracle pointed at it. Nothing for a manifest without staking."""
    if "StakingTiers" not in manifest.contracts:
        return []
    staking = StakingClient(conn.w3, manifest.address("StakingTiers"))
    calls = [
        grant("staking", staking, role, admin)
        for role in (OPERATOR_ROLE, SPEND_REPORTER_ROLE)
        if not await staking.has_role(role, admin)
    ]
    if await escrow.discount_oracle() != staking.address:
        calls.append(
            AdminCall(
                kind="escrow.setDiscountOracle",
                slot="escrow.setDiscountOracle",
                to=escrow.address,
                data=escrow.encode_set_discount_oracle(staking.address),
                args={"oracle": staking.address},
            )
        )
    return calls


def _staking_seed(conn: ChainConnection, platform: str, staking: str) -> list[AdminCall]:
    """The bootstrap's seed stake (``STAKING_SEED`` from the deployer): approve, then stake."""
    token, stakes = PlatformTokenClient(conn.w3, platform), StakingClient(conn.w3, staking)
    approve = token.encode_approve(staking, STAKING_SEED)
    return [
        AdminCall("platform.approve", "platform.approve", platform, approve, {}),
        AdminCall("staking.stake", "staking.stake", staking, stakes.encode_stake(STAKING_SEED), {}),
    ]


async def deploy_suite(
    conn: ChainConnection,
    signer: LocalSigner,
    *,
    manifest_dir: Path,
    minters: Sequence[str] = (),
    config: SuiteConfig | None = None,
    quote_signer: str | None = None,
) -> Manifest:
    """Deploy (or reuse) the suite on ``conn``'s chain; see the module docstring. A new suite's bootstrap
    includes ``registry.setEscrow`` and ``QUOTE_SIGNER_ROLE`` for ``quote_signer`` (when given)."""
    config = config or SuiteConfig()
    artifacts = {name: load_artifact(name) for name in SUITE}
    existing = load_manifest(manifest_dir, conn.chain_id)
    if existing is not None and await is_live(conn, existing, artifacts):
        return existing  # admin drift is the engine's to fix, through its outbox (plan_admin)

    treasury = config.treasury_for(signer.address)
    nonce = int(await _w3(conn).eth.get_transaction_count(signer.address, "pending"))
    credit = await _deploy(
        conn,
        signer,
        artifacts["CreditToken"],
        nonce,
        ("address", "address"),
        (signer.address, signer.address),
    )
    multicall = await _deploy(conn, signer, artifacts["Multicall"], nonce + 1)
    registry = await _deploy(
        conn,
        signer,
        artifacts["ProviderRegistry"],
        nonce + 2,
        ("address", "address", "address", "(uint96,uint32,uint32,uint32,uint8)"),
        (credit.address, signer.address, treasury, config.registry_config().as_tuple()),
    )
    escrow = await _deploy(
        conn,
        signer,
        artifacts["DeploymentEscrow"],
        nonce + 3,
        ("address", "address", "address", "address", "uint16", "uint16", "uint64"),
        (
            credit.address,
            registry.address,
            signer.address,
            treasury,
            config.fee_bps,
            config.keeper_share_bps,
            config.max_tip,
        ),
    )
    platform = await _deploy(
        conn,
        signer,
        artifacts["PlatformToken"],
        nonce + 4,
        ("address", "uint256"),
        (signer.address, config.platform_supply),
    )
    staking = await _deploy(
        conn,
        signer,
        artifacts["StakingTiers"],
        nonce + 5,
        ("address", "address", "uint256", "uint256"),
        (platform.address, signer.address, config.stake_cooldown, config.tier_delay),
    )
    alliances = await _deploy(
        conn,
        signer,
        artifacts["AllianceSplits"],
        nonce + 6,
        ("address", "address", "address", "address"),
        (credit.address, registry.address, escrow.address, signer.address),
    )
    deployed = {
        "CreditToken": credit,
        "Multicall": multicall,
        "ProviderRegistry": registry,
        "DeploymentEscrow": escrow,
        "PlatformToken": platform,
        "StakingTiers": staking,
        "AllianceSplits": alliances,
    }
    manifest = Manifest(
        chain_id=conn.chain_id,
        deployed_at_block=min(c.block_number for c in deployed.values()),
        deployer=signer.address,
        contracts=deployed,
    )
    # bootstrap: a brand-new suite has no outbox rows to race with; its roles are granted directly
    calls = await plan_admin(conn, manifest, signer.address, config, minters, quote_signer=quote_signer)
    await _send_all(conn, signer, [*calls, *_staking_seed(conn, platform.address, staking.address)])
    write_manifest(manifest_dir, manifest)
    return manifest
