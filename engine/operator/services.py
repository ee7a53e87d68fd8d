"""Operator settings and pricing: read the current (or any) version, change by adding a version.

Rules
    * Versioned: :func:`update` never changes a row; it inserts version ``current + 1`` holding the full
      merged values (keys absent from the change keep their current value), plus one audit row with the
      actor and the before/after values, in the caller's transaction. A change that alters nothing adds
      nothing and returns the current version (so a retried PUT is harmless). ``expected_version``
      (optimistic concurrency) raises :class:`VersionConflict` when someone else changed it first; two
      racing writers of the same version collide on the unique (kind, version) key and one fails.
    * Integers only (money in credit units, unit prices in price units, durations in seconds, shares in
      basis points); booleans are refused as integers. The one non-integer is ``settings.regions`` (the
      region names deployments may ask for).
    * Version 0 is the defaults (:data:`SETTINGS_FIELDS`, :data:`PRICING_FIELDS`, overridable by the
      caller, e.g. from the deployed ``SuiteConfig`` so settings start equal to the chain's limits).

The contracts keep their own copy of some settings (notice, window length and count, collateral, fee):
:func:`engine.operator.onchain.update_settings` enqueues the admin call that applies a change in the same
transaction, and maintenance requests are checked against the stricter of the database and the chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.money import MAX_CREDIT_UNITS
from engine.operator.errors import InvalidConfig, UnknownVersion, VersionConflict
from engine.operator.models import OperatorAuditEntry, OperatorConfigVersion
from engine.outbox.models import OutboxStatus, OutboxTx

SETTINGS = "settings"
PRICING = "pricing"
KINDS = (SETTINGS, PRICING)

U64 = 2**64 - 1
DAY = 86_400
# ProviderRegistry._checkConfig: maxWindowsPerMonth in 1..8 (it remembers the last 8 window starts per node);
# the operator's value and the environment default are held to it so setConfig never reverts.
MIN_WINDOWS_PER_MONTH, MAX_WINDOWS_PER_MONTH = 1, 8


@dataclass(frozen=True)
class IntField:
    default: int
    minimum: int
    maximum: int
    doc: str


SETTINGS_FIELDS: dict[str, IntField] = {
    "platform_fee_bps": IntField(  # DeploymentEscrow.MAX_FEE_BPS: the chain refuses more
        500, 0, 2_000, "share of each lease rate sent to the treasury"
    ),
    "maintenance_min_notice": IntField(
        DAY, 0, 2**32 - 1, "least notice before a maintenance window, seconds"
    ),
    "maintenance_max_window": IntField(4 * 3600, 60, 2**32 - 1, "longest maintenance window, seconds"),
    "maintenance_max_windows_per_month": IntField(  # ProviderRegistry: 1..8 (any 30-day span), else refused
        4, MIN_WINDOWS_PER_MONTH, MAX_WINDOWS_PER_MONTH, "maintenance windows per node in any 30-day span"
    ),
    "provider_min_collateral": IntField(
        100 * 10**6, 0, MAX_CREDIT_UNITS, "least provider collateral, credit units"
    ),
    "max_replicas": IntField(10, 1, 1_000, "most replicas one deployment may ask for"),
    "max_nodes_per_provider": IntField(1_000, 1, 1_000_000, "most nodes one provider may register"),
    "node_offline_after": IntField(60, 1, DAY, "a node is offline after this many seconds without heartbeat"),
    # SLA policy (engine.sla): uptime target per period (basis points) and the period length (seconds,
    # periods aligned to the Unix epoch in chain time; 30 days by default)
    "sla_target_bps": IntField(9_950, 1, 10_000, "SLA uptime target per period, basis points"),
    "sla_period": IntField(30 * DAY, 60, 366 * DAY, "SLA period length, seconds"),
}
DEFAULT_REGIONS: tuple[str, ...] = ("eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-east")
MAX_REGIONS = 200
# Low-balance alert thresholds (engine.alerts): seconds of runway left; 1..MAX_THRESHOLDS distinct values in
# MIN_THRESHOLD..MAX_THRESHOLD, kept in descending order. Users may override them (GET|PUT /api/me/alerts).
LOW_BALANCE_THRESHOLDS = "low_balance_thresholds"
DEFAULT_LOW_BALANCE_THRESHOLDS: tuple[int, ...] = (7 * DAY, DAY, 6 * 3600)
MIN_THRESHOLD, MAX_THRESHOLD, MAX_THRESHOLDS = 300, 90 * DAY, 5
# SLA credit schedule (engine.sla): [below_bps, credit_bps] bands; an uptime below ``below_bps`` earns the
# tenant ``credit_bps`` of the period's charge (the highest band that applies). 1..MAX_SLA_BANDS bands,
# distinct ``below_bps`` in 1..10_000, kept in descending order of ``below_bps`` with credits not decreasing.
SLA_CREDIT_SCHEDULE = "sla_credit_schedule"
DEFAULT_SLA_CREDIT_SCHEDULE: tuple[tuple[int, int], ...] = ((9_950, 1_000), (9_900, 2_500), (9_500, 5_000))
MAX_SLA_BANDS = 8

PRICING_FIELDS: dict[str, IntField] = {
    # price units (engine.placement.models.PRICE_SCALE per credit unit) per resource unit per second
    "floor_per_cpu_millicore": IntField(10_000, 0, U64, "least price per millicore per second"),
    "floor_per_memory_mb": IntField(1_000, 0, U64, "least price per MB of memory per second"),
    "floor_per_disk_gb": IntField(100, 0, U64, "least price per GB of disk per second"),
    "floor_per_gpu": IntField(100_000_000, 0, U64, "least price per GPU per second"),
    "certified_premium_bps": IntField(1_000, 0, 10_000, "added to certified nodes' rates"),
}


@dataclass(frozen=True)
class ConfigVersion:
    kind: str
    version: int
    values: dict[str, Any]
    actor_user_id: int | None
    created_at: datetime | None  # None for version 0 (defaults)


def defaults(kind: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Version 0 of ``kind``: the built-in defaults with ``overrides`` applied (validated)."""
    fields = _fields(kind)
    values: dict[str, Any] = {name: f.default for name, f in fields.items()}
    if kind == SETTINGS:
        values["regions"] = list(DEFAULT_REGIONS)
        values[LOW_BALANCE_THRESHOLDS] = list(DEFAULT_LOW_BALANCE_THRESHOLDS)
        values[SLA_CREDIT_SCHEDULE] = [list(b) for b in DEFAULT_SLA_CREDIT_SCHEDULE]
    return validate(kind, {**values, **dict(overrides or {})})


