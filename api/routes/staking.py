"""Staking routes, issue 13 (the work is in :mod:`engine.staking.commands`; schemas in
:mod:`api.schemas.staking`).

=======================================  =================================================================
GET  /api/staking/tiers                  public (rate-limited per IP): tiers in force and scheduled,
                                         coverage factor, cooldown, tier delay, the escrow's cap
GET  /api/staking/me                     cloud-user: stake, lock, cooling, tier, discount, coverage,
                                         what the next tier needs (chain); indexed position and stake
                                         history (index); a managed wallet's newest relayed request
POST /api/staking/stake                  cloud-user: unsigned approve (if short) + stake(amount, lockUntil);
                                         managed wallet: stakeBySig (with a permit) relayed
POST /api/staking/unstake                cloud-user: unsigned requestUnstake(amount); managed: relayed
POST /api/staking/withdraw               cloud-user: unsigned withdraw(); managed: relayed
GET|PUT /api/cloud-operator/staking/tiers  cloud-operator: read / schedule a tier set (outbox, delayed)
=======================================  =================================================================

Managed wallets (tokens, no ETH): the request is signed by the managed key and sent by the engine's signer
through the outbox (``engine.staking.relay``); the response has no transactions and ``relayed`` (outbox id,
status ``pending`` / ``done`` / ``failed``); a second request while one is pending is 409
``staking_in_flight``.
"""

from __future__ import annotations

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_OPERATOR, CLOUD_USER
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.schemas import staking as schemas
from api.validation import validated_body
from engine.staking import commands

routes = RouteTable(tag="staking", roles=(CLOUD_USER,))
WRITE_ERRORS = (400, 409, 422, 503)


@routes.get(
    "/api/staking/tiers",
    public=True,
    rate_limit="public",
    errors=(503,),
    summary="Staking discount tiers in force and scheduled",
    response=schemas.TIERS,
)
async def get_tiers(request: web.Request) -> web.Response:
    return web.json_response(schemas.tiers_json(await commands.get_tiers(request.app[RUNTIME].context)))


@routes.get(
    "/api/staking/me",
    errors=(400, 503),
    summary="The caller's stake, tier, discount and what the next tier needs",
    response=schemas.ME,
)
async def get_me(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    mine = await commands.get_my_staking(request.app[RUNTIME].context, principal.user_id)
    return web.json_response(schemas.me_json(mine))


@routes.post(
    "/api/staking/stake",
    errors=WRITE_ERRORS,
    summary="Unsigned transactions that stake (and optionally lock) platform tokens (managed: relayed)",
    request=schemas.STAKE_REQUEST,
    response=schemas.TXS,
)
async def post_stake(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    body = validated_body(request)
    txs = await commands.stake(
        request.app[RUNTIME].context,
        principal.user_id,
        int(body["amount"]),
        int(body.get("lock_until", 0)),
        body.get("wallet"),
    )
    return web.json_response(schemas.txs_json(txs))


@routes.post(
    "/api/staking/unstake",
    errors=WRITE_ERRORS,
    summary="Unsigned transaction that starts the cooldown of unlocked active stake (managed: relayed)",
    request=schemas.UNSTAKE_REQUEST,
    response=schemas.TXS,
)
async def post_unstake(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    body = validated_body(request)
    txs = await commands.request_unstake(
        request.app[RUNTIME].context, principal.user_id, int(body["amount"]), body.get("wallet")
    )
    return web.json_response(schemas.txs_json(txs))


@routes.post(
    "/api/staking/withdraw",
    errors=WRITE_ERRORS,
    summary="Unsigned transaction that withdraws stake whose cooldown is over (managed: relayed)",
    request=schemas.WITHDRAW_REQUEST,
    response=schemas.TXS,
)
async def post_withdraw(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    body = validated_body(request)
    txs = await commands.withdraw(request.app[RUNTIME].context, principal.user_id, body.get("wallet"))
    return web.json_response(schemas.txs_json(txs))


OPERATOR_PATH = "/api/cloud-operator/staking/tiers"


@routes.get(
    OPERATOR_PATH,
    roles=(CLOUD_OPERATOR,),
    errors=(503,),
    summary="Staking tiers in force and scheduled (operator view)",
    response=schemas.TIERS,
)
async def get_operator_tiers(request: web.Request) -> web.Response:
    await require_role(request, CLOUD_OPERATOR)
    return web.json_response(schemas.tiers_json(await commands.get_tiers(request.app[RUNTIME].context)))


@routes.put(
    OPERATOR_PATH,
    roles=(CLOUD_OPERATOR,),
    errors=(422, 503),
    summary="Schedule a new staking tier set (in force after the contract's tier delay; through the outbox)",
    request=schemas.TIER_SET_REQUEST,
    response=schemas.SCHEDULED,
    status=202,
)
async def put_operator_tiers(request: web.Request) -> web.Response:
    await require_role(request, CLOUD_OPERATOR)
    request_set = schemas.tier_set_request(validated_body(request))
    scheduled = await commands.schedule_tiers(request.app[RUNTIME].context, request_set)
    return web.json_response(schemas.scheduled_json(scheduled), status=202)
