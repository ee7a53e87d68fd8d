"""Issue 13, reorg-safe consumers: after ``anvil_reorg`` of any depth up to the confirmation count, the
database the indexer and its subscribers maintain equals a fresh re-index of the same chain.

A realistic marketplace sequence on its own anvil (its chain is reorged): a provider registers and is
approved, adds two nodes, users' leases are opened, topped up, a maintenance window is scheduled, leases
are closed. Off-chain rows (users, nodes pending their ``addNode``, deployments with leases awaiting funds)
are written as the API would, through a recorded script. Reorgs at depth 1 (drops a ``LeaseOpened``), 2
(replaces a ``LeaseOpened`` and a ``CollateralAdded`` by another payer's open, which takes the escrow's
lease sequence number) and 3 = the confirmation count (drops a top-up, a maintenance window with its tenant
notifications and a ``LeaseClosed``), and 2 again on registry events (a ``NodeAdded`` mined again in another
block, a ``NodePayeeSet`` dropped), each followed by the dropped transactions coming back.

After each reorg and at the end, the live database is compared with a brand-new database into which the
same off-chain script is written and the whole chain is indexed once by a fresh indexer with the same
subscribers: a canonical dump of every table (timestamps and the surrogate ids of derived rows left out;
the undo journal, bookkeeping of the live database, left out too) must be equal.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import DateTime, MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain.connect import ChainConnection, connect
from chain.contracts import CreditTokenClient, EscrowClient, RegistryClient
from chain.deploy import Manifest, SuiteConfig, deploy_suite, suggest_fees
from chain.devchain import Anvil, dev_signer_key, rpc
from chain.quotes import Quoter
from chain.signer import LocalSigner, SignedTx, TxRequest
from engine import db
from engine.alliances.events import AllianceSubscriber
from engine.deployments import models as m
from engine.deployments.events import EscrowSubscriber
from engine.deployments.reorg import RollbackWakeups
from engine.deployments.services import json_spec
from engine.deployments.services import tenants_of as deployment_tenants
from engine.deployments.spec import SpecLimits, parse_spec, spec_hash
from engine.identity.models import User
from engine.indexer.indexer import EventIndexer
from engine.indexer.interfaces import IndexProgress
from engine.nodes.models import NODE_PENDING_CHAIN, Node
from engine.nodes.services import link_word
from engine.notify import LocalHub, topics
from engine.providers.subscriber import MarketplaceSubscriber
from engine.runtime import INDEXED_CONTRACTS
from engine.staking.events import StakingSubscriber
from engine.wallets.commands import Counterparties
from engine.wallets.history_events import HistorySubscriber

pytestmark = pytest.mark.anvil

CONFIRMATIONS = 3
COLLATERAL = 150 * 10**6
RATE = 100  # credit units per second, the quoted list rate (no staking discount on this chain)
DEPOSIT = 500_000
TOP_UP = 200_000
# the undo journal (bookkeeping of the live database: a fresh index journals the same events once)
NOT_STATE = {"chain_undo", "alembic_version"}
# surrogate ids of rows the consumers insert: numbered in insertion order, so a rollback leaves gaps
DERIVED_IDS = {
    "chain_events": {"id"},
    "chain_event_accounts": {"id", "event_id"},
    "deployment_transitions": {"id"},
    "maintenance_windows": {"id"},
    "notifications": {"id"},
    "staking_events": {"id"},
    "wallet_history": {"id"},
}
ORDERED = {"deployment_transitions": ("deployment_id", "id")}  # a sequence per deployment

Session = async_sessionmaker[AsyncSession]
OffChain = Callable[[AsyncSession], Awaitable[None]]


@dataclass
class World:
    conn: ChainConnection
    admin: LocalSigner
    manifest: Manifest
    quoter: Quoter
    template: Path  # a migrated, empty SQLite database
    work: Path
    script: list[OffChain] = field(default_factory=list)  # off-chain writes, in order
    dbs: int = 0

    @property
    def token(self) -> CreditTokenClient:
        return CreditTokenClient(self.conn.w3, self.manifest.address("CreditToken"))

    @property
    def registry(self) -> RegistryClient:
        return RegistryClient(self.conn.w3, self.manifest.address("ProviderRegistry"))

    @property
    def escrow(self) -> EscrowClient:
        return EscrowClient(self.conn.w3, self.manifest.address("DeploymentEscrow"))

    async def now(self) -> int:
        return int((await self.conn.w3.eth.get_block("latest"))["timestamp"])

    async def sign(
        self, signer: LocalSigner, to: str, data: bytes, *, nonce: int | None = None, gas: int = 600_000
    ) -> SignedTx:
        w3: Any = self.conn.w3
        if nonce is None:
            nonce = int(await w3.eth.get_transaction_count(signer.address, "pending"))
        max_fee, tip = await suggest_fees(self.conn)
        return signer.sign(TxRequest(self.conn.chain_id, nonce, to, data, 0, gas, max_fee * 4, tip))

    async def send_raw(self, signed: SignedTx) -> int:
        """Broadcast, wait; returns the block (automine: one transaction per block)."""
        w3: Any = self.conn.w3
        await w3.eth.send_raw_transaction(signed.raw)
        receipt = await w3.eth.wait_for_transaction_receipt(signed.hash, poll_latency=0.02)
        assert receipt["status"] == 1, receipt
        return int(receipt["blockNumber"])

    async def send(self, signer: LocalSigner, to: str, data: bytes) -> SignedTx:
        signed = await self.sign(signer, to, data)
        await self.send_raw(signed)
        return signed

    async def wallet(self, credit: int) -> LocalSigner:
        wallet = LocalSigner(Account.create().key.hex())
        await rpc(self.conn, "anvil_setBalance", wallet.address, hex(10**20))
        ref = int.from_bytes(bytes.fromhex(wallet.address[2:]), "big").to_bytes(32, "big")
        await self.send(self.admin, self.token.address, self.token.encode_mint(wallet.address, credit, ref))
        return wallet

    # ---- databases -----------------------------------------------------------------------------------

    def new_db(self) -> tuple[Any, Session]:
        self.dbs += 1
        path = self.work / f"db{self.dbs}.db"
        shutil.copy(self.template, path)
        engine = db.make_engine(f"sqlite+aiosqlite:///{path}")
        return engine, db.make_sessionmaker(engine)

    def indexer(self, sm: Session, hub: LocalHub | None = None) -> EventIndexer:
        """An indexer with the subscribers the runtime registers (engine.runtime.start_runtime); ``hub``
        gets the rollback's wake-ups only."""
        idx = EventIndexer(
            sm,
            self.conn,
            self.manifest,
            [n for n in INDEXED_CONTRACTS if n in self.manifest.contracts],
            confirmations=CONFIRMATIONS,
        )
        idx.on_events(MarketplaceSubscriber(sm, self.conn, tenants_of=deployment_tenants))
        idx.on_events(AllianceSubscriber(sm))
        idx.on_events(StakingSubscriber(sm))
        idx.on_events(EscrowSubscriber(sm, None, None, chain_id=self.conn.chain_id))
        escrow = self.manifest.address("DeploymentEscrow").lower()  # issue 15: the wallet history's items
        idx.on_events(HistorySubscriber(sm, self.conn, Counterparties(escrow=escrow, signer=None)))
        idx.on_rollback(RollbackWakeups(sm, hub))
        return idx

    async def off_chain(self, sm: Session, write: OffChain) -> None:
        """An off-chain write (what the API does): done now on the live database, recorded for fresh ones."""
        self.script.append(write)
        async with sm() as s, s.begin():
            await write(s)

    async def fresh_dump(self) -> dict[str, list[Any]]:
        """The off-chain script into a brand-new database, then the whole chain indexed once."""
        engine, sm = self.new_db()
        try:
            for write in self.script:
                async with sm() as s, s.begin():
                    await write(s)
            await catch_up(self.indexer(sm))
            return await dump(sm)
        finally:
            await engine.dispose()


