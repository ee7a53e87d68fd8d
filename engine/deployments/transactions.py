"""Unsigned escrow transactions for a wallet-connected payer (or a provider's payee) to sign: built as data,
never sent. Used by the deployment, scaling and failover commands; managed payers go through the relay
(:mod:`engine.relay`) instead.

Every ``open`` carries the engine's quote (issue 10): the quoting key signs (payer, node, list rate, spec
hash, expiry = chain time + ``quote_ttl``), so a payer who edits the rate, node or spec of the unsigned
transaction gets ``InvalidQuote`` from the escrow, and one who sends it after the expiry ``QuoteExpired``.
The quote's expiry is stored on the lease row it was signed for (``leases.quote_expiry``): the indexer's
quote check (:mod:`engine.deployments.quotecheck`) compares a ``LeaseOpened`` with those stored terms."""

from __future__ import annotations

from dataclasses import dataclass

from chain.contracts import CreditTokenClient, EscrowClient, UnsignedTx
from chain.quotes import Quoter
from engine.context import Context
from engine.deployments import models as m
from engine.errors import ContractMissing
from engine.money import CreditUnits


@dataclass(frozen=True)
class EscrowTxs:
    """Transactions ``sender`` signs against the escrow (and the credit token, for its allowance)."""

    escrow: EscrowClient
    token: CreditTokenClient
    chain_id: int
    sender: str
    quoter: Quoter | None = None  # None: no opens (closes, top-ups and withdrawals only)

    @classmethod
    def for_sender(cls, ctx: Context, sender: str) -> EscrowTxs:
        """Raises ``ContractMissing`` when the chain has no escrow."""
        return cls(ctx.contracts.require_escrow(), ctx.contracts.token, ctx.chain_id, sender, ctx.quoter)

    def _tx(self, to: str, data: bytes, description: str) -> UnsignedTx:
        return UnsignedTx(to, data, self.chain_id, from_address=self.sender, description=description)

    async def approve_if_short(self, amount: CreditUnits, description: str) -> list[UnsignedTx]:
        """An ``approve(escrow, amount)`` when the sender's allowance is short of ``amount`` (reads it)."""
        if await self.token.allowance(self.sender, self.escrow.address) >= amount:
            return []
        return [
            self._tx(self.token.address, self.token.encode_approve(self.escrow.address, amount), description)
        ]

    async def open(
        self,
        chain_node_id: int,
        rate: CreditUnits,
        deposit: CreditUnits,
        spec_hash: bytes,
        description: str,
        *,
        lease: m.Lease | None = None,
    ) -> UnsignedTx:
        """``open`` at the quoted list ``rate``, with the quote signed now (reads the chain time); the
        quote's expiry is recorded on ``lease`` (the row the open is for; the caller's transaction saves it).

        Raises ``ContractMissing`` when there is no quoting key (no escrow)."""
        if self.quoter is None:
            raise ContractMissing("DeploymentEscrow")
        now = int((await self.escrow.w3.eth.get_block("latest"))["timestamp"])
        quote = self.quoter.quote(self.sender, chain_node_id, rate, spec_hash, now=now)
        if lease is not None:
            lease.quote_expiry = quote.expiry
        data = self.escrow.encode_open(chain_node_id, rate, deposit, spec_hash, self.quoter.sign(quote))
        return self._tx(self.escrow.address, data, description)

    def top_up(self, lease_id: int, amount: CreditUnits, description: str) -> UnsignedTx:
        return self._tx(self.escrow.address, self.escrow.encode_top_up(lease_id, amount), description)

    def close(self, lease_id: int, description: str) -> UnsignedTx:
        return self._tx(self.escrow.address, self.escrow.encode_close(lease_id), description)

    def withdraw(self, chain_node_id: int, description: str) -> UnsignedTx:
        return self._tx(self.escrow.address, self.escrow.encode_withdraw(chain_node_id), description)
