"""What the swaps commands take and return (plain data; amounts in each token's smallest unit)."""

from __future__ import annotations

from dataclasses import dataclass

from chain.contracts import UnsignedTx
from engine.money import Bps


@dataclass(frozen=True)
class QuoteRequest:
    token_in: str  # a configured symbol (``GET`` the quote's ``tokens`` for the list)
    token_out: str
    amount_in: int


@dataclass(frozen=True)
class SwapRequest:
    token_in: str
    token_out: str
    amount_in: int
    amount_out_min: int  # the slippage bound the router enforces on chain
    deadline: int  # unix seconds (chain time) after which the router refuses the swap
    wallet: str | None = None  # one of the caller's wallets; default: the first linked one, else managed
    # top up this lease with the credit, in the same transaction (the SwapTopUp adapter): a chain lease id
    # paid by the wallet, and/or one of the caller's deployments (its first open primary lease)
    lease_id: int | None = None
    deployment_id: int | None = None


@dataclass(frozen=True)
class Quote:
    token_in: str
    token_out: str
    amount_in: int
    amount_out: int  # the router's getAmountsOut for ``route``
    route: list[str]  # symbols, token_in first
    path: list[str]  # addresses of ``route``
    amounts: list[int]  # getAmountsOut per hop
    price_impact_bps: Bps  # execution price vs the pools' mid price after the 0.3 % fee (Uniswap UI's figure)
    router: str


@dataclass(frozen=True)
class SwapResult:
    quote: Quote
    wallet: str
    managed: bool
    amount_out_min: int
    deadline: int
    transactions: list[UnsignedTx]  # wallet-connected: approve (if short) + swap, to sign in order
    tx_hashes: list[str]  # managed: the relayed transaction, once mined (see SwapStatus)
    amount_out: int | None  # what arrived, once known; None for unsigned transactions and pending swaps
    lease_id: int | None = None  # the lease topped up in the same transaction, if any
    swap_id: int | None = None  # managed: the relayed swap (its outbox row), for GET /api/wallet/swaps/{id}
    status: str | None = None  # managed: pending | done | failed (SwapStatus.status)


@dataclass(frozen=True)
class SwapStatus:
    """A managed wallet's relayed swap: its outbox row, read back."""

    swap_id: int
    status: str  # pending (queued or on its way) | done (confirmed) | failed (reverted: ``error``)
    wallet: str
    lease_id: int | None
    amount_in: int
    amount_out_min: int
    amount_out: int | None  # from the adapter's SwappedToCredit event, once done
    tx_hash: str | None
    error: str | None  # the decoded revert (e.g. the router's INSUFFICIENT_OUTPUT_AMOUNT)
