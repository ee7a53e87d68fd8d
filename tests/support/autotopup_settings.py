"""The settings the auto top-up chain tests and their child processes share (same data dir, database,
chain; no scheduler; a small useful minimum so test-sized leases are topped up)."""

from __future__ import annotations

from pathlib import Path

from engine.settings import Settings

MIN_UNITS = 1_000


def settings_for(data_dir: Path, database_url: str, chain_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        chain_url=chain_url,
        scheduler_enabled=False,
        auto_top_up_min_units=MIN_UNITS,
    )
