"""Operator settings/pricing: each change is a new version with an audit row; bad input writes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.identity.services import ensure_user
from engine.operator import services as op
from engine.operator.errors import InvalidConfig, UnknownVersion, VersionConflict
from engine.operator.models import OperatorAuditEntry, OperatorConfigVersion


async def _count(session, model) -> int:  # type: ignore[no-untyped-def]
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_versions_and_audit(db_session) -> None:  # type: ignore[no-untyped-def]
    actor = await ensure_user(db_session, "dev|op-config")
    v0 = await op.current(db_session, op.SETTINGS)
    assert v0.version == 0 and v0.values["platform_fee_bps"] == 500
    v1 = await op.update(db_session, op.SETTINGS, {"platform_fee_bps": 700}, actor_user_id=actor.id)
    v2 = await op.update(db_session, op.SETTINGS, {"max_replicas": 3}, actor_user_id=actor.id)
    assert (v1.version, v2.version) == (1, 2)
    assert v2.values["platform_fee_bps"] == 700 and v2.values["max_replicas"] == 3
    # the old version is unchanged (never updated in place)
    assert (await op.get_version(db_session, op.SETTINGS, 1)).values["max_replicas"] == 10
    same = await op.update(db_session, op.SETTINGS, {"max_replicas": 3}, actor_user_id=actor.id)
    assert same.version == 2  # no-op change adds nothing
    audit = await op.history(db_session, op.SETTINGS)
    assert [a.version for a in audit] == [2, 1]
    assert audit[1].before["platform_fee_bps"] == 500 and audit[1].after["platform_fee_bps"] == 700
    assert audit[0].actor_user_id == actor.id
    with pytest.raises(VersionConflict):
        await op.update(
            db_session, op.SETTINGS, {"max_replicas": 4}, actor_user_id=actor.id, expected_version=1
        )
    with pytest.raises(UnknownVersion):
        await op.get_version(db_session, op.SETTINGS, 99)


@pytest.mark.parametrize(
    "kind, change",
    [
        (op.SETTINGS, {"platform_fee_bps": 10_001}),
        (op.SETTINGS, {"platform_fee_bps": 1.5}),
        (op.SETTINGS, {"platform_fee_bps": True}),
        (op.SETTINGS, {"nope": 1}),
        (op.SETTINGS, {"regions": []}),
        (op.SETTINGS, {"maintenance_max_windows_per_month": 0}),  # the registry refuses 0 and > 8
        (op.SETTINGS, {"maintenance_max_windows_per_month": 9}),
        (op.PRICING, {"floor_per_gpu": -1}),
        (op.PRICING, {"certified_premium_bps": "10"}),
    ],
)
async def test_bad_values_write_nothing(db_session, kind, change) -> None:  # type: ignore[no-untyped-def]
    before = (await _count(db_session, OperatorConfigVersion), await _count(db_session, OperatorAuditEntry))
    with pytest.raises(InvalidConfig):
        await op.update(db_session, kind, change, actor_user_id=None)
    after = (await _count(db_session, OperatorConfigVersion), await _count(db_session, OperatorAuditEntry))
    assert after == before
