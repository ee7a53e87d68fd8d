"""Every route table of the service. A new routes module appends its ``routes`` here (see api.openapi)."""

from __future__ import annotations

from api.openapi import RouteTable
from api.routes import agent, chain, deployments, health, identity, meta, operator, payments, provider, wallet

ROUTE_TABLES: tuple[RouteTable, ...] = (
    health.routes,
    meta.routes,
    chain.routes,
    identity.routes,
    payments.routes,
    wallet.routes,
    provider.routes,
    operator.routes,
    deployments.routes,
    agent.routes,
)