async def catch_up(idx: EventIndexer) -> IndexProgress:
    progress = await idx.run_once()
    assert progress.caught_up
    return progress


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return value


async def dump(sm: Session) -> dict[str, list[Any]]:
    """Every table, canonically: rows sorted, timestamps and derived surrogate ids left out."""
    async with sm() as s:
        conn = await s.connection()
        meta = MetaData()
        await conn.run_sync(meta.reflect)
        out: dict[str, list[Any]] = {}
        for name, table in sorted(meta.tables.items()):
            if name in NOT_STATE:
                continue
            skip = DERIVED_IDS.get(name, set())
            cols = [c for c in table.columns if c.name not in skip and not isinstance(c.type, DateTime)]
            order = [table.c[k] for k in ORDERED.get(name, ())]
            rows = (await s.execute(select(*cols).order_by(*order))).all()
            items = [
                json.dumps({c.name: _jsonable(v) for c, v in zip(cols, row, strict=True)}, sort_keys=True)
                for row in rows
            ]
            out[name] = items if order else sorted(items)
        return out


def differences(live: dict[str, list[Any]], fresh: dict[str, list[Any]]) -> list[str]:
    out = []
    for name in sorted(set(live) | set(fresh)):
        a, b = live.get(name, []), fresh.get(name, [])
        if a != b:
            only_live = [r for r in a if r not in b]
            only_fresh = [r for r in b if r not in a]
            out.append(f"{name}: live only {only_live[:4]}, fresh only {only_fresh[:4]}")
    return out


