"""Provider requests: a provider asks (``create_request``), the operator approves or rejects.

Approval is an on-chain act: :func:`approve` enqueues ``registry.approveProvider(wallet)`` in the
outbox inside the caller's transaction (the backend signer holds ``OPERATOR_ROLE``). It requires the
wallet's ``register`` (signed by the provider's own wallet, with its collateral) to have been indexed —
status ``Pending`` or ``Suspended`` in the ``providers`` mirror — so the outbox never sends a transaction
that would revert. Approving twice is harmless: the request is already ``approved`` and the outbox key
``provider-approve:<wallet>:<request id>`` would dedupe anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chain.contracts import RegistryClient
from engine.money import CreditUnits
from engine.outbox.services import enqueue
from engine.providers.errors import (
    CollateralTooLow,
    InvalidTransition,
    NotRegisteredOnChain,
    NotYourWallet,
    RequestExists,
    RequestNotFound,
)
from engine.providers.models import (
    CHAIN_NONE,
    CLAIM_OPEN,
    REQUEST_APPROVED,
    REQUEST_PENDING,
    REQUEST_REJECTED,
    ProviderChainState,
    ProviderClaim,
    ProviderRequest,
)

APPROVABLE_CHAIN_STATES = ("Pending", "Suspended")


async def create_request(
    session: AsyncSession,
    *,
    user_id: int,
    wallets: Sequence[str],
    wallet_address: str,
    company: str,
    contact_name: str,
    contact_email: str,
    collateral: CreditUnits,
    min_collateral: CreditUnits,
    details: dict[str, Any] | None = None,
) -> ProviderRequest:
    """Record a provider request (no commit). One open (pending/approved) request per wallet."""
    wallet = to_checksum_address(wallet_address)
    if wallet not in {to_checksum_address(w) for w in wallets}:
        raise NotYourWallet(wallet)
    if collateral < min_collateral:
        raise CollateralTooLow(collateral, min_collateral)
    stmt = select(ProviderRequest).where(
        ProviderRequest.wallet_address == wallet,
        ProviderRequest.status.in_((REQUEST_PENDING, REQUEST_APPROVED)),
    )
    open_request = (await session.scalars(stmt)).first()
    if open_request is not None:
        raise RequestExists(open_request.id, open_request.status)
    row = ProviderRequest(
        user_id=user_id,
        wallet_address=wallet,
        company=company.strip(),
        contact_name=contact_name.strip(),
        contact_email=contact_email.strip(),
        details=dict(details or {}),
        collateral=collateral,
        status=REQUEST_PENDING,
    )
    session.add(row)
    await session.flush()
    return row


async def list_requests(
    session: AsyncSession,
    *,
    status: str | None = None,
    user_id: int | None = None,
    limit: int | None = None,
    before_id: int | None = None,
) -> list[ProviderRequest]:
    """Requests newest first, optionally only those with ``status`` or of ``user_id``: at most ``limit``,
    with an id below ``before_id``."""
    stmt = select(ProviderRequest)
    if status is not None:
        stmt = stmt.where(ProviderRequest.status == status)
    if user_id is not None:
        stmt = stmt.where(ProviderRequest.user_id == user_id)
    if before_id is not None:
        stmt = stmt.where(ProviderRequest.id < before_id)
    stmt = stmt.order_by(ProviderRequest.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await session.scalars(stmt)).all())


async def get_request(session: AsyncSession, request_id: int) -> ProviderRequest:
    row = await session.get(ProviderRequest, request_id)
    if row is None:
        raise RequestNotFound(request_id)
    return row


async def chain_status(session: AsyncSession, address: str) -> str | None:
    """The mirrored registry status of ``address``; ``None`` when it is not registered on chain (never
    seen, or the registry's own ``ProviderStatus.None`` after an exit)."""
    row = await session.get(ProviderChainState, to_checksum_address(address))
    return None if row is None or row.status == CHAIN_NONE else row.status


async def open_claims(session: AsyncSession, address: str) -> int:
    """How many SLA claims filed against ``address`` on chain are not resolved (``provider_claims``)."""
    count = await session.scalar(
        select(func.count())
        .select_from(ProviderClaim)
        .where(ProviderClaim.provider == to_checksum_address(address), ProviderClaim.status == CLAIM_OPEN)
    )
    return int(count or 0)


async def view_parts(session: AsyncSession, address: str) -> tuple[str | None, int]:
    """The registry status and the open-claim count of ``address`` (what a request view shows)."""
    return await chain_status(session, address), await open_claims(session, address)


def approve_key(row: ProviderRequest) -> str:
    return f"provider-approve:{row.wallet_address.lower()}:{row.id}"


async def approve(
    session: AsyncSession, request_id: int, *, actor_user_id: int, registry: RegistryClient
) -> ProviderRequest:
    """Approve: enqueue ``approveProvider`` (no commit). Idempotent for an approved request."""
    row = await get_request(session, request_id)
    if row.status == REQUEST_APPROVED:
        return row
    if row.status != REQUEST_PENDING:
        raise InvalidTransition(row.id, row.status, "approve")
    status = await chain_status(session, row.wallet_address)
    if status not in APPROVABLE_CHAIN_STATES:
        raise NotRegisteredOnChain(row.wallet_address, status)
    key = approve_key(row)
    await enqueue(
        session,
        kind="registry.approveProvider",
        to=registry.address,
        data=registry.encode_approve_provider(row.wallet_address),
        idempotency_key=key,
        args={"provider": row.wallet_address, "request_id": row.id},
    )
    row.status = REQUEST_APPROVED
    row.outbox_key = key
    row.decided_by = actor_user_id
    row.decided_at = datetime.now(UTC)
    await session.flush()
    return row


async def reject(
    session: AsyncSession, request_id: int, *, actor_user_id: int, reason: str | None
) -> ProviderRequest:
    """Reject a pending request (no commit). Rejecting a rejected one is a no-op."""
    row = await get_request(session, request_id)
    if row.status == REQUEST_REJECTED:
        return row
    if row.status != REQUEST_PENDING:
        raise InvalidTransition(row.id, row.status, "reject")
    row.status = REQUEST_REJECTED
    row.decision_reason = reason
    row.decided_by = actor_user_id
    row.decided_at = datetime.now(UTC)
    await session.flush()
    return row
