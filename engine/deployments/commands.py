"""The deployment use cases, one command each: ``async def command(ctx, <typed args>) -> <typed result>``.

Each command owns its database transaction, reads the chain through ``ctx.contracts``, does the money
arithmetic and returns the unsigned transactions a wallet-connected payer must sign as data (managed
payers' escrow requests are queued for the relay instead). Scaling and autoscale: :mod:`engine.scaling`.

==========================  =================================================================
command                     does
==========================  =================================================================
create_deployment           validate the spec, check the account, quote + place, record, fund
quote_deployment            the same validation, placement and quote as create; reserves and writes nothing
catalog                     public: regions, GPU models, unit floor prices, certified premium, platform fee
list_deployments            the user's deployments with their leases, a page at a time (keyset on id)
get_deployment              one deployment, its leases with on-chain balances, its transitions
deployment_events           a reader of the status transitions (the API streams it as SSE)
deployment_metrics          usage per replica from the heartbeats
top_up_deployment           split an amount over the open leases and fund it
close_deployment            close: cancel unfunded leases, close open ones, refund the rest
provider_earnings           what the escrow owes each of a provider's nodes
withdraw_earnings           the ``withdraw(nodeId)`` transaction for a node's payee
==========================  =================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from chain.contracts import UnsignedTx
from engine import db
from engine.context import Context
from engine.deployments import models as m
from engine.deployments import services, status
from engine.deployments.errors import BadFunding, NothingToWithdraw, WrongState
from engine.deployments.pause import require_unpaused
from engine.deployments.services import DeploymentQuote, ReplicaPlan
from engine.deployments.spec import SpecLimits, parse_spec
from engine.deployments.transactions import EscrowTxs
from engine.money import CreditUnits
from engine.nodes import services as node_services
from engine.nodes.errors import NodeNotOnChain
from engine.notify import topics
from engine.operator.config import Pricing, current_config, pricing_policy
from engine.pagination import DEFAULT_LIMIT, Page, clamp_limit, decode_cursor
from engine.placement.models import PRICE_SCALE
from engine.relay.errors import NoRelay
from engine.relay.services import Relay
from engine.scaling.failover import transactions_for
from engine.staking.commands import preview_discount
from engine.staking.models import DiscountPreview
from engine.workloads.metrics import usage_series
from engine.workloads.wakeups import publish_noted

MAX_EVENTS_PER_READ = 500  # transitions per read of the status stream


# ---- requests ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeploymentRequest:
    """A new deployment: the raw spec (validated by :func:`~engine.deployments.spec.parse_spec` against the
    operator's limits) and exactly one of ``deposit_per_replica`` and ``duration_seconds``."""

    spec: Mapping[str, Any]
    deposit_per_replica: CreditUnits | None = None
    duration_seconds: int | None = None
    wallet: str | None = None  # pay from this linked wallet; None: the first wallet-connected, else managed

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> DeploymentRequest:
        deposit = body.get("deposit_per_replica")
        duration = body.get("duration_seconds")
        return cls(
            spec=body["spec"],
            deposit_per_replica=None if deposit is None else CreditUnits(int(deposit)),
            duration_seconds=None if duration is None else int(duration),
            wallet=body.get("wallet"),
        )


# ---- results ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeploymentView:
    deployment: m.DeploymentRow
    leases: list[m.LeaseRow]


@dataclass(frozen=True)
class CreatedDeployment:
    deployment: m.Deployment
    leases: list[m.Lease]
    quote: DeploymentQuote
    transactions: list[UnsignedTx]  # wallet-connected payers: approve (if short) + one open per replica
    discount: DiscountPreview | None = None  # issue 13: the payer's staking discount the escrow applies


@dataclass(frozen=True)
class DeploymentQuoteView:
    """A dry-run quote: the quote and the replicas as they would be placed now (nothing is reserved)."""

    quote: DeploymentQuote
    replicas: tuple[ReplicaPlan, ...]
    discount: DiscountPreview | None = None  # issue 13: the payer's staking discount the escrow applies


@dataclass(frozen=True)
class Catalog:
    regions: tuple[str, ...]
    gpu_models: tuple[str, ...]
    floor: Pricing  # floor unit prices (price units per resource unit per second) and certified premium
    price_scale: int  # price units per credit unit
    platform_fee_bps: int | None
    max_replicas: int


@dataclass(frozen=True)
class DeploymentAction:
    """The outcome of an action on a deployment (top-up, close, scale)."""

    deployment: m.Deployment
    leases: list[m.Lease]
    transactions: list[UnsignedTx] = field(default_factory=list)  # wallet-connected payers only


@dataclass(frozen=True)
class LeaseBalance:
    """A lease's escrow account read from the chain now."""

    balance: CreditUnits
    due_now: CreditUnits  # accrued to the provider, not yet settled
    rate_per_second: CreditUnits
    settled_at: int
    open: bool

    @property
    def balance_now(self) -> CreditUnits:
        return CreditUnits(self.balance - self.due_now)

    @property
    def runway_seconds(self) -> int | None:
        """Seconds until the lease runs dry at its rate (engine.monitoring's formula); None: not burning."""
        return self.balance_now // self.rate_per_second if self.open and self.rate_per_second > 0 else None


@dataclass(frozen=True)
class DeploymentDetail:
    deployment: m.Deployment
    leases: list[m.Lease]
    balances: dict[int, LeaseBalance]  # by lease row id; leases opened on chain only
    transitions: list[m.DeploymentTransition]

    @property
    def runway_seconds(self) -> int | None:
        """The shortest runway of its open leases (the first replica to stop); None: none burning."""
        runways = [r for b in self.balances.values() if (r := b.runway_seconds) is not None]
        return min(runways) if runways else None


@dataclass(frozen=True)
class TransitionEvent:
    id: int
    from_status: str | None
    to_status: str
    reason: str
    at: datetime
    transactions: list[dict[str, Any]] | None = None  # a wallet-connected payer's txs to sign (failover,
    # an orphaned lease's close)


@dataclass
class DeploymentEvents:
    """Reader of one deployment's status transitions (built by :func:`deployment_events`). ``finished``
    is set by :meth:`read` once the deployment is gone or closed and everything was read."""

    ctx: Context
    deployment_id: int
    topic: str  # the hub topic published on each transition
    finished: bool = False

    async def read(self, after: int) -> list[TransitionEvent]:
        """The transitions with an id above ``after``, oldest first (at most ``MAX_EVENTS_PER_READ``)."""
        async with self.ctx.sessionmaker() as session:
            rows = await status.transitions_after(
                session, self.deployment_id, after, limit=MAX_EVENTS_PER_READ
            )
            dep = await session.get(m.Deployment, self.deployment_id)
            signs = await transactions_for(session, [t.id for t in rows])
        self.finished = dep is None or (dep.status in status.TERMINAL and len(rows) < MAX_EVENTS_PER_READ)
        return [
            TransitionEvent(
                t.id, t.from_status, t.to_status, t.reason, t.at, t.transactions or signs.get(t.id)
            )
            for t in rows
        ]


@dataclass(frozen=True)
class DeploymentMetrics:
    deployment_id: int
    since: datetime
    replicas: list[dict[str, Any]]  # engine.workloads.metrics.usage_series


@dataclass(frozen=True)
class NodeEarnings:
    node_id: int
    chain_node_id: int
    payee: str | None  # the node's payee, else its provider wallet
    owed: CreditUnits


@dataclass(frozen=True)
class Earnings:
    nodes: list[NodeEarnings]

    @property
    def total(self) -> CreditUnits:
        return CreditUnits(sum(n.owed for n in self.nodes))


@dataclass(frozen=True)
class Withdrawal:
    node_id: int
    owed: CreditUnits
    transactions: list[UnsignedTx]


def require_relay(ctx: Context) -> Relay:
    """The managed payers' relay; raises :class:`~engine.relay.errors.NoRelay` when there is none."""
    if ctx.relay is None:
        raise NoRelay()
    return ctx.relay


# ---- create -----------------------------------------------------------------------------------------
async def _plan(
    ctx: Context, session: AsyncSession, user_id: int, request: DeploymentRequest, fee_bps: int, now: int
) -> services.Plan:
    """Validate the spec against the operator's limits, check the account, place and quote (reads only)."""
    operator, prices = await current_config(session, ctx.settings)
    limits = SpecLimits(
        known_regions=operator.regions,
        known_gpu_models=await node_services.gpu_models(session),
        max_replicas=operator.max_replicas,
    )
    spec = parse_spec(request.spec, limits)
    await services.check_account(session, user_id)
    services.check_funding(request.deposit_per_replica, request.duration_seconds)
    pricing = pricing_policy(prices, fee_bps)
    placement = await services.place_live(
        session, ctx.settings, spec, pricing, now=now, horizon=request.duration_seconds or 0
    )
    return services.plan(
        spec,
        placement,
        pricing,
        deposit_per_replica=request.deposit_per_replica,
        duration_seconds=request.duration_seconds,
    )


async def create_deployment(ctx: Context, user_id: int, request: DeploymentRequest) -> CreatedDeployment:
    """Validate, check the account, quote and place, record (status ``funding``) and fund each primary
    replica's lease: a managed payer's opens are queued for the relay; a wallet-connected payer gets the
    transactions (an ``approve`` when the allowance is short, then one ``open`` per replica). Nothing is
    written when it raises. Unfunded after ``reservation_ttl`` seconds, it expires
    (:mod:`engine.deployments.lifecycle`).

    Raises: ``SpecError`` (400 ``invalid_spec``), ``AccountBlocked`` (403), ``NoNodeFits`` (409 / 422),
    ``BadFunding`` (400), ``NoPayer`` (400 ``no_wallet``), ``NoRelay`` (400), ``EscrowPaused`` (503
    ``escrow_paused``), ``ContractMissing`` (503).
    """
    escrow = ctx.contracts.require_escrow()
    await require_unpaused(ctx, "create a deployment")
    fee_bps, _share, _tip = await escrow.fee_params()
    now = await ctx.chain_now()
    txs: list[UnsignedTx] = []
    async with ctx.sessionmaker() as session, session.begin():
        plan = await _plan(ctx, session, user_id, request, fee_bps, now)
        payer, funding = await services.choose_payer(session, user_id, request.wallet)
        dep, leases = await services.record(
            session, user_id=user_id, the_plan=plan, payer=payer, funding=funding
        )
        if funding == m.FUNDING_MANAGED:
            relay = require_relay(ctx)
            for lease in leases:
                if lease.role == m.PRIMARY:
                    await relay.queue(session, dep, lease, m.REQ_OPEN)
            await relay.advance(session, payer)
        else:  # signed inside the transaction: each quote's expiry is stored on its lease row
            wallet = EscrowTxs.for_sender(ctx, payer)
            txs += await wallet.approve_if_short(plan.total_deposit, "allow the escrow to take the deposits")
            rows = {x.replica_index: x for x in leases if x.role == m.PRIMARY}
            txs += [
                await wallet.open(
                    r.chain_node_id,
                    r.rate_per_second,
                    r.deposit,
                    plan.spec_hash,
                    f"open the lease of replica {r.replica_index}",
                    lease=rows.get(r.replica_index),
                )
                for r in plan.primaries
            ]
    rates = [r.rate_per_second for r in plan.primaries]
    return CreatedDeployment(dep, leases, plan.quote, txs, await preview_discount(ctx, user_id, payer, rates))


# ---- dry-run quote and catalog ----------------------------------------------------------------------
async def quote_deployment(ctx: Context, user_id: int, request: DeploymentRequest) -> DeploymentQuoteView:
    """What :func:`create_deployment` would quote and where it would place the replicas, now: the same
    validation, account check, placement and pricing, but nothing is reserved or written (the session
    only reads and is rolled back).

    Raises: ``SpecError`` (400 ``invalid_spec``), ``AccountBlocked`` (403), ``NoNodeFits`` (409 / 422),
    ``BadFunding`` (400), ``ContractMissing`` (503)."""
    fee_bps, _share, _tip = await ctx.contracts.require_escrow().fee_params()
    now = await ctx.chain_now()
    async with ctx.sessionmaker() as session:
        plan = await _plan(ctx, session, user_id, request, fee_bps, now)
        await session.rollback()
    rates = [r.rate_per_second for r in plan.primaries]
    discount = await preview_discount(ctx, user_id, request.wallet, rates)
    return DeploymentQuoteView(plan.quote, plan.replicas, discount)


async def catalog(ctx: Context) -> Catalog:
    """What can be deployed and at what floor: the operator's regions, the GPU models nodes offer, the
    floor unit prices, the certified premium and the escrow's platform fee (None without an escrow).
    Raises nothing."""
    fee_bps = None
    if ctx.contracts.escrow is not None:
        fee_bps, _share, _tip = await ctx.contracts.escrow.fee_params()
    async with ctx.sessionmaker() as session:
        operator, prices = await current_config(session, ctx.settings)
        gpus = await node_services.gpu_models(session)
    return Catalog(
        regions=tuple(operator.regions),
        gpu_models=tuple(sorted(gpus)),
        floor=prices,
        price_scale=PRICE_SCALE,
        platform_fee_bps=fee_bps,
        max_replicas=operator.max_replicas,
    )


# ---- read -------------------------------------------------------------------------------------------
async def list_deployments(
    ctx: Context, user_id: int, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[DeploymentView]:
    """A page of the user's deployments, newest first, with their leases: at most ``limit`` (clamped to
    1..200), after the one ``cursor`` names (a previous page's ``next_cursor``).

    Raises: ``BadCursor`` (400 ``bad_cursor``)."""
    before = decode_cursor(cursor)
    limit = clamp_limit(limit)
    async with db.read_only(ctx.sessionmaker) as conn:  # one SELECT: no transaction, no ORM session
        rows = await services.own_page(conn, user_id, limit=limit + 1, before_id=before)
    page = Page.of(rows, limit, _id_of)
    return Page([DeploymentView(dep, leases) for dep, leases in page.items], page.next_cursor)


def _id_of(row: tuple[m.DeploymentRow, list[m.LeaseRow]]) -> int:
    return row[0].id


async def get_deployment(ctx: Context, user_id: int, deployment_id: int) -> DeploymentDetail:
    """One of the user's deployments, its leases with their escrow balances now, and its transitions.

    Raises: ``DeploymentNotFound`` (404), ``ContractMissing`` (503, a lease is open but no escrow)."""
    async with ctx.sessionmaker() as session:
        dep = await services.get_own(session, user_id, deployment_id)
        leases = (await services.leases_of(session, [dep.id]))[dep.id]
        history = await services.transitions_of(session, dep.id)
    balances: dict[int, LeaseBalance] = {}
    for lease in leases:
        if lease.chain_lease_id is None:
            continue
        escrow = ctx.contracts.require_escrow()
        info = await escrow.lease(int(lease.chain_lease_id))
        due = await escrow.due_now(int(lease.chain_lease_id)) if info.open else 0
        balances[lease.id] = LeaseBalance(
            CreditUnits(info.balance),
            CreditUnits(due),
            CreditUnits(info.rate_per_second),
            info.settled_at,
            bool(info.open),
        )
    return DeploymentDetail(dep, leases, balances, history)


async def deployment_events(ctx: Context, user_id: int, deployment_id: int) -> DeploymentEvents:
    """A reader of the deployment's status transitions (replay from any id, then follow the hub topic).

    Raises: ``DeploymentNotFound`` (404)."""
    async with ctx.sessionmaker() as session:
        await services.get_own(session, user_id, deployment_id)
    return DeploymentEvents(ctx, deployment_id, topics.deployment(deployment_id))


async def deployment_metrics(
    ctx: Context, user_id: int, deployment_id: int, seconds: int
) -> DeploymentMetrics:
    """Usage per replica over the last ``seconds`` (at most the usage retention).

    Raises: ``DeploymentNotFound`` (404)."""
    seconds = min(seconds, int(ctx.settings.node_usage_retention))
    since = ctx.clock() - timedelta(seconds=seconds)
    async with ctx.sessionmaker() as session:
        await services.get_own(session, user_id, deployment_id)
        replicas = await usage_series(session, deployment_id, since=since)
    return DeploymentMetrics(deployment_id, since, replicas)


# ---- top-up / close ---------------------------------------------------------------------------------
async def top_up_deployment(
    ctx: Context, user_id: int, deployment_id: int, amount: CreditUnits
) -> DeploymentAction:
    """Split ``amount`` evenly over the open leases (remainder to the first) and fund each share: queued
    for the relay (managed payer) or as transactions (approve if short + one ``topUp`` per lease). The
    result's leases are the open ones.

    Leases whose node stopped on chain (``stopped_at``) are never topped up (the escrow refuses; the
    payer closes them for a refund, :mod:`engine.deployments.stops`).

    Raises: ``DeploymentNotFound`` (404), ``WrongState`` (409, not running or no open lease),
    ``BadFunding`` (400 ``amount_too_low``: less than one unit per lease), ``NoRelay`` (400),
    ``EscrowPaused`` (503 ``escrow_paused``), ``ContractMissing`` (503)."""
    async with ctx.sessionmaker() as session, session.begin():
        dep = await services.get_own(session, user_id, deployment_id)
        leases = [
            x
            for x in (await services.leases_of(session, [dep.id]))[dep.id]
            if x.status == m.LEASE_OPEN and x.stopped_at is None
        ]
        if dep.status not in status.TOP_UP_OK or not leases:
            raise WrongState(dep.id, dep.status, "top up")
        await require_unpaused(ctx, "top up a deployment")
        if amount < len(leases):
            raise BadFunding(
                "amount_too_low", "at least one credit unit per open lease", amount=amount, leases=len(leases)
            )
        shares = services.split_evenly(amount, len(leases))
        if dep.funding == m.FUNDING_MANAGED:
            relay = require_relay(ctx)
            for lease, share in zip(leases, shares, strict=True):
                await relay.queue(session, dep, lease, m.REQ_TOP_UP, share)
            await relay.advance(session, dep.payer)
    txs: list[UnsignedTx] = []
    if dep.funding == m.FUNDING_WALLET:
        wallet = EscrowTxs.for_sender(ctx, dep.payer)
        txs += await wallet.approve_if_short(amount, "allow the escrow to take the top-up")
        txs += [
            wallet.top_up(int(lease.chain_lease_id or 0), share, f"top up replica {lease.replica_index}")
            for lease, share in zip(leases, shares, strict=True)
        ]
    return DeploymentAction(dep, leases, txs)


async def close_deployment(ctx: Context, user_id: int, deployment_id: int) -> DeploymentAction:
    """Close: leases not yet funded are cancelled; with open leases the deployment goes ``closing`` and
    each open lease's close is queued for the relay (managed payer) or returned as a transaction, else it
    is ``closed`` at once. Closing a closed or expired deployment changes nothing (a wallet-connected payer
    still gets the close of each lease opened after the end: ``orphaned``). Wake-ups are published after the
    commit (the nodes stop the workloads; SSE streams the change).

    Raises: ``DeploymentNotFound`` (404), ``NoRelay`` (400), ``ContractMissing`` (503)."""
    async with ctx.sessionmaker() as session:
        async with session.begin():
            dep = await services.get_own(session, user_id, deployment_id)
            leases = (await services.leases_of(session, [dep.id]))[dep.id]
            open_leases = [x for x in leases if x.status == m.LEASE_OPEN]
            if dep.status not in status.TERMINAL:
                for x in leases:
                    if x.status in (m.AWAITING_FUNDS, m.RESERVED):
                        x.status = m.LEASE_CANCELLED
                if open_leases:
                    await services.transition(session, dep, m.CLOSING, "close requested")
                else:
                    await services.transition(session, dep, m.CLOSED, "closed before funding")
                if dep.funding == m.FUNDING_MANAGED and open_leases and dep.status == m.CLOSING:
                    relay = require_relay(ctx)
                    for lease in open_leases:
                        await relay.queue(session, dep, lease, m.REQ_CLOSE)
                    await relay.advance(session, dep.payer)
        await publish_noted(ctx.hub, session)
    txs: list[UnsignedTx] = []
    to_close = open_leases + [x for x in leases if x.status == m.ORPHANED]  # orphans: the payer must sign
    if dep.funding == m.FUNDING_WALLET and to_close:
        wallet = EscrowTxs.for_sender(ctx, dep.payer)
        txs = [wallet.close(int(x.chain_lease_id or 0), f"close lease {x.chain_lease_id}") for x in to_close]
    return DeploymentAction(dep, leases, txs)


# ---- provider earnings ------------------------------------------------------------------------------
async def provider_earnings(ctx: Context, provider_user_id: int) -> Earnings:
    """What the escrow owes each of the provider's on-chain nodes (read from the chain now).

    Raises: ``ContractMissing`` (503)."""
    async with ctx.sessionmaker() as session:
        nodes = await node_services.chain_linked_nodes(session, provider_user_id)
    if not nodes:
        return Earnings([])
    escrow = ctx.contracts.require_escrow()
    out = []
    for node in nodes:
        assert node.chain_node_id is not None
        owed = CreditUnits(await escrow.node_owed(node.chain_node_id))
        out.append(NodeEarnings(node.id, node.chain_node_id, node.payee or node.wallet_address, owed))
    return Earnings(out)


async def withdraw_earnings(ctx: Context, provider_user_id: int, node_id: int) -> Withdrawal:
    """The unsigned ``withdraw(nodeId)`` for the node's payee (its own address or an alliance).

    Raises: ``NodeNotOwned`` (404), ``NodeNotOnChain`` (409), ``NothingToWithdraw`` (409),
    ``ContractMissing`` (503)."""
    async with ctx.sessionmaker() as session:
        node = await node_services.owned_node(session, node_id, provider_user_id)
    payee = node.payee or node.wallet_address
    if node.chain_node_id is None or payee is None:  # a node is linked on chain through its wallet
        raise NodeNotOnChain(node_id)
    wallet = EscrowTxs.for_sender(ctx, payee)
    owed = CreditUnits(await wallet.escrow.node_owed(node.chain_node_id))
    if owed == 0:
        raise NothingToWithdraw(node_id)
    tx = wallet.withdraw(node.chain_node_id, f"withdraw the earnings of node {node.id}")
    return Withdrawal(node.id, owed, [tx])
