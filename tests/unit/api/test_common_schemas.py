"""The shared component schemas (:mod:`api.schemas.common`) describe what the renderers really produce, and
the funding rule refuses neither and both."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from openapi_spec_validator import OpenAPIV31SpecValidator

from api.openapi import RouteTable, build_document
from api.schemas.common import (
    DEPLOYMENT_SPEC,
    EXACTLY_ONE_FUNDING,
    LEASE,
    UNSIGNED_TX,
    UNSIGNED_TXS,
)
from api.schemas.deployments import lease_json
from api.validation import MAX_MESSAGE_CHARS, compile_schema, schema_errors
from chain.contracts import UnsignedTx
from engine.deployments import models as m
from engine.deployments.commands import LeaseBalance
from engine.deployments.spec import SpecLimits, canonical_dict, parse_spec
from engine.money import CreditUnits

SUBMITTED = {
    "image": "registry.example.com:5000/team/app:1.2",
    "command": ["python", "-m", "app"],
    "env": {"NAME": "value"},
    "ports": [8080, {"port": 53, "protocol": "udp"}],
    "resources": {
        "cpu_millicores": 500,
        "memory_mb": 512,
        "disk_gb": 10,
        "gpu": {"model": "a100", "count": 1},
    },
    "replicas": 1,
    "regions": ["eu-west", "us-east"],
    "countries": ["DE"],
    "max_price_per_second": 1200,
    "min_uptime_bps": 9900,
    "required_attributes": ["ssd"],
    "preferred_alliance": "alliance-id",
    "backup": {"enabled": True, "different_region": True},
}


def _valid(schema: dict[str, Any], instance: Any) -> list[dict[str, str]]:
    return schema_errors(compile_schema(schema), instance)


def test_a_submitted_spec_and_its_stored_canonical_form_match_the_spec_schema() -> None:
    parsed = parse_spec(
        SUBMITTED, SpecLimits(known_regions=["eu-west", "us-east"], known_gpu_models=["a100"])
    )
    assert _valid(DEPLOYMENT_SPEC, SUBMITTED) == []
    assert _valid(DEPLOYMENT_SPEC, canonical_dict(parsed)) == []
    minimal = parse_spec(
        {"image": "nginx:1", "resources": {"cpu_millicores": 1, "memory_mb": 1, "disk_gb": 1}},
        SpecLimits(known_regions=[], known_gpu_models=[]),
    )
    assert _valid(DEPLOYMENT_SPEC, canonical_dict(minimal)) == []  # nulls of absent optionals
    # types are the schema's; bounds, required fields and unknown keys stay the engine's (invalid_spec)
    assert [e["path"] for e in _valid(DEPLOYMENT_SPEC, {"replicas": "2"})] == ["/replicas"]
    assert _valid(DEPLOYMENT_SPEC, {"resources": {"cpu_millicores": -1}, "cpu": 1}) == []


def test_lease_json_matches_the_lease_schema_with_and_without_a_chain_balance() -> None:
    lease = m.Lease(
        id=7,
        deployment_id=1,
        replica_index=0,
        role="primary",
        node_id=3,
        chain_node_id=4,
        chain_lease_id=None,
        rate_per_second=5,
        deposit=600,
        status="awaiting_funds",
    )
    assert _valid(LEASE, lease_json(lease)) == []
    balance = LeaseBalance(
        balance=CreditUnits(600),
        due_now=CreditUnits(5),
        rate_per_second=CreditUnits(5),
        settled_at=1,
        open=True,
    )
    lease.chain_lease_id, lease.opened_block, lease.status = "12", 99, "open"
    rendered = lease_json(lease, balance)
    assert _valid(LEASE, rendered) == [] and "chain" in rendered
    assert [e["path"] for e in _valid(LEASE, {**rendered, "deposit": "600"})] == ["/deposit"]


def test_unsigned_transactions_match_their_schema() -> None:
    tx = UnsignedTx(to="0x" + "ab" * 20, data=b"\x09\x5e\xa7\xb3", chain_id=31337, description="approve")
    assert _valid(UNSIGNED_TXS, [tx.to_json()]) == []
    with_from = UnsignedTx(to="0x" + "ab" * 20, data=b"", chain_id=1, from_address="0x" + "cd" * 20)
    assert _valid(UNSIGNED_TX, with_from.to_json()) == []
    assert _valid(UNSIGNED_TX, {**tx.to_json(), "data": "0x1"}) != []


def test_exactly_one_of_deposit_and_duration_and_a_short_message() -> None:
    create = {
        "type": "object",
        "required": ["spec"],
        "properties": {"spec": DEPLOYMENT_SPEC, "deposit_per_replica": {"type": "integer"},
                       "duration_seconds": {"type": "integer"}},
        "additionalProperties": False,
        **EXACTLY_ONE_FUNDING,
    }  # fmt: skip
    assert _valid(create, {"spec": {}, "deposit_per_replica": 1}) == []
    assert _valid(create, {"spec": {}, "duration_seconds": 60}) == []
    both = _valid(create, {"spec": {}, "deposit_per_replica": 1, "duration_seconds": 60})
    neither = _valid(create, {"spec": {"image": "x" * 10_000}})
    assert [e["path"] for e in both] == [""] and "more than one" in both[0]["message"]
    assert [e["path"] for e in neither] == [""] and neither[0]["message"].endswith("'oneOf' keyword")
    assert len(neither[0]["message"]) <= MAX_MESSAGE_CHARS + 3  # the 10 kB body is not echoed back


def test_the_components_appear_once_in_a_valid_document() -> None:
    table = RouteTable(tag="t", public=True)

    @table.post("/d", summary="d", request={"type": "object", "properties": {"spec": DEPLOYMENT_SPEC}},
                response={"type": "object", "properties": {"leases": {"type": "array", "items": LEASE},
                                                            "transactions": UNSIGNED_TXS}})  # fmt: skip
    async def d(request: web.Request) -> web.Response:
        return web.Response()

    doc = build_document(table.specs)
    assert {"DeploymentSpec", "Lease", "LeaseBalance", "UnsignedTransaction"} <= set(
        doc["components"]["schemas"]
    )
    assert doc["components"]["schemas"]["Lease"]["properties"]["chain"] == {
        "$ref": "#/components/schemas/LeaseBalance"
    }
    assert OpenAPIV31SpecValidator(doc).is_valid()
