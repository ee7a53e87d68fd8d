"""Who may call what: the expected HTTP status of every route for each kind of caller.

:mod:`tests.api.test_role_matrix` sends one request per route in the app's registry
(``app[ROUTE_SPECS]``, the same list ``/openapi.json`` is built from) for each caller in :data:`CALLERS`,
and compares the status with :data:`MATRIX`. A registered route without an entry fails the test, and so
does an entry whose route no longer exists: adding a route means adding its row here.

Callers
    ``anonymous`` no ``Authorization`` header; ``cloud-user`` / ``cloud-provider`` / ``cloud-operator``
    a dev-issuer token holding exactly that role (each its own user); ``node`` a node token of the
    ``cloud-provider`` caller's node ``{node_id}``.

How to add your routes (billing and later issues)
    1. Add one entry per route to :data:`MATRIX`, keyed ``(METHOD, openapi_path)`` exactly as the route
       appears in ``/openapi.json`` (``/api/x/{id}``, regex stripped).
    2. Build the expectation with a helper: :func:`public`, :func:`signed_in`, :func:`role` or
       :func:`node_only`, giving the status the *allowed* callers get (the one a well-formed request
       succeeds with); override single callers with ``|``, e.g. ``public(200) | {"node": 401}``. The
       route's declared ``roles=`` must say the same (``tests/api/test_openapi.py`` compares its
       ``x-roles`` with the row).
    3. Give a ``body`` (JSON value, or ``async (world) -> value`` when it must be fresh, e.g. signed) for
       routes that declare ``request=``: authentication and the route's declared ``roles=`` are checked
       before the body is read (401 / 403), but an allowed caller without a valid body gets 400 instead of
       the success status. Path parameters are filled from ``world.ids``
       (``node_id``, ``token_id``, ``spare_token_id``, ``other_node_id``); if you need another object,
       create it in ``make_world`` in the test module and add its id there.
    4. Where objects have owners, add :data:`OWNERSHIP` probes: another owner's object must be refused.

The expected status is exact: 401 for a protected route without credentials, 403 for a caller without the
role (node tokens are 403 on user routes), and the success status for the allowed callers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient
from eth_account import Account
from eth_account.messages import encode_defunct

from engine.identity.siwe_message import SiweMessage

ANONYMOUS = "anonymous"
USER = "cloud-user"
PROVIDER = "cloud-provider"
OPERATOR = "cloud-operator"
NODE = "node"
CALLERS: tuple[str, ...] = (ANONYMOUS, USER, PROVIDER, OPERATOR, NODE)
USER_ROLES: tuple[str, ...] = (USER, PROVIDER, OPERATOR)
# a second provider, only used by OWNERSHIP probes
OTHER_PROVIDER = "other-provider"

Expect = dict[str, int]


@dataclass
class World:
    """What requests need: the client, the ids of objects made for the test, the callers' headers."""

    client: TestClient  # type: ignore[type-arg]
    ids: dict[str, Any] = field(default_factory=dict)  # mostly int; Stripe ids (pm_...) are str
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    async def signed_siwe(self) -> dict[str, str]:
        """A fresh nonce, a message for a fresh wallet with the service's domain/uri/chain, its signature."""
        resp = await self.client.post("/api/auth/siwe/nonce")
        assert resp.status == 201, await resp.text()
        n = await resp.json()
        acct = Account.create()
        text = SiweMessage(
            domain=n["domain"],
            address=acct.address,
            uri=n["uri"],
            version="1",
            chain_id=n["chain_id"],
            nonce=n["nonce"],
            issued_at="2020-01-01T00:00:00Z",
        ).to_text()
        sig = acct.sign_message(encode_defunct(text=text)).signature.hex()
        return {"message": text, "signature": "0x" + sig.removeprefix("0x")}


Body = Any | Callable[[World], Awaitable[Any]]


@dataclass(frozen=True)
class Row:
    expect: Expect
    body: Body = None


def public(status: int = 200) -> Expect:
    """Anyone, node tokens included."""
    return dict.fromkeys(CALLERS, status)


def signed_in(status: int = 200) -> Expect:
    """Any signed-in user whatever their roles; node tokens 403."""
    return {ANONYMOUS: 401, NODE: 403, **dict.fromkeys(USER_ROLES, status)}


def role(*allowed: str, status: int = 200) -> Expect:
    """Users holding one of ``allowed``; other users and node tokens 403."""
    assert set(allowed) <= set(USER_ROLES), allowed
    return {ANONYMOUS: 401, NODE: 403, **{r: status if r in allowed else 403 for r in USER_ROLES}}


def node_only(status: int = 200) -> Expect:
    """The node's own token only (node-agent routes)."""
    return {ANONYMOUS: 401, NODE: status, **dict.fromkeys(USER_ROLES, 403)}