async def assert_equals_fresh(world: World, sm: Session, idx: EventIndexer) -> dict[str, list[Any]]:
    await catch_up(idx)
    live, fresh = await dump(sm), await world.fresh_dump()
    diff = differences(live, fresh)
    assert not diff, "live database differs from a fresh re-index:\n" + "\n".join(diff)
    return live


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    work = tmp_path_factory.mktemp("reorg")
    template = work / "template.db"
    await db.upgrade(f"sqlite+aiosqlite:///{template}")
    async with Anvil() as node:
        conn = await connect(node.url)
        try:
            admin = LocalSigner(dev_signer_key(conn))
            quote_key = bytes.fromhex(Account.create().key.hex().removeprefix("0x"))
            quote_signer = Quoter(quote_key, conn.chain_id, "0x" + "00" * 20, 3_600).address
            manifest = await deploy_suite(
                conn,
                admin,
                manifest_dir=work / "manifest",
                config=SuiteConfig(min_notice=60, max_window_length=3_600),
                quote_signer=quote_signer,
            )
            quoter = Quoter(quote_key, conn.chain_id, manifest.address("DeploymentEscrow"), 3_600)
            yield World(conn, admin, manifest, quoter, template, work)
        finally:
            await conn.close()


# ---- the off-chain rows the API writes -----------------------------------------------------------------

SPEC_LIMITS = SpecLimits(known_regions=[], known_gpu_models=[])


def spec_for(n: int) -> dict[str, Any]:
    return {
        "command": ["sleep", str(600 + n)],
        "resources": {"cpu_millicores": 500, "memory_mb": 256, "disk_gb": 1},
    }


def add_user(sub: str) -> OffChain:
    async def write(s: AsyncSession) -> None:
        s.add(User(sub=sub))

    return write


def add_node(provider_sub: str, name: str, wallet: str) -> OffChain:
    async def write(s: AsyncSession) -> None:
        user = (await s.scalars(select(User).where(User.sub == provider_sub))).one()
        s.add(
            Node(
                provider_user_id=user.id,
                name=name,
                wallet_address=wallet,
                status=NODE_PENDING_CHAIN,
                cpu_millicores=8000,
                memory_mb=32768,
                disk_gb=500,
            )
        )

    return write


def add_deployment(sub: str, payer: str, n: int, node_name: str, chain_node_id: int) -> OffChain:
    """What ``create_deployment`` records for a wallet-connected payer: the deployment (``funding``), its
    first transition and one lease awaiting funds."""

    async def write(s: AsyncSession) -> None:
        user = (await s.scalars(select(User).where(User.sub == sub))).one()
        node = (await s.scalars(select(Node).where(Node.name == node_name))).one()
        spec = parse_spec(spec_for(n), SPEC_LIMITS)
        dep = m.Deployment(
            user_id=user.id,
            spec=json_spec(spec),
            spec_hash="0x" + spec_hash(spec).hex(),
            status=m.FUNDING,
            replicas=1,
            rate_per_second=RATE,
            payer=payer,
            funding=m.FUNDING_WALLET,
        )
        s.add(dep)
        await s.flush()
        s.add(
            m.DeploymentTransition(
                deployment_id=dep.id, from_status=None, to_status=m.FUNDING, reason="created"
            )
        )
        s.add(
            m.Lease(
                deployment_id=dep.id,
                replica_index=0,
                role=m.PRIMARY,
                node_id=node.id,
                chain_node_id=chain_node_id,
                rate_per_second=RATE,
                deposit=DEPOSIT,
                status=m.AWAITING_FUNDS,
            )
        )

    return write


