"""Refunds and disputes: take the credit back if it can be taken, else flag the account.

The rule (also in the final report and the API docs):

1. A refund/dispute becomes a ``reversals`` row (unique business key: refund ``<charge>:<cumulative
   refunded cents>`` or dispute id) for the credit not yet reversed on that ledger entry:
   ``ceil(credit * refunded / charged)`` minus what earlier reversals took (rounding in the platform's
   favour). Recording happens in the webhook's transaction
   (:func:`engine.payments.services.record_reversal`); deciding happens in :meth:`ReversalProcessor.process`.
2. **Mint not signed yet** (outbox row still ``pending``) and the reversal covers the whole credit: the
   mint row is cancelled (``failed``, ``last_error = "cancelled: <kind> <key>"``, conditional on still
   being pending, so it cannot race the sender). Nothing is minted. A *partial* reversal before the mint
   waits for the mint and continues with 3/4.
3. **Mint in flight** (signed, broadcast, mined, not confirmed): wait; :meth:`process` is run again (by the
   webhook right after commit, and by the reconciliation job) until the mint is final.
4. **Minted to a managed wallet**: claw back without the user. ``amount = min(reversed credit, on-chain
   balance)``. The engine signs an EIP-2612 permit with the managed key (off-chain: the managed wallet
   needs no gas) for the backend signer, then the outbox sends, in order, ``permit`` →
   ``transferFrom(wallet → backend signer, amount)`` → ``burn(amount)``. The three are *staged* (each is
   enqueued when the previous is confirmed) because the outbox sender estimates gas for every pending row
   of a batch before sending any: ``transferFrom`` enqueued together with its permit would be estimated
   before the permit exists and fail. One clawback per user runs at a time (permit nonces are sequential).
   Whatever is not recovered (balance too low, a stage failed) becomes debt: an account flag.
5. **Minted to a linked (user-held) wallet**: the engine cannot move the user's tokens. The whole reversed
   credit becomes debt: an account flag.
6. **Mint failed** (reverted) earlier: nothing was minted, nothing to do.

An account with an open flag may not create new deployments
(:func:`engine.payments.services.can_create_deployments`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain.contracts import CreditTokenClient
from engine.money import CreditUnits
from engine.outbox import services as outbox
from engine.outbox.models import OutboxStatus, OutboxTx, utcnow
from engine.payments.models import LedgerEntry, Reversal, ReversalAction
from engine.payments.services import flag_account
from engine.wallets.crypto import Keyring
from engine.wallets.services import load_account

PERMIT_TTL = 7 * 86400
STAGES = ("permit", "pull", "burn")


def stage_key(reversal_id: int, stage: str) -> str:
    return f"clawback:{reversal_id}:{stage}"


@dataclass
class ReversalProcessor:
    """Decides and advances reversals. Built once (runtime collaborators), called many times."""

    sessionmaker: async_sessionmaker[AsyncSession]
    token: CreditTokenClient
    keyring: Keyring
    spender: str  # the backend signer: receives the clawed-back credit and burns it
    chain_id: int

    async def process_pending(self, limit: int = 100) -> dict[int, str]:
        """Process every undecided or running reversal; returns ``{id: action}``. Raises nothing of its own
        (see :meth:`process`)."""
        async with self.sessionmaker() as s:
            ids = (
                (
                    await s.execute(
                        select(Reversal.id)
                        .where(
                            Reversal.action.in_([ReversalAction.PENDING.value, ReversalAction.CLAWBACK.value])
                        )
                        .order_by(Reversal.id)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
        return {rid: await self.process(rid) for rid in ids}

    async def process(self, reversal_id: int) -> str:
        """Decide or advance one reversal per the rule in the module docstring; returns its action.

        Raises:
            LookupError: no reversal has id ``reversal_id`` (a programming error: callers pass ids they
                just read or recorded).
        """
        async with self.sessionmaker() as s:
            rev = await s.get(Reversal, reversal_id)
            if rev is None:
                raise LookupError(reversal_id)
            entry = await s.get(LedgerEntry, rev.ledger_entry_id)
            assert entry is not None
            mint = await outbox.get_by_key(s, entry.mint_key)
        if rev.action == ReversalAction.CLAWBACK.value:
            return await self._advance(rev, entry)
        if rev.action != ReversalAction.PENDING.value:
            return rev.action
        status = None if mint is None else mint.status
        if status is OutboxStatus.PENDING and rev.credit_units >= entry.credit_units:
            return await self._cancel_mint(rev, entry)
        if status is OutboxStatus.FAILED or status is None:
            return await self._decide(rev, ReversalAction.NOTHING_MINTED, note="the mint never happened")
        if status is not OutboxStatus.CONFIRMED:
            return ReversalAction.PENDING.value  # wait for the mint to be final
        if entry.wallet_kind != "managed":
            return await self._decide(
                rev, ReversalAction.FLAGGED, debt=rev.credit_units, note="credit is in a user-held wallet"
            )
        return await self._start_clawback(rev, entry)

    async def _decide(
        self,
        rev: Reversal,
        action: ReversalAction,
        *,
        debt: CreditUnits = CreditUnits(0),  # noqa: B008 - NewType is the identity at runtime
        note: str,
        clawback: CreditUnits = CreditUnits(0),  # noqa: B008
        stage: str | None = None,
        outbox_row: dict[str, Any] | None = None,
    ) -> str:
        async with self.sessionmaker() as s, s.begin():
            moved = await s.execute(
                update(Reversal)
                .where(Reversal.id == rev.id, Reversal.action == ReversalAction.PENDING.value)
                .values(
                    action=action.value,
                    debt_units=debt,
                    clawback_units=clawback,
                    stage=stage,
                    note=note,
                    updated_at=utcnow(),
                )
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                return ReversalAction.PENDING.value  # someone else decided it meanwhile
            if outbox_row is not None:
                await outbox.enqueue(s, **outbox_row)
            if debt:
                await flag_account(s, rev, debt, f"{rev.kind}_unrecovered")
        return action.value

    async def _cancel_mint(self, rev: Reversal, entry: LedgerEntry) -> str:
        async with self.sessionmaker() as s, s.begin():
            cancelled = await s.execute(
                update(OutboxTx)
                .where(OutboxTx.idempotency_key == entry.mint_key, OutboxTx.status == OutboxStatus.PENDING)
                .values(
                    status=OutboxStatus.FAILED,
                    last_error=f"cancelled: {rev.kind} {rev.business_key}",
                    failed_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            if cancelled.rowcount != 1:  # type: ignore[attr-defined]
                return ReversalAction.PENDING.value  # the sender signed it meanwhile: decide again later
            await s.execute(
                update(Reversal)
                .where(Reversal.id == rev.id)
                .values(
                    action=ReversalAction.MINT_CANCELLED.value,
                    note="mint cancelled before signing",
                    updated_at=utcnow(),
                )
            )
        return ReversalAction.MINT_CANCELLED.value

    async def _start_clawback(self, rev: Reversal, entry: LedgerEntry) -> str:
        async with self.sessionmaker() as s:
            busy = (
                await s.execute(
                    select(func.count(Reversal.id)).where(
                        Reversal.user_id == rev.user_id,
                        Reversal.id != rev.id,
                        Reversal.action == ReversalAction.CLAWBACK.value,
                    )
                )
            ).scalar_one()
            if busy:
                return ReversalAction.PENDING.value  # one clawback per wallet at a time (permit nonces)
            account = await load_account(s, rev.user_id, self.keyring)
        owner = to_checksum_address(entry.wallet_address)
        if account.address != owner:
            return await self._decide(
                rev,
                ReversalAction.FLAGGED,
                debt=rev.credit_units,
                note="managed key does not match the credited wallet",
            )
        balance = await self.token.balance_of(owner)
        amount = CreditUnits(min(rev.credit_units, balance))
        if amount <= 0:
            return await self._decide(
                rev, ReversalAction.FLAGGED, debt=rev.credit_units, note="the credit was spent"
            )
        nonce = int((await self.token.call("nonces", owner))[0])
        domain = await self.token.call("eip712Domain")
        deadline = int(time.time()) + PERMIT_TTL
        typed = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Permit": [
                    {"name": "owner", "type": "address"},
                    {"name": "spender", "type": "address"},
                    {"name": "value", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "Permit",
            "domain": {
                "name": domain[1],
                "version": domain[2],
                "chainId": int(domain[3]),
                "verifyingContract": to_checksum_address(domain[4]),
            },
            "message": {
                "owner": owner,
                "spender": to_checksum_address(self.spender),
                "value": amount,
                "nonce": nonce,
                "deadline": deadline,
            },
        }
        signed = Account.sign_message(encode_typed_data(full_message=typed), account.key)
        data = self.token.encode(
            "permit",
            owner,
            to_checksum_address(self.spender),
            amount,
            deadline,
            signed.v,
            signed.r.to_bytes(32, "big"),
            signed.s.to_bytes(32, "big"),
        )
        row = {
            "kind": "credit.clawback.permit",
            "to": self.token.address,
            "data": data,
            "idempotency_key": stage_key(rev.id, "permit"),
            "args": {"owner": owner, "spender": self.spender, "amount": str(amount), "reversal": rev.id},
        }
        return await self._decide(
            rev,
            ReversalAction.CLAWBACK,
            debt=CreditUnits(rev.credit_units - amount),
            clawback=amount,
            stage="permit",
            note="clawback started",
            outbox_row=row,
        )

    async def _advance(self, rev: Reversal, entry: LedgerEntry) -> str:
        """Move a running clawback to its next stage once the current stage's transaction is confirmed."""
        stage = rev.stage or "permit"
        async with self.sessionmaker() as s, s.begin():
            row = await outbox.get_by_key(s, stage_key(rev.id, stage))
            if row is None or not row.status.is_final:
                return ReversalAction.CLAWBACK.value
            if row.status is OutboxStatus.FAILED:
                moved = await s.execute(
                    update(Reversal)
                    .where(
                        Reversal.id == rev.id,
                        Reversal.stage == stage,
                        Reversal.action == ReversalAction.CLAWBACK.value,
                    )
                    .values(
                        action=ReversalAction.DONE.value,
                        note=f"clawback {stage} failed: {row.last_error}",
                        updated_at=utcnow(),
                    )
                )
                if moved.rowcount == 1 and stage != "burn":  # type: ignore[attr-defined]
                    # permit or pull failed: nothing was recovered. (A failed burn leaves the credit with
                    # the backend signer: recovered, not destroyed; the debt stays what it was.)
                    await flag_account(s, rev, rev.credit_units, f"{rev.kind}_unrecovered")
                    await s.execute(
                        update(Reversal).where(Reversal.id == rev.id).values(debt_units=rev.credit_units)
                    )
                elif moved.rowcount == 1:  # type: ignore[attr-defined]
                    await s.execute(
                        update(Reversal)
                        .where(Reversal.id == rev.id)
                        .values(debt_units=rev.credit_units - rev.clawback_units)
                    )
                return ReversalAction.DONE.value
            if stage == "burn":
                await s.execute(
                    update(Reversal)
                    .where(Reversal.id == rev.id, Reversal.stage == stage)
                    .values(action=ReversalAction.DONE.value, note="clawback burned", updated_at=utcnow())
                )
                return ReversalAction.DONE.value
            nxt = STAGES[STAGES.index(stage) + 1]
            owner = to_checksum_address(entry.wallet_address)
            if nxt == "pull":
                data = self.token.encode(
                    "transferFrom", owner, to_checksum_address(self.spender), rev.clawback_units
                )
            else:
                data = self.token.encode_burn(rev.clawback_units)
            moved = await s.execute(
                update(Reversal)
                .where(Reversal.id == rev.id, Reversal.stage == stage)
                .values(stage=nxt, updated_at=utcnow())
            )
            if moved.rowcount == 1:  # type: ignore[attr-defined]
                await outbox.enqueue(
                    s,
                    kind=f"credit.clawback.{nxt}",
                    to=self.token.address,
                    data=data,
                    idempotency_key=stage_key(rev.id, nxt),
                    args={"owner": owner, "amount": str(rev.clawback_units), "reversal": rev.id},
                )
        return ReversalAction.CLAWBACK.value
