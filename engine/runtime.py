"""The composition root: builds every long-lived client of the process, once, from :class:`Settings`.

:func:`start_runtime` opens (or, in dev, spawns) the chain, migrates the database (:func:`migrate`: one
process at a time on PostgreSQL), deploys the contract suite if the manifest for this chain is missing
(``cloudmarket up``; ``serve`` passes ``deploy=False`` and refuses to start without one), enqueues the
admin changes (roles, contract config) the chain lacks in the outbox (:mod:`engine.outbox.admin`; never
sent directly), and builds the outbox sender. Entry points (``cloudmarket up``/``serve``, tests) call it
once and pass the :class:`Runtime` down; nothing else constructs clients.

Dev chain: with ``CLOUDMARKET_CHAIN_URL`` unset and ``env=dev`` (and ``spawn_dev_chain=True``) an anvil
is started with ``--state <data_dir>/anvil-state.json`` and a periodic dump. Anvil dumps its state again
when it is stopped (SIGTERM), so a restart keeps contracts and balances; the manifest in
``<data_dir>/manifests/`` is then reused. ``reset=True`` deletes the state file, the manifests and the
default SQLite database (its chain index and outbox refer to the old chain) before starting.

The chain's URL does not move between restarts (wallets and node agents keep it): the port anvil got is
remembered in ``<data_dir>/anvil-port.json`` and reused while ``dev_chain_port`` stays the same; first
choice ``dev_chain_port`` (8545), a free port only when that is taken by someone else. An anvil left
running by a crashed run of the same data dir (``<data_dir>/anvil.pid``) is stopped first, so two anvils
never write one state file; and anvil dies with the process that spawned it (:mod:`chain.devchain`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from chain.connect import ChainConnection, connect
from chain.devchain import Anvil, free_port, port_free, stop_stale_anvil
from chain.signer import LocalSigner
from engine import db
from engine.context import Context, Contracts
from engine.notify import Hub, LocalHub, make_hub
from engine.settings import Settings, SettingsError
from engine.swaps.services import swap_clients_for

if TYPE_CHECKING:
    from chain.deploy import Manifest, SuiteConfig
    from chain.quotes import Quoter
    from engine.indexer.indexer import EventIndexer
    from engine.outbox.sender import OutboxSender
    from engine.relay.services import Relay

log = logging.getLogger(__name__)

ANVIL_STATE_FILE = "anvil-state.json"
ANVIL_PID_FILE = "anvil.pid"
ANVIL_PORT_FILE = "anvil-port.json"
MANIFESTS_DIR = "manifests"
# Contracts whose events the indexer follows (every deployed contract that emits events we query).
INDEXED_CONTRACTS: tuple[str, ...] = (
    "CreditToken",
    "ProviderRegistry",
    "DeploymentEscrow",
    "AllianceSplits",
    "StakingTiers",  # issue 13: stake events -> staking_positions / staking_events (engine.staking.events)
)


@dataclass
class Runtime:
    settings: Settings
    db_engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    chain: ChainConnection
    signer: LocalSigner
    manifest: Manifest
    sender: OutboxSender
    indexer: EventIndexer
    anvil: Anvil | None = None
    relay: Relay | None = None  # managed payers' escrow requests (None: no escrow deployed)
    # wake-ups for long-polls and SSE (PostgresHub on PostgreSQL, LocalHub otherwise); started here
    hub: Hub = field(default_factory=LocalHub)
    # what every engine command is given (engine.context); built once here
    context: Context = field(init=False)

    def __post_init__(self) -> None:
        self.context = Context(
            settings=self.settings,
            sessionmaker=self.sessionmaker,
            chain=self.chain,
            contracts=Contracts.from_manifest(self.chain.w3, self.manifest, self.chain.chain_id),
            manifest=self.manifest,
            signer_address=self.signer.address,
            relay=self.relay,
            hub=self.hub,
            quoter=self.relay.quoter if self.relay is not None else None,
            swaps=swap_clients_for(self.settings, self.manifest, self.chain.w3),
        )

    @property
    def contracts(self) -> Contracts:
        return self.context.contracts

    @property
    def chain_url(self) -> str:
        """The URL this process talks to."""
        return self.chain.url

    @property
    def public_rpc_url(self) -> str:
        """The RPC URL handed to wallets (``public_rpc_url`` setting, else the chain URL in use)."""
        return self.settings.public_rpc_url or self.chain.url

    @property
    def manifest_dir(self) -> Path:
        return self.settings.data_dir / MANIFESTS_DIR

    async def close(self) -> None:
        """Close the hub, dispose the database pool, close the chain connection, stop the anvil we started
        (it dumps)."""
        with contextlib.suppress(Exception):
            await self.hub.close()
        await _close_parts(self.db_engine, self.chain, self.anvil)
        self.anvil = None


async def _close_parts(engine: AsyncEngine | None, conn: ChainConnection | None, anvil: Anvil | None) -> None:
    if engine is not None:
        await engine.dispose()
    if conn is not None:
        with contextlib.suppress(Exception):  # closing a dead connection must not hide the real error
            await conn.close()
    if anvil is not None:
        await asyncio.to_thread(anvil.stop)


def reset_dev_state(settings: Settings) -> None:
    """Forget the local dev world: anvil state, manifests, and the default SQLite database."""
    data = settings.data_dir
    (data / ANVIL_STATE_FILE).unlink(missing_ok=True)
    shutil.rmtree(data / MANIFESTS_DIR, ignore_errors=True)
    if settings.database_url is None:
        db_file = data / "cloudmarket.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)


def dev_chain_port(settings: Settings) -> int:
    """The port for the dev anvil: the one remembered for this ``dev_chain_port``, else ``dev_chain_port``,
    else (both taken by other programs) a free one."""
    remembered: int | None = None
    try:
        saved = json.loads((settings.data_dir / ANVIL_PORT_FILE).read_text())
        if saved.get("configured") == settings.dev_chain_port:
            remembered = int(saved["port"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    for port in (remembered, settings.dev_chain_port):
        if port is not None and 0 < port < 65536 and port_free(port):
            return port
    return free_port()


def _remember_port(settings: Settings, port: int) -> None:
    path = settings.data_dir / ANVIL_PORT_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"configured": settings.dev_chain_port, "port": port}) + "\n")
    tmp.replace(path)


async def start_dev_chain(settings: Settings) -> Anvil:
    """Start anvil with state persisted in the data dir, on the port of the previous run (see the module
    docstring), after stopping an anvil a crashed run left on the same state file."""
    data = settings.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    state_file, pid_file = data / ANVIL_STATE_FILE, data / ANVIL_PID_FILE
    stale = await asyncio.to_thread(stop_stale_anvil, pid_file, state_file)
    if stale is not None:
        log.warning("stopped the anvil a previous run left behind", extra={"pid": stale})
    anvil = Anvil(
        port=dev_chain_port(settings),
        state_file=state_file,
        state_interval=5,
        log_file=data / "anvil.log",
        pid_file=pid_file,
    )
    await anvil.start_async()
    _remember_port(settings, anvil.port)
    return anvil


def suite_config(settings: Settings) -> SuiteConfig:
    """The marketplace contracts' parameters from settings (applied at deploy, reconciled on restart)."""
    from chain.deploy import SuiteConfig

    return SuiteConfig(
        min_collateral=settings.provider_min_collateral,
        min_notice=settings.maintenance_min_notice,
        max_window_length=settings.maintenance_max_window,
        exit_cooldown=settings.provider_exit_cooldown,
        max_windows_per_month=settings.maintenance_max_windows_per_month,
        fee_bps=settings.platform_fee_bps,
        keeper_share_bps=settings.keeper_share_bps,
        max_tip=settings.keeper_max_tip,
        treasury=settings.treasury_address,
    )


