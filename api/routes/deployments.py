"""Deployment routes (cloud users) and provider earnings.

================================================  ==============================================
route                                             who
================================================  ==============================================
GET  /api/cloud-user/deployments                  cloud-user (own deployments only)
POST /api/cloud-user/deployments                  cloud-user (account not flagged)
GET  /api/cloud-user/deployments/{id}             cloud-user owning it (else 404)
GET  /api/cloud-user/deployments/{id}/events      cloud-user owning it: SSE status transitions
GET  /api/cloud-user/deployments/{id}/metrics     cloud-user owning it: usage per replica
POST /api/cloud-user/deployments/{id}/top-up      cloud-user owning it
POST /api/cloud-user/deployments/{id}/close       cloud-user owning it
POST /api/cloud-user/deployments/{id}/scale       cloud-user owning it (engine.deployments.scaling)
PUT  /api/cloud-user/deployments/{id}/autoscale   cloud-user owning it (engine.deployments.autoscale)
GET  /api/cloud-provider/earnings                 cloud-provider (own nodes)
POST /api/cloud-provider/nodes/{id}/withdraw      cloud-provider owning the node
================================================  ==============================================

Create = validate the spec (400 ``invalid_spec`` with every field error) → account check (403
``account_flagged``) → quote + placement (409 ``no_node_fits`` with per-filter rejections; 422
``max_price_below_floor``) → record (status ``funding``) → escrow open per replica. A wallet-connected payer
gets ``transactions`` (an ERC-20 approve when the allowance is short, then one ``open`` per replica) to
sign; a managed payer's opens are signed by the engine (EIP-712 + EIP-2612 permit) and relayed through
the outbox (``funding: "managed"``, no transactions). Either way the lease is recorded when its
``LeaseOpened`` event is indexed. Validation, account, placement and funding errors write nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from api import sse
from api.auth.errors import Conflict, Forbidden
from api.auth.middleware import require_role
from api.auth.principal import CLOUD_PROVIDER, CLOUD_USER
from api.errors import ApiError, BadRequest, NotFound
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.validation import validated_body, validated_query
from chain.contracts import CreditTokenClient, EscrowClient, UnsignedTx
from engine.deployments import autoscale as autoscaling
from engine.deployments import failover, scaling
from engine.deployments import models as m
from engine.deployments import services as deployments
from engine.deployments import status as dep_status
from engine.deployments.errors import (
    AccountBlocked,
    BadFunding,
    DeploymentError,
    DeploymentNotFound,
    NoPayer,
    WrongState,
)
from engine.deployments.spec import SpecError, SpecLimits, parse_spec
from engine.nodes import services as node_services
from engine.nodes.candidates import placement_candidates
from engine.nodes.errors import NodeNotOwned
from engine.notify import topics
from engine.operator import services as operator
from engine.placement import NoNodeFits, PricingPolicy, UnitPrices
from engine.runtime import Runtime
from engine.workloads.heartbeats import LivenessPolicy, utcnow
from engine.workloads.metrics import usage_series
from engine.workloads.wakeups import publish_noted

routes = RouteTable(tag="deployments")

BASE = "/api/cloud-user/deployments"
ONE = BASE + r"/{deployment_id:\d+}"
MAX_ID = 2**31 - 1
ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
AMOUNT = {"type": "integer", "minimum": 1, "maximum": 2**96 - 1, "description": "credit units"}
OBJ = {"type": "object"}
TXS = {"type": "array", "items": OBJ}

CREATE_REQUEST = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": OBJ,
        "deposit_per_replica": AMOUNT,
        "duration_seconds": {"type": "integer", "minimum": 1, "maximum": 10 * 365 * 86_400},
        "wallet": ADDRESS,
    },
    "additionalProperties": False,
}
DEPLOYMENT = {
    "type": "object",
    "required": ["id", "status", "spec_hash", "leases"],
    "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string"},
        "spec_hash": {"type": "string"},
        "leases": TXS,
    },
}
CREATE_RESPONSE = {
    "type": "object",
    "required": ["deployment", "quote", "transactions"],
    "properties": {"deployment": DEPLOYMENT, "quote": OBJ, "transactions": TXS},
}
TOP_UP_REQUEST = {
    "type": "object",
    "required": ["amount"],
    "properties": {"amount": AMOUNT},
    "additionalProperties": False,
}
ACTION_RESPONSE = {
    "type": "object",
    "required": ["deployment", "transactions"],
    "properties": {"deployment": DEPLOYMENT, "transactions": TXS},
}


def _escrow(runtime: Runtime) -> EscrowClient:
    return EscrowClient(runtime.chain.w3, runtime.manifest.address("DeploymentEscrow"))


def _token(runtime: Runtime) -> CreditTokenClient:
    return CreditTokenClient(runtime.chain.w3, runtime.manifest.address("CreditToken"))


def _id(request: web.Request, name: str) -> int:
    value = int(request.match_info[name])
    if value > MAX_ID:
        raise NotFound(f"{name} {value} not found")
    return value


def _error(exc: Exception) -> ApiError:
    if isinstance(exc, SpecError):
        return BadRequest(
            "invalid spec",
            code="invalid_spec",
            details={
                "errors": [{"field": e.field, "code": e.code, "message": e.message} for e in exc.errors]
            },
        )
    if isinstance(exc, AccountBlocked):
        return Forbidden(exc.reason, code="account_flagged")
    if isinstance(exc, NoNodeFits):
        details = {
            "role": exc.role,
            "needed": exc.needed,
            "found": exc.found,
            "rejections": exc.rejections,
            "floor_rate": exc.floor_rate,
            "reason": exc.reason,
        }
        if exc.reason == "max_price_below_floor":
            return ApiError(str(exc), code="max_price_below_floor", status=422, details=details)
        return Conflict(str(exc), code="no_node_fits", details=details)
    if isinstance(exc, NoPayer):
        return BadRequest(str(exc), code="no_wallet", details={"wallet": exc.wallet})
    if isinstance(exc, BadFunding):
        return BadRequest(str(exc), code=exc.reason, details=dict(exc.details))
    if isinstance(exc, DeploymentNotFound):
        return NotFound(str(exc), details={"deployment_id": exc.deployment_id})
    if isinstance(exc, WrongState):
        return Conflict(str(exc), code="wrong_state", details={"status": exc.status, "action": exc.action})
    raise exc


def lease_json(lease: m.Lease, chain: dict[str, int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "replica_index": lease.replica_index,
        "role": lease.role,
        "node_id": lease.node_id,
        "chain_node_id": lease.chain_node_id,
        "lease_id": lease.chain_lease_id,
        "rate_per_second": lease.rate_per_second,
        "deposit": lease.deposit,
        "status": lease.status,
        "opened_block": lease.opened_block,
        "closed_block": lease.closed_block,
        "refund": lease.refund,
    }
    if chain is not None:
        out["chain"] = chain
    return out


def deployment_json(dep: m.Deployment, leases: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": dep.id,
        "status": dep.status,
        "spec": dep.spec,
        "spec_hash": dep.spec_hash,
        "replicas": dep.replicas,
        "rate_per_second": dep.rate_per_second,
        "payer": dep.payer,
        "funding": dep.funding,
        "created_at": dep.created_at.isoformat(),
        "updated_at": dep.updated_at.isoformat(),
        "leases": leases,
    }


async def _config(runtime: Runtime, session: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    overrides = operator.overrides_from_settings(runtime.settings)
    cfg = (await operator.current(session, operator.SETTINGS, overrides=overrides[operator.SETTINGS])).values
    prices = (await operator.current(session, operator.PRICING, overrides=overrides[operator.PRICING])).values
    return cfg, prices


async def _chain_now(runtime: Runtime) -> int:
    return int((await runtime.chain.w3.eth.get_block("latest"))["timestamp"])


def _user(principal: Any) -> int:
    assert principal.user_id is not None
    return int(principal.user_id)


# ---- create ----------------------------------------------------------------------------------------
@routes.post(
    BASE,
    summary="Create a deployment: quote, place, and open escrow per replica",
    request=CREATE_REQUEST,
    response=CREATE_RESPONSE,
    status=201,
)
async def create(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    user_id = _user(principal)
    body = validated_body(request)
    runtime = request.app[RUNTIME]
    escrow, token = _escrow(runtime), _token(runtime)
    fee_bps, _share, _tip = await escrow.fee_params()
    now = await _chain_now(runtime)
    async with runtime.sessionmaker() as session:
        try:
            async with session.begin():
                cfg, prices = await _config(runtime, session)
                gpu_models = await node_services.gpu_models(session)
                limits = SpecLimits(
                    known_regions=cfg["regions"],
                    known_gpu_models=gpu_models,
                    max_replicas=cfg["max_replicas"],
                )
                spec = parse_spec(body["spec"], limits)
                await deployments.check_account(session, user_id)
                pricing = PricingPolicy(
                    floor=UnitPrices(
                        prices["floor_per_cpu_millicore"],
                        prices["floor_per_memory_mb"],
                        prices["floor_per_disk_gb"],
                        prices["floor_per_gpu"],
                    ),
                    certified_premium_bps=prices["certified_premium_bps"],
                    platform_fee_bps=fee_bps,
                )
                candidates = deployments.with_allocations(
                    await placement_candidates(
                        session,
                        now=now,
                        horizon=body.get("duration_seconds", 0),
                        liveness=LivenessPolicy.from_settings(runtime.settings),
                    ),
                    await deployments.allocated_by_chain_node(session),
                )
                the_plan = deployments.plan(
                    spec,
                    candidates,
                    pricing,
                    deposit_per_replica=body.get("deposit_per_replica"),
                    duration_seconds=body.get("duration_seconds"),
                )
                payer, funding = await deployments.choose_payer(session, user_id, body.get("wallet"))
                dep, leases = await deployments.record(
                    session, user_id=user_id, the_plan=the_plan, payer=payer, funding=funding
                )
                if funding == m.FUNDING_MANAGED:
                    if runtime.relay is None:
                        raise BadFunding("no_relay", "managed wallets cannot fund deployments here")
                    for lease in leases:
                        if lease.role == m.PRIMARY:
                            await runtime.relay.queue(session, dep, lease, m.REQ_OPEN)
                    await runtime.relay.advance(session, payer)
        except (SpecError, DeploymentError, NoNodeFits) as exc:
            raise _error(exc) from exc
    txs: list[UnsignedTx] = []
    chain_id = runtime.chain.chain_id
    if funding == m.FUNDING_WALLET:
        if await token.allowance(payer, escrow.address) < the_plan.total_deposit:
            txs.append(
                UnsignedTx(
                    token.address,
                    token.encode_approve(escrow.address, the_plan.total_deposit),
                    chain_id,
                    from_address=payer,
                    description="allow the escrow to take the deposits",
                )
            )
        for r in the_plan.primaries:
            txs.append(
                UnsignedTx(
                    escrow.address,
                    escrow.encode_open(r.chain_node_id, r.rate_per_second, r.deposit, the_plan.spec_hash),
                    chain_id,
                    from_address=payer,
                    description=f"open the lease of replica {r.replica_index}",
                )
            )
    return web.json_response(
        {
            "deployment": deployment_json(dep, [lease_json(x) for x in leases]),
            "quote": the_plan.quote_json(),
            "transactions": [t.to_json() for t in txs],
        },
        status=201,
    )


# ---- read ------------------------------------------------------------------------------------------
@routes.get(
    BASE,
    summary="The caller's deployments",
    response={
        "type": "object",
        "required": ["deployments"],
        "properties": {"deployments": {"type": "array", "items": DEPLOYMENT}},
    },
)
async def list_deployments(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    async with request.app[RUNTIME].sessionmaker() as session:
        deps = await deployments.list_own(session, user_id)
        leases = await deployments.leases_of(session, [d.id for d in deps])
    return web.json_response(
        {"deployments": [deployment_json(d, [lease_json(x) for x in leases[d.id]]) for d in deps]}
    )


async def _lease_chain(escrow: EscrowClient, lease: m.Lease) -> dict[str, int] | None:
    if lease.chain_lease_id is None:
        return None
    info = await escrow.lease(int(lease.chain_lease_id))
    due = await escrow.due_now(int(lease.chain_lease_id)) if info.open else 0
    return {
        "balance": info.balance,
        "due_now": due,
        "balance_now": info.balance - due,
        "rate_per_second": info.rate_per_second,
        "settled_at": info.settled_at,
        "open": int(info.open),
    }


@routes.get(
    ONE, summary="One of the caller's deployments, with leases and on-chain balances", response=DEPLOYMENT
)
async def get_deployment(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    deployment_id = _id(request, "deployment_id")
    runtime = request.app[RUNTIME]
    async with runtime.sessionmaker() as session:
        try:
            dep = await deployments.get_own(session, user_id, deployment_id)
        except DeploymentError as exc:
            raise _error(exc) from exc
        leases = (await deployments.leases_of(session, [dep.id]))[dep.id]
        history = await deployments.transitions_of(session, dep.id)
    escrow = _escrow(runtime)
    out = deployment_json(dep, [lease_json(x, await _lease_chain(escrow, x)) for x in leases])
    out["transitions"] = [
        {"from": t.from_status, "to": t.to_status, "reason": t.reason, "at": t.at.isoformat()}
        for t in history
    ]
    return web.json_response(out)


# ---- status stream and metrics ------------------------------------------------------------------------
TRANSITION_EVENT = {
    "type": "string",
    "description": "SSE: `id: <transition id>`, `event: status`, `data: {from, to, reason, at}`; "
    "`: keep-alive` comments. Resume with the Last-Event-ID header or ?after=.",
}


@routes.get(
    ONE + "/events",
    summary="The deployment's status transitions as server-sent events (replay, then live)",
    query={
        "after": {"type": "integer", "minimum": 0, "maximum": 2**53},
        "max_seconds": {"type": "integer", "minimum": 0, "maximum": 3600},
    },
    response=TRANSITION_EVENT,
    content_type=sse.CONTENT_TYPE,
)
async def events(request: web.Request) -> web.StreamResponse:
    """Owner only (404 otherwise). The stream ends after ``max_seconds`` (default 300; 0: replay only)
    or once the deployment is closed and everything was sent."""
    user_id = _user(await require_role(request, CLOUD_USER))
    deployment_id = _id(request, "deployment_id")
    query = validated_query(request)
    after = sse.last_event_id(request, query.get("after"))
    if after is None:
        raise BadRequest("Last-Event-ID must be a transition id", code="bad_last_event_id")
    runtime = request.app[RUNTIME]
    async with runtime.sessionmaker() as session:
        try:
            await deployments.get_own(session, user_id, deployment_id)
        except DeploymentError as exc:
            raise _error(exc) from exc
    finished = False

    async def read(last: int) -> list[sse.Event]:
        nonlocal finished
        async with runtime.sessionmaker() as session:
            rows = await dep_status.transitions_after(session, deployment_id, last)
            dep = await session.get(m.Deployment, deployment_id)
            signs = await failover.transactions_for(session, [t.id for t in rows])
        finished = dep is None or (dep.status in dep_status.TERMINAL and len(rows) < 500)
        out = []
        for t in rows:
            data: dict[str, Any] = {
                "from": t.from_status,
                "to": t.to_status,
                "reason": t.reason,
                "at": t.at.isoformat(),
            }
            if t.id in signs:  # a wallet-connected payer's failover: the txs to sign
                data["transactions"] = signs[t.id]
            out.append(sse.Event(t.id, "status", data))
        return out

    return await sse.follow(
        request,
        runtime.hub,
        topics.deployment(deployment_id),
        after,
        read,
        lambda: finished,
        max_seconds=int(query.get("max_seconds", 300)),
    )


METRICS_RESPONSE = {
    "type": "object",
    "required": ["deployment_id", "since", "replicas"],
    "properties": {
        "deployment_id": {"type": "integer"},
        "since": {"type": "string"},
        "replicas": {"type": "array", "items": OBJ},
    },
}


@routes.get(
    ONE + "/metrics",
    summary="Usage per replica (CPU, RSS) from the node agents' heartbeats, over a bounded window",
    query={"seconds": {"type": "integer", "minimum": 1, "maximum": 7 * 86_400}},
    response=METRICS_RESPONSE,
)
async def metrics(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    deployment_id = _id(request, "deployment_id")
    runtime = request.app[RUNTIME]
    retention = int(runtime.settings.node_usage_retention)
    seconds = min(int(validated_query(request).get("seconds", 3600)), retention)
    since = utcnow() - timedelta(seconds=seconds)
    async with runtime.sessionmaker() as session:
        try:
            await deployments.get_own(session, user_id, deployment_id)
        except DeploymentError as exc:
            raise _error(exc) from exc
        replicas = await usage_series(session, deployment_id, since=since)
    return web.json_response(
        {"deployment_id": deployment_id, "since": since.isoformat(), "replicas": replicas}
    )


# ---- top-up / close ---------------------------------------------------------------------------------
@routes.post(
    ONE + "/top-up",
    summary="Add credit to the deployment's open leases (split evenly)",
    request=TOP_UP_REQUEST,
    response=ACTION_RESPONSE,
)
async def top_up(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    deployment_id = _id(request, "deployment_id")
    amount = int(validated_body(request)["amount"])
    runtime = request.app[RUNTIME]
    escrow, token = _escrow(runtime), _token(runtime)
    async with runtime.sessionmaker() as session:
        try:
            async with session.begin():
                dep = await deployments.get_own(session, user_id, deployment_id)
                leases = [
                    x
                    for x in (await deployments.leases_of(session, [dep.id]))[dep.id]
                    if x.status == m.LEASE_OPEN
                ]
                if dep.status not in dep_status.TOP_UP_OK or not leases:
                    raise WrongState(dep.id, dep.status, "top up")
                if amount < len(leases):
                    raise BadFunding(
                        "amount_too_low",
                        "at least one credit unit per open lease",
                        amount=amount,
                        leases=len(leases),
                    )
                shares = [amount // len(leases)] * len(leases)
                shares[0] += amount - sum(shares)
                if dep.funding == m.FUNDING_MANAGED:
                    assert runtime.relay is not None
                    for lease, share in zip(leases, shares, strict=True):
                        await runtime.relay.queue(session, dep, lease, m.REQ_TOP_UP, share)
                    await runtime.relay.advance(session, dep.payer)
                out = deployment_json(dep, [lease_json(x) for x in leases])
        except DeploymentError as exc:
            raise _error(exc) from exc
    txs: list[UnsignedTx] = []
    if dep.funding == m.FUNDING_WALLET:
        chain_id = runtime.chain.chain_id
        if await token.allowance(dep.payer, escrow.address) < amount:
            txs.append(
                UnsignedTx(
                    token.address,
                    token.encode_approve(escrow.address, amount),
                    chain_id,
                    from_address=dep.payer,
                    description="allow the escrow to take the top-up",
                )
            )
        for lease, share in zip(leases, shares, strict=True):
            txs.append(
                UnsignedTx(
                    escrow.address,
                    escrow.encode_top_up(int(lease.chain_lease_id or 0), share),
                    chain_id,
                    from_address=dep.payer,
                    description=f"top up replica {lease.replica_index}",
                )
            )
    return web.json_response({"deployment": out, "transactions": [t.to_json() for t in txs]})


@routes.post(
    ONE + "/close",
    summary="Close the deployment: its leases are closed and the rest refunded",
    response=ACTION_RESPONSE,
)
async def close(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    deployment_id = _id(request, "deployment_id")
    runtime = request.app[RUNTIME]
    escrow = _escrow(runtime)
    async with runtime.sessionmaker() as session:
        try:
            async with session.begin():
                dep = await deployments.get_own(session, user_id, deployment_id)
                leases = (await deployments.leases_of(session, [dep.id]))[dep.id]
                open_leases = [x for x in leases if x.status == m.LEASE_OPEN]
                if dep.status != m.CLOSED:
                    for x in leases:
                        if x.status in (m.AWAITING_FUNDS, m.RESERVED):
                            x.status = m.LEASE_CANCELLED
                    if open_leases:
                        await deployments.transition(session, dep, m.CLOSING, "close requested")
                    else:
                        await deployments.transition(session, dep, m.CLOSED, "closed before funding")
                    if dep.funding == m.FUNDING_MANAGED and open_leases and dep.status == m.CLOSING:
                        assert runtime.relay is not None
                        for lease in open_leases:
                            await runtime.relay.queue(session, dep, lease, m.REQ_CLOSE)
                        await runtime.relay.advance(session, dep.payer)
                out = deployment_json(dep, [lease_json(x) for x in leases])
        except DeploymentError as exc:
            raise _error(exc) from exc
        await publish_noted(runtime.hub, session)  # the nodes stop the workloads; SSE streams the change
    txs = []
    if dep.funding == m.FUNDING_WALLET:
        txs = [
            UnsignedTx(
                escrow.address,
                escrow.encode_close(int(x.chain_lease_id or 0)),
                runtime.chain.chain_id,
                from_address=dep.payer,
                description=f"close replica {x.replica_index}",
            ).to_json()
            for x in open_leases
        ]
    return web.json_response({"deployment": out, "transactions": txs})


# ---- scale / autoscale -------------------------------------------------------------------------------
SCALE_REQUEST = {
    "type": "object",
    "required": ["replicas"],
    "properties": {
        "replicas": {"type": "integer", "minimum": 1, "maximum": 1_000},
        "deposit_per_replica": AMOUNT,
    },
    "additionalProperties": False,
}
AUTOSCALE_REQUEST = {
    "type": "object",
    "required": ["min_replicas", "max_replicas", "cpu_target_bps", "cooldown_seconds"],
    "properties": {
        "min_replicas": {"type": "integer", "minimum": 1, "maximum": 1_000},
        "max_replicas": {"type": "integer", "minimum": 1, "maximum": 1_000},
        "cpu_target_bps": {"type": "integer", "minimum": 100, "maximum": 10_000},
        "cooldown_seconds": {"type": "integer", "minimum": 0, "maximum": 86_400},
    },
    "additionalProperties": False,
}
AUTOSCALE_RESPONSE = {
    "type": "object",
    "required": ["deployment_id", "min_replicas", "max_replicas", "cpu_target_bps", "cooldown_seconds"],
    "properties": {
        "deployment_id": {"type": "integer"},
        "min_replicas": {"type": "integer"},
        "max_replicas": {"type": "integer"},
        "cpu_target_bps": {"type": "integer"},
        "cooldown_seconds": {"type": "integer"},
    },
}


@routes.post(
    ONE + "/scale",
    summary="Scale to a number of replicas: one placement and one lease each (anti-affinity)",
    request=SCALE_REQUEST,
    response=ACTION_RESPONSE,
)
async def scale(request: web.Request) -> web.Response:
    """Managed wallets: the engine opens/closes the leases. Wallet-connected payers: the unsigned txs
    (approve + open per new replica; close per removed replica, highest index first)."""
    user_id = _user(await require_role(request, CLOUD_USER))
    deployment_id = _id(request, "deployment_id")
    body = validated_body(request)
    runtime = request.app[RUNTIME]
    async with runtime.sessionmaker() as session:
        try:
            async with session.begin():
                dep = await deployments.get_own(session, user_id, deployment_id)
                ctx = await scaling.scale_context(
                    session,
                    runtime.settings,
                    escrow=_escrow(runtime),
                    token=_token(runtime),
                    chain_id=runtime.chain.chain_id,
                    relay=runtime.relay,
                )
                result = await scaling.scale(
                    session,
                    dep,
                    int(body["replicas"]),
                    ctx,
                    deposit_per_replica=body.get("deposit_per_replica"),
                )
                leases = (await deployments.leases_of(session, [dep.id]))[dep.id]
                out = deployment_json(dep, [lease_json(x) for x in leases])
        except (DeploymentError, NoNodeFits) as exc:
            raise _error(exc) from exc
        await publish_noted(runtime.hub, session)
    return web.json_response({"deployment": out, "transactions": [t.to_json() for t in result.transactions]})


@routes.put(
    ONE + "/autoscale",
    summary="Set the autoscale policy (managed wallets scale; wallet users get recommendations)",
    request=AUTOSCALE_REQUEST,
    response=AUTOSCALE_RESPONSE,
)
async def put_autoscale(request: web.Request) -> web.Response:
    user_id = _user(await require_role(request, CLOUD_USER))
    deployment_id = _id(request, "deployment_id")
    body = validated_body(request)
    runtime = request.app[RUNTIME]
    lo, hi = int(body["min_replicas"]), int(body["max_replicas"])
    async with runtime.sessionmaker() as session:
        try:
            async with session.begin():
                dep = await deployments.get_own(session, user_id, deployment_id)
                cfg, _prices = await _config(runtime, session)
                if lo > hi or hi > int(cfg["max_replicas"]):
                    raise BadRequest(
                        f"need 1 <= min_replicas <= max_replicas <= {cfg['max_replicas']}",
                        code="bad_replicas",
                        details={"max_replicas_allowed": cfg["max_replicas"]},
                    )
                row = await autoscaling.set_policy(
                    session,
                    dep,
                    min_replicas=lo,
                    max_replicas=hi,
                    cpu_target_bps=int(body["cpu_target_bps"]),
                    cooldown_seconds=int(body["cooldown_seconds"]),
                )
                out = {
                    "deployment_id": dep.id,
                    "min_replicas": row.min_replicas,
                    "max_replicas": row.max_replicas,
                    "cpu_target_bps": row.cpu_target_bps,
                    "cooldown_seconds": row.cooldown_seconds,
                }
        except DeploymentError as exc:
            raise _error(exc) from exc
    return web.json_response(out)


# ---- provider earnings --------------------------------------------------------------------------------
@routes.get(
    "/api/cloud-provider/earnings",
    summary="Settled earnings owed to each of the provider's nodes",
    response={
        "type": "object",
        "required": ["nodes", "total"],
        "properties": {"nodes": TXS, "total": {"type": "integer"}},
    },
)
async def earnings(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    runtime = request.app[RUNTIME]
    escrow = _escrow(runtime)
    async with runtime.sessionmaker() as session:
        nodes = await node_services.chain_linked_nodes(session, _user(principal))
    out = []
    for node in nodes:
        assert node is not None and node.chain_node_id is not None
        out.append(
            {
                "node_id": node.id,
                "chain_node_id": node.chain_node_id,
                "payee": node.payee or node.wallet_address,
                "owed": await escrow.node_owed(node.chain_node_id),
            }
        )
    return web.json_response({"nodes": out, "total": sum(n["owed"] for n in out)})


@routes.post(
    r"/api/cloud-provider/nodes/{node_id:\d+}/withdraw",
    summary="The unsigned withdraw(nodeId) tx for the node's payee",
    response={
        "type": "object",
        "required": ["node_id", "owed", "transactions"],
        "properties": {"node_id": {"type": "integer"}, "owed": {"type": "integer"}, "transactions": TXS},
    },
)
async def withdraw(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    node_id = _id(request, "node_id")
    runtime = request.app[RUNTIME]
    async with runtime.sessionmaker() as session:
        try:
            node = await node_services.owned_node(session, node_id, _user(principal))
        except NodeNotOwned:
            raise NotFound(f"node {node_id} not found", details={"node_id": node_id}) from None
    if node.chain_node_id is None:
        raise Conflict(
            "the node is not registered on chain yet", code="node_not_on_chain", details={"node_id": node_id}
        )
    escrow = _escrow(runtime)
    owed = await escrow.node_owed(node.chain_node_id)
    if owed == 0:
        raise Conflict("nothing to withdraw", code="nothing_to_withdraw", details={"node_id": node_id})
    payee = node.payee or node.wallet_address
    tx = UnsignedTx(
        escrow.address,
        escrow.encode_withdraw(node.chain_node_id),
        runtime.chain.chain_id,
        from_address=payee,
        description=f"withdraw the earnings of node {node.id}",
    )
    return web.json_response({"node_id": node.id, "owed": owed, "transactions": [tx.to_json()]})
