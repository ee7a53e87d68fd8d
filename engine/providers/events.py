"""Mirror provider lifecycle events of the registry into ``providers`` (status and collateral).

Each event carries its position; events at or before the row's last applied position are skipped, so
replaying a range changes nothing. Statuses are the names of ``IProviderRegistry.ProviderStatus``.
"""

from __future__ import annotations

from eth_utils.address import to_checksum_address
from sqlalchemy.ext.asyncio import AsyncSession

from engine.indexer.interfaces import IndexedEvent
from engine.providers.models import CHAIN_NONE, ProviderChainState, utcnow

PROVIDER_EVENTS = (
    "ProviderRegistered",
    "CollateralAdded",
    "ProviderApproved",
    "ProviderSuspended",
    "ExitRequested",
    "CollateralWithdrawn",
    "CollateralSeized",
)


async def apply_provider_event(session: AsyncSession, event: IndexedEvent) -> ProviderChainState | None:
    if event.event not in PROVIDER_EVENTS:
        return None
    address = to_checksum_address(str(event.args["provider"]))
    row = await session.get(ProviderChainState, address)
    if row is None:
        row = ProviderChainState(
            address=address, status=CHAIN_NONE, collateral=0, block_number=0, log_index=-1
        )
        session.add(row)
    elif (row.block_number, row.log_index) >= event.position:
        return row
    name = event.event
    if name == "ProviderRegistered":
        row.status, row.collateral = "Pending", event.int_arg("collateral")
    elif name == "CollateralAdded":
        row.collateral = event.int_arg("collateral")
    elif name == "ProviderApproved":
        row.status = "Approved"
    elif name == "ProviderSuspended":
        row.status = "Suspended"
    elif name == "ExitRequested":
        row.status = "Exiting"
    elif name == "CollateralWithdrawn":
        row.status, row.collateral = CHAIN_NONE, 0
    elif name == "CollateralSeized":
        row.collateral = max(0, row.collateral - event.int_arg("amount"))
    row.block_number, row.log_index = event.position
    row.updated_at = utcnow()
    await session.flush()
    return row
