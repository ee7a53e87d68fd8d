"""The deployment spec: a pure, validated value object, its parser and its on-chain hash. No database.

``parse_spec(data, limits=SpecLimits(...))`` turns a JSON-like ``dict`` into a ``DeploymentSpec`` or raises
``SpecError`` listing *every* bad field at once (``errors``: tuple of ``FieldError(field, code, message)``),
so the API can answer one clear 4xx: ``details.errors`` items are ``{"path", "code", "message"}`` with
``path`` a JSON Pointer under ``/spec`` (the shape of the API's schema errors, ``api.validation``).

Accepted shape (unknown keys are refused)::

    {
      "image": "registry.example.com:5000/team/app:1.2@sha256:<64 hex>",   # image, command, or both
      "command": ["python", "-m", "app"],
      "env": {"NAME": "value"},
      "ports": [8080, {"port": 53, "protocol": "udp"}, {"port": 80, "protocol": "http"}],
      "resources": {"cpu_millicores": 500, "memory_mb": 512, "disk_gb": 10,
                    "gpu": {"model": "a100", "count": 1}},                # gpu optional
      "replicas": 1,
      "regions": ["eu-west"], "countries": ["DE"],                          # empty / absent: anywhere
      "max_price_per_second": 1200,         # credit units per second (int); absent: no cap
      "min_uptime_bps": 9900,               # 0..10_000
      "required_attributes": ["ssd"],
      "preferred_alliance": "alliance-id",
      "backup": {"enabled": true, "different_region": true}
    }

``spec_hash(spec)`` is ``keccak256(canonical_json(spec))``; the canonical encoding (``canonical_json``) is:
a JSON object with *every* field present (defaults filled in, ``null`` for absent optionals) plus
``"v": 1``, sets as sorted lists, env as an object, ports sorted by (port, protocol), keys sorted, no
whitespace (``separators=(",", ":")``), UTF-8, ``ensure_ascii=False``. It is computed from the parsed spec,
so it does not depend on the key order or defaults of the submitted dict. The hash goes on-chain with the
lease (``specHash``) and the node agent recomputes it from the spec it receives. Changing the encoding
means bumping ``"v"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_hash.auto import keccak

from engine.errors import EngineError, Kind

CANONICAL_VERSION = 1

_IMAGE_RE = re.compile(
    r"(?:(?P<registry>[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]{1,5})?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?"
)
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")
_ATTRIBUTE_RE = re.compile(r"[a-z0-9][a-z0-9._:-]{0,62}")
_PROTOCOLS = ("tcp", "udp", "http")  # http: a TCP port the SLA prober also checks with GET / (engine.sla)
_TOP_LEVEL_KEYS = frozenset(
    {
        "image",
        "command",
        "env",
        "ports",
        "resources",
        "replicas",
        "regions",
        "countries",
        "max_price_per_second",
        "min_uptime_bps",
        "required_attributes",
        "preferred_alliance",
        "backup",
    }
)
_MAX_IMAGE_CHARS = 255
_MAX_COMMAND_ARGS = 64
_MAX_ARG_CHARS = 4096
_MAX_ENV_VARS = 128
_MAX_ENV_VALUE_CHARS = 32_768
_MAX_PORTS = 32
_MAX_ALLIANCE_CHARS = 66


# ---- errors ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem: ``field`` is a dotted path (``resources.cpu_millicores``, ``env.1BAD``), ``code`` a
    stable machine code (``required``, ``wrong_type``, ``negative``, ``out_of_range``, ``unknown_region``,
    ``unknown_gpu_model``, ``invalid_name``, ``malformed``, ``too_many``, ``inconsistent``,
    ``unknown_field``, ``duplicate``). ``parts``: the path's segments when a segment may hold a dot (a
    submitted key); else the dotted ``field`` is split."""

    field: str
    code: str
    message: str
    parts: tuple[str, ...] | None = None

    @property
    def pointer(self) -> str:
        """The JSON Pointer of the field in the request body, whose ``spec`` holds the spec."""
        parts = self.parts if self.parts is not None else tuple(p for p in self.field.split(".") if p)
        return "/spec" + "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)

    def to_json(self) -> dict[str, str]:
        return {"path": self.pointer, "code": self.code, "message": self.message}


class SpecError(EngineError):
    """The spec is invalid (400 ``invalid_spec``); ``errors`` lists every bad field (never empty), also as
    ``details["errors"]`` (each :meth:`FieldError.to_json`: ``{"path": "/spec/...", "code", "message"}``)."""

    code = "invalid_spec"
    kind = Kind.INVALID

    def __init__(self, errors: list[FieldError] | tuple[FieldError, ...]) -> None:
        self.errors = tuple(errors)
        super().__init__("invalid spec", details={"errors": [e.to_json() for e in self.errors]})

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(e.field for e in self.errors)