def lid(payer: LocalSigner, sequence: int) -> str:
    """The escrow's lease id: the payer's address above a global 64-bit sequence."""
    return str(int(payer.address, 16) << 64 | sequence)


async def deployment_state(sm: Session, payer: str) -> tuple[str, str, str | None]:
    async with sm() as s:
        dep = (await s.scalars(select(m.Deployment).where(m.Deployment.payer == payer))).one()
        lease = (await s.scalars(select(m.Lease).where(m.Lease.deployment_id == dep.id))).one()
        return dep.status, lease.status, lease.chain_lease_id


# ---- the test ------------------------------------------------------------------------------------------


async def test_reorgs_up_to_the_confirmation_count_leave_what_a_fresh_reindex_builds(world: World) -> None:
    engine, sm = world.new_db()
    try:
        await _scenario(world, sm)
    finally:
        await engine.dispose()


async def _open(world: World, payer: LocalSigner, n: int, node: int, *, nonce: int | None = None) -> SignedTx:
    spec = spec_hash(parse_spec(spec_for(n), SPEC_LIMITS))
    quote = world.quoter.sign(world.quoter.quote(payer.address, node, RATE, spec, now=await world.now()))
    data = world.escrow.encode_open(node, RATE, DEPOSIT, spec, quote)
    return await world.sign(payer, world.escrow.address, data, nonce=nonce)


