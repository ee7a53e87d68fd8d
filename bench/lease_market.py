"""Many open escrow leases on a dev chain (anvil), fast: the set-up of ``bench/balance_scan.py`` and of the
balance-monitoring tests.

* :func:`ensure_node` makes the suite's signer a provider with one active node (register, approve,
  ``addNode``), wires the registry to the escrow and gives the signer ``QUOTE_SIGNER_ROLE`` when the suite
  lacks them (a few ordinary transactions, each skipped when already done).
* :func:`open_leases` opens one lease per payer: ether by ``anvil_setBalance``, credit and the escrow
  allowance written straight into the token's storage (``anvil_setStorageAt``, mapping slots found by
  probing), then every payer's ``open`` transaction (quote signed by the signer) pre-signed with
  :class:`chain.signer.LocalSigner` and sent in raw JSON-RPC batches. The lease ids come from the receipts'
  ``LeaseOpened`` logs.

Dev chains only: the storage writes and ``anvil_*`` methods exist nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import coincurve
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain.connect import ChainConnection
from chain.contracts import CreditTokenClient, EscrowClient, RegistryClient
from chain.deploy import Manifest, send_transaction, suggest_fees
from chain.jsonrpc import RpcClient
from chain.quotes import (
    QUOTE_SIGNER_ROLE,
    QUOTE_TYPEHASH,
    Quote,
    QuoteSignature,
    domain_separator,
    sign_quote,
)
from chain.signer import SECP256K1_N, LocalSigner, TxRequest
from engine.deployments.models import Deployment, Lease
from engine.identity.models import User, WalletLink
from engine.nodes.models import Node

SPEC_HASH = keccak(text="bench-balance-scan")
OPEN_GAS = 400_000
QUOTE_TTL = 86_400 * 365
BATCH = 500


@dataclass(frozen=True)
class OpenedLease:
    payer: str
    lease_id: int
    rate_per_second: int
    deposit: int
    opened_at: int  # block timestamp of the open


def clients(
    conn: ChainConnection, manifest: Manifest
) -> tuple[CreditTokenClient, RegistryClient, EscrowClient]:
    return (
        CreditTokenClient(conn.w3, manifest.address("CreditToken")),
        RegistryClient(conn.w3, manifest.address("ProviderRegistry")),
        EscrowClient(conn.w3, manifest.address("DeploymentEscrow")),
    )


def payer_key(seed: str, i: int) -> bytes:
    return keccak(f"{seed}:{i}".encode())


def _mapping_slot(key: str, slot: bytes) -> bytes:
    return keccak(bytes(12) + bytes.fromhex(key[2:]) + slot)


async def _find_slot(
    conn: ChainConnection, contract: str, value: int, key_of: Callable[[bytes], bytes]
) -> int:
    for slot in range(64):
        raw = await conn.w3.eth.get_storage_at(
            to_checksum_address(contract), key_of(slot.to_bytes(32, "big"))
        )
        if int.from_bytes(raw, "big") == value:
            return slot
    raise RuntimeError(f"storage slot holding {value} not found in {contract}")


async def ensure_node(conn: ChainConnection, manifest: Manifest, signer: LocalSigner) -> int:
    """An active node of the signer (a provider); returns its chain node id."""
    token, registry, escrow = clients(conn, manifest)
    me = signer.address
    (wired,) = await registry.call("escrow")
    if to_checksum_address(wired) != escrow.address:
        await send_transaction(
            conn, signer, to=registry.address, data=registry.encode_set_escrow(escrow.address)
        )
    if not await escrow.has_role(QUOTE_SIGNER_ROLE, me):
        await send_transaction(
            conn, signer, to=escrow.address, data=escrow.encode_grant_role(QUOTE_SIGNER_ROLE, me)
        )
    info = await registry.provider_info(me)
    if info.status == "None":
        collateral = (await registry.config()).min_collateral or 1
        ref = keccak(f"collateral:{registry.address}".encode())
        await send_transaction(conn, signer, to=token.address, data=token.encode_mint(me, collateral, ref))
        await send_transaction(
            conn, signer, to=token.address, data=token.encode_approve(registry.address, collateral)
        )
        await send_transaction(conn, signer, to=registry.address, data=registry.encode_register(collateral))
        info = await registry.provider_info(me)
    if info.status != "Approved":
        await send_transaction(conn, signer, to=registry.address, data=registry.encode_approve_provider(me))
    await send_transaction(conn, signer, to=registry.address, data=registry.encode_add_node(None))
    node_id = await registry.node_count()
    assert await registry.is_node_active(node_id)
    return node_id


async def _storage_slots(conn: ChainConnection, manifest: Manifest, signer: LocalSigner) -> tuple[int, int]:
    """The token's ``balances`` and ``allowances`` mapping slots (probed with the signer's own values)."""
    token, _, escrow = clients(conn, manifest)
    me = signer.address
    balance = await token.balance_of(me)
    if balance == 0:
        ref = keccak(f"probe:{token.address}".encode())
        await send_transaction(conn, signer, to=token.address, data=token.encode_mint(me, 777, ref))
        balance = 777
    balances = await _find_slot(conn, token.address, balance, lambda s: _mapping_slot(me, s))
    probe = 424_242
    await send_transaction(conn, signer, to=token.address, data=token.encode_approve(escrow.address, probe))
    allowances = await _find_slot(
        conn,
        token.address,
        probe,
        lambda s: keccak(bytes(12) + bytes.fromhex(escrow.address[2:]) + _mapping_slot(me, s)),
    )
    return balances, allowances


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


class _QuoteSigner:
    """:func:`chain.quotes.sign_quote` for thousands of quotes: the domain separator once, the struct
    hashed from its fixed-size words, coincurve's signer (the first signature is checked against
    ``sign_quote``)."""

    def __init__(self, key: bytes, chain_id: int, escrow: str) -> None:
        self.key, self.chain_id, self.escrow = key, chain_id, escrow
        self.prefix = b"\x19\x01" + domain_separator(chain_id, escrow)
        self.ck = coincurve.PrivateKey(key)
        self.checked = False

    def sign(self, quote: Quote) -> QuoteSignature:
        struct = keccak(
            QUOTE_TYPEHASH
            + bytes(12)
            + bytes.fromhex(quote.payer[2:])
            + quote.node_id.to_bytes(32, "big")
            + quote.rate_per_second.to_bytes(32, "big")
            + quote.spec_hash
            + quote.expiry.to_bytes(32, "big")
        )
        sig = self.ck.sign_recoverable(keccak(self.prefix + struct), hasher=None)
        r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
        assert s <= SECP256K1_N // 2
        compact = r + (s | (v << 255)).to_bytes(32, "big")
        if not self.checked:
            assert compact == sign_quote(self.key, quote, chain_id=self.chain_id, escrow=self.escrow)
            self.checked = True
        return QuoteSignature.of(quote, compact)


async def _batch_ok(client: RpcClient, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
    out: list[Any] = []
    for start in range(0, len(calls), BATCH):
        answers = await client.batch(calls[start : start + BATCH])
        errors = [a.message for a in answers if not a.ok]
        assert not errors, errors[:3]
        out += [a.result for a in answers]
    return out


async def open_leases(
    conn: ChainConnection,
    manifest: Manifest,
    signer: LocalSigner,
    node_id: int,
    *,
    count: int,
    rate_of: Callable[[int], int] = lambda i: 1 + i % 97,
    deposit_of: Callable[[int], int] = lambda i: 50_000_000 + 1_000 * i,
    credit_of: Callable[[int], int] = lambda i: 10_000_000 + i,
    seed: str = "bench",
    quote_key: str | bytes,
) -> list[OpenedLease]:
    """``count`` payers, each with ``credit_of(i)`` credit left in its wallet and one lease of
    ``deposit_of(i)`` at ``rate_of(i)`` units per second on ``node_id``. Returns them in payer order."""
    assert conn.kind == "http", "dev-chain set-up over HTTP (anvil)"
    token, _, escrow = clients(conn, manifest)
    balances_slot, allowances_slot = await _storage_slots(conn, manifest, signer)
    payers = [LocalSigner(payer_key(seed, i)) for i in range(count)]
    chain_id = conn.chain_id
    now = int((await conn.w3.eth.get_block("latest"))["timestamp"])
    max_fee, tip = await suggest_fees(conn)
    max_fee *= 4
    key = (
        bytes.fromhex(quote_key[2:] if quote_key.startswith("0x") else quote_key)
        if isinstance(quote_key, str)
        else quote_key
    )
    setup: list[tuple[str, Sequence[Any]]] = []
    for i, payer in enumerate(payers):
        who = payer.address
        balance_key = _mapping_slot(who, balances_slot.to_bytes(32, "big"))
        allowance_key = keccak(
            bytes(12)
            + bytes.fromhex(escrow.address[2:])
            + _mapping_slot(who, allowances_slot.to_bytes(32, "big"))
        )
        setup += [
            ("anvil_setBalance", [who, hex(10**20)]),
            (
                "anvil_setStorageAt",
                [token.address, "0x" + balance_key.hex(), _word(credit_of(i) + deposit_of(i))],
            ),
            ("anvil_setStorageAt", [token.address, "0x" + allowance_key.hex(), _word(deposit_of(i))]),
        ]
    quotes = _QuoteSigner(key, chain_id, escrow.address)
    async with RpcClient(conn.url, chunk_size=BATCH, concurrency=2) as client:
        await _batch_ok(client, setup)
        gas_limit = (await client.request("eth_getBlockByNumber", "latest", False))["gasLimit"]
        # Automine off; each chunk goes into the pool, then into one block. (Automining thousands one by
        # one, or pooling all 10,000 first, slows anvil down far more than linearly.)
        await client.request("evm_setAutomine", False)
        await client.request("evm_setBlockGasLimit", hex(max(int(gas_limit, 16), (BATCH + 1) * OPEN_GAS)))
        receipts: list[Any] = []
        try:
            for first in range(0, count, BATCH):
                chunk = []
                for i in range(first, min(first + BATCH, count)):
                    quote = Quote(payers[i].address, node_id, rate_of(i), SPEC_HASH, now + QUOTE_TTL)
                    data = escrow.encode_open(
                        node_id, rate_of(i), deposit_of(i), SPEC_HASH, quotes.sign(quote)
                    )
                    tx = TxRequest(chain_id, 0, escrow.address, data, 0, OPEN_GAS, max_fee, tip)
                    chunk.append(payers[i].sign(tx))
                await _batch_ok(client, [("eth_sendRawTransaction", ["0x" + x.raw.hex()]) for x in chunk])
                receipts += await _receipts(client, [x.hash for x in chunk])
        finally:
            await client.request("evm_setBlockGasLimit", gas_limit)
            await client.request("evm_setAutomine", True)
        blocks = sorted({r["blockNumber"] for r in receipts})
        stamps = dict(
            zip(
                blocks,
                [
                    int(b["timestamp"], 16)
                    for b in await _batch_ok(client, [("eth_getBlockByNumber", [b, False]) for b in blocks])
                ],
                strict=True,
            )
        )
    out = []
    escrow_lower = escrow.address.lower()
    for i, (payer, receipt) in enumerate(zip(payers, receipts, strict=True)):
        assert receipt is not None and int(receipt["status"], 16) == 1, f"open #{i} failed: {receipt}"
        log = next(
            log
            for log in receipt["logs"]
            if log["address"].lower() == escrow_lower and len(log["topics"]) == 4
        )
        out.append(
            OpenedLease(
                payer.address,
                int(log["topics"][1], 16),
                rate_of(i),
                deposit_of(i),
                stamps[receipt["blockNumber"]],
            )
        )
    return out


async def _receipts(client: RpcClient, hashes: list[str]) -> list[Any]:
    """Every receipt, mining blocks (automine is off) until all are in."""
    for _ in range(1000):
        await client.request("evm_mine")
        receipts = await _batch_ok(client, [("eth_getTransactionReceipt", [h]) for h in hashes])
        if all(r is not None for r in receipts):
            return receipts
    raise TimeoutError(f"{sum(r is None for r in receipts)} open transaction(s) not mined")


# ---- the engine's view: users, wallet links, deployments and leases rows --------------------------------


async def seed_database(
    sessionmaker: async_sessionmaker[AsyncSession],
    opened: Sequence[OpenedLease],
    chain_node_id: int,
    *,
    seed: str = "bench",
) -> list[tuple[int, int]]:
    """One user per payer (wallet linked), one deployment with its open lease each, on the node row of
    ``chain_node_id`` (made when missing).
    Returns ``(user id, deployment id)`` per payer, in order."""
    async with sessionmaker() as s, s.begin():
        node = (await s.execute(select(Node).where(Node.chain_node_id == chain_node_id))).scalar_one_or_none()
        if node is None:
            provider = User(sub=f"{seed}|provider")
            s.add(provider)
            await s.flush()
            node = Node(
                provider_user_id=provider.id,
                name=f"{seed}-node",
                chain_node_id=chain_node_id,
                status="active",
            )
            s.add(node)
            await s.flush()
        base_user = int((await s.execute(select(func.coalesce(func.max(User.id), 0)))).scalar_one()) + 1
        base_dep = int((await s.execute(select(func.coalesce(func.max(Deployment.id), 0)))).scalar_one()) + 1
        now = datetime.now(UTC)
        users = [
            {"id": base_user + i, "sub": f"{seed}|{i}", "settings": {}, "created_at": now}
            for i in range(len(opened))
        ]
        links = [
            {"user_id": base_user + i, "address": o.payer, "kind": "siwe", "created_at": now}
            for i, o in enumerate(opened)
        ]
        deployments = [
            {
                "id": base_dep + i,
                "user_id": base_user + i,
                "spec": {},
                "spec_hash": "0x" + SPEC_HASH.hex(),
                "status": "starting",
                "replicas": 1,
                "rate_per_second": o.rate_per_second,
                "payer": o.payer,
                "funding": "wallet",
                "created_at": now,
                "updated_at": now,
            }
            for i, o in enumerate(opened)
        ]
        leases = [
            {
                "deployment_id": base_dep + i,
                "replica_index": 0,
                "role": "primary",
                "node_id": node.id,
                "chain_node_id": chain_node_id,
                "chain_lease_id": str(o.lease_id),
                "rate_per_second": o.rate_per_second,
                "deposit": o.deposit,
                "status": "open",
                "created_at": now,
            }
            for i, o in enumerate(opened)
        ]
        for table, rows in ((User, users), (WalletLink, links), (Deployment, deployments), (Lease, leases)):
            for start in range(0, len(rows), 2000):
                await s.execute(insert(table), rows[start : start + 2000])
    return [(base_user + i, base_dep + i) for i in range(len(opened))]