NODES = "/api/cloud-provider/nodes"
PROVIDER_BASE = "/api/cloud-provider"
OPERATOR_BASE = "/api/cloud-operator"


def _address(world: World, key: str) -> str:
    return "0x" + world.ids[key].to_bytes(20, "big").hex()


async def _register_body(world: World) -> dict[str, Any]:
    return {
        "wallet": _address(world, "register_wallet"),
        "company": "Matrix Cloud",
        "contact_name": "M. Atrix",
        "contact_email": "ops@matrix.test",
        "collateral": 500 * 10**6,
    }


async def _maintenance_body(world: World) -> dict[str, Any]:
    return {"node_id": world.ids["node_id"], "start": 2_000_000_000, "end": 2_000_003_600}


async def _maintenance_cancel_body(world: World) -> dict[str, Any]:
    return {"node_id": world.ids["node_id"]}


async def add_marketplace_objects(world: World, sessionmaker: Any) -> None:
    """Marketplace objects for the matrix: two wallets linked to the ``cloud-provider`` caller (one with
    a pending provider request, ``request_id``; one free for ``register``, ``register_wallet``)."""
    from engine.identity.services import link_wallet
    from engine.providers.services import create_request

    resp = await world.client.get("/api/auth/session", headers=world.headers[PROVIDER])
    assert resp.status == 200, await resp.text()
    user_id = (await resp.json())["user_id"]
    used, free = Account.create().address, Account.create().address
    async with sessionmaker() as session:
        await link_wallet(session, user_id, used)  # commits
        await link_wallet(session, user_id, free)
        row = await create_request(
            session,
            user_id=user_id,
            wallets=[used],
            wallet_address=used,
            company="Matrix Cloud",
            contact_name="M",
            contact_email="m@matrix.test",
            collateral=10**9,
            min_collateral=0,
        )
        await session.commit()
    world.ids["request_id"] = row.id
    world.ids["register_wallet"] = int(free, 16)
    world.ids["request_wallet"] = int(used, 16)
    await add_deployment_objects(world, sessionmaker)
    await add_notification_objects(world, sessionmaker)
    await add_alliance_objects(world, sessionmaker)


# ---- deployments ------------------------------------------------------------------------------------
DEPLOYMENTS = "/api/cloud-user/deployments"
# a cap below any floor: refused with 422 whatever nodes the shared chain holds (and nothing is written)
_CHEAP_SPEC = {
    "image": "nginx:1",
    "resources": {"cpu_millicores": 100, "memory_mb": 64, "disk_gb": 1},
    "max_price_per_second": 0,
}


async def add_deployment_objects(world: World, sessionmaker: Any) -> None:
    """A deployment of the ``cloud-user`` caller (``deployment_id``; funding, no lease yet)."""
    from engine.deployments.models import FUNDING, FUNDING_WALLET, Deployment

    resp = await world.client.get("/api/auth/session", headers=world.headers[USER])
    user_id = (await resp.json())["user_id"]
    async with sessionmaker() as session:
        dep = Deployment(
            user_id=user_id,
            spec={"v": 1},
            spec_hash="0x" + "00" * 32,
            status=FUNDING,
            replicas=1,
            rate_per_second=1,
            payer=Account.create().address,
            funding=FUNDING_WALLET,
        )
        session.add(dep)
        await session.commit()
        world.ids["deployment_id"] = dep.id


# ---- alliances (issue 13) ----------------------------------------------------------------------------
ALLIANCES = "/api/alliances"


async def add_alliance_objects(world: World, sessionmaker: Any) -> None:
    """An indexed alliance (``alliance_id``) administered by the ``cloud-provider`` caller's
    ``request_wallet`` (an active member), with its ``register_wallet`` invited."""
    from eth_utils.address import to_checksum_address
    from sqlalchemy import func, select

    from engine.alliances.models import Alliance, AllianceMember

    admin = to_checksum_address(_address(world, "request_wallet"))
    invited = to_checksum_address(_address(world, "register_wallet"))
    async with sessionmaker() as session, session.begin():
        # a fresh id per world (the matrix builds several worlds on one database)
        alliance_id = (await session.scalar(select(func.max(Alliance.id))) or 900_000) + 1
        session.add(
            Alliance(
                id=alliance_id,
                name="Matrix alliance",
                name_hash="0x" + "11" * 32,
                terms_hash="0x" + "22" * 32,
                proposer=admin,
                admin=admin,
                notice_period=60,
                max_units_per_node=10,
                total_shares=0,
                received=0,
                created_block=1,
                last_block=1,
                last_log=0,
            )
        )
        await session.flush()
        for account, status in ((admin, "active"), (invited, "invited")):
            session.add(
                AllianceMember(
                    alliance_id=alliance_id,
                    account=account,
                    status=status,
                    weight=0,
                    units=0,
                    nodes=0,
                    claimed=0,
                )
            )
    world.ids["alliance_id"] = alliance_id
    world.ids["address"] = admin  # a member path segment of the operator's suspend / reinstate routes