def _fields(kind: str) -> dict[str, IntField]:
    if kind == SETTINGS:
        return SETTINGS_FIELDS
    if kind == PRICING:
        return PRICING_FIELDS
    raise InvalidConfig("kind", f"unknown configuration kind {kind!r}")


def _regions(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_REGIONS:
        raise InvalidConfig("regions", f"must be a non-empty list of at most {MAX_REGIONS} region names")
    out: list[str] = []
    for item in raw:
        if not isinstance(item, str) or not (1 <= len(item) <= 32) or not item.replace("-", "").isalnum():
            raise InvalidConfig("regions", f"bad region name {item!r} (letters, digits, '-'; 1..32)")
        if item not in out:
            out.append(item)
    return out


def thresholds(raw: Any, field: str = LOW_BALANCE_THRESHOLDS) -> list[int]:
    """Alert thresholds (a list of integers, or a comma-separated string from the environment) checked and
    sorted descending. Raises :class:`InvalidConfig` naming ``field``."""
    if isinstance(raw, str):
        raw = [p.strip() for p in raw.split(",") if p.strip()]
        if not all(p.isdigit() for p in raw):
            raise InvalidConfig(field, "must be comma-separated whole seconds")
        raw = [int(p) for p in raw]
    if not isinstance(raw, list | tuple) or not 1 <= len(raw) <= MAX_THRESHOLDS:
        raise InvalidConfig(field, f"must be a list of 1 to {MAX_THRESHOLDS} thresholds in seconds")
    if any(not isinstance(v, int) or isinstance(v, bool) for v in raw):
        raise InvalidConfig(field, "every threshold must be an integer (seconds)")
    if any(not MIN_THRESHOLD <= v <= MAX_THRESHOLD for v in raw):
        raise InvalidConfig(field, f"every threshold must be between {MIN_THRESHOLD} and {MAX_THRESHOLD}")
    if len(set(raw)) != len(raw):
        raise InvalidConfig(field, "thresholds must be distinct")
    return sorted(raw, reverse=True)


def credit_schedule(raw: Any, field: str = SLA_CREDIT_SCHEDULE) -> list[list[int]]:
    """The SLA credit schedule checked and sorted (descending ``below_bps``).

    Raises :class:`InvalidConfig`."""
    if isinstance(raw, str):  # the environment's form: "below_bps:credit_bps,..."
        parts = [p.strip().split(":") for p in raw.split(",") if p.strip()]
        if not all(len(p) == 2 and p[0].strip().isdigit() and p[1].strip().isdigit() for p in parts):
            raise InvalidConfig(field, "must be comma-separated below_bps:credit_bps bands")
        raw = [[int(p[0]), int(p[1])] for p in parts]
    if not isinstance(raw, list | tuple) or not 1 <= len(raw) <= MAX_SLA_BANDS:
        raise InvalidConfig(field, f"must be a list of 1 to {MAX_SLA_BANDS} [below_bps, credit_bps] bands")
    bands: list[list[int]] = []
    for band in raw:
        if (
            not isinstance(band, list | tuple)
            or len(band) != 2
            or any(not isinstance(v, int) or isinstance(v, bool) for v in band)
        ):
            raise InvalidConfig(field, "every band must be [below_bps, credit_bps] (integers)")
        below, credit = int(band[0]), int(band[1])
        if not 1 <= below <= 10_000 or not 0 <= credit <= 10_000:
            raise InvalidConfig(field, "below_bps must be 1..10000 and credit_bps 0..10000")
        bands.append([below, credit])
    bands.sort(key=lambda b: -b[0])
    if len({b[0] for b in bands}) != len(bands):
        raise InvalidConfig(field, "below_bps values must be distinct")
    if any(lower[1] < higher[1] for higher, lower in zip(bands, bands[1:], strict=False)):  # noqa: RUF007
        raise InvalidConfig(field, "a lower uptime band may not credit less than a higher one")
    return bands


def validate(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Check every key is known and every value in range; returns a clean copy. Cross-field rules too."""
    fields = _fields(kind)
    out: dict[str, Any] = {}
    for name, value in values.items():
        if kind == SETTINGS and name == "regions":
            out[name] = _regions(value)
            continue
        if kind == SETTINGS and name == LOW_BALANCE_THRESHOLDS:
            out[name] = thresholds(value)
            continue
        if kind == SETTINGS and name == SLA_CREDIT_SCHEDULE:
            out[name] = credit_schedule(value)
            continue
        spec = fields.get(name)
        if spec is None:
            raise InvalidConfig(name, "unknown setting")
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidConfig(name, "must be an integer")
        if not spec.minimum <= value <= spec.maximum:
            raise InvalidConfig(name, f"must be between {spec.minimum} and {spec.maximum}")
        out[name] = value
    return out


async def _row(session: AsyncSession, kind: str, version: int | None) -> OperatorConfigVersion | None:
    stmt = select(OperatorConfigVersion).where(OperatorConfigVersion.kind == kind)
    if version is None:
        stmt = stmt.order_by(OperatorConfigVersion.version.desc()).limit(1)
    else:
        stmt = stmt.where(OperatorConfigVersion.version == version)
    return (await session.scalars(stmt)).one_or_none()


def _from_row(row: OperatorConfigVersion, base: Mapping[str, Any]) -> ConfigVersion:
    # keys added to the code after the row was written fall back to the defaults
    return ConfigVersion(row.kind, row.version, {**base, **row.values}, row.actor_user_id, row.created_at)


async def current(
    session: AsyncSession, kind: str, *, overrides: Mapping[str, Any] | None = None
) -> ConfigVersion:
    """The newest version of ``kind`` (version 0, the defaults, when none was stored)."""
    base = defaults(kind, overrides)
    row = await _row(session, kind, None)
    return _from_row(row, base) if row is not None else ConfigVersion(kind, 0, base, None, None)


async def get_version(
    session: AsyncSession, kind: str, version: int, *, overrides: Mapping[str, Any] | None = None
) -> ConfigVersion:
    base = defaults(kind, overrides)
    if version == 0:
        return ConfigVersion(kind, 0, base, None, None)
    row = await _row(session, kind, version)
    if row is None:
        raise UnknownVersion(kind, version)
    return _from_row(row, base)


async def history(session: AsyncSession, kind: str, *, limit: int = 100) -> list[OperatorAuditEntry]:
    """Audit rows of ``kind``, newest first."""
    _fields(kind)
    stmt = (
        select(OperatorAuditEntry)
        .where(OperatorAuditEntry.kind == kind)
        .order_by(OperatorAuditEntry.version.desc())
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def update(
    session: AsyncSession,
    kind: str,
    changes: Mapping[str, Any],
    *,
    actor_user_id: int | None,
    expected_version: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ConfigVersion:
    """Add version ``current + 1`` with ``changes`` merged in, and its audit row (no commit)."""
    clean = validate(kind, changes)
    cur = await current(session, kind, overrides=overrides)
    if expected_version is not None and expected_version != cur.version:
        raise VersionConflict(kind, expected_version, cur.version)
    after = {**cur.values, **clean}
    if kind == SETTINGS and after["maintenance_max_window"] <= 0:
        raise InvalidConfig("maintenance_max_window", "must be positive")
    if after == cur.values:
        return cur
    version = cur.version + 1
    row = OperatorConfigVersion(kind=kind, version=version, values=after, actor_user_id=actor_user_id)
    session.add(row)
    session.add(
        OperatorAuditEntry(
            kind=kind, version=version, actor_user_id=actor_user_id, before=cur.values, after=after
        )
    )
    await session.flush()
    return ConfigVersion(kind, version, after, actor_user_id, row.created_at)


async def count_versions(session: AsyncSession, kind: str) -> int:
    stmt = select(func.count()).select_from(OperatorConfigVersion).where(OperatorConfigVersion.kind == kind)
    return int((await session.scalar(stmt)) or 0)


def overrides_from_settings(settings: Any) -> dict[str, dict[str, Any]]:
    """Version-0 defaults taken from process settings (``engine.settings.Settings``), so the operator's
    settings start equal to the limits the contracts were deployed with. Keyed by kind."""
    return {
        SETTINGS: {
            "platform_fee_bps": settings.platform_fee_bps,
            "maintenance_min_notice": settings.maintenance_min_notice,
            "maintenance_max_window": settings.maintenance_max_window,
            "maintenance_max_windows_per_month": settings.maintenance_max_windows_per_month,
            "provider_min_collateral": settings.provider_min_collateral,
            "max_replicas": settings.max_replicas,
            "max_nodes_per_provider": settings.max_nodes_per_provider,
            "node_offline_after": settings.node_offline_after,
            LOW_BALANCE_THRESHOLDS: settings.low_balance_thresholds,
            "sla_target_bps": settings.sla_target_bps,
            "sla_period": settings.sla_period,
            SLA_CREDIT_SCHEDULE: settings.sla_credit_schedule,
        },
        PRICING: {},
    }


async def pending_outbox(session: AsyncSession, key_prefix: str) -> int:
    """Outbox rows whose idempotency key starts with ``key_prefix`` and that are not final yet (neither
    confirmed nor failed): a change of that slot still on its way to the chain."""
    count = await session.scalar(
        select(func.count())
        .select_from(OutboxTx)
        .where(
            OutboxTx.idempotency_key.startswith(key_prefix, autoescape=True),
            OutboxTx.status.not_in((OutboxStatus.CONFIRMED, OutboxStatus.FAILED)),
        )
    )
    return int(count or 0)
