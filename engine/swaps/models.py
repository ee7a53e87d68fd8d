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
    tx_hashes: list[str]  # managed: the approve (if any) and the swap, mined
    amount_out: int | None  # managed: what arrived (balance difference); None for unsigned transactions
