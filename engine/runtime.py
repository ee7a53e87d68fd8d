"""The composition root: builds every long-lived client of the process, once, from :class:`Settings`.

:func:`start_runtime` opens (or, in dev, spawns) the chain, migrates the database, deploys the contract
suite if the manifest for this chain is missing, and builds the outbox sender. Entry points (``cloudmarket
up``/``serve``, tests) call it once and pass the :class:`Runtime` down; nothing else constructs clients.

Dev chain: with ``CLOUDMARKET_CHAIN_URL`` unset and ``env=dev`` (and ``spawn_dev_chain=True``) an anvil
is started with ``--state <data_dir>/anvil-state.json`` and a periodic dump, on ``dev_chain_port`` (8545)
if free, else on a free port. Anvil dumps its state again when it is stopped (SIGTERM), so a restart keeps
contracts and balances; the manifest in ``<data_dir>/manifests/`` is then reused. ``reset=True`` deletes
the state file, the manifests and the default SQLite database (its chain index and outbox refer to the old
chain) before starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from web3.types import Wei

from chain.connect import ChainConnection, connect
from chain.devchain import Anvil
from chain.signer import LocalSigner
from engine import db
from engine.context import Context, Contracts
from engine.notify import Hub, LocalHub, make_hub
from engine.settings import Settings, SettingsError

if TYPE_CHECKING:
    from chain.deploy import Manifest, SuiteConfig
    from engine.deployments.relay import Relay
    from engine.indexer.indexer import EventIndexer
    from engine.outbox.sender import OutboxSender

log = logging.getLogger(__name__)

ANVIL_STATE_FILE = "anvil-state.json"
MANIFESTS_DIR = "manifests"
# eth-tester's pre-funded accounts are not our signer; give the signer this much ether on such chains.
ETH_TESTER_SIGNER_FUNDING_WEI = 1_000 * 10**18
# Contracts whose events the indexer follows (every deployed contract that emits events we query).
INDEXED_CONTRACTS: tuple[str, ...] = ("CreditToken", "ProviderRegistry", "DeploymentEscrow")


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


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def reset_dev_state(settings: Settings) -> None:
    """Forget the local dev world: anvil state, manifests, and the default SQLite database."""
    data = settings.data_dir
    (data / ANVIL_STATE_FILE).unlink(missing_ok=True)
    shutil.rmtree(data / MANIFESTS_DIR, ignore_errors=True)
    if settings.database_url is None:
        db_file = data / "cloudmarket.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)


async def start_dev_chain(settings: Settings) -> Anvil:
    """Start anvil on ``dev_chain_port`` (or a free port) with state persisted in the data dir."""
    port = settings.dev_chain_port if _port_free(settings.dev_chain_port) else 0
    anvil = Anvil(
        port=port,
        state_file=(settings.data_dir / ANVIL_STATE_FILE).resolve(),
        state_interval=5,
        log_file=(settings.data_dir / "anvil.log").resolve(),
    )
    return await asyncio.to_thread(anvil.start)


async def fund_on_eth_tester(conn: ChainConnection, address: str) -> None:
    """eth-tester funds its own accounts only; move ether from its first one to our signer."""
    w3 = conn.w3
    if await w3.eth.get_balance(w3.to_checksum_address(address)) > 0:
        return
    accounts = await w3.eth.accounts
    tx = await w3.eth.send_transaction(
        {
            "from": accounts[0],
            "to": w3.to_checksum_address(address),
            "value": Wei(ETH_TESTER_SIGNER_FUNDING_WEI),
        }
    )
    await w3.eth.wait_for_transaction_receipt(tx)


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


async def start_runtime(settings: Settings, *, spawn_dev_chain: bool, reset: bool = False) -> Runtime:
    """Build the process's runtime. On failure everything started so far is stopped again."""
    from chain.contracts import CreditTokenClient, EscrowClient
    from chain.deploy import deploy_suite
    from engine.deployments.events import EscrowSubscriber
    from engine.deployments.relay import Relay
    from engine.deployments.services import tenants_of as deployment_tenants
    from engine.indexer.indexer import EventIndexer
    from engine.operator.onchain import operator_suite_config
    from engine.outbox.sender import OutboxSender
    from engine.providers.subscriber import MarketplaceSubscriber
    from engine.wallets.services import keyring_for

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
        if conn.kind == "eth-tester":
            await fund_on_eth_tester(conn, signer.address)

        url = settings.effective_database_url
        await db.upgrade(url)
        engine = db.make_engine(url)
        sessionmaker = db.make_sessionmaker(engine)
        hub = make_hub(url)
        await hub.start()

        async with sessionmaker() as session:
            suite = await operator_suite_config(session, settings, suite_config(settings))
        manifest = await deploy_suite(
            conn, signer, manifest_dir=settings.data_dir / MANIFESTS_DIR, config=suite
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
        relay = None
        if "DeploymentEscrow" in manifest.contracts:
            relay = Relay(
                EscrowClient(conn.w3, manifest.address("DeploymentEscrow")),
                CreditTokenClient(conn.w3, manifest.address("CreditToken")),
                keyring_for(settings),
            )
            indexer.on_events(EscrowSubscriber(sessionmaker, relay, hub))
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
