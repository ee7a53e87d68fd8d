"""Auto top-up routes (the work is in :mod:`engine.autotopup.commands`; schemas in
:mod:`api.schemas.autotopup`).

================================================  ========================================================
PUT /api/wallet/auto-top-up                       cloud-user: set the caller's rule: keep each open lease's
                                                  runway between ``floor_seconds`` and ``target_seconds``,
                                                  at most ``monthly_cap`` credit units a month, from
                                                  ``sources`` in order (``credit``; ``card`` with a saved
                                                  ``payment_method``). 422 ``invalid_auto_top_up``, 404
                                                  ``unknown_payment_method``; nothing written on an error
GET /api/wallet/auto-top-up?cursor=&limit=        cloud-user: the rule and its state (healthy / failing +
                                                  reason), recent actions (a page), each payer wallet's
                                                  on-chain bound (``autoTopUpOf``) and the unsigned
                                                  approve / ``setAutoTopUp`` when it is missing or small
================================================  ========================================================
"""

from __future__ import annotations

from aiohttp import web

from api.auth.middleware import require_role
from api.auth.principal import CLOUD_USER
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.routes.payments import BILLING
from api.schemas import autotopup as schemas
from api.schemas.common import PAGE_QUERY, page_args
from api.validation import validated_body, validated_query
from billing.autotopup import method_check
from engine.autotopup import commands

routes = RouteTable(tag="wallet", roles=(CLOUD_USER,))
PATH = "/api/wallet/auto-top-up"


@routes.put(
    PATH,
    errors=(404, 422, 503),
    summary="Set the caller's auto top-up rule (runway floor/target, monthly cap, funding sources)",
    request=schemas.RULE_REQUEST,
    response=schemas.RULE,
)
async def put_rule(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    rule = await commands.set_rule(
        request.app[RUNTIME].context,
        principal.user_id,
        schemas.rule_request(validated_body(request)),
        owns_method=method_check(request.app[BILLING].ctx),
    )
    return web.json_response(schemas.rule_json(rule))


@routes.get(
    PATH,
    errors=(503,),
    summary="The caller's auto top-up rule, state, recent actions and on-chain bound",
    response=schemas.STATUS,
    query=PAGE_QUERY,
)
async def get_rule(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_USER)
    assert principal.user_id is not None
    status = await commands.get_status(
        request.app[RUNTIME].context, principal.user_id, **page_args(validated_query(request))
    )
    return web.json_response(schemas.status_json(status))
