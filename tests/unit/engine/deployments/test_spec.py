"""Spec validation table, canonical encoding and spec_hash."""

from __future__ import annotations

import copy
import json

import pytest

from engine.deployments.spec import SpecError, SpecLimits, canonical_json, parse_spec, spec_hash

LIMITS = SpecLimits(known_regions={"eu-west", "us-east"}, known_gpu_models={"a100", "h100"}, max_replicas=5)

GOOD = {
    "image": "registry.example.com:5000/team/app:1.2",
    "command": ["python", "-m", "app"],
    "env": {"LOG_LEVEL": "info", "_X1": "y"},
    "ports": [8080, {"port": 53, "protocol": "udp"}],
    "resources": {
        "cpu_millicores": 500,
        "memory_mb": 512,
        "disk_gb": 10,
        "gpu": {"model": "a100", "count": 1},
    },
    "replicas": 2,
    "regions": ["eu-west", "us-east"],
    "countries": ["DE"],
    "max_price_per_second": 1200,
    "min_uptime_bps": 9900,
    "required_attributes": ["ssd"],
    "preferred_alliance": "alliance-1",
    "backup": {"enabled": True, "different_region": True},
}


def with_(path: str, value: object) -> dict:
    data = copy.deepcopy(GOOD)
    node = data
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


_DELETE = object()


def test_good_spec_parses() -> None:
    spec = parse_spec(GOOD, LIMITS)
    assert spec.replicas == 2 and spec.resources.gpu is not None and spec.resources.gpu.count == 1
    assert spec.env == (("LOG_LEVEL", "info"), ("_X1", "y"))
    assert [(p.port, p.protocol) for p in spec.ports] == [(53, "udp"), (8080, "tcp")]
    assert spec.backup.enabled and spec.backup.different_region


@pytest.mark.parametrize(
    ("path", "value", "field", "code"),
    [
        ("resources.cpu_millicores", -1, "resources.cpu_millicores", "negative"),
        ("resources.memory_mb", 0, "resources.memory_mb", "out_of_range"),
        ("resources.disk_gb", -5, "resources.disk_gb", "negative"),
        ("resources.cpu_millicores", 1.5, "resources.cpu_millicores", "wrong_type"),
        ("resources", _DELETE, "resources", "required"),
        ("replicas", 0, "replicas", "out_of_range"),
        ("replicas", 6, "replicas", "out_of_range"),
        ("regions", ["mars-1"], "regions", "unknown_region"),
        ("resources.gpu", {"model": "voodoo2", "count": 1}, "resources.gpu.model", "unknown_gpu_model"),
        ("resources.gpu", {"model": "a100", "count": 0}, "resources.gpu.count", "out_of_range"),
        ("env", {"1BAD": "x"}, "env.1BAD", "invalid_name"),
        ("env", {"A-B": "x"}, "env.A-B", "invalid_name"),
        ("ports", [0], "ports.0", "out_of_range"),
        ("ports", [65536], "ports.0", "out_of_range"),
        ("ports", [{"port": 80, "protocol": "sctp"}], "ports.0", "malformed"),
        ("ports", [80, 80], "ports.1", "duplicate"),
        ("image", "UPPER/Case", "image", "malformed"),
        ("image", "app:tag with space", "image", "malformed"),
        ("image", "app@sha256:1234", "image", "malformed"),
        ("max_price_per_second", 1.5, "max_price_per_second", "wrong_type"),
        ("max_price_per_second", "100", "max_price_per_second", "wrong_type"),
        ("max_price_per_second", -1, "max_price_per_second", "negative"),
        ("min_uptime_bps", 10_001, "min_uptime_bps", "out_of_range"),
        ("min_uptime_bps", -1, "min_uptime_bps", "negative"),
        ("backup", {"enabled": False, "different_region": True}, "backup.different_region", "inconsistent"),
        ("regions", ["eu-west"], "backup.different_region", "inconsistent"),
        ("countries", ["de"], "countries.0", "malformed"),
        ("surprise", 1, "surprise", "unknown_field"),
        ("command", [], "command", "malformed"),
    ],
)
def test_bad_field(path: str, value: object, field: str, code: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(with_(path, value), LIMITS)
    assert (field, code) in {(e.field, e.code) for e in info.value.errors}, info.value.errors


def test_image_or_command_required_and_all_errors_listed() -> None:
    data = with_("image", _DELETE)
    del data["command"]
    data["replicas"] = 0
    data["resources"]["cpu_millicores"] = -1
    with pytest.raises(SpecError) as info:
        parse_spec(data, LIMITS)
    assert {"image", "replicas", "resources.cpu_millicores"} <= set(info.value.fields)


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "nginx:1.25",
        "ghcr.io/org/app:v1",
        "localhost:5000/a/b_c",
        "app@sha256:" + "a" * 64,
        "docker.io/library/redis:7-alpine",
    ],
)
def test_valid_images(image: str) -> None:
    assert parse_spec(with_("image", image), LIMITS).image == image


def test_spec_hash_stable_across_key_order() -> None:
    reordered = json.loads(json.dumps(GOOD))
    reordered = dict(reversed(list(reordered.items())))
    reordered["env"] = dict(reversed(list(GOOD["env"].items())))
    reordered["regions"] = list(reversed(GOOD["regions"]))
    reordered["ports"] = list(reversed(GOOD["ports"]))
    a, b = parse_spec(GOOD, LIMITS), parse_spec(reordered, LIMITS)
    assert spec_hash(a) == spec_hash(b)
    assert len(spec_hash(a)) == 32
    assert canonical_json(a) == canonical_json(b)


def test_spec_hash_known_vector() -> None:
    from eth_hash.auto import keccak

    spec = parse_spec({"image": "nginx", "resources": {"cpu_millicores": 100, "memory_mb": 64}}, LIMITS)
    text = canonical_json(spec)
    assert text.startswith(b'{"backup":{"different_region":false,"enabled":false},"command":null,')
    assert spec_hash(spec) == keccak(text)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("image", "nginx:2"),
        ("command", ["python"]),
        ("env", {"LOG_LEVEL": "debug", "_X1": "y"}),
        ("ports", [8081, {"port": 53, "protocol": "udp"}]),
        ("resources.cpu_millicores", 501),
        ("resources.memory_mb", 513),
        ("resources.disk_gb", 11),
        ("resources.gpu", {"model": "h100", "count": 1}),
        ("resources.gpu", {"model": "a100", "count": 2}),
        ("replicas", 3),
        (
            "regions",
            [
                "eu-west",
                "us-east",
            ],
        ),
        ("countries", ["FR"]),
        ("max_price_per_second", 1201),
        ("max_price_per_second", _DELETE),
        ("min_uptime_bps", 9901),
        ("required_attributes", ["nvme"]),
        ("preferred_alliance", "alliance-2"),
        ("backup", {"enabled": True, "different_region": False}),
    ],
)
def test_spec_hash_changes_with_any_field(path: str, value: object) -> None:
    base = spec_hash(parse_spec(GOOD, LIMITS))
    changed = parse_spec(with_(path, value), LIMITS)
    if path == "regions":  # same set, different order: must NOT change; use a real change instead
        assert spec_hash(changed) == base
        changed = parse_spec(with_("regions", ["us-east"]) | {"backup": {"enabled": True}}, LIMITS)
    assert spec_hash(changed) != base
