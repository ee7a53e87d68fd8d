"""Pruning SIWE nonces: every nonce ever issued would otherwise stay in ``siwe_nonces`` for ever, and
anonymous callers can ask for as many as the rate limit lets them.

:meth:`engine.identity.siwe.SiweService.issue_nonce` prunes before it inserts, in the same transaction, so
the table holds at most the nonces of the last ``ttl + grace`` seconds. A nonce is kept ``grace`` seconds
past its expiry so that a late verify still hears "nonce expired" rather than "not issued"; after that it
is refused as unknown, which is just as final.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from engine.identity.models import SiweNonce


async def prune_expired_nonces(session: AsyncSession, now: int, grace: int) -> int:
    """Delete nonces (used or not) that expired more than ``grace`` seconds before ``now`` (unix seconds).
    Returns how many were deleted. Does not commit."""
    result = await session.execute(
        delete(SiweNonce)
        .where(SiweNonce.expires_at < now - grace)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
