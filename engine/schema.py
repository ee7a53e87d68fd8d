"""Registry of the modules that define tables, so Alembic and tests see the whole schema."""

from __future__ import annotations

import importlib

# Each domain room's models module. Add new rooms here.
MODEL_MODULES: tuple[str, ...] = (
    "engine.outbox.models",
    "engine.identity.models",
    "engine.nodes.models",
    "engine.wallets.models",
    "engine.indexer.models",
    "engine.payments.models",
    "engine.operator.models",
    "engine.providers.models",
    "engine.deployments.models",
    "engine.workloads.models",
    "engine.scaling.models",
    "engine.notifications.models",
    "engine.scheduler.models",
    "engine.monitoring.models",
    "engine.alerts.models",
    "engine.autotopup.models",
    "engine.alliances.models",
    "engine.sla.models",
    "engine.staking.models",
)


def import_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
