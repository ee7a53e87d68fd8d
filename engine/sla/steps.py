"""The outbox steps of a breach record after it is written (see :mod:`engine.sla.commands`)::

    seizing   -- seize final, signer holds the rebate, escrow allowance enough -> topUp enqueued -> crediting
                 (allowance short: one standing approve(escrow, 2**256 - 1) enqueued, the next run goes on)
    crediting -- topUp confirmed -> credited (tenant notified)
              -- topUp failed (lease closed / depleted / its node stopped) -> transfer(payer) -> paying
    paying    -- confirmed -> paid (tenant notified); failed -> failed

Each step is a compare-and-set on the record's status plus an outbox row with a deterministic key, in one
transaction: two runs racing move a record once and enqueue one row.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from engine.context import Context
from engine.deployments.models import Deployment
from engine.notifications.services import notify
from engine.outbox.models import OutboxStatus
from engine.outbox.services import enqueue, rows_by_keys
from engine.sla import models as m
from engine.sla import services as sv

log = logging.getLogger(__name__)

MAX_ALLOWANCE = 2**256 - 1


async def advance_records(ctx: Context) -> int:
    """Move every open breach record one step where its outbox rows allow (module docstring). Returns how
    many moved. Raises what chain reads raise."""
    escrow, token = ctx.contracts.require_escrow(), ctx.contracts.token
    async with ctx.sessionmaker() as s:
        recs = list(
            (
                await s.scalars(
                    select(m.SlaRecord)
                    .where(m.SlaRecord.status.in_(m.OPEN_STATUSES))
                    .order_by(m.SlaRecord.id)
                )
            ).all()
        )
        keys = [k for r in recs for k in (r.seize_key, r.credit_key, r.pay_key) if k]
        rows = await rows_by_keys(s, keys)
    moved = 0
    for rec in recs:
        if rec.status == m.SEIZING:
            seize = rows.get(rec.seize_key) if rec.seize_key else None
            if rec.seize_key and (seize is None or not seize.status.is_final):
                continue
            if await token.balance_of(ctx.signer_address) < rec.rebate:
                log.warning(
                    "sla record %s: signer holds less than the rebate %s; waiting", rec.id, rec.rebate
                )
                continue
            allowance = await token.allowance(ctx.signer_address, escrow.address)
            if allowance < rec.rebate:
                async with ctx.sessionmaker() as s, s.begin():
                    await enqueue(
                        s,
                        kind="sla.approve",
                        to=token.address,
                        data=token.encode_approve(escrow.address, MAX_ALLOWANCE),
                        idempotency_key=sv.approve_key(ctx.chain_id, escrow.address, allowance),
                        args={"spender": escrow.address},
                    )
                continue
            key = sv.outbox_key(ctx.chain_id, "credit", rec.chain_lease_id, rec.period_start)
            # a seizure that reverted (e.g. the collateral shrank below it meanwhile) took nothing; the
            # tenant is paid anyway
            seized = rec.seized if seize is None or seize.status is OutboxStatus.CONFIRMED else 0
            async with ctx.sessionmaker() as s, s.begin():
                done = await s.execute(
                    update(m.SlaRecord)
                    .where(m.SlaRecord.id == rec.id, m.SlaRecord.status == m.SEIZING)
                    .values(status=m.CREDITING, credit_key=key, seized=seized, updated_at=ctx.clock())
                )
                if getattr(done, "rowcount", 0):
                    await enqueue(
                        s,
                        kind="sla.credit",
                        to=escrow.address,
                        data=escrow.encode_top_up(int(rec.chain_lease_id), rec.rebate),
                        idempotency_key=key,
                        args={"record": rec.id, "lease_id": rec.chain_lease_id, "amount": rec.rebate},
                    )
                    moved += 1
        elif rec.status == m.CREDITING:
            row = rows.get(rec.credit_key or "")
            if row is None or not row.status.is_final:
                continue
            if row.status is OutboxStatus.CONFIRMED:
                moved += await _finish(ctx, rec, m.CREDITED, row.tx_hash)
                continue
            key = sv.outbox_key(ctx.chain_id, "pay", rec.chain_lease_id, rec.period_start)
            async with ctx.sessionmaker() as s, s.begin():
                done = await s.execute(
                    update(m.SlaRecord)
                    .where(m.SlaRecord.id == rec.id, m.SlaRecord.status == m.CREDITING)
                    .values(status=m.PAYING, pay_key=key, updated_at=ctx.clock())
                )
                if getattr(done, "rowcount", 0):
                    await enqueue(
                        s,
                        kind="sla.pay",
                        to=token.address,
                        data=token.encode_transfer(rec.payer, rec.rebate),
                        idempotency_key=key,
                        args={"record": rec.id, "payer": rec.payer, "amount": rec.rebate},
                    )
                    moved += 1
        elif rec.status == m.PAYING:
            row = rows.get(rec.pay_key or "")
            if row is None or not row.status.is_final:
                continue
            ok = row.status is OutboxStatus.CONFIRMED
            moved += await _finish(ctx, rec, m.PAID if ok else m.FAILED, row.tx_hash)
    return moved


async def _finish(ctx: Context, rec: m.SlaRecord, to: str, tx_hash: str | None) -> int:
    async with ctx.sessionmaker() as s, s.begin():
        done = await s.execute(
            update(m.SlaRecord)
            .where(m.SlaRecord.id == rec.id, m.SlaRecord.status == rec.status)
            .values(status=to, updated_at=ctx.clock())
        )
        if not getattr(done, "rowcount", 0):
            return 0
        if to in (m.CREDITED, m.PAID):
            dep = await s.get(Deployment, rec.deployment_id)
            if dep is not None:
                where = "to the lease" if to == m.CREDITED else "to your wallet (the lease had ended)"
                await notify(
                    s,
                    dep.user_id,
                    "sla_credit_paid",
                    f"sla_credit_paid:{rec.chain_lease_id}:{rec.period_start}",
                    f"SLA credit paid for deployment {dep.id}",
                    f"{rec.rebate} credit units were paid {where}.",
                    {
                        "record_id": rec.id,
                        "lease_id": rec.chain_lease_id,
                        "amount": rec.rebate,
                        "tx_hash": tx_hash,
                    },
                )
    return 1
