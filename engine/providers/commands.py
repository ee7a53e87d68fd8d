"""Provider onboarding commands: register (the provider asks), list, approve (through the outbox), reject.

Providers are wallet-connected: :func:`register_provider` returns the unsigned transactions for the
provider's own wallet (an ERC-20 ``approve`` of the collateral first when its allowance to the registry
is short, then ``register``). The operator's approval is signed by the backend through the outbox
(:func:`engine.providers.services.approve`). Each command owns its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chain.contracts import UnsignedTx
from engine.context import Context
from engine.money import CreditUnits
from engine.operator.config import current_settings
from engine.pagination import DEFAULT_LIMIT, Page, clamp_limit, decode_cursor
from engine.providers import services
from engine.providers.models import ProviderRequest


@dataclass(frozen=True)
class Registration:
    """What a provider submits (validated at the edge; collateral in credit units)."""

    wallet: str
    company: str
    contact_name: str
    contact_email: str
    collateral: CreditUnits
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestView:
    """A provider request and the registry status of its wallet as indexed (``None``: not on chain)."""

    request: ProviderRequest
    chain_status: str | None
    open_claims: int = 0  # SLA claims filed on chain against the wallet, not resolved (issue 10)


@dataclass(frozen=True)
class Registered:
    view: RequestView
    transactions: tuple[UnsignedTx, ...]


async def register_provider(
    ctx: Context, user_id: int, wallets: Sequence[str], registration: Registration
) -> Registered:
    """Record a provider request and build the wallet's transactions.

    Raises :class:`~engine.providers.errors.NotYourWallet` (wallet not the caller's),
    :class:`~engine.providers.errors.CollateralTooLow` (below ``provider_min_collateral``),
    :class:`~engine.providers.errors.RequestExists` (an open or approved request for the wallet),
    :class:`~engine.errors.ContractMissing` (no registry on this chain)."""
    registry, token = ctx.contracts.require_registry(), ctx.contracts.token
    async with ctx.sessionmaker() as session:
        async with session.begin():
            cfg = await current_settings(session, ctx.settings)
            row = await services.create_request(
                session,
                user_id=user_id,
                wallets=wallets,
                wallet_address=registration.wallet,
                company=registration.company,
                contact_name=registration.contact_name,
                contact_email=registration.contact_email,
                collateral=registration.collateral,
                min_collateral=cfg.provider_min_collateral,
                details=registration.details,
            )
        status, claims = await services.view_parts(session, row.wallet_address)
    txs: list[UnsignedTx] = []
    if await token.allowance(row.wallet_address, registry.address) < row.collateral:
        txs.append(
            UnsignedTx(
                token.address,
                token.encode_approve(registry.address, row.collateral),
                ctx.chain_id,
                from_address=row.wallet_address,
                description="allow the registry to lock the collateral",
            )
        )
    txs.append(
        UnsignedTx(
            registry.address,
            registry.encode_register(row.collateral),
            ctx.chain_id,
            from_address=row.wallet_address,
            description="register as a provider",
        )
    )
    return Registered(RequestView(row, status, claims), tuple(txs))


async def list_provider_requests(
    ctx: Context,
    *,
    status: str | None = None,
    user_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[RequestView]:
    """A page of requests, newest first, optionally only those with ``status`` or of ``user_id``: at most
    ``limit`` (clamped to 1..200), after the one ``cursor`` names (a previous page's ``next_cursor``).

    Raises :class:`~engine.pagination.BadCursor` (400 ``bad_cursor``)."""
    before = decode_cursor(cursor)
    limit = clamp_limit(limit)
    async with ctx.sessionmaker() as session:
        rows = await services.list_requests(
            session, status=status, user_id=user_id, limit=limit + 1, before_id=before
        )
        page = Page.of(rows, limit, _request_id)
        views = [RequestView(r, *await services.view_parts(session, r.wallet_address)) for r in page.items]
    return Page(views, page.next_cursor)


def _request_id(row: ProviderRequest) -> int:
    return row.id


async def approve_provider_request(ctx: Context, request_id: int, actor_user_id: int) -> RequestView:
    """Approve: enqueue ``registry.approveProvider`` (backend signer). Idempotent.

    Raises :class:`~engine.providers.errors.RequestNotFound`,
    :class:`~engine.providers.errors.InvalidTransition` (the request was rejected),
    :class:`~engine.providers.errors.NotRegisteredOnChain` (``register`` not indexed yet),
    :class:`~engine.errors.ContractMissing` (no registry on this chain)."""
    registry = ctx.contracts.require_registry()
    async with ctx.sessionmaker() as session:
        async with session.begin():
            row = await services.approve(session, request_id, actor_user_id=actor_user_id, registry=registry)
        return RequestView(row, *await services.view_parts(session, row.wallet_address))


async def reject_provider_request(
    ctx: Context, request_id: int, actor_user_id: int, reason: str | None
) -> RequestView:
    """Reject a pending request (rejecting a rejected one is a no-op).

    Raises :class:`~engine.providers.errors.RequestNotFound`,
    :class:`~engine.providers.errors.InvalidTransition` (the request was approved)."""
    async with ctx.sessionmaker() as session:
        async with session.begin():
            row = await services.reject(session, request_id, actor_user_id=actor_user_id, reason=reason)
        return RequestView(row, *await services.view_parts(session, row.wallet_address))
