"""The escrow's emergency pause as the engine's commands see it (issue 10).

While the escrow is paused its ``open``/``topUp``/``autoTopUp`` (and the by-signature forms) revert
``EnforcedPause``; ``settle``, ``close``, refunds and withdrawals keep working. A command that would open
or top up a lease (create, scale up, top up; the failover job's re-open) calls :func:`require_unpaused`
before it writes anything, so the user hears ``escrow_paused`` (503) instead of getting transactions or
queued requests that can only revert. The state is read through ``ctx.contracts.escrow`` at the latest
block, once per block (:meth:`engine.context.Context.escrow_paused`). Closes never ask.
"""

from __future__ import annotations

from chain.contracts import EscrowClient
from engine.context import Context
from engine.deployments.errors import EscrowPaused


async def require_unpaused(ctx: Context, action: str) -> None:
    """Raises :class:`~engine.deployments.errors.EscrowPaused` (503 ``escrow_paused``) while paused."""
    if await ctx.escrow_paused():
        raise EscrowPaused(action)


async def paused(escrow: EscrowClient) -> bool:
    """The escrow's pause read now (jobs that hold an escrow client rather than a context)."""
    return await escrow.paused()