# ---- the value objects -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GpuRequest:
    model: str
    count: int


@dataclass(frozen=True, slots=True)
class Resources:
    """What one replica needs."""

    cpu_millicores: int
    memory_mb: int
    disk_gb: int
    gpu: GpuRequest | None = None

    @property
    def gpu_count(self) -> int:
        return 0 if self.gpu is None else self.gpu.count


@dataclass(frozen=True, slots=True)
class PortSpec:
    port: int
    protocol: str = "tcp"


@dataclass(frozen=True, slots=True)
class BackupConfig:
    enabled: bool = False
    different_region: bool = False


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    resources: Resources
    image: str | None = None
    command: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()  # sorted by name
    ports: tuple[PortSpec, ...] = ()  # sorted by (port, protocol)
    replicas: int = 1
    regions: frozenset[str] = frozenset()  # empty: any region
    countries: frozenset[str] = frozenset()  # empty: any country
    max_price_per_second: int | None = None  # credit units / second for ONE replica; None: no cap
    min_uptime_bps: int = 0
    required_attributes: frozenset[str] = frozenset()
    preferred_alliance: str | None = None
    backup: BackupConfig = field(default_factory=BackupConfig)


@dataclass(frozen=True, slots=True)
class SpecLimits:
    """Operator configuration the parser checks against (injected; nothing here is global)."""

    known_regions: Collection[str]
    known_gpu_models: Collection[str]
    max_replicas: int = 20
    max_cpu_millicores: int = 256_000
    max_memory_mb: int = 2_097_152
    max_disk_gb: int = 65_536
    max_gpu_count: int = 16


# ---- parsing ---------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Collector:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, name: str, code: str, message: str, parts: tuple[str, ...] | None = None) -> None:
        self.errors.append(FieldError(name, code, message, parts))

    def int_field(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        *,
        minimum: int,
        maximum: int,
        default: int | None = None,
    ) -> int | None:
        if key not in data or data[key] is None:
            if default is None:
                self.add(path, "required", f"{path} is required")
            return default
        value = data[key]
        if not _is_int(value):
            self.add(path, "wrong_type", f"{path} must be an integer, got {type(value).__name__}")
            return None
        if value < 0 and minimum >= 0:
            self.add(path, "negative", f"{path} must not be negative, got {value}")
            return None
        if value < minimum or value > maximum:
            self.add(path, "out_of_range", f"{path} must be in [{minimum}, {maximum}], got {value}")
            return None
        return int(value)

    def string_set(
        self, data: Mapping[str, Any], key: str, pattern: re.Pattern[str], what: str
    ) -> frozenset[str]:
        raw = data.get(key)
        if raw is None:
            return frozenset()
        if not isinstance(raw, list):
            self.add(key, "wrong_type", f"{key} must be a list of strings")
            return frozenset()
        out: set[str] = set()
        for i, item in enumerate(raw):
            if not isinstance(item, str) or pattern.fullmatch(item) is None:
                self.add(f"{key}.{i}", "malformed", f"{key}[{i}] is not a valid {what}: {item!r}")
            else:
                out.add(item)
        return frozenset(out)


def _parse_resources(c: _Collector, raw: object, limits: SpecLimits) -> Resources | None:
    if not isinstance(raw, Mapping):
        c.add("resources", "required" if raw is None else "wrong_type", "resources must be an object")
        return None
    for key in raw:
        if key not in ("cpu_millicores", "memory_mb", "disk_gb", "gpu"):
            c.add(
                f"resources.{key}", "unknown_field", f"unknown field resources.{key}", ("resources", str(key))
            )
    cpu = c.int_field(
        raw, "cpu_millicores", "resources.cpu_millicores", minimum=1, maximum=limits.max_cpu_millicores
    )
    mem = c.int_field(raw, "memory_mb", "resources.memory_mb", minimum=1, maximum=limits.max_memory_mb)
    disk = c.int_field(raw, "disk_gb", "resources.disk_gb", minimum=0, maximum=limits.max_disk_gb, default=0)
    gpu: GpuRequest | None = None
    gpu_ok = True
    raw_gpu = raw.get("gpu")
    if raw_gpu is not None:
        if not isinstance(raw_gpu, Mapping):
            c.add("resources.gpu", "wrong_type", "resources.gpu must be an object {model, count}")
            gpu_ok = False
        else:
            model = raw_gpu.get("model")
            count = c.int_field(
                raw_gpu, "count", "resources.gpu.count", minimum=1, maximum=limits.max_gpu_count
            )
            if not isinstance(model, str):
                c.add("resources.gpu.model", "required", "resources.gpu.model must be a string")
                gpu_ok = False
            elif model not in limits.known_gpu_models:
                c.add("resources.gpu.model", "unknown_gpu_model", f"unknown GPU model {model!r}")
                gpu_ok = False
            if count is None:
                gpu_ok = False
            if gpu_ok:
                assert isinstance(model, str) and count is not None
                gpu = GpuRequest(model, count)
    if cpu is None or mem is None or disk is None or not gpu_ok:
        return None
    return Resources(cpu, mem, disk, gpu)


