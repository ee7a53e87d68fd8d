"""Swap commands: quote through the router's ``getAmountsOut``, then swap with a slippage bound and deadline.

:func:`quote_swap` picks the best route among the direct pool and every two-hop route through another
offered token (only pools that exist and hold reserves), asks the router's ``getAmountsOut`` for it (the
amounts a swap at the current reserves gets), and computes the price impact in basis points from the pools'
reserves: how far the execution price falls short of the mid price after the 0.3 % pool fee.

:func:`swap` needs ``amount_out_min`` (the router reverts ``UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT``
below it: the bound is enforced on chain, not here) and a ``deadline`` (chain time, at most
:data:`MAX_DEADLINE` ahead).

* A wallet-connected wallet gets unsigned transactions: an ``approve`` when the allowance is short, then
  ``swapExactTokensForTokens`` on the router to the same wallet — or, with a lease to fund (``lease_id`` /
  ``deployment_id``), ``approve(adapter)`` + the ``SwapTopUp`` adapter's ``swapAndTopUp``: swap into credit
  and top up the wallet's own lease in ONE transaction. Nothing is written to the database.
* A managed wallet (tokens, no ETH) swaps into credit through the adapter, relayed by the outbox
  (:mod:`engine.swaps.relay`): to its lease in the same transaction, or to the wallet. The result carries
  the ``swap_id`` (its outbox row) to follow with :func:`swap_status`; a too-tight bound ends ``failed``
  with the decoded revert and nothing done.

The lease must be paid by the swapping wallet (the lease id binds its payer, ``leaseId >> 64``; the adapter
checks the same on chain, so an edited transaction cannot top up someone else's lease) and open.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from eth_utils.address import is_address, to_checksum_address
from sqlalchemy import select

from chain.contracts import UnsignedTx
from chain.errors import ChainError
from chain.uniswap import FEE_DEN, FEE_NUM, SwapClients, SwapTopUpClient
from engine.context import Context
from engine.deployments import models as dm
from engine.identity.services import wallet_links
from engine.money import Bps
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.swaps import relay
from engine.swaps.errors import (
    AdapterUnavailable,
    BadSwapRequest,
    LeaseNotFound,
    LeaseNotFundable,
    NoRoute,
    SwapInFlight,
    SwapNotFound,
    SwapUnavailable,
    UnknownToken,
    WalletNotOwned,
)
from engine.swaps.models import Quote, QuoteRequest, SwapRequest, SwapResult, SwapStatus
from engine.wallets.services import load_account

MAX_DEADLINE = 24 * 3600  # seconds of chain time a swap may stay valid


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


async def _wallets(ctx: Context, user_id: int) -> list[tuple[str, bool]]:
    """The caller's wallets as (address, managed?), linked (SIWE) ones first."""
    async with ctx.sessionmaker() as session:
        links = await wallet_links(session, user_id)
    ordered = [lk for lk in links if lk.kind != "managed"] + [lk for lk in links if lk.kind == "managed"]
    return [(to_checksum_address(lk.address), lk.kind == "managed") for lk in ordered]


def _pick_wallet(
    wallets: list[tuple[str, bool]], requested: str | None, payer: str | None
) -> tuple[str, bool]:
    """The requested wallet of the caller's, else the lease's payer, else the first linked, else managed."""
    if requested is not None and not is_address(requested):
        raise BadSwapRequest("wallet", "wallet must be an address")
    wanted = to_checksum_address(requested) if requested is not None else payer
    if wanted is not None:
        for address, managed in wallets:
            if address == wanted:
                return address, managed
        raise WalletNotOwned(wanted)
    if not wallets:
        raise WalletNotOwned(None)
    return wallets[0]