_ALLIANCE = {"name": "Matrix alliance", "terms": "split by capacity units"}


async def _alliance_create_body(world: World) -> dict[str, Any]:
    return _ALLIANCE | {"wallet": _address(world, "request_wallet")}


async def _alliance_node_body(world: World) -> dict[str, Any]:
    return {"node_id": world.ids["node_id"]}


# ---- notifications (issue 12) ------------------------------------------------------------------------
INBOX = "/api/notifications"
HOOKS = "/api/me/webhooks"
# loopback, refused at once: no matrix delivery ever reaches anything if a delivery worker runs
_HOOK_BODY = {"url": "https://127.0.0.1:9/matrix", "events": ["*"]}


async def add_notification_objects(world: World, sessionmaker: Any) -> None:
    """A notification of the ``cloud-user`` caller (``notification_id``) and two of its webhook endpoints
    (``webhook_id``; ``spare_webhook_id`` for the DELETE row, which sorts first)."""
    from engine.notifications.services import notify

    resp = await world.client.get("/api/auth/session", headers=world.headers[USER])
    user_id = (await resp.json())["user_id"]
    async with sessionmaker() as session, session.begin():
        done = await notify(session, user_id, "low_balance", "matrix", "Matrix", "a matrix notice", {})
    world.ids["notification_id"] = done.notification_id
    for key in ("webhook_id", "spare_webhook_id"):
        resp = await world.client.post(HOOKS, json=_HOOK_BODY, headers=world.headers[USER])
        assert resp.status == 201, await resp.text()
        world.ids[key] = (await resp.json())["webhook"]["id"]


def _own_only(status: int = 200) -> Expect:
    """Signed-in users reach the route; only the ``cloud-user`` caller owns the object (others: 404)."""
    return signed_in(status) | {PROVIDER: 404, OPERATOR: 404}


_HEARTBEAT = {
    "resources": {"cpu_millicores_used": 0, "memory_mb_used": 0, "disk_gb_used": 0},
    "workloads": [],
    "agent": {"version": "matrix"},
}


# ---- billing (payments + wallet): helpers for the rows and probes below ------------------------------
# a second cloud user: owns the payment, receipt, payment methods and subscription the OWNERSHIP probes aim at
OTHER_USER = "other-user"
PAY = "/api/payments"


@dataclass(frozen=True)
class Call(Row):
    """A row whose request is not the bare route path: ``path`` adds a query string or fills a path
    parameter from another world id (``{default_pm_id}`` for ``{pm_id}``). The test checks it is still
    the same route."""

    path: str = ""


async def _subscribe_body(world: World) -> dict[str, Any]:
    return {"plan_id": world.ids["plan_id"]}


async def _subscribe_with_others_method(world: World) -> dict[str, Any]:
    return {"plan_id": world.ids["plan_id"], "payment_method": world.ids["other_pm_id"]}


async def add_billing_objects(world: World, stripe: Any) -> None:
    """Billing objects for the matrix, through the API and the local Stripe server (``stripe``, a
    :class:`tests.support.stripe_server.StripeTestServer` the app's billing talks to): an operator plan
    (``plan_id``); for the ``cloud-user`` caller a top-up paid by a signed webhook (``payment_id``, its
    receipt ``entry_id``), two saved cards (``pm_id`` to detach, ``default_pm_id`` the default) and a
    subscription (``sub_id``); the same for :data:`OTHER_USER` (``other_*`` ids)."""
    from api.keys import RUNTIME
    from engine.payments.services import get_entry

    client = world.client

    async def call(method: str, path: str, who: str, status: int, **kw: Any) -> dict[str, Any]:
        resp = await client.request(method, path, headers=world.headers[who], **kw)
        assert resp.status == status, f"{method} {path}: {resp.status} {await resp.text()}"
        return await resp.json()  # type: ignore[no-any-return]

    plan = {"name": "Matrix", "price_cents": 2_000, "credit_cents": 2_500}
    world.ids["plan_id"] = (await call("POST", OPERATOR_BASE + "/plans", OPERATOR, 201, json=plan))["id"]
    for who, prefix in ((USER, ""), (OTHER_USER, "other_")):
        paid = await call("POST", PAY + "/create-intent", who, 201, json={"amount_cents": 1_000})
        pid = paid["payment"]["payment_intent_id"]
        status, text = await stripe.send_event(
            str(client.make_url(PAY + "/webhook")), stripe.payment_intent_succeeded_event(pid)
        )
        assert status == 200, text
        async with client.app[RUNTIME].sessionmaker() as session:
            entry = await get_entry(session, pid)
        assert entry is not None
        pms = []
        for _ in range(2):
            seti = (await call("POST", PAY + "/methods", who, 201))["setup_intent_id"]
            pms.append(stripe.complete_setup_intent(seti)["payment_method"])
        await call("POST", f"{PAY}/methods/{pms[1]}/default", who, 200)
        sub = await call("POST", PAY + "/subscriptions", who, 201, json={"plan_id": world.ids["plan_id"]})
        world.ids |= {
            prefix + "payment_id": paid["payment"]["id"],
            prefix + "entry_id": entry.id,
            prefix + "pm_id": pms[0],
            prefix + "default_pm_id": pms[1],
            prefix + "sub_id": sub["id"],
        }


