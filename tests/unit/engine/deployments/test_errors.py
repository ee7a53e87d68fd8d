"""Deployment, scaling, relay, spec and placement errors carry the code, kind and details the API answers
with (the routes no longer translate them), and the even split of a top-up."""

from __future__ import annotations

import pytest

from engine.deployments.errors import (
    AccountBlocked,
    BadFunding,
    DeploymentError,
    DeploymentNotFound,
    NoPayer,
    NothingToWithdraw,
    WrongState,
)
from engine.deployments.services import split_evenly
from engine.deployments.spec import SpecError, SpecLimits, parse_spec
from engine.deployments.status import IllegalTransition
from engine.errors import EngineError, Kind
from engine.money import CreditUnits
from engine.placement.errors import NoNodeFits, PlacementError
from engine.relay.errors import NoRelay
from engine.scaling.errors import BadReplicas


@pytest.mark.parametrize(
    ("error", "code", "kind", "details"),
    [
        (AccountBlocked(1, "chargeback"), "account_flagged", Kind.FORBIDDEN, {}),
        (NoPayer(1, None), "no_wallet", Kind.INVALID, {"wallet": None}),
        (BadFunding("deposit_too_low", "m", deposit=1), "deposit_too_low", Kind.INVALID, {"deposit": 1}),
        (DeploymentNotFound(7), "not_found", Kind.NOT_FOUND, {"deployment_id": 7}),
        (
            WrongState(7, "closed", "top up"),
            "wrong_state",
            Kind.CONFLICT,
            {"status": "closed", "action": "top up"},
        ),
        (NothingToWithdraw(3), "nothing_to_withdraw", Kind.CONFLICT, {"node_id": 3}),
        (BadReplicas("m", replicas=0), "bad_replicas", Kind.INVALID, {"replicas": 0}),
        (NoRelay(), "no_relay", Kind.INVALID, {}),
        (IllegalTransition(7, "closed", "running"), "illegal_transition", Kind.INTERNAL, {}),
    ],
)
def test_deployment_errors_carry_code_kind_and_details(
    error: EngineError, code: str, kind: Kind, details: dict[str, object]
) -> None:
    assert isinstance(error, EngineError)
    assert (error.code, error.kind, error.details) == (code, kind, details)


def test_scaling_errors_are_deployment_errors() -> None:
    assert isinstance(BadReplicas("m"), DeploymentError)


def test_spec_error_lists_every_field_in_details() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec({"resources": {"cpu_millicores": -1}}, SpecLimits(known_regions=[], known_gpu_models=[]))
    err = info.value
    assert (err.code, err.kind) == ("invalid_spec", Kind.INVALID)
    assert err.details["errors"] == [
        {"path": "/spec/" + e.field.replace(".", "/"), "code": e.code, "message": e.message}
        for e in err.errors
    ]
    assert len(err.details["errors"]) >= 2  # no image/command and a negative cpu
    assert {"path": "/spec/resources/cpu_millicores", "code": "negative"} in [
        {k: e[k] for k in ("path", "code")} for e in err.details["errors"]
    ]


def test_spec_error_paths_are_json_pointers_under_spec() -> None:
    """The shape of the API's schema errors: submitted keys holding ``.``, ``/`` or ``~`` stay one segment."""
    limits = SpecLimits(known_regions=[], known_gpu_models=[])
    with pytest.raises(SpecError) as info:
        parse_spec(
            {
                "image": "nginx",
                "resources": {"cpu_millicores": 1, "memory_mb": 1, "a.b": 1},
                "x/y~": 1,
                "env": {"1.B": "v"},
                "ports": [0],
            },
            limits,
        )
    found = {(e["path"], e["code"]) for e in info.value.details["errors"]}
    assert found == {
        ("/spec/resources/a.b", "unknown_field"),
        ("/spec/x~1y~0", "unknown_field"),
        ("/spec/env/1.B", "invalid_name"),
        ("/spec/ports/0", "out_of_range"),
    }
    assert all(set(e) == {"path", "code", "message"} for e in info.value.details["errors"])
    with pytest.raises(SpecError) as not_object:
        parse_spec([], limits)
    assert not_object.value.details["errors"][0]["path"] == "/spec"


def test_no_node_fits_is_409_unless_the_cap_is_below_the_floor() -> None:
    fits = NoNodeFits(role="primary", needed=2, found=1, rejections={"region": 3, "gpu": 0}, floor_rate=5)
    assert isinstance(fits, PlacementError)
    assert (fits.code, fits.kind) == ("no_node_fits", Kind.CONFLICT)
    assert fits.details == {
        "role": "primary",
        "needed": 2,
        "found": 1,
        "rejections": {"region": 3},
        "floor_rate": 5,
        "reason": "filters",
    }
    cap = NoNodeFits(
        role="primary", needed=1, found=0, rejections={}, floor_rate=9, reason="max_price_below_floor"
    )
    assert (cap.code, cap.kind, cap.details["reason"]) == (
        "max_price_below_floor",
        Kind.UNPROCESSABLE,
        "max_price_below_floor",
    )
    assert NoNodeFits.code == "no_node_fits"  # the per-instance code does not leak into the class


@pytest.mark.parametrize(("amount", "parts"), [(1, 1), (10, 3), (7, 7), (2**63 - 1, 5), (100, 1)])
def test_split_evenly_sums_to_the_amount_and_differs_by_less_than_parts(amount: int, parts: int) -> None:
    shares = split_evenly(CreditUnits(amount), parts)
    assert len(shares) == parts and sum(shares) == amount
    assert all(s >= 1 for s in shares) and max(shares) - min(shares) < parts
    assert shares[0] == max(shares)