def quote_signer_address(settings: Settings) -> str:
    """The quoting key's address (granted ``QUOTE_SIGNER_ROLE`` at deploy and by the admin reconcile)."""
    from chain.quotes import Quoter

    return Quoter(_quote_key(settings), 0, "0x" + "00" * 20, settings.quote_ttl).address


def _quote_key(settings: Settings) -> bytes:
    key = settings.quote_signer_private_key()
    if key is None:
        raise SettingsError("quote_signer_key", "no quote signer key configured")
    try:
        return bytes.fromhex(key.removeprefix("0x"))
    except ValueError as exc:
        raise SettingsError("quote_signer_key", "not a hex private key") from exc


def quoter_for(settings: Settings, manifest: Manifest, chain_id: int) -> Quoter:
    """The quoter bound to the manifest's escrow (the token-only chain gets one bound to a zero address,
    never used: nothing opens leases there)."""
    from chain.quotes import Quoter

    escrow = manifest.address("DeploymentEscrow") if "DeploymentEscrow" in manifest.contracts else None
    return Quoter(_quote_key(settings), chain_id, escrow or "0x" + "00" * 20, settings.quote_ttl)


# pg_advisory_lock key serialising migrations across processes: ASCII "cmmigrat"
MIGRATION_LOCK_KEY = int.from_bytes(b"cmmigrat", "big")


