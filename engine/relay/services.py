"""Managed payers: sign queued escrow requests one at a time and hand them to the outbox.

A payer's escrow nonce is a single sequence for open, top-up and close; the outbox estimates gas against
the chain, where a request carrying nonce ``n + 1`` reverts until ``n`` is mined. So at most ONE request
per payer is ``sent`` (enqueued, not yet confirmed); :meth:`Relay.advance` signs the next ``queued`` one
with the nonce read from the chain once the previous outbox row is confirmed (or failed). It is called
when requests are queued and by the escrow event subscriber after every indexed batch.

A failed open (its outbox row failed: the estimate or the mined transaction reverted) fails the
deployment with the outbox's decoded revert reason (:func:`engine.deployments.lifecycle.open_failed`).

Open requests carry an EIP-2612 permit for exactly the deposit (so the managed wallet needs no ETH and no
prior approve); top-ups carry one for the amount; closes need none.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chain.contracts import CreditTokenClient, EscrowClient
from chain.quotes import Quoter
from engine.deployments import lifecycle
from engine.deployments import models as m
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.outbox.services import enqueue
from engine.relay import signing
from engine.wallets.crypto import Keyring
from engine.wallets.services import load_account

REQUEST_TTL = 3_600  # seconds of chain time a signed request stays valid


def outbox_key(request_id: int) -> str:
    return f"escrow-request:{request_id}"


class Relay:
    def __init__(
        self, escrow: EscrowClient, token: CreditTokenClient, keyring: Keyring, quoter: Quoter
    ) -> None:
        self.escrow = escrow
        self.token = token
        self.keyring = keyring
        self.quoter = quoter  # signs each relayed open's price (the escrow checks it, issue 10)

    async def queue(
        self, session: AsyncSession, dep: m.Deployment, lease: m.Lease, kind: str, amount: int = 0
    ) -> m.EscrowRequest:
        row = m.EscrowRequest(
            user_id=dep.user_id,
            payer=dep.payer,
            deployment_id=dep.id,
            lease_row_id=lease.id,
            kind=kind,
            amount=amount,
            status=m.REQ_QUEUED,
        )
        session.add(row)
        await session.flush()
        return row

    async def _in_flight(self, session: AsyncSession, payer: str) -> bool:
        sent = (
            await session.scalars(
                select(m.EscrowRequest).where(
                    m.EscrowRequest.payer == payer, m.EscrowRequest.status == m.REQ_SENT
                )
            )
        ).all()
        busy = False
        for req in sent:
            ob = (
                await session.scalars(select(OutboxTx).where(OutboxTx.idempotency_key == req.outbox_key))
            ).first()
            if ob is None or ob.status == OutboxStatus.CONFIRMED:
                req.status = m.REQ_DONE
            elif ob.status == OutboxStatus.FAILED:
                req.status = m.REQ_FAILED
                if req.kind == m.REQ_OPEN:  # the deployment must not wait for ever: failed, with why
                    await lifecycle.open_failed(
                        session, lifecycle.Closer(self, self.escrow, None), req, ob.last_error
                    )
            else:
                busy = True
        return busy

    async def advance(self, session: AsyncSession, payer: str) -> m.EscrowRequest | None:
        """Sign and enqueue ``payer``'s next queued request if none is in flight (caller commits)."""
        if await self._in_flight(session, payer):
            return None
        req = (
            await session.scalars(
                select(m.EscrowRequest)
                .where(m.EscrowRequest.payer == payer, m.EscrowRequest.status == m.REQ_QUEUED)
                .order_by(m.EscrowRequest.id)
                .limit(1)
            )
        ).first()
        if req is None:
            return None
        lease = await session.get(m.Lease, req.lease_row_id)
        dep = await session.get(m.Deployment, req.deployment_id)
        assert lease is not None and dep is not None
        closable = (m.LEASE_OPEN, m.RETIRING) if req.kind == m.REQ_CLOSE else (m.LEASE_OPEN,)
        if req.kind != m.REQ_OPEN and (lease.chain_lease_id is None or lease.status not in closable):
            req.status = m.REQ_FAILED  # nothing to top up / close (never opened, or already closed)
            return await self.advance(session, payer)
        if req.kind == m.REQ_TOP_UP and lease.stopped_at is not None:
            req.status = m.REQ_FAILED  # its node stopped on chain: never topped up (the escrow refuses)
            return await self.advance(session, payer)
        if req.kind == m.REQ_OPEN and lease.status != m.AWAITING_FUNDS:
            req.status = m.REQ_FAILED  # cancelled meanwhile
            return await self.advance(session, payer)
        account = await load_account(session, req.user_id, self.keyring)
        nonce = int((await self.escrow.call("nonces", payer))[0])
        block = await self.escrow.w3.eth.get_block("latest")
        deadline = int(block["timestamp"]) + REQUEST_TTL
        domain = await signing.read_domain(self.escrow)
        if req.kind == m.REQ_OPEN:
            spec_hash = bytes.fromhex(dep.spec_hash[2:])
            body = signing.open_request(
                payer, lease.chain_node_id, lease.rate_per_second, lease.deposit, spec_hash, nonce, deadline
            )
            terms = self.quoter.quote(
                payer, lease.chain_node_id, lease.rate_per_second, spec_hash, now=int(block["timestamp"])
            )
            lease.quote_expiry = terms.expiry  # the stored terms the indexer's quote check reads
            quote = self.quoter.sign(terms)
            permit = await signing.permit_tuple(
                account, self.token, self.escrow.address, lease.deposit, deadline
            )
            data = signing.encode_open_by_sig(
                self.escrow, body, quote, permit, signing.sign_open(account, domain, body)
            )
            kind = "escrow.openBySig"
        elif req.kind == m.REQ_TOP_UP:
            body = {
                "payer": payer,
                "leaseId": int(lease.chain_lease_id or 0),
                "amount": req.amount,
                "nonce": nonce,
                "deadline": deadline,
            }
            permit = await signing.permit_tuple(
                account, self.token, self.escrow.address, req.amount, deadline
            )
            data = signing.encode_top_up_by_sig(
                self.escrow, body, permit, signing.sign_top_up(account, domain, body)
            )
            kind = "escrow.topUpBySig"
        else:
            body = {
                "payer": payer,
                "leaseId": int(lease.chain_lease_id or 0),
                "nonce": nonce,
                "deadline": deadline,
            }
            data = signing.encode_close_by_sig(self.escrow, body, signing.sign_close(account, domain, body))
            kind = "escrow.closeBySig"
        key = outbox_key(req.id)
        await enqueue(
            session,
            kind=kind,
            to=self.escrow.address,
            data=data,
            idempotency_key=key,
            args={"payer": payer, "deployment_id": dep.id, "lease_row_id": lease.id, "nonce": nonce},
        )
        req.status = m.REQ_SENT
        req.nonce = nonce
        req.outbox_key = key
        await session.flush()
        return req

    async def advance_all(self, session: AsyncSession) -> int:
        """Advance every payer with queued or in-flight requests; returns how many were enqueued."""
        payers = (
            await session.scalars(
                select(m.EscrowRequest.payer)
                .where(m.EscrowRequest.status.in_((m.REQ_QUEUED, m.REQ_SENT)))
                .distinct()
            )
        ).all()
        n = 0
        for payer in payers:
            if await self.advance(session, payer) is not None:
                n += 1
        return n
