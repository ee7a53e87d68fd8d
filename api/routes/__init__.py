"""Every route table of the service. A new routes module appends its ``routes`` here (see api.openapi)."""

from __future__ import annotations

from api.openapi import RouteTable
from api.routes import (
    alerts,
    alliances,
    autotopup,
    chain,
    deployments,
    health,
    identity,
    meta,
    notifications,
    operator,
    payments,
    provider,
    sla,
    staking,
    swaps,
    wallet,
    workloads,
)

ROUTE_TABLES: tuple[RouteTable, ...] = (
    health.routes,
    meta.routes,
    chain.routes,
    identity.routes,
    payments.routes,
    wallet.routes,
    autotopup.routes,
    swaps.routes,
    provider.routes,
    operator.routes,
    deployments.routes,
    workloads.routes,
    notifications.routes,
    alerts.routes,
    staking.routes,
    alliances.routes,
    sla.routes,
)