AUTO_TOP_UP_RULE = {
    "floor_seconds": 3_600,
    "target_seconds": 7_200,
    "monthly_cap": 10**9,
    "sources": [{"kind": "credit"}],
}


async def _auto_top_up_with_others_card(world: World) -> dict[str, Any]:
    return AUTO_TOP_UP_RULE | {
        "sources": [{"kind": "card", "payment_method": world.ids["other_default_pm_id"]}]
    }


MATRIX: dict[tuple[str, str], Row] = {
    # foundation
    ("GET", "/healthz"): Row(public()),
    ("GET", "/readyz"): Row(public()),
    ("GET", "/api/chain"): Row(public()),
    ("GET", "/openapi.json"): Row(public()),
    ("GET", "/metrics"): Row(public()),
    # identity
    ("GET", "/api/auth/session"): Row(signed_in()),
    ("GET", "/api/me/settings"): Row(signed_in()),
    ("PUT", "/api/me/settings"): Row(signed_in(), body={"settings": {"theme": "dark"}}),
    ("POST", "/api/auth/siwe/nonce"): Row(public(201)),
    # anonymous: wallet sign-in; users: the wallet is linked; node tokens cannot sign in
    ("POST", "/api/auth/siwe/verify"): Row(public(200) | {NODE: 401}, body=World.signed_siwe),
    ("GET", "/api/auth/dev/jwks.json"): Row(public()),
    ("GET", NODES): Row(role(PROVIDER)),
    ("POST", NODES): Row(role(PROVIDER, status=201), body={"name": "matrix node"}),
    ("POST", NODES + "/{node_id}/tokens"): Row(role(PROVIDER, status=201)),
    ("DELETE", NODES + "/{node_id}/tokens/{token_id}"): Row(role(PROVIDER)),
    # billing (payments + wallet): cloud-user only, except the operator's plans and the public webhook
    ("GET", PAY + "/quote"): Call(role(USER), path=PAY + "/quote?amount_cents=1000"),
    ("POST", PAY + "/create-intent"): Row(role(USER, status=201), body={"amount_cents": 1_000}),
    ("GET", PAY + "/intents/{payment_id}"): Row(role(USER)),
    ("GET", PAY + "/methods"): Row(role(USER)),
    ("POST", PAY + "/methods"): Row(role(USER, status=201)),  # a SetupIntent, no body
    ("DELETE", PAY + "/methods/{pm_id}"): Row(role(USER)),
    # its own card: the DELETE row above (sorted first) detached ``pm_id``
    ("POST", PAY + "/methods/{pm_id}/default"): Call(
        role(USER), path=PAY + "/methods/{default_pm_id}/default"
    ),
    ("GET", PAY + "/plans"): Row(role(USER)),
    ("GET", PAY + "/subscriptions"): Row(role(USER)),
    ("POST", PAY + "/subscriptions"): Row(role(USER, status=201), body=_subscribe_body),
    ("DELETE", PAY + "/subscriptions/{sub_id}"): Row(role(USER)),
    ("POST", PAY + "/subscriptions/{sub_id}/cancel"): Row(role(USER)),  # cancelling twice is one cancel
    ("GET", PAY + "/receipts/{entry_id}"): Row(role(USER)),
    ("GET", OPERATOR_BASE + "/plans"): Row(role(OPERATOR)),
    ("POST", OPERATOR_BASE + "/plans"): Row(
        role(OPERATOR, status=201), body={"name": "Matrix Pro", "price_cents": 5_000, "credit_cents": 6_000}
    ),
    # public, but only Stripe can sign: without a valid Stripe-Signature every caller gets 400 (the signed
    # path: tests/api/payments/test_topup_webhook.py, make_world's top-ups)
    ("POST", PAY + "/webhook"): Row(public(400)),
    ("GET", "/api/wallet"): Row(role(USER)),
    ("GET", "/api/wallet/transactions"): Row(role(USER)),
    ("GET", "/api/wallet/history"): Row(role(USER)),
    # auto top-up: the caller's own rule only (no id in the path; a card source must name one of the
    # caller's saved methods: the OWNERSHIP probe below)
    ("PUT", "/api/wallet/auto-top-up"): Row(role(USER), body=AUTO_TOP_UP_RULE),
    ("GET", "/api/wallet/auto-top-up"): Row(role(USER)),
    # swaps: the matrix runs on eth-tester, where no router is deployed: 503 swap_unavailable for the user
    # (the success paths on anvil: tests/chain/test_swaps.py)
    ("POST", "/api/wallet/swap/quote"): Row(
        role(USER, status=503), body={"token_in": "CMC", "token_out": "tUSD", "amount_in": 10**6}
    ),
    ("POST", "/api/wallet/swap"): Row(
        role(USER, status=503),
        body={
            "token_in": "CMC",
            "token_out": "tUSD",
            "amount_in": 10**6,
            "amount_out_min": 1,
            "deadline": 2**40,
        },
    ),
    # a managed wallet's relayed swap: none exists here (no router on eth-tester), so the user gets 404
    # swap_not_found (the relayed success path on anvil: tests/chain/test_swaps.py)
    ("GET", "/api/wallet/swaps/{swap_id}"): Row(role(USER, status=404)),
    # marketplace (issue #5): provider onboarding, nodes, maintenance; operator settings and pricing
    ("POST", PROVIDER_BASE + "/register"): Row(role(PROVIDER, status=201), body=lambda w: _register_body(w)),
    ("GET", PROVIDER_BASE + "/provider-requests"): Row(role(PROVIDER)),
    # well-formed, but the matrix node was never registered on chain: 409 node_not_on_chain for the owner
    # (the signed success path: tests/chain/test_marketplace_flow.py)
    ("POST", PROVIDER_BASE + "/maintenance"): Row(
        role(PROVIDER, status=409), body=lambda w: _maintenance_body(w)
    ),
    ("POST", PROVIDER_BASE + "/maintenance/cancel"): Row(
        role(PROVIDER, status=409), body=lambda w: _maintenance_cancel_body(w)
    ),
    ("GET", OPERATOR_BASE + "/provider-requests"): Row(role(OPERATOR)),
    # the request's wallet never sent `register`: 409 not_registered_on_chain (success path on chain)
    ("POST", OPERATOR_BASE + "/provider-requests/{request_id}/approve"): Row(role(OPERATOR, status=409)),
    ("POST", OPERATOR_BASE + "/provider-requests/{request_id}/reject"): Row(
        role(OPERATOR), body={"reason": "matrix"}
    ),
    ("GET", OPERATOR_BASE + "/settings"): Row(role(OPERATOR)),
    ("PUT", OPERATOR_BASE + "/settings"): Row(role(OPERATOR), body={"values": {"max_replicas": 12}}),
    ("GET", OPERATOR_BASE + "/settings/history"): Row(role(OPERATOR)),
    ("GET", OPERATOR_BASE + "/pricing"): Row(role(OPERATOR)),
    ("PUT", OPERATOR_BASE + "/pricing"): Row(role(OPERATOR), body={"values": {"certified_premium_bps": 900}}),
    ("GET", OPERATOR_BASE + "/pricing/history"): Row(role(OPERATOR)),
    # deployments
    ("GET", DEPLOYMENTS): Row(role(USER)),
    ("POST", DEPLOYMENTS): Row(role(USER, status=422), body={"spec": _CHEAP_SPEC, "duration_seconds": 60}),
    ("POST", DEPLOYMENTS + "/quote"): Row(
        role(USER, status=422), body={"spec": _CHEAP_SPEC, "duration_seconds": 60}
    ),
    ("GET", "/api/catalog"): Row(public()),
    ("GET", DEPLOYMENTS + "/{deployment_id}"): Row(role(USER)),
    ("POST", DEPLOYMENTS + "/{deployment_id}/top-up"): Row(role(USER, status=409), body={"amount": 10}),
    ("POST", DEPLOYMENTS + "/{deployment_id}/close"): Row(role(USER)),  # closing twice is one close
    ("GET", PROVIDER_BASE + "/earnings"): Row(role(PROVIDER)),
    ("POST", NODES + "/{node_id}/withdraw"): Row(role(PROVIDER, status=409)),  # not on chain yet
    # running workloads (issue #6): node-agent protocol (own node token only), status stream, metrics
    ("GET", NODES + "/{node_id}/workloads"): Row(node_only()),  # no cursor: answers at once
    ("POST", NODES + "/{node_id}/heartbeat"): Row(node_only(), body=_HEARTBEAT),
    ("GET", DEPLOYMENTS + "/{deployment_id}/events"): Call(
        role(USER), path=DEPLOYMENTS + "/{deployment_id}/events?max_seconds=0"
    ),
    ("GET", DEPLOYMENTS + "/{deployment_id}/metrics"): Row(role(USER)),
    # SLA (issue 13, engine.sla): own deployment, own nodes, the operator's overview
    ("GET", DEPLOYMENTS + "/{deployment_id}/sla"): Row(role(USER)),
    ("GET", "/api/cloud-provider/sla"): Row(role(PROVIDER)),
    ("GET", "/api/cloud-operator/sla"): Row(role(OPERATOR)),
    # scaling (issue #6): the matrix deployment is still funding (or closed): scaling is refused with 409
    ("POST", DEPLOYMENTS + "/{deployment_id}/scale"): Row(role(USER, status=409), body={"replicas": 2}),
    ("PUT", DEPLOYMENTS + "/{deployment_id}/autoscale"): Row(
        role(USER),
        body={"min_replicas": 1, "max_replicas": 3, "cpu_target_bps": 6000, "cooldown_seconds": 60},
    ),
    # notifications (issue 12): any signed-in user, own objects only; the operator's jobs view
    ("GET", INBOX): Row(signed_in()),
    ("POST", INBOX + "/{notification_id}/read"): Row(_own_only()),
    ("POST", INBOX + "/read-all"): Row(signed_in()),
    ("GET", INBOX + "/stream"): Call(signed_in(), path=INBOX + "/stream?max_seconds=0"),
    ("GET", HOOKS): Row(signed_in()),
    ("POST", HOOKS): Row(signed_in(201), body=_HOOK_BODY),
    ("DELETE", HOOKS + "/{webhook_id}"): Call(_own_only(), path=HOOKS + "/{spare_webhook_id}"),
    ("GET", HOOKS + "/{webhook_id}/deliveries"): Row(_own_only()),
    ("POST", HOOKS + "/{webhook_id}/test"): Row(_own_only(202)),
    ("GET", OPERATOR_BASE + "/jobs"): Row(role(OPERATOR)),
    # low-balance alert settings (issue 12): the cloud-user's own
    ("GET", "/api/me/alerts"): Row(role(USER)),
    ("PUT", "/api/me/alerts"): Row(role(USER), body={"thresholds_seconds": [86_400, 3_600]}),
    ("POST", OPERATOR_BASE + "/escrow/pause"): Row(role(OPERATOR)),
    ("POST", OPERATOR_BASE + "/escrow/unpause"): Row(role(OPERATOR)),
    # staking (issue 13): tiers are public; the rest is the cloud-user's own stake. The matrix's cloud-user
    # pays from the wallet the matrix linked, holding no platform token: stake is 422 invalid_stake_amount,
    # unstake and withdraw 409 (nothing staked); the success paths on anvil: tests/chain/test_staking.py
    ("GET", "/api/staking/tiers"): Row(public(200)),
    ("GET", "/api/staking/me"): Row(role(USER)),
    ("POST", "/api/staking/stake"): Row(role(USER, status=422), body={"amount": "1"}),
    ("POST", "/api/staking/unstake"): Row(role(USER, status=409), body={"amount": "1"}),
    ("POST", "/api/staking/withdraw"): Row(role(USER, status=409), body={}),
    ("GET", OPERATOR_BASE + "/staking/tiers"): Row(role(OPERATOR)),
    ("PUT", OPERATOR_BASE + "/staking/tiers"): Row(
        role(OPERATOR, status=202),
        body={"tiers": [{"min_stake": "1000", "discount_bps": 1_000}], "cover_per_token": "1000"},
    ),
    # alliances (issue 13): cloud-provider; the matrix alliance (indexed only: nothing of it is on chain) is
    # the provider's. Node actions: the matrix node is not on chain (409); collect: chain node 1 is not in it
    # (409); claim: nothing claimable (409). The signed success paths: tests/chain/test_alliances.py
    ("GET", ALLIANCES): Row(role(PROVIDER)),
    ("POST", ALLIANCES): Row(role(PROVIDER, status=201), body=_alliance_create_body),
    ("GET", ALLIANCES + "/{alliance_id}"): Row(role(PROVIDER)),
    ("POST", ALLIANCES + "/{alliance_id}/invite"): Row(role(PROVIDER), body={"account": "0x" + "ab" * 20}),
    ("POST", ALLIANCES + "/{alliance_id}/accept"): Row(role(PROVIDER)),
    ("POST", ALLIANCES + "/{alliance_id}/nodes"): Row(role(PROVIDER, status=409), body=_alliance_node_body),
    ("POST", ALLIANCES + "/{alliance_id}/nodes/{node_id}/withdraw"): Row(role(PROVIDER, status=409)),
    ("POST", ALLIANCES + "/{alliance_id}/collect"): Row(
        role(PROVIDER, status=409), body={"chain_node_id": 1}
    ),
    ("POST", ALLIANCES + "/{alliance_id}/claim"): Row(role(PROVIDER, status=409)),
    ("POST", ALLIANCES + "/{alliance_id}/leave"): Row(role(PROVIDER)),
    # the operator's alliance overview and member suspension (outbox); the matrix member is active only in
    # the index (on chain it is nobody): suspend and reinstate are 409 invalid_member_status. The success
    # paths through the outbox: tests/chain/test_alliances.py
    ("GET", OPERATOR_BASE + "/alliances"): Row(role(OPERATOR)),
    ("POST", OPERATOR_BASE + "/alliances/{alliance_id}/members/{address}/suspend"): Row(
        role(OPERATOR, status=409), body={"reason": "matrix"}
    ),
    ("POST", OPERATOR_BASE + "/alliances/{alliance_id}/members/{address}/reinstate"): Row(
        role(OPERATOR, status=409)
    ),
    # the SLA prober's host for the provider's own node
    ("GET", NODES + "/{node_id}/sla-endpoint"): Row(role(PROVIDER)),
    ("PUT", NODES + "/{node_id}/sla-endpoint"): Row(role(PROVIDER), body={"host": "node1.matrix.test"}),
}


