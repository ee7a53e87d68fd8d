"""Every route table of the service. A new routes module appends its ``routes`` here (see api.openapi)."""

from __future__ import annotations

from api.openapi import RouteTable
from api.routes import (
    chain,
    deployments,
    health,
    identity,
    meta,
    notifications,
    operator,
    payments,
    provider,
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
    swaps.routes,
    provider.routes,
    operator.routes,
    deployments.routes,
    workloads.routes,
    notifications.routes,
)
