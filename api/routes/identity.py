"""Identity routes: session, settings, SIWE, provider nodes and node tokens.

=====================================================  =================================================
route                                                  who
=====================================================  =================================================
GET  /api/auth/session                                 any signed-in user (roles may be empty)
GET  /api/me/settings, PUT /api/me/settings            any signed-in user
POST /api/auth/siwe/nonce                              public
POST /api/auth/siwe/verify                             public (signed-in user: links; else wallet sign-in)
GET  /api/auth/dev/jwks.json                           public, dev issuer enabled only (else 404)
(GET|POST /api/cloud-provider/nodes live in api.routes.provider)
POST /api/cloud-provider/nodes/{id}/tokens             cloud-provider owning the node
DELETE /api/cloud-provider/nodes/{id}/tokens/{tid}     cloud-provider owning the node
=====================================================  =================================================

Each handler authenticates, validates, calls one :mod:`engine.identity.commands` command and renders it.
Wiring (by the app factory): add :data:`routes` to ``api.routes.ROUTE_TABLES`` and call ``setup(app)``
in ``create_app`` (after ``app[RUNTIME]`` is set); :mod:`api.auth.identity_setup` holds the configuration
(:class:`IdentityOptions`) and what is built at start-up (re-exported here).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.access import SIGNED_IN
from api.auth.errors import Unauthorized
from api.auth.identity_setup import (
    IDENTITY,
    Identity,
    IdentityHolder,
    IdentityOptions,
    build_identity,
    identity_of,
    setup,
)
from api.auth.middleware import current_principal, require_role, require_user
from api.auth.principal import CLOUD_PROVIDER
from api.errors import NotFound
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.schemas import identity as schemas
from api.validation import id_segment, path_id, validated_body
from engine.identity import commands

__all__ = ["IDENTITY", "Identity", "IdentityHolder", "IdentityOptions", "build_identity", "routes", "setup"]

routes = RouteTable(tag="identity", roles=SIGNED_IN)
NODE_TOKENS = f"/api/cloud-provider/nodes/{id_segment('node_id')}/tokens"


@routes.get(
    "/api/auth/session", summary="The caller: user, roles, linked wallets", response=schemas.SESSION_SCHEMA
)
async def get_session(request: web.Request) -> web.Response:
    principal = await require_user(request)
    assert principal.user_id is not None
    user = await commands.session_user(request.app[RUNTIME].context, principal.user_id)
    return web.json_response(
        {
            "user_id": user.user_id,
            "sub": user.sub,
            "roles": sorted(principal.roles),
            "wallets": list(principal.wallets),
            "source": principal.source,
            "email": user.email,
            "name": user.name,
        }
    )


@routes.get("/api/me/settings", summary="The caller's settings object", response=schemas.SETTINGS_SCHEMA)
async def get_settings(request: web.Request) -> web.Response:
    principal = await require_user(request)
    assert principal.user_id is not None
    settings = await commands.get_settings(request.app[RUNTIME].context, principal.user_id)
    return web.json_response({"settings": settings})


@routes.put(
    "/api/me/settings",
    summary="Replace the caller's settings (JSON object, <= 16 KiB)",
    request=schemas.SETTINGS_SCHEMA,
    response=schemas.SETTINGS_SCHEMA,
)
async def put_settings(request: web.Request) -> web.Response:
    principal = await require_user(request)
    assert principal.user_id is not None
    body = validated_body(request)
    value = await commands.put_settings(request.app[RUNTIME].context, principal.user_id, body["settings"])
    return web.json_response({"settings": value})


@routes.post(
    "/api/auth/siwe/nonce",
    summary="A single-use SIWE nonce",
    response=schemas.NONCE_SCHEMA,
    status=201,
    public=True,
    rate_limit="public",
)
async def siwe_nonce(request: web.Request) -> web.Response:
    issued = await commands.issue_siwe_nonce(request.app[RUNTIME].context, identity_of(request).siwe)
    return web.json_response(
        {
            "nonce": issued.nonce,
            "expires_at": issued.expires_at,
            "domain": issued.domain,
            "uri": issued.uri,
            "chain_id": issued.chain_id,
        },
        status=201,
    )


@routes.post(
    "/api/auth/siwe/verify",
    public=True,
    rate_limit="public",
    summary="Verify a signed SIWE message: link the wallet, or sign a wallet-only user in",
    request=schemas.VERIFY_REQUEST,
    response=schemas.VERIFY_RESPONSE,
)
async def siwe_verify(request: web.Request) -> web.Response:
    ident = identity_of(request)
    principal = await current_principal(request)
    if principal is not None and principal.is_node:
        raise Unauthorized("node tokens cannot sign in")
    body = validated_body(request)
    signed_in = await commands.verify_siwe(
        request.app[RUNTIME].context,
        ident.siwe,
        body["message"],
        body["signature"],
        principal.user_id if principal is not None else None,
    )
    out: dict[str, Any] = {
        "user_id": signed_in.user_id,
        "address": signed_in.address,
        "linked": signed_in.linked,
    }
    if not signed_in.linked:
        out["session_token"] = ident.sessions.issue(signed_in.user_id, signed_in.sub, signed_in.address)
        out["expires_in"] = ident.sessions.ttl
    return web.json_response(out)


@routes.get(
    "/api/auth/dev/jwks.json",
    summary="The dev issuer's public keys (dev only)",
    response=schemas.JWKS_SCHEMA,
    public=True,
    rate_limit="public",
)
async def dev_jwks(request: web.Request) -> web.Response:
    ident = identity_of(request)
    if ident.dev_issuer is None:
        raise NotFound("the dev issuer is not enabled")
    return web.json_response(ident.dev_issuer.jwks())


@routes.post(
    NODE_TOKENS,
    roles=(CLOUD_PROVIDER,),
    summary="Issue a node token (shown once)",
    response=schemas.TOKEN_SCHEMA,
    status=201,
)
async def issue_node_token(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    ctx = request.app[RUNTIME].context
    issued = await commands.issue_node_token(ctx, path_id(request, "node_id"), principal.user_id)
    return web.json_response(
        {"id": issued.id, "node_id": issued.node_id, "token": issued.token},
        status=201,
        headers={"Cache-Control": "no-store"},
    )


@routes.delete(
    f"{NODE_TOKENS}/{id_segment('token_id')}",
    roles=(CLOUD_PROVIDER,),
    summary="Revoke a node token",
    response=schemas.REVOKED_SCHEMA,
)
async def revoke_node_token(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    ctx = request.app[RUNTIME].context
    node_id, token_id = path_id(request, "node_id"), path_id(request, "token_id")
    revoked = await commands.revoke_node_token(ctx, node_id, token_id, principal.user_id)
    return web.json_response({"id": revoked.id, "node_id": revoked.node_id, "revoked": True})