async def migrate(url: str) -> None:
    """Migrate the database to head. On PostgreSQL under a session advisory lock, so N processes started
    at once migrate one after the other (the first does the work, the others find the schema at head);
    Alembic alone would let two of them create the same tables. SQLite: one process by design."""
    if not url.startswith("postgresql"):
        await db.upgrade(url)
        return
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            try:
                await db.upgrade(url)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
    finally:
        await engine.dispose()


async def require_manifest(conn: ChainConnection, manifest_dir: Path) -> Manifest:
    """The deployed suite recorded for ``conn``'s chain; :class:`SettingsError` when there is none, or when
    its contracts are not there any more or were built from other sources (``serve`` never deploys: a
    fresh suite would strand every balance and lease of the old one)."""
    from chain.artifacts import load_artifact
    from chain.deploy import SUITE, is_live, load_manifest, manifest_path

    path = manifest_path(manifest_dir, conn.chain_id)
    manifest = load_manifest(manifest_dir, conn.chain_id)
    if manifest is None:
        raise SettingsError(
            "data_dir",
            f"no deployment manifest for chain {conn.chain_id} at {path}; `serve` never deploys: run "
            "`cloudmarket deploy` once (or copy the manifest every process shares into the data dir)",
        )
    if not await is_live(conn, manifest, {name: load_artifact(name) for name in SUITE}):
        raise SettingsError(
            "data_dir",
            f"the manifest {path} does not match chain {conn.chain_id}: a contract has no code there or was "
            "built from other sources; `serve` never deploys: run `cloudmarket deploy` to deploy the suite",
        )
    return manifest


