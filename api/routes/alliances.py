"""Alliance routes (issue 13): providers form alliances that split their nodes' escrow earnings on chain.

==========================================================  =============================================
route                                                       who
==========================================================  =============================================
GET  /api/alliances                                         cloud-provider (alliances of its wallets)
POST /api/alliances                                         cloud-provider (wallet must be one of theirs)
GET  /api/alliances/{alliance_id}                           admin or member: members, weights, revenue
POST /api/alliances/{alliance_id}/invite                    the alliance's admin
POST /api/alliances/{alliance_id}/accept                    an invited wallet of the caller
POST /api/alliances/{alliance_id}/nodes                     an active member, for its own node
POST /api/alliances/{alliance_id}/nodes/{node_id}/withdraw  the node's member (notice, then withdraw)
POST /api/alliances/{alliance_id}/collect                   a member (escrow earnings -> alliance)
POST /api/alliances/{alliance_id}/claim                     a member or former member with revenue
POST /api/alliances/{alliance_id}/leave                     a member (notice, then leave)
GET  /api/cloud-operator/alliances                          cloud-operator: every alliance, members (indexed)
POST /api/cloud-operator/alliances/{alliance_id}/members/{address}/suspend    cloud-operator (outbox)
POST /api/cloud-operator/alliances/{alliance_id}/members/{address}/reinstate  cloud-operator (outbox)
==========================================================  =============================================

Providers are wallet-connected: these routes never sign. Each action answers ``transactions``: unsigned
``{to, data, value, chainId, from, description}`` for the provider's wallet, in order; the engine learns
the outcome from indexed ``AllianceSplits`` events. An alliance whose admin or member the caller is not
answers 404 ``alliance_not_found``. Each handler calls one command (:mod:`engine.alliances.commands`).
The operator's suspend / reinstate are the exception: the backend signer holds ``OPERATOR_ROLE``, so they go
through the outbox (a repeated click is one row) and answer the row's key and status.
"""

from __future__ import annotations

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_OPERATOR, CLOUD_PROVIDER
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.schemas.alliances import (
    COLLECT_REQUEST,
    CREATE_REQUEST,
    DETAIL_RESPONSE,
    INVITE_REQUEST,
    LIST_RESPONSE,
    MEMBER_ACTION_RESPONSE,
    NODE_REQUEST,
    OVERVIEW_RESPONSE,
    SUSPEND_REQUEST,
    TXS_RESPONSE,
    alliance_json,
    detail_json,
    member_action_json,
    overview_json,
    txs_json,
)
from api.validation import id_segment, path_id, validated_body
from engine.alliances import commands

routes = RouteTable(tag="alliances", roles=(CLOUD_PROVIDER,))

BASE = "/api/alliances"
ONE = f"{BASE}/{id_segment('alliance_id')}"
OPERATOR = "/api/cloud-operator/alliances"
MEMBER = f"{OPERATOR}/{id_segment('alliance_id')}/members/{{address}}"  # checked by the command (400)