async def _scenario(world: World, sm: Session) -> None:
    hub = LocalHub()
    idx = world.indexer(sm, hub)
    token, registry, escrow = world.token, world.registry, world.escrow

    # a provider registers, is approved, adds two nodes (linked to their database rows by the link word)
    provider = await world.wallet(10**9)
    payers = [await world.wallet(10**9) for _ in range(3)]
    for sub in ("prov", "u1", "u2", "u3"):
        await world.off_chain(sm, add_user(sub))
    for name in ("n1", "n2"):
        await world.off_chain(sm, add_node("prov", name, provider.address))
    await world.send(provider, token.address, token.encode_approve(registry.address, 10 * COLLATERAL))
    await world.send(provider, registry.address, registry.encode_register(COLLATERAL))
    await world.send(world.admin, registry.address, registry.encode_approve_provider(provider.address))
    for node_row in (1, 2):
        await world.send(provider, registry.address, registry.encode_add_node() + link_word(node_row))
    for payer in payers:
        await world.send(payer, token.address, token.encode_approve(escrow.address, 10 * DEPOSIT))
    await catch_up(idx)
    async with sm() as s:
        chain_ids = {n.name: n.chain_node_id for n in (await s.scalars(select(Node))).all()}
    assert all(chain_ids.values()), chain_ids
    u1, u2, u3 = payers
    for sub, payer, n, node_name in (("u1", u1, 1, "n1"), ("u2", u2, 2, "n2"), ("u3", u3, 3, "n1")):
        chain_node = chain_ids[node_name]
        assert chain_node is not None
        await world.off_chain(sm, add_deployment(sub, payer.address, n, node_name, chain_node))
    n1, n2 = chain_ids["n1"], chain_ids["n2"]
    assert n1 is not None and n2 is not None
    await catch_up(idx)

    # depth 1: the block with u1's LeaseOpened is replaced by an empty one
    open1 = await _open(world, u1, 1, n1)
    await world.send_raw(open1)
    await catch_up(idx)
    assert await deployment_state(sm, u1.address) == ("starting", "open", lid(u1, 1))
    node_poll, stream = hub.subscribe(topics.node(1)), hub.subscribe(topics.deployment(1))
    await rpc(world.conn, "anvil_reorg", 1, [])
    progress = await idx.run_once()
    assert progress.fork_block is not None and progress.rolled_back >= 1
    await assert_equals_fresh(world, sm, idx)
    assert await deployment_state(sm, u1.address) == ("funding", "awaiting_funds", None)
    assert await node_poll.wait(0) and await stream.wait(0)  # n1's agent and d1's stream were woken
    await world.send_raw(open1)  # the dropped transaction comes back
    await catch_up(idx)
    assert await deployment_state(sm, u1.address) == ("starting", "open", lid(u1, 1))

    # depth 2: u2's LeaseOpened (sequence 2) and the provider's CollateralAdded are replaced by u3's open,
    # which takes sequence 2
    fork = int(await world.conn.w3.eth.block_number)
    open2 = await _open(world, u2, 2, n2)
    await world.send_raw(open2)
    more = await world.send(provider, registry.address, registry.encode_add_collateral(10**6))
    await catch_up(idx)
    assert await deployment_state(sm, u2.address) == ("starting", "open", lid(u2, 2))
    w3: Any = world.conn.w3
    nonce3 = int(await w3.eth.get_transaction_count(u3.address, fork))
    open3 = await _open(world, u3, 3, n1, nonce=nonce3)
    await rpc(world.conn, "anvil_reorg", 2, [["0x" + open3.raw.hex(), 0]])
    progress = await idx.run_once()
    assert progress.fork_block == fork
    await assert_equals_fresh(world, sm, idx)
    assert await deployment_state(sm, u2.address) == ("funding", "awaiting_funds", None)
    assert await deployment_state(sm, u3.address) == ("starting", "open", lid(u3, 2))
    await world.send_raw(open2)  # u2's open comes back: sequence 3 now
    await world.send_raw(more)
    await catch_up(idx)
    assert await deployment_state(sm, u2.address) == ("starting", "open", lid(u2, 3))

    # depth 3 (= confirmations): a top-up, a maintenance window (tenants notified) and u1's close
    start = await world.now() + 1_800
    top_up = await world.send(u1, escrow.address, escrow.encode_top_up(int(lid(u1, 1)), TOP_UP))
    window = await world.send(
        provider, registry.address, registry.encode_schedule_maintenance(n1, start, start + 600)
    )
    close1 = await world.send(u1, escrow.address, escrow.encode_close(int(lid(u1, 1))))
    await catch_up(idx)
    assert await deployment_state(sm, u1.address) == ("closed", "closed", lid(u1, 1))
    before = await dump(sm)
    assert before["maintenance_windows"] and len(before["notifications"]) == 2  # u1 and u3 run on n1
    await rpc(world.conn, "anvil_reorg", CONFIRMATIONS, [])
    progress = await idx.run_once()
    assert progress.rolled_back >= 3
    live = await assert_equals_fresh(world, sm, idx)
    assert await deployment_state(sm, u1.address) == ("starting", "open", lid(u1, 1))
    assert live["maintenance_windows"] == [] and live["notifications"] == []
    for signed in (top_up, window, close1):
        await world.send_raw(signed)
    await catch_up(idx)
    again = await dump(sm)
    assert await deployment_state(sm, u1.address) == ("closed", "closed", lid(u1, 1))
    assert again["maintenance_windows"] and len(again["notifications"]) == 2

    # depth 2 on registry events: a third node's NodeAdded and n2's NodePayeeSet; the new fork mines the
    # same addNode again (same transaction, another block) and drops the payee change
    await world.off_chain(sm, add_node("prov", "n3", provider.address))
    add3 = await world.sign(provider, registry.address, registry.encode_add_node() + link_word(3))
    await world.send_raw(add3)
    payee = await world.send(provider, registry.address, registry.encode_set_node_payee(n2, u1.address))
    await catch_up(idx)
    async with sm() as s:
        linked = {n.name: (n.chain_node_id, n.payee) for n in (await s.scalars(select(Node))).all()}
    assert linked["n3"][0] is not None and linked["n2"][1] == u1.address
    await rpc(world.conn, "anvil_reorg", 2, [["0x" + add3.raw.hex(), 1]])
    progress = await idx.run_once()
    assert progress.rolled_back >= 2
    await assert_equals_fresh(world, sm, idx)
    async with sm() as s:
        relinked = {n.name: (n.chain_node_id, n.payee) for n in (await s.scalars(select(Node))).all()}
    assert relinked["n3"] == linked["n3"] and relinked["n2"][1] == provider.address
    await world.send_raw(payee)
    await assert_equals_fresh(world, sm, idx)