async def _lease_payer(ctx: Context, user_id: int, req: SwapRequest) -> tuple[int, str] | None:
    """(chain lease id, payer) of the lease to fund, or None. The payer is bound into the lease id; a
    ``deployment_id`` must be the caller's (its first open primary lease, or the given ``lease_id`` of it)."""
    if req.lease_id is None and req.deployment_id is None:
        return None
    lease_id = req.lease_id
    if req.deployment_id is not None:
        async with ctx.sessionmaker() as session:
            dep = await session.get(dm.Deployment, req.deployment_id)
            if dep is None or dep.user_id != user_id:
                raise LeaseNotFound(req.lease_id, req.deployment_id)
            query = select(dm.Lease).where(
                dm.Lease.deployment_id == dep.id,
                dm.Lease.chain_lease_id.is_not(None),
                dm.Lease.status == dm.LEASE_OPEN,
            )
            if lease_id is not None:
                query = query.where(dm.Lease.chain_lease_id == str(lease_id))
            else:
                query = query.where(dm.Lease.role == dm.PRIMARY).order_by(dm.Lease.replica_index)
            row = (await session.scalars(query.limit(1))).first()
        if row is None:
            if lease_id is not None:
                raise LeaseNotFound(lease_id, req.deployment_id)
            raise LeaseNotFundable(0, f"deployment {req.deployment_id} has no open lease")
        lease_id = int(row.chain_lease_id or 0)
    assert lease_id is not None
    if not 0 < lease_id < 2**224:  # payer (160 bits) << 64 | sequence
        raise BadSwapRequest("lease_id", "lease_id is not a lease id")
    return lease_id, to_checksum_address((lease_id >> 64).to_bytes(20, "big"))


async def swap(ctx: Context, user_id: int, req: SwapRequest) -> SwapResult:
    """Swap ``amount_in`` of ``token_in`` for at least ``amount_out_min`` of ``token_out`` before
    ``deadline``, from one of the caller's wallets, optionally topping up a lease (module docstring).

    Raises everything :func:`quote_swap` raises, ``BadSwapRequest`` (bound, deadline or lease id out of
    range; a lease or a managed wallet with an output other than credit), ``WalletNotOwned``,
    ``LeaseNotFound`` (the lease is not paid by the swapping wallet / by any of the caller's; the deployment
    is not the caller's),
    ``LeaseNotFundable`` (lease closed or deployment without an open lease), ``AdapterUnavailable`` (a lease
    or a managed wallet where no ``SwapTopUp`` adapter exists), ``SwapInFlight`` (a managed wallet's previous
    swap is not final) and ``ManagedWalletMissing`` (the managed key cannot be loaded)."""
    clients = _clients(ctx)
    if req.amount_out_min <= 0:
        raise BadSwapRequest("amount_out_min", "amount_out_min (the slippage bound) must be positive")
    now = await ctx.chain_now()
    if not now < req.deadline <= now + MAX_DEADLINE:
        raise BadSwapRequest(
            "deadline", f"deadline must be after chain time {now}, at most {MAX_DEADLINE} s on"
        )
    target = await _lease_payer(ctx, user_id, req)
    wallets = await _wallets(ctx, user_id)
    if target is not None and req.wallet is None and target[1] not in (a for a, _ in wallets):
        raise LeaseNotFound(target[0], req.deployment_id)  # no wallet of the caller pays this lease
    wallet, managed = _pick_wallet(wallets, req.wallet, None if target is None else target[1])
    if target is not None and target[1] != wallet:
        raise LeaseNotFound(target[0], req.deployment_id)  # the lease is not paid by this wallet
    quote = await quote_swap(ctx, QuoteRequest(req.token_in, req.token_out, req.amount_in))
    if target is None and not managed:
        return await _router_swap(ctx, clients, quote, wallet, req)
    adapter = clients.adapter
    if adapter is None:
        raise AdapterUnavailable()
    if quote.path[-1] != to_checksum_address(ctx.contracts.token.address):
        raise BadSwapRequest(
            "token_out",
            "a lease top-up or a managed wallet swaps into the credit token only (the SwapTopUp adapter)",
        )
    lease_id = 0
    if target is not None:
        lease_id = target[0]
        info = await ctx.contracts.require_escrow().lease(lease_id)
        if not info.open:
            raise LeaseNotFundable(lease_id, "the lease is not open")
    if not managed:
        return await _adapter_txs(ctx, clients, adapter, quote, wallet, req, lease_id)
    return await _relayed(ctx, adapter, quote, wallet, user_id, req, lease_id)


async def _router_swap(
    ctx: Context, clients: SwapClients, quote: Quote, wallet: str, req: SwapRequest
) -> SwapResult:
    """A wallet's unsigned ``approve(router)`` (if short) + ``swapExactTokensForTokens`` to itself."""
    router = clients.router
    token = clients.erc20(quote.path[0])
    txs: list[UnsignedTx] = []
    if await token.allowance(wallet, router.address) < req.amount_in:
        txs.append(
            UnsignedTx(
                token.address,
                token.encode_approve(router.address, req.amount_in),
                ctx.chain_id,
                from_address=wallet,
                description="approve the router",
            )
        )
    swap_data = router.encode_swap_exact_tokens_for_tokens(
        req.amount_in, req.amount_out_min, quote.path, wallet, req.deadline
    )
    txs.append(UnsignedTx(router.address, swap_data, ctx.chain_id, from_address=wallet, description="swap"))
    return SwapResult(quote, wallet, False, req.amount_out_min, req.deadline, txs, [], None)