@dataclass(frozen=True)
class Probe:
    """One request by one caller on someone else's object, and the status it must get."""

    why: str
    method: str
    path: str
    caller: str
    status: int
    body: Body = None


OWNERSHIP: list[Probe] = [
    # alliances: only the admin and members see or act on an alliance
    Probe(
        "another provider's alliance is not found", "GET", ALLIANCES + "/{alliance_id}", OTHER_PROVIDER, 404
    ),
    Probe(
        "another provider cannot invite into an alliance it is not in",
        "POST",
        ALLIANCES + "/{alliance_id}/invite",
        OTHER_PROVIDER,
        404,
        body={"account": "0x" + "cd" * 20},
    ),
    Probe(
        "another provider cannot claim from an alliance",
        "POST",
        ALLIANCES + "/{alliance_id}/claim",
        OTHER_PROVIDER,
        404,
    ),
    Probe(
        "another provider cannot leave an alliance",
        "POST",
        ALLIANCES + "/{alliance_id}/leave",
        OTHER_PROVIDER,
        404,
    ),
    Probe(
        "a provider cannot contribute a node to another provider's alliance",
        "POST",
        ALLIANCES + "/{alliance_id}/nodes",
        OTHER_PROVIDER,
        404,
        body=_alliance_node_body,
    ),
    Probe("an alliance that does not exist is not found", "GET", ALLIANCES + "/999999", PROVIDER, 404),
    Probe(
        "the operator cannot suspend in an alliance that does not exist",
        "POST",
        OPERATOR_BASE + "/alliances/999999/members/{address}/suspend",
        OPERATOR,
        404,
        body={},
    ),
    Probe(
        "another provider's node's SLA endpoint is not found",
        "GET",
        NODES + "/{other_node_id}/sla-endpoint",
        PROVIDER,
        404,
    ),
    Probe(
        "a provider cannot set the SLA endpoint of another provider's node",
        "PUT",
        NODES + "/{other_node_id}/sla-endpoint",
        PROVIDER,
        404,
        body={"host": "evil.example"},
    ),
    Probe(
        "an auto top-up rule cannot charge another user's saved card",
        "PUT",
        "/api/wallet/auto-top-up",
        USER,
        404,
        body=_auto_top_up_with_others_card,
    ),
    # notifications: another user's notification and webhook endpoints are not found
    Probe(
        "another user's notification cannot be marked read",
        "POST",
        INBOX + "/{notification_id}/read",
        OTHER_USER,
        404,
    ),
    Probe("another user's webhook cannot be deleted", "DELETE", HOOKS + "/{webhook_id}", OTHER_USER, 404),
    Probe(
        "another user's webhook log is not found", "GET", HOOKS + "/{webhook_id}/deliveries", OTHER_USER, 404
    ),
    Probe("another user's webhook cannot be tested", "POST", HOOKS + "/{webhook_id}/test", OTHER_USER, 404),
    Probe(
        "a provider cannot issue tokens for another provider's node",
        "POST",
        NODES + "/{node_id}/tokens",
        OTHER_PROVIDER,
        404,
    ),
    Probe(
        "a provider cannot revoke another provider's node token",
        "DELETE",
        NODES + "/{node_id}/tokens/{token_id}",
        OTHER_PROVIDER,
        404,
    ),
    Probe(
        "a token id is only revocable under its own node",
        "DELETE",
        NODES + "/{other_node_id}/tokens/{spare_token_id}",
        OTHER_PROVIDER,
        404,
    ),
    Probe("a node id that does not exist is not found", "POST", NODES + "/999999999/tokens", PROVIDER, 404),
    Probe(
        "a provider cannot schedule maintenance on another provider's node",
        "POST",
        PROVIDER_BASE + "/maintenance",
        OTHER_PROVIDER,
        404,
        body=_maintenance_body,
    ),
    Probe(
        "a provider cannot cancel maintenance on another provider's node",
        "POST",
        PROVIDER_BASE + "/maintenance/cancel",
        OTHER_PROVIDER,
        404,
        body=_maintenance_cancel_body,
    ),
    # billing: a cloud user never sees or changes another user's payments, receipts, cards, subscriptions
    Probe("another user's top-up is not found", "GET", PAY + "/intents/{other_payment_id}", USER, 404),
    Probe("another user's receipt is not found", "GET", PAY + "/receipts/{other_entry_id}", USER, 404),
    Probe("another user's card cannot be detached", "DELETE", PAY + "/methods/{other_pm_id}", USER, 404),
    Probe(
        "another user's card cannot become my default",
        "POST",
        PAY + "/methods/{other_default_pm_id}/default",
        USER,
        404,
    ),
    Probe(
        "another user's card cannot pay my subscription",
        "POST",
        PAY + "/subscriptions",
        USER,
        404,
        body=_subscribe_with_others_method,
    ),
    Probe(
        "another user's subscription cannot be cancelled",
        "DELETE",
        PAY + "/subscriptions/{other_sub_id}",
        USER,
        404,
    ),
    Probe(
        "another user's subscription cannot be cancelled (POST)",
        "POST",
        PAY + "/subscriptions/{other_sub_id}/cancel",
        USER,
        404,
    ),
    # deployments: a user never sees or acts on another user's deployment; a provider on another's node
    Probe("another user's deployment is not found", "GET", DEPLOYMENTS + "/{deployment_id}", OTHER_USER, 404),
    Probe(
        "another user's deployment cannot be closed",
        "POST",
        DEPLOYMENTS + "/{deployment_id}/close",
        OTHER_USER,
        404,
    ),
    Probe(
        "another user's deployment cannot be scaled",
        "POST",
        DEPLOYMENTS + "/{deployment_id}/scale",
        OTHER_USER,
        404,
        body={"replicas": 2},
    ),
    Probe(
        "another user's deployment gets no autoscale policy",
        "PUT",
        DEPLOYMENTS + "/{deployment_id}/autoscale",
        OTHER_USER,
        404,
        body={"min_replicas": 1, "max_replicas": 3, "cpu_target_bps": 6000, "cooldown_seconds": 60},
    ),
    Probe(
        "another user's deployment cannot be topped up",
        "POST",
        DEPLOYMENTS + "/{deployment_id}/top-up",
        OTHER_USER,
        404,
        body={"amount": 10},
    ),
    Probe(
        "another provider's node earnings cannot be withdrawn",
        "POST",
        NODES + "/{node_id}/withdraw",
        OTHER_PROVIDER,
        404,
    ),
    Probe("a deployment id beyond any column is not found", "GET", DEPLOYMENTS + "/99999999999", USER, 404),
    # node agents: a node token only ever reads and writes its own node
    Probe(
        "a node token cannot poll another node's workloads",
        "GET",
        NODES + "/{other_node_id}/workloads",
        NODE,
        403,
    ),
    Probe(
        "a node token cannot heartbeat for another node",
        "POST",
        NODES + "/{other_node_id}/heartbeat",
        NODE,
        403,
        body=_HEARTBEAT,
    ),
    Probe(
        "a node id beyond any column is refused to a node token",
        "GET",
        NODES + "/99999999999/workloads",
        NODE,
        403,
    ),
    Probe(
        "another user's deployment events are not found",
        "GET",
        DEPLOYMENTS + "/{deployment_id}/events?max_seconds=0",
        OTHER_USER,
        404,
    ),
    Probe(
        "another user's deployment metrics are not found",
        "GET",
        DEPLOYMENTS + "/{deployment_id}/metrics",
        OTHER_USER,
        404,
    ),
    Probe(
        "another user's deployment SLA is not found",
        "GET",
        DEPLOYMENTS + "/{deployment_id}/sla",
        OTHER_USER,
        404,
    ),
    # beyond the 32-bit id columns (PostgreSQL would refuse the parameter: must be 404, not 500)
    Probe(
        "an id beyond any column is not found",
        "DELETE",
        NODES + "/{node_id}/tokens/99999999999",
        PROVIDER,
        404,
    ),
]