def _parse_workload(c: _Collector, data: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...] | None]:
    image = data.get("image")
    command = data.get("command")
    if image is None and command is None:
        c.add("image", "required", "one of image or command is required")
    if image is not None:
        if not isinstance(image, str) or len(image) > _MAX_IMAGE_CHARS or _IMAGE_RE.fullmatch(image) is None:
            c.add("image", "malformed", f"not a valid image reference: {image!r}")
            image = None
    cmd: tuple[str, ...] | None = None
    if command is not None:
        if (
            not isinstance(command, list)
            or not command
            or len(command) > _MAX_COMMAND_ARGS
            or not all(isinstance(a, str) and 0 < len(a) <= _MAX_ARG_CHARS for a in command)
        ):
            c.add(
                "command",
                "malformed",
                f"command must be a non-empty list of at most {_MAX_COMMAND_ARGS} non-empty strings",
            )
        else:
            cmd = tuple(command)
    return image, cmd


def _parse_env(c: _Collector, raw: object) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        c.add("env", "wrong_type", "env must be an object of NAME: value")
        return ()
    if len(raw) > _MAX_ENV_VARS:
        c.add("env", "too_many", f"at most {_MAX_ENV_VARS} environment variables")
    out: list[tuple[str, str]] = []
    for name, value in raw.items():
        if not isinstance(name, str) or _ENV_NAME_RE.fullmatch(name) is None:
            c.add(
                f"env.{name}",
                "invalid_name",
                f"invalid environment variable name {name!r}",
                ("env", str(name)),
            )
        elif not isinstance(value, str) or len(value) > _MAX_ENV_VALUE_CHARS or "\x00" in value:
            c.add(
                f"env.{name}", "wrong_type", f"env.{name} must be a string without NUL bytes", ("env", name)
            )
        else:
            out.append((name, value))
    return tuple(sorted(out))