async def _adapter_txs(
    ctx: Context,
    clients: SwapClients,
    adapter: SwapTopUpClient,
    quote: Quote,
    wallet: str,
    req: SwapRequest,
    lease_id: int,
) -> SwapResult:
    """A wallet's unsigned ``approve(adapter)`` (if short) + ``swapAndTopUp`` / ``swapToCredit``."""
    token = clients.erc20(quote.path[0])
    txs: list[UnsignedTx] = []
    if await token.allowance(wallet, adapter.address) < req.amount_in:
        txs.append(
            UnsignedTx(
                token.address,
                token.encode_approve(adapter.address, req.amount_in),
                ctx.chain_id,
                from_address=wallet,
                description="approve the swap adapter",
            )
        )
    if lease_id:
        data = adapter.encode_swap_and_top_up(
            quote.path, req.amount_in, req.amount_out_min, lease_id, req.deadline
        )
        description = "swap and top up the lease"
    else:
        data = adapter.encode_swap_to_credit(quote.path, req.amount_in, req.amount_out_min, req.deadline)
        description = "swap"
    txs.append(UnsignedTx(adapter.address, data, ctx.chain_id, from_address=wallet, description=description))
    return SwapResult(
        quote, wallet, False, req.amount_out_min, req.deadline, txs, [], None, lease_id=lease_id or None
    )


async def _relayed(
    ctx: Context,
    adapter: SwapTopUpClient,
    quote: Quote,
    wallet: str,
    user_id: int,
    req: SwapRequest,
    lease_id: int,
) -> SwapResult:
    """Sign with the managed key and queue the relayed call in the outbox (one transaction, committed)."""
    if ctx.relay is None:
        raise AdapterUnavailable()
    async with ctx.sessionmaker() as session, session.begin():
        busy = await relay.in_flight(session, wallet)
        if busy is not None:
            raise SwapInFlight(wallet, busy.id)
        account = await load_account(session, user_id, ctx.relay.keyring)
        row = await relay.relay_swap(
            session,
            adapter,
            account,
            user_id=user_id,
            path=quote.path,
            amount_in=req.amount_in,
            amount_out_min=req.amount_out_min,
            deadline=req.deadline,
            lease_id=lease_id,
            args={"token_in": req.token_in, "token_out": req.token_out, "deployment_id": req.deployment_id},
        )
        swap_id = row.id
    return SwapResult(
        quote,
        wallet,
        True,
        req.amount_out_min,
        req.deadline,
        [],
        [],
        None,
        lease_id=lease_id or None,
        swap_id=swap_id,
        status="pending",
    )


async def swap_status(ctx: Context, user_id: int, swap_id: int) -> SwapStatus:
    """A managed wallet's relayed swap (:func:`swap`'s ``swap_id``): pending, done (with the credit it
    delivered) or failed (with the decoded revert). Raises ``SwapNotFound`` (unknown, or not the caller's)."""
    async with ctx.sessionmaker() as session:
        row = await session.get(OutboxTx, swap_id)
    if row is None or not row.kind.startswith(relay.KIND_PREFIX) or row.args.get("user_id") != user_id:
        raise SwapNotFound(swap_id)
    status = {OutboxStatus.CONFIRMED: "done", OutboxStatus.FAILED: "failed"}.get(row.status, "pending")
    amount_out = None
    if status == "done" and row.tx_hash:
        amount_out = await relay.amount_out_of(ctx.chain.w3, ctx.contracts.token.address, row.tx_hash)
    lease = row.args.get("lease_id")
    return SwapStatus(
        swap_id=row.id,
        status=status,
        wallet=str(row.args["wallet"]),
        lease_id=int(lease) if lease else None,
        amount_in=int(row.args["amount_in"]),
        amount_out_min=int(row.args["amount_out_min"]),
        amount_out=amount_out,
        tx_hash=row.tx_hash,
        error=row.last_error if status == "failed" else None,
    )