@routes.get(BASE, summary="Alliances the caller's wallets administer or belong to", response=LIST_RESPONSE)
async def list_alliances(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    rows = await commands.list_alliances(request.app[RUNTIME].context, principal.wallets)
    return web.json_response({"alliances": [alliance_json(a) for a in rows]})


@routes.post(
    BASE,
    summary="Propose an alliance; returns the unsigned propose tx",
    request=CREATE_REQUEST,
    response=TXS_RESPONSE,
    status=201,
)
async def create(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    body = validated_body(request)
    new = commands.NewAlliance(
        wallet=body["wallet"],
        name=body["name"],
        terms=body["terms"],
        admin=body.get("admin"),
        notice_period=body.get("notice_period", 7 * 86_400),
        max_units_per_node=body.get("max_units_per_node", 1_000),
    )
    done = await commands.create_alliance(request.app[RUNTIME].context, principal.wallets, new)
    return web.json_response(txs_json(done), status=201)


@routes.get(
    ONE, summary="Members, weights, revenue earned and claimable (read on chain)", response=DETAIL_RESPONSE
)
async def detail(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    view = await commands.alliance_detail(
        request.app[RUNTIME].context, principal.wallets, path_id(request, "alliance_id")
    )
    return web.json_response(detail_json(view))


@routes.post(
    f"{ONE}/invite", summary="The admin invites a wallet", request=INVITE_REQUEST, response=TXS_RESPONSE
)
async def invite(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    body = validated_body(request)
    done = await commands.invite_member(
        request.app[RUNTIME].context, principal.wallets, path_id(request, "alliance_id"), body["account"]
    )
    return web.json_response(txs_json(done))


@routes.post(f"{ONE}/accept", summary="Accept an invitation and the terms", response=TXS_RESPONSE)
async def accept(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    done = await commands.accept_invitation(
        request.app[RUNTIME].context, principal.wallets, path_id(request, "alliance_id")
    )
    return web.json_response(txs_json(done))


@routes.post(
    f"{ONE}/nodes",
    summary="Contribute one of the caller's nodes",
    request=NODE_REQUEST,
    response=TXS_RESPONSE,
)
async def contribute(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    body = validated_body(request)
    done = await commands.contribute_node(
        request.app[RUNTIME].context,
        principal.user_id,
        principal.wallets,
        path_id(request, "alliance_id"),
        body["node_id"],
    )
    return web.json_response(txs_json(done))


@routes.post(
    f"{ONE}/nodes/{id_segment('node_id')}/withdraw",
    summary="Give notice for a node, or withdraw it once the notice passed",
    response=TXS_RESPONSE,
)
async def withdraw(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    done = await commands.withdraw_node(
        request.app[RUNTIME].context,
        principal.user_id,
        principal.wallets,
        path_id(request, "alliance_id"),
        path_id(request, "node_id"),
    )
    return web.json_response(txs_json(done))


@routes.post(
    f"{ONE}/collect",
    summary="Move a contributed node's escrow earnings into the alliance",
    request=COLLECT_REQUEST,
    response=TXS_RESPONSE,
)
async def collect(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    body = validated_body(request)
    done = await commands.collect_node(
        request.app[RUNTIME].context,
        principal.wallets,
        path_id(request, "alliance_id"),
        body["chain_node_id"],
    )
    return web.json_response(txs_json(done))


@routes.post(f"{ONE}/claim", summary="Claim the caller's revenue", response=TXS_RESPONSE)
async def claim(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    done = await commands.claim_revenue(
        request.app[RUNTIME].context, principal.wallets, path_id(request, "alliance_id")
    )
    return web.json_response(txs_json(done))


@routes.post(f"{ONE}/leave", summary="Give notice to leave, or leave once it passed", response=TXS_RESPONSE)
async def leave(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    done = await commands.leave_alliance(
        request.app[RUNTIME].context, principal.wallets, path_id(request, "alliance_id")
    )
    return web.json_response(txs_json(done))


# ---- the operator ------------------------------------------------------------------------------------
@routes.get(
    OPERATOR,
    summary="Every alliance with its members' status, weight and claims (indexed)",
    response=OVERVIEW_RESPONSE,
    roles=(CLOUD_OPERATOR,),
)
async def operator_overview(request: web.Request) -> web.Response:
    await require_role(request, CLOUD_OPERATOR)
    return web.json_response(overview_json(await commands.operator_overview(request.app[RUNTIME].context)))


async def _member_action(request: web.Request, suspended: bool) -> web.Response:
    principal = await require_role(request, CLOUD_OPERATOR)
    body = validated_body(request) if suspended else {}
    done = await commands.set_member_suspended(
        request.app[RUNTIME].context,
        principal.user_id,
        path_id(request, "alliance_id"),
        request.match_info["address"],
        suspended,
        (body or {}).get("reason"),
    )
    return web.json_response(member_action_json(done))


@routes.post(
    f"{MEMBER}/suspend",
    summary="Suspend a member (weight zero; earnings kept): suspend() by the backend signer via the outbox",
    request=SUSPEND_REQUEST,
    response=MEMBER_ACTION_RESPONSE,
    roles=(CLOUD_OPERATOR,),
)
async def suspend_member(request: web.Request) -> web.Response:
    return await _member_action(request, True)


@routes.post(
    f"{MEMBER}/reinstate",
    summary="Reinstate a suspended member: reinstate() by the backend signer via the outbox",
    response=MEMBER_ACTION_RESPONSE,
    roles=(CLOUD_OPERATOR,),
)
async def reinstate_member(request: web.Request) -> web.Response:
    return await _member_action(request, False)