def _parse_ports(c: _Collector, raw: object) -> tuple[PortSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        c.add("ports", "wrong_type", "ports must be a list")
        return ()
    if len(raw) > _MAX_PORTS:
        c.add("ports", "too_many", f"at most {_MAX_PORTS} ports")
    out: set[PortSpec] = set()
    for i, item in enumerate(raw):
        port: object = item
        protocol: object = "tcp"
        if isinstance(item, Mapping):
            port, protocol = item.get("port"), item.get("protocol", "tcp")
        if not _is_int(port) or not 1 <= port <= 65535:  # type: ignore[operator]
            c.add(f"ports.{i}", "out_of_range", f"port must be an integer in [1, 65535], got {port!r}")
        elif protocol not in _PROTOCOLS:
            c.add(f"ports.{i}", "malformed", f"protocol must be one of {_PROTOCOLS}, got {protocol!r}")
        else:
            spec = PortSpec(int(port), str(protocol))  # type: ignore[call-overload]
            if spec in out:
                c.add(f"ports.{i}", "duplicate", f"port {port}/{protocol} listed twice")
            out.add(spec)
    return tuple(sorted(out, key=lambda p: (p.port, p.protocol)))


def _parse_backup(c: _Collector, raw: object) -> BackupConfig:
    if raw is None:
        return BackupConfig()
    if not isinstance(raw, Mapping):
        c.add("backup", "wrong_type", "backup must be an object {enabled, different_region}")
        return BackupConfig()
    enabled, different = raw.get("enabled", False), raw.get("different_region", False)
    for key in raw:
        if key not in ("enabled", "different_region"):
            c.add(f"backup.{key}", "unknown_field", f"unknown field backup.{key}", ("backup", str(key)))
    if not isinstance(enabled, bool) or not isinstance(different, bool):
        c.add("backup", "wrong_type", "backup.enabled and backup.different_region must be booleans")
        return BackupConfig()
    if different and not enabled:
        c.add("backup.different_region", "inconsistent", "different_region requires backup.enabled")
    return BackupConfig(enabled, different)


def parse_spec(data: object, limits: SpecLimits) -> DeploymentSpec:
    """Validate ``data`` (decoded JSON) into a ``DeploymentSpec``; raise ``SpecError`` listing every
    problem."""
    c = _Collector()
    if not isinstance(data, Mapping):
        raise SpecError([FieldError("", "wrong_type", "the spec must be a JSON object")])
    for key in data:
        if key not in _TOP_LEVEL_KEYS:
            c.add(str(key), "unknown_field", f"unknown field {key!r}", (str(key),))
    image, command = _parse_workload(c, data)
    env = _parse_env(c, data.get("env"))
    ports = _parse_ports(c, data.get("ports"))
    resources = _parse_resources(c, data.get("resources"), limits)
    replicas = c.int_field(data, "replicas", "replicas", minimum=1, maximum=limits.max_replicas, default=1)
    regions = c.string_set(data, "regions", re.compile(r".+", re.S), "region code")
    for region in sorted(regions):
        if region not in limits.known_regions:
            c.add("regions", "unknown_region", f"unknown region {region!r}")
    countries = c.string_set(data, "countries", _COUNTRY_RE, "ISO 3166-1 alpha-2 country code")
    max_price: int | None = None
    raw_price = data.get("max_price_per_second")
    if raw_price is not None:
        if not _is_int(raw_price):
            c.add(
                "max_price_per_second",
                "wrong_type",
                f"max_price_per_second must be an integer (credit units), got {type(raw_price).__name__}",
            )
        elif raw_price < 0:
            c.add("max_price_per_second", "negative", "max_price_per_second must not be negative")
        else:
            max_price = int(raw_price)
    min_uptime = c.int_field(data, "min_uptime_bps", "min_uptime_bps", minimum=0, maximum=10_000, default=0)
    attributes = c.string_set(data, "required_attributes", _ATTRIBUTE_RE, "attribute")
    alliance = data.get("preferred_alliance")
    bad_alliance = not isinstance(alliance, str) or not 0 < len(alliance) <= _MAX_ALLIANCE_CHARS
    if alliance is not None and bad_alliance:
        c.add("preferred_alliance", "malformed", "preferred_alliance must be a non-empty id string")
        alliance = None
    backup = _parse_backup(c, data.get("backup"))
    if backup.different_region and len(regions) == 1:
        c.add(
            "backup.different_region",
            "inconsistent",
            "a backup in a different region is impossible when only one region is allowed",
        )
    if c.errors:
        raise SpecError(c.errors)
    assert resources is not None and replicas is not None and min_uptime is not None
    return DeploymentSpec(
        resources=resources,
        image=image,
        command=command,
        env=env,
        ports=ports,
        replicas=replicas,
        regions=regions,
        countries=countries,
        max_price_per_second=max_price,
        min_uptime_bps=min_uptime,
        required_attributes=attributes,
        preferred_alliance=alliance,
        backup=backup,
    )


# ---- canonical encoding and hash -------------------------------------------------------------------


def canonical_dict(spec: DeploymentSpec) -> dict[str, Any]:
    """Every field, normalized (see the module docstring)."""
    res = spec.resources
    return {
        "v": CANONICAL_VERSION,
        "image": spec.image,
        "command": None if spec.command is None else list(spec.command),
        "env": dict(spec.env),
        "ports": [
            {"port": p.port, "protocol": p.protocol}
            for p in sorted(spec.ports, key=lambda p: (p.port, p.protocol))
        ],
        "resources": {
            "cpu_millicores": res.cpu_millicores,
            "memory_mb": res.memory_mb,
            "disk_gb": res.disk_gb,
            "gpu": None if res.gpu is None else {"model": res.gpu.model, "count": res.gpu.count},
        },
        "replicas": spec.replicas,
        "regions": sorted(spec.regions),
        "countries": sorted(spec.countries),
        "max_price_per_second": spec.max_price_per_second,
        "min_uptime_bps": spec.min_uptime_bps,
        "required_attributes": sorted(spec.required_attributes),
        "preferred_alliance": spec.preferred_alliance,
        "backup": {"enabled": spec.backup.enabled, "different_region": spec.backup.different_region},
    }


def canonical_json(spec: DeploymentSpec) -> bytes:
    return json.dumps(
        canonical_dict(spec), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def spec_hash(spec: DeploymentSpec) -> bytes:
    """``keccak256(canonical_json(spec))`` — 32 bytes, the lease's ``specHash``."""
    digest = keccak(canonical_json(spec))
    assert len(digest) == 32
    return bytes(digest)
