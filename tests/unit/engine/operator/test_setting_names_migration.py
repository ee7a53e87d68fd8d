"""Migration 0009 renames the stored operator setting keys (versions and audit rows), and back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from engine import db

OLD = {
    "platform_fee_bps": 500,
    "maintenance_min_notice_s": 900,
    "maintenance_max_window_s": 3600,
    "min_collateral": 7,
    "heartbeat_timeout_s": 30,
}
NEW = {
    "platform_fee_bps": 500,
    "maintenance_min_notice": 900,
    "maintenance_max_window": 3600,
    "provider_min_collateral": 7,
    "node_offline_after": 30,
}
PRICES = {"floor_per_gpu": 1, "min_collateral": 2}  # another kind: left alone


def _rows(url: str) -> list[tuple[str, object, object, object]]:
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            versions = conn.execute(
                sa.text('SELECT kind, "values" FROM operator_config_versions ORDER BY id')
            )
            audit = conn.execute(sa.text("SELECT before, after FROM operator_audit_log ORDER BY id")).all()
            return [
                (k, json.loads(v), json.loads(a[0]), json.loads(a[1]))
                for (k, v), a in zip(versions.all(), audit, strict=True)
            ]
    finally:
        eng.dispose()


def test_upgrade_renames_and_downgrade_restores(tmp_path: Path) -> None:
    async_url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    sync_url = f"sqlite:///{tmp_path / 'm.db'}"
    asyncio.run(db.upgrade(async_url, "0008_scaling"))
    eng = sa.create_engine(sync_url)
    ins_v = sa.text(
        'INSERT INTO operator_config_versions (kind, version, "values", created_at) '
        "VALUES (:k, 1, :v, '2026-01-01')"
    )
    ins_a = sa.text(
        "INSERT INTO operator_audit_log (kind, version, before, after, created_at) "
        "VALUES (:k, 1, :b, :a, '2026-01-01')"
    )
    with eng.begin() as conn:
        for kind, values in (("settings", OLD), ("pricing", PRICES)):
            conn.execute(ins_v, {"k": kind, "v": _json(values)})
            conn.execute(ins_a, {"k": kind, "b": _json(values), "a": _json(values)})
    eng.dispose()

    asyncio.run(db.upgrade(async_url, "0009_operator_setting_names"))
    settings, pricing = _rows(sync_url)
    assert settings == ("settings", NEW, NEW, NEW)
    assert pricing == ("pricing", PRICES, PRICES, PRICES)

    command.downgrade(db.alembic_config(async_url), "0008_scaling")
    settings, pricing = _rows(sync_url)
    assert settings == ("settings", OLD, OLD, OLD)
    assert pricing == ("pricing", PRICES, PRICES, PRICES)


def _json(values: dict[str, int]) -> str:
    return json.dumps(values)
