"""Swap commands: quote through the router's ``getAmountsOut``, then swap with a slippage bound and deadline.

:func:`quote_swap` picks the best route among the direct pool and every two-hop route through another
offered token (only pools that exist and hold reserves), asks the router's ``getAmountsOut`` for it (the
amounts a swap at the current reserves gets), and computes the price impact in basis points from the pools'
reserves: how far the execution price falls short of the mid price after the 0.3 % pool fee.

:func:`swap` needs ``amount_out_min`` (the router reverts ``UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT``
below it: the bound is enforced on chain, not here) and a ``deadline`` (chain time, at most
:data:`MAX_DEADLINE` ahead). For a wallet-connected wallet it returns the unsigned transactions: an
``approve(router, amount_in)`` when the allowance is short, then ``swapExactTokensForTokens`` to the same
wallet. Nothing is written to the database.

Managed wallets cannot swap yet (:class:`ManagedSwapUnsupported`, 409): the router takes the tokens from
``msg.sender``, so the swap would have to be signed with the managed key and sent from the managed address
inside the request — outside the outbox (no stored raw tx, no nonce lock, no crash safety), the pattern this
project refuses. The right design (a permit-based swap adapter the backend signer calls through the outbox,
with the payer's EIP-712 swap intent) is not built.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from eth_utils.address import is_address, to_checksum_address

from chain.contracts import UnsignedTx
from chain.errors import ChainError, ContractRevert
from chain.uniswap import FEE_DEN, FEE_NUM, SwapClients
from engine.context import Context
from engine.identity.services import wallet_links
from engine.money import Bps
from engine.swaps.errors import (
    BadSwapRequest,
    ManagedSwapUnsupported,
    NoRoute,
    SwapUnavailable,
    UnknownToken,
    WalletNotOwned,
)
from engine.swaps.models import Quote, QuoteRequest, SwapRequest, SwapResult

MAX_DEADLINE = 24 * 3600  # seconds of chain time a swap may stay valid
# gas limits (what a node checks the balance against: estimate * 1.2 + headroom, chain.deploy.gas_limit)
# bounded from above, to check a managed wallet can pay for its approve + swap before sending either
APPROVE_GAS = 120_000
SWAP_GAS_BASE = 100_000
SWAP_GAS_PER_HOP = 120_000
ZERO = "0x" + "0" * 40


def _clients(ctx: Context) -> SwapClients:
    if ctx.swaps is None:
        raise SwapUnavailable()
    return ctx.swaps


def _token(clients: SwapClients, symbol: str) -> str:
    address = clients.token(symbol)
    if address is None:
        raise UnknownToken(symbol, sorted(clients.tokens))
    return address


@dataclass(frozen=True)
class _Hop:
    reserve_in: int
    reserve_out: int


async def _hop(clients: SwapClients, token_in: str, token_out: str) -> _Hop | None:
    factory = await clients.get_factory()
    pair_address = await factory.get_pair(token_in, token_out)
    if int(pair_address, 16) == 0:
        return None
    pair = clients.pair(pair_address)
    r0, r1 = await pair.reserves()
    if r0 == 0 or r1 == 0:
        return None
    token0 = await pair.token0()
    return _Hop(r0, r1) if token0 == to_checksum_address(token_in) else _Hop(r1, r0)


def price_impact_bps(amount_in: int, amount_out: int, hops: list[_Hop]) -> Bps:
    """``1 - amount_out / ideal`` in bps (floor), where ``ideal`` is ``amount_in`` at the mid price of every
    hop after the 0.3 % fee: ``amount_in * prod(997 * r_out) / prod(1000 * r_in)``."""
    num, den = amount_in, 1
    for hop in hops:
        num *= FEE_NUM * hop.reserve_out
        den *= FEE_DEN * hop.reserve_in
    if num == 0:
        return Bps(0)
    return Bps(max(0, (num - amount_out * den) * 10_000 // num))


async def quote_swap(ctx: Context, req: QuoteRequest) -> Quote:
    """The best route's amount out (the router's ``getAmountsOut``), its price impact and route.

    Raises ``SwapUnavailable`` (no router on this chain), ``UnknownToken``, ``BadSwapRequest`` (same token
    twice, amount not positive), ``NoRoute`` (no pools with reserves between the two)."""
    clients = _clients(ctx)
    a, b = _token(clients, req.token_in), _token(clients, req.token_out)
    if a == b:
        raise BadSwapRequest("token_out", "token_in and token_out must differ")
    if req.amount_in <= 0:
        raise BadSwapRequest("amount_in", "amount_in must be positive")
    candidates = [[req.token_in, req.token_out]] + [
        [req.token_in, mid, req.token_out]
        for mid in sorted(clients.tokens)
        if mid not in (req.token_in, req.token_out)
    ]
    best: Quote | None = None
    for route in candidates:
        path = [_token(clients, s) for s in route]
        hops: list[_Hop] = []
        for x, y in pairwise(path):
            hop = await _hop(clients, x, y)
            if hop is None:
                break
            hops.append(hop)
        if len(hops) != len(path) - 1:
            continue
        try:
            amounts = await clients.router.get_amounts_out(req.amount_in, path)
        except ChainError:
            continue  # e.g. an output that rounds to zero: this route cannot carry the amount
        if best is not None and amounts[-1] <= best.amount_out:
            continue
        best = Quote(
            token_in=req.token_in,
            token_out=req.token_out,
            amount_in=req.amount_in,
            amount_out=amounts[-1],
            route=route,
            path=path,
            amounts=amounts,
            price_impact_bps=price_impact_bps(req.amount_in, amounts[-1], hops),
            router=clients.router.address,
        )
    if best is None or best.amount_out == 0:
        raise NoRoute(req.token_in, req.token_out)
    return best


async def _wallet(ctx: Context, user_id: int, requested: str | None) -> tuple[str, bool]:
    """(address, managed?) of the wallet to swap from: the requested one of the caller's, else the first
    linked (SIWE) wallet, else the managed one."""
    if requested is not None and not is_address(requested):
        raise BadSwapRequest("wallet", "wallet must be an address")
    async with ctx.sessionmaker() as session:
        links = await wallet_links(session, user_id)
    if requested is not None:
        wanted = to_checksum_address(requested)
        for link in links:
            if to_checksum_address(link.address) == wanted:
                return wanted, link.kind == "managed"
        raise WalletNotOwned(wanted)
    ordered = [lk for lk in links if lk.kind != "managed"] + [lk for lk in links if lk.kind == "managed"]
    if not ordered:
        raise WalletNotOwned(None)
    return to_checksum_address(ordered[0].address), ordered[0].kind == "managed"


async def swap(ctx: Context, user_id: int, req: SwapRequest) -> SwapResult:
    """Swap ``amount_in`` of ``token_in`` for at least ``amount_out_min`` of ``token_out`` before
    ``deadline``, from one of the caller's wallets (see the module docstring).

    Raises everything :func:`quote_swap` raises, ``BadSwapRequest`` (bound or deadline out of range),
    ``WalletNotOwned``, and ``ManagedSwapUnsupported`` for a managed wallet."""
    clients = _clients(ctx)
    if req.amount_out_min <= 0:
        raise BadSwapRequest("amount_out_min", "amount_out_min (the slippage bound) must be positive")
    now = await ctx.chain_now()
    if not now < req.deadline <= now + MAX_DEADLINE:
        raise BadSwapRequest(
            "deadline", f"deadline must be after chain time {now}, at most {MAX_DEADLINE} s on"
        )
    wallet, managed = await _wallet(ctx, user_id, req.wallet)
    quote = await quote_swap(ctx, QuoteRequest(req.token_in, req.token_out, req.amount_in))
    router = clients.router
    token = clients.erc20(quote.path[0])
    approve = None
    if await token.allowance(wallet, router.address) < req.amount_in:
        approve = token.encode_approve(router.address, req.amount_in)
    swap_data = router.encode_swap_exact_tokens_for_tokens(
        req.amount_in, req.amount_out_min, quote.path, wallet, req.deadline
    )
    if not managed:
        txs = (
            []
            if approve is None
            else [
                UnsignedTx(
                    token.address,
                    approve,
                    ctx.chain_id,
                    from_address=wallet,
                    description="approve the router",
                )
            ]
        )
        txs.append(
            UnsignedTx(router.address, swap_data, ctx.chain_id, from_address=wallet, description="swap")
        )
        return SwapResult(quote, wallet, False, req.amount_out_min, req.deadline, txs, [], None)
    raise ManagedSwapUnsupported(wallet)


def _reason(exc: ContractRevert) -> str:
    message = exc.error_args.get("message")
    return str(message) if message else exc.error


def _hash(value: object) -> str:
    to_hex = getattr(value, "to_0x_hex", None)
    return str(to_hex()) if callable(to_hex) else str(value)