async def start_runtime(
    settings: Settings, *, spawn_dev_chain: bool, reset: bool = False, deploy: bool = True
) -> Runtime:
    """Build the process's runtime. On failure everything started so far is stopped again.

    ``deploy=False`` (``cloudmarket serve``): never deploy; the manifest for the chain must exist in the
    data dir and its contracts must be live (:func:`require_manifest`), else :class:`SettingsError`."""
    from chain.contracts import CreditTokenClient, EscrowClient
    from chain.deploy import deploy_suite
    from engine.alliances.events import AllianceSubscriber
    from engine.deployments.events import EscrowSubscriber
    from engine.deployments.reorg import RollbackWakeups
    from engine.deployments.services import tenants_of as deployment_tenants
    from engine.indexer.indexer import EventIndexer
    from engine.operator.onchain import operator_suite_config
    from engine.outbox.admin import enqueue_admin_reconcile
    from engine.outbox.sender import OutboxSender
    from engine.providers.subscriber import MarketplaceSubscriber
    from engine.relay.services import Relay
    from engine.scaling.failover import FailoverDeps
    from engine.staking.events import StakingSubscriber
    from engine.wallets.history_events import subscriber as history_subscriber
    from engine.wallets.live import subscribe as subscribe_wallet_changes
    from engine.wallets.services import keyring_for
    from engine.workloads.heartbeats import LivenessPolicy

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if reset:
        reset_dev_state(settings)
    anvil: Anvil | None = None
    conn: ChainConnection | None = None
    engine: AsyncEngine | None = None
    hub: Hub | None = None
    try:
        if settings.chain_url:
            conn = await connect(settings.chain_url)
        elif spawn_dev_chain and not settings.is_production:
            anvil = await start_dev_chain(settings)
            conn = await connect(anvil.url)
        else:
            raise SettingsError("chain_url", "no chain URL configured (only `up` in dev spawns a chain)")
        key = settings.signer_private_key()
        if key is None:
            raise SettingsError("signer_key", "no signer key configured")
        signer = LocalSigner(key)
        await conn.ensure_funded(signer.address)

        url = settings.effective_database_url
        await migrate(url)
        engine = (
            db.make_engine(url) if db.is_sqlite(url) else db.make_engine(url, pool_size=settings.db_pool_size)
        )
        sessionmaker = db.make_sessionmaker(engine)
        hub = make_hub(url)
        await hub.start()

        async with sessionmaker() as session:
            suite = await operator_suite_config(session, settings, suite_config(settings))
        if deploy:
            manifest = await deploy_suite(
                conn,
                signer,
                manifest_dir=settings.data_dir / MANIFESTS_DIR,
                config=suite,
                quote_signer=quote_signer_address(settings),
            )
        else:
            manifest = await require_manifest(conn, settings.data_dir / MANIFESTS_DIR)
        if anvil is not None:  # the dev chain `up` spawned: Uniswap V2 + a test stablecoin, seeded pools
            from chain.devswap import ensure_devswap

            manifest = await ensure_devswap(conn, signer, manifest, settings.data_dir / MANIFESTS_DIR)
        quoter = quoter_for(settings, manifest, conn.chain_id)
        # roles and contract config the chain lacks: outbox rows, one per change however many processes
        # start (engine.outbox.admin); the sender started with the app sends them
        await enqueue_admin_reconcile(
            sessionmaker, conn, manifest, signer.address, suite, quote_signer=quoter.address
        )
        sender = OutboxSender(
            sessionmaker,
            conn,
            signer,
            confirmations=max(1, settings.effective_confirmations),
            replace_after=settings.tx_replace_after,
            max_fee_cap=settings.tx_max_fee_cap_gwei * 10**9,
            poll_interval=settings.tx_poll_interval,
        )
        indexer = EventIndexer(
            sessionmaker,
            conn,
            manifest,
            [name for name in INDEXED_CONTRACTS if name in manifest.contracts],
            confirmations=max(1, settings.effective_confirmations),
            poll_interval=settings.indexer_poll_interval,
        )
        indexer.on_events(MarketplaceSubscriber(sessionmaker, conn, tenants_of=deployment_tenants))
        indexer.on_events(AllianceSubscriber(sessionmaker))  # issue 13 (engine.alliances.events)
        indexer.on_events(StakingSubscriber(sessionmaker))  # issue 13 (engine.staking.events)
        indexer.on_rollback(RollbackWakeups(sessionmaker, hub))  # issue 13 (engine.deployments.reorg)
        indexer.on_events(await history_subscriber(sessionmaker, conn, manifest, signer.address))  # issue 15
        relay = None
        if "DeploymentEscrow" in manifest.contracts:
            relay = Relay(
                EscrowClient(conn.w3, manifest.address("DeploymentEscrow")),
                CreditTokenClient(conn.w3, manifest.address("CreditToken")),
                keyring_for(settings),
                quoter,
            )
            stopped_failover = FailoverDeps(
                relay.escrow,
                relay.token,
                conn.chain_id,
                relay,
                LivenessPolicy.from_settings(settings),
                quoter,
            )  # leases whose node stopped on chain fail over at once (engine.deployments.stops)
            indexer.on_events(
                EscrowSubscriber(sessionmaker, relay, hub, chain_id=conn.chain_id, failover=stopped_failover)
            )
        # issue 14, last subscriber: after each commit, "wallet changed" to the users whose wallets it names
        subscribe_wallet_changes(indexer, sessionmaker, hub)
    except BaseException:
        if hub is not None:
            with contextlib.suppress(Exception):
                await hub.close()
        await _close_parts(engine, conn, anvil)
        raise
    log.info(
        "runtime started",
        extra={
            "chain_id": conn.chain_id,
            "chain_kind": conn.kind,
            "signer": signer.address,
            "dev_chain": anvil is not None,
        },
    )
    return Runtime(
        settings=settings,
        db_engine=engine,
        sessionmaker=sessionmaker,
        chain=conn,
        signer=signer,
        manifest=manifest,
        sender=sender,
        indexer=indexer,
        anvil=anvil,
        relay=relay,
        hub=hub,
    )
