"""Mirror provider lifecycle events of the registry into ``providers`` (status and collateral).

Each event carries its position; events at or before the row's last applied position are skipped, so
replaying a range changes nothing. Statuses are the names of ``IProviderRegistry.ProviderStatus``.

SLA claims (``ClaimFiled`` / ``ClaimResolved``) go to ``provider_claims``, one row per ref
(:func:`apply_claim_event`): filing is idempotent, resolving marks the row (a seizure with a filed claim's
ref resolves it too; the registry emits ``ClaimResolved`` then).
"""

from __future__ import annotations

from eth_utils.address import to_checksum_address
from sqlalchemy.ext.asyncio import AsyncSession

from engine.indexer.interfaces import IndexedEvent
from engine.providers.models import (
    CHAIN_NONE,
    CLAIM_OPEN,
    CLAIM_RESOLVED,
    ProviderChainState,
    ProviderClaim,
    utcnow,
)

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


CLAIM_EVENTS = ("ClaimFiled", "ClaimResolved")


def _ref(value: object) -> str:
    text = "0x" + value.hex() if isinstance(value, bytes) else str(value).lower()
    return text if text.startswith("0x") else "0x" + text


async def apply_claim_event(session: AsyncSession, event: IndexedEvent) -> ProviderClaim | None:
    """Record a filed claim / mark it resolved; ``None`` for any other event. Idempotent."""
    if event.event not in CLAIM_EVENTS:
        return None
    ref = _ref(event.args["ref"])
    row = await session.get(ProviderClaim, ref)
    if row is None:
        row = ProviderClaim(
            ref=ref,
            provider=to_checksum_address(str(event.args["provider"])),
            status=CLAIM_OPEN,
            filed_block=event.block_number,
        )
        session.add(row)
    if event.event == "ClaimResolved" and row.status != CLAIM_RESOLVED:
        row.status, row.resolved_block = CLAIM_RESOLVED, event.block_number
    await session.flush()
    return row
