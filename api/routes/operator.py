"""Operator routes: provider requests (approve through the outbox, reject), settings and pricing.

=========================================================  ===============
route                                                      who
=========================================================  ===============
GET  /api/cloud-operator/provider-requests[?status=]       cloud-operator
POST /api/cloud-operator/provider-requests/{id}/approve    cloud-operator
POST /api/cloud-operator/provider-requests/{id}/reject     cloud-operator
GET  /api/cloud-operator/settings[?version=]               cloud-operator
PUT  /api/cloud-operator/settings                          cloud-operator
GET  /api/cloud-operator/settings/history                  cloud-operator
GET  /api/cloud-operator/pricing[?version=]                cloud-operator
PUT  /api/cloud-operator/pricing                           cloud-operator
GET  /api/cloud-operator/pricing/history                   cloud-operator
=========================================================  ===============

PUT merges the given keys into the current values and creates a new version (never an update in place),
with an audit row; ``expected_version`` guards against lost updates (409). A settings PUT that changes a
contract limit also enqueues ``registry.setConfig`` / ``escrow.setFeeParams`` (backend signer, admin role)
in the same transaction (:mod:`engine.operator.onchain`). Approve answers 409 while the
provider's ``register`` transaction has not been indexed (nothing to approve on chain yet).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth.errors import Conflict
from api.auth.middleware import require_role
from api.auth.principal import CLOUD_OPERATOR
from api.errors import ApiError, BadRequest, NotFound
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.validation import validated_body, validated_query
from chain.contracts import EscrowClient, RegistryClient
from engine.operator import onchain
from engine.operator import services as operator
from engine.operator.errors import InvalidConfig, UnknownVersion, VersionConflict
from engine.providers import services as providers
from engine.providers.errors import (
    InvalidTransition,
    NotRegisteredOnChain,
    ProviderError,
    RequestNotFound,
)
from engine.providers.models import ProviderRequest
from engine.runtime import suite_config

routes = RouteTable(tag="operator")

BASE = "/api/cloud-operator"

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "user_id",
        "wallet",
        "company",
        "contact_name",
        "contact_email",
        "collateral",
        "status",
        "chain_status",
        "created_at",
    ],
    "properties": {
        "id": {"type": "integer"},
        "user_id": {"type": "integer"},
        "wallet": {"type": "string"},
        "company": {"type": "string"},
        "contact_name": {"type": "string"},
        "contact_email": {"type": "string"},
        "details": {"type": "object"},
        "collateral": {"type": "integer"},
        "status": {"type": "string", "enum": ["pending", "approved", "rejected"]},
        "chain_status": {"type": "string"},
        "decision_reason": {"type": ["string", "null"]},
        "decided_at": {"type": ["string", "null"]},
        "created_at": {"type": "string"},
    },
    "additionalProperties": False,
}
REQUESTS_SCHEMA = {
    "type": "object",
    "required": ["requests"],
    "properties": {"requests": {"type": "array", "items": REQUEST_SCHEMA}},
}
REJECT_SCHEMA = {
    "type": "object",
    "properties": {"reason": {"type": "string", "maxLength": 500}},
    "additionalProperties": False,
}

_INT = {"type": "integer", "minimum": 0}


def _put_schema(fields: dict[str, operator.IntField], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        name: {"type": "integer", "minimum": f.minimum, "maximum": f.maximum, "description": f.doc}
        for name, f in fields.items()
    }
    props.update(extra or {})
    return {
        "type": "object",
        "properties": {
            "values": {
                "type": "object",
                "properties": props,
                "additionalProperties": False,
                "minProperties": 1,
            },
            "expected_version": _INT,
        },
        "required": ["values"],
        "additionalProperties": False,
    }


REGIONS_PROP = {
    "regions": {
        "type": "array",
        "minItems": 1,
        "maxItems": operator.MAX_REGIONS,
        "items": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,32}$"},
    }
}
SETTINGS_PUT = _put_schema(operator.SETTINGS_FIELDS, REGIONS_PROP)
PRICING_PUT = _put_schema(operator.PRICING_FIELDS)
VERSION_SCHEMA = {
    "type": "object",
    "required": ["kind", "version", "values"],
    "properties": {
        "kind": {"type": "string"},
        "version": {"type": "integer"},
        "values": {"type": "object"},
        "actor_user_id": {"type": ["integer", "null"]},
        "created_at": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}
HISTORY_SCHEMA = {
    "type": "object",
    "required": ["kind", "changes"],
    "properties": {
        "kind": {"type": "string"},
        "changes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["version", "actor_user_id", "before", "after", "created_at"],
                "properties": {
                    "version": {"type": "integer"},
                    "actor_user_id": {"type": ["integer", "null"]},
                    "before": {"type": "object"},
                    "after": {"type": "object"},
                    "created_at": {"type": "string"},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}
VERSION_QUERY = {"version": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}}
STATUS_QUERY = {"status": {"type": "string", "enum": ["pending", "approved", "rejected"]}}


def request_json(row: ProviderRequest, chain_status: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "user_id": row.user_id,
        "wallet": row.wallet_address,
        "company": row.company,
        "contact_name": row.contact_name,
        "contact_email": row.contact_email,
        "details": row.details,
        "collateral": row.collateral,
        "status": row.status,
        "chain_status": chain_status,
        "decision_reason": row.decision_reason,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "created_at": row.created_at.isoformat(),
    }


def _provider_error(exc: ProviderError) -> ApiError:
    if isinstance(exc, RequestNotFound):
        return NotFound(str(exc), details={"request_id": exc.request_id})
    if isinstance(exc, InvalidTransition):
        return Conflict(
            str(exc), code="invalid_transition", details={"request_id": exc.request_id, "status": exc.status}
        )
    if isinstance(exc, NotRegisteredOnChain):
        return Conflict(
            str(exc),
            code="not_registered_on_chain",
            details={"address": exc.address, "chain_status": exc.chain_status},
        )
    raise exc


def _config_error(exc: Exception) -> ApiError:
    if isinstance(exc, InvalidConfig):
        return BadRequest(str(exc), code="invalid_config", details={"field": exc.field, "reason": exc.reason})
    if isinstance(exc, VersionConflict):
        return Conflict(
            str(exc), code="version_conflict", details={"expected": exc.expected, "current": exc.current}
        )
    if isinstance(exc, UnknownVersion):
        return NotFound(str(exc), details={"version": exc.version})
    raise exc


def _request_id(request: web.Request) -> int:
    raw = request.match_info["request_id"]
    if len(raw) > 9:
        raise NotFound("provider request not found", details={"request_id": raw})
    return int(raw)


# ---- provider requests ----------------------------------------------------------------------------
@routes.get(
    f"{BASE}/provider-requests",
    summary="Provider requests (optionally by status)",
    query=STATUS_QUERY,
    response=REQUESTS_SCHEMA,
)
async def list_provider_requests(request: web.Request) -> web.Response:
    await require_role(request, CLOUD_OPERATOR)
    status = validated_query(request).get("status")
    async with request.app[RUNTIME].sessionmaker() as session:
        rows = await providers.list_requests(session, status=status)
        out = [request_json(r, await providers.chain_status(session, r.wallet_address)) for r in rows]
    return web.json_response({"requests": out})


@routes.post(
    f"{BASE}/provider-requests/{{request_id:\\d+}}/approve",
    summary="Approve: enqueue registry.approveProvider (signed by the backend signer)",
    response=REQUEST_SCHEMA,
)
async def approve_provider_request(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_OPERATOR)
    assert principal.user_id is not None
    runtime = request.app[RUNTIME]
    registry = RegistryClient(runtime.chain.w3, runtime.manifest.address("ProviderRegistry"))
    async with runtime.sessionmaker() as session:
        try:
            async with session.begin():
                row = await providers.approve(
                    session, _request_id(request), actor_user_id=principal.user_id, registry=registry
                )
        except ProviderError as exc:
            raise _provider_error(exc) from exc
        status = await providers.chain_status(session, row.wallet_address)
        return web.json_response(request_json(row, status))


@routes.post(
    f"{BASE}/provider-requests/{{request_id:\\d+}}/reject",
    summary="Reject a pending request",
    request=REJECT_SCHEMA,
    response=REQUEST_SCHEMA,
)
async def reject_provider_request(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_OPERATOR)
    assert principal.user_id is not None
    reason = validated_body(request).get("reason")
    async with request.app[RUNTIME].sessionmaker() as session:
        try:
            async with session.begin():
                row = await providers.reject(
                    session, _request_id(request), actor_user_id=principal.user_id, reason=reason
                )
        except ProviderError as exc:
            raise _provider_error(exc) from exc
        status = await providers.chain_status(session, row.wallet_address)
        return web.json_response(request_json(row, status))


# ---- settings and pricing -------------------------------------------------------------------------
def _version_json(v: operator.ConfigVersion) -> dict[str, Any]:
    return {
        "kind": v.kind,
        "version": v.version,
        "values": v.values,
        "actor_user_id": v.actor_user_id,
        "created_at": v.created_at.isoformat() if v.created_at else None,
    }


def _overrides(request: web.Request, kind: str) -> dict[str, Any]:
    return operator.overrides_from_settings(request.app[RUNTIME].settings)[kind]


def _chain_targets(request: web.Request) -> onchain.ChainTargets:
    runtime = request.app[RUNTIME]
    return onchain.ChainTargets(
        registry=RegistryClient(runtime.chain.w3, runtime.manifest.address("ProviderRegistry")),
        escrow=EscrowClient(runtime.chain.w3, runtime.manifest.address("DeploymentEscrow")),
        suite=suite_config(runtime.settings),
    )


async def _get_config(request: web.Request, kind: str) -> web.Response:
    await require_role(request, CLOUD_OPERATOR)
    version = validated_query(request).get("version")
    async with request.app[RUNTIME].sessionmaker() as session:
        try:
            if version is None:
                v = await operator.current(session, kind, overrides=_overrides(request, kind))
            else:
                v = await operator.get_version(session, kind, version, overrides=_overrides(request, kind))
        except UnknownVersion as exc:
            raise _config_error(exc) from exc
    return web.json_response(_version_json(v))


async def _put_config(request: web.Request, kind: str) -> web.Response:
    principal = await require_role(request, CLOUD_OPERATOR)
    body = validated_body(request)
    async with request.app[RUNTIME].sessionmaker() as session:
        try:
            async with session.begin():
                if kind == operator.SETTINGS:  # contract limits go to the chain in the same transaction
                    v, _ = await onchain.update_settings(
                        session,
                        body["values"],
                        actor_user_id=principal.user_id,
                        targets=_chain_targets(request),
                        expected_version=body.get("expected_version"),
                        overrides=_overrides(request, kind),
                    )
                else:
                    v = await operator.update(
                        session,
                        kind,
                        body["values"],
                        actor_user_id=principal.user_id,
                        expected_version=body.get("expected_version"),
                        overrides=_overrides(request, kind),
                    )
        except (InvalidConfig, VersionConflict) as exc:
            raise _config_error(exc) from exc
    return web.json_response(_version_json(v))


async def _history(request: web.Request, kind: str) -> web.Response:
    await require_role(request, CLOUD_OPERATOR)
    async with request.app[RUNTIME].sessionmaker() as session:
        rows = await operator.history(session, kind)
    return web.json_response(
        {
            "kind": kind,
            "changes": [
                {
                    "version": r.version,
                    "actor_user_id": r.actor_user_id,
                    "before": r.before,
                    "after": r.after,
                    "created_at": r.created_at.isoformat(),
                }
                for r in rows
            ],
        }
    )


@routes.get(
    f"{BASE}/settings",
    summary="Platform settings: current version or ?version=",
    query=VERSION_QUERY,
    response=VERSION_SCHEMA,
)
async def get_settings(request: web.Request) -> web.Response:
    return await _get_config(request, operator.SETTINGS)


@routes.put(
    f"{BASE}/settings",
    summary="Change platform settings (new version + audit row)",
    request=SETTINGS_PUT,
    response=VERSION_SCHEMA,
)
async def put_settings(request: web.Request) -> web.Response:
    return await _put_config(request, operator.SETTINGS)


@routes.get(f"{BASE}/settings/history", summary="Audit log of settings changes", response=HISTORY_SCHEMA)
async def settings_history(request: web.Request) -> web.Response:
    return await _history(request, operator.SETTINGS)


@routes.get(
    f"{BASE}/pricing",
    summary="Pricing floors and premiums: current version or ?version=",
    query=VERSION_QUERY,
    response=VERSION_SCHEMA,
)
async def get_pricing(request: web.Request) -> web.Response:
    return await _get_config(request, operator.PRICING)


@routes.put(
    f"{BASE}/pricing",
    summary="Change pricing (new version + audit row)",
    request=PRICING_PUT,
    response=VERSION_SCHEMA,
)
async def put_pricing(request: web.Request) -> web.Response:
    return await _put_config(request, operator.PRICING)


@routes.get(f"{BASE}/pricing/history", summary="Audit log of pricing changes", response=HISTORY_SCHEMA)
async def pricing_history(request: web.Request) -> web.Response:
    return await _history(request, operator.PRICING)
