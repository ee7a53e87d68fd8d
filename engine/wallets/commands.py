"""Wallet commands: what ``GET /api/wallet`` and ``GET /api/wallet/transactions`` show.

:func:`wallet_overview` reads every wallet of a user (linked and managed) in one go: a single
``Multicall.aggregate`` ``eth_call`` carries every ``balanceOf`` and one ``getEthBalances``
(:func:`read_balances`, through :class:`chain.reads.BatchReader` on the context's connection), never a
request per wallet. Where the connection says a contract cannot see exact native balances inside an
``eth_call`` (eth-tester charges the call's gas to its account 0:
``ChainConnection.exact_balances_in_eth_call``), native balances are read by ``eth_getBalance`` instead.

:func:`wallet_history` merges, newest first, the user's newest ``HISTORY_WINDOW`` ledger entries (fiat
payments with their Stripe receipt and mint status), their refunds and disputes (``reversals``) and the
credit movements among the indexed on-chain events per wallet (a bound, documented: older items are not
reachable here). Chain events are dated by their block's timestamp (one JSON-RPC batch per page). The
cursor is the last item's sort key, base64 encoded.

Every item says which way the credit went (``direction``: ``in`` / ``out``) and what it was (``kind``),
derived by :func:`classify` from the event's contract and counterparty, never shown as a bare event name:

==================  =========  ==========================================================================
kind                direction  derived from
==================  =========  ==========================================================================
``card_top_up``     in         a ledger entry (a card top-up or a paid subscription period)
``refund``          out        a reversal of a ledger entry (Stripe refund or dispute; the credit taken back)
``mint``            in         ``CreditMinted`` (its ``Transfer`` from the zero address is the same movement)
``burn``            out        ``Transfer`` to the zero address
``lease_deposit``   out        ``Transfer`` to the escrow (open, top-up, auto top-up)
``lease_refund``    in         ``Transfer`` from the escrow (a closed lease's unused deposit)
``withdrawal``      in         ``Transfer`` from the escrow in a transaction with ``*Withdrawn`` (earnings)
``clawback``        out        ``Transfer`` to the engine's signer (a refunded top-up taken back)
``transfer``        in / out   any other ``Transfer``
==================  =========  ==========================================================================

Indexed events that move no credit (``LeaseOpened``, ``Approval``, ...) are not history items.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chain import jsonrpc
from chain.errors import BatchReadError, ChainError
from chain.reads import BatchReader
from engine.context import Context
from engine.errors import ContractMissing
from engine.identity.services import wallet_links
from engine.indexer.interfaces import IndexedEvent
from engine.indexer.services import events_for_account
from engine.money import Cents, CreditUnits
from engine.monitoring.commands import account_runway_now
from engine.outbox import services as outbox_services
from engine.payments.services import pending_credit_units, user_ledger, user_reversals
from engine.wallets.errors import InvalidCursor

HISTORY_WINDOW = 500
ZERO_ADDRESS = "0x" + "0" * 40
IN, OUT = "in", "out"

CursorKey = tuple[int, str]


# ---- balances ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalletBalance:
    address: str
    kind: str  # "siwe" | "managed"
    credit_units: CreditUnits
    native_wei: int


@dataclass(frozen=True)
class WalletOverview:
    wallets: list[WalletBalance]
    credit_units: CreditUnits  # the sum over ``wallets``
    pending_credit_units: CreditUnits  # ledger entries whose mint is not confirmed yet
    mint_destination: WalletBalance | None  # where the next top-up is minted (a linked wallet first)
    # runway of the account (engine.monitoring: (credit + Σ open leases' balance now) // Σ rates);
    # None while nothing burns
    runway_seconds: int | None
    burn_rate_per_second: CreditUnits


async def read_balances(ctx: Context, addresses: Sequence[str]) -> tuple[list[CreditUnits], list[int]]:
    """Credit units and native wei of every address, in order, in one ``eth_call``.

    Raises :class:`~engine.errors.ContractMissing` (no Multicall on this chain),
    :class:`chain.errors.BatchReadError` (an item of the read failed)."""
    if not addresses:
        return [], []
    token, multicall = ctx.contracts.token, ctx.contracts.multicall
    if multicall is None:
        raise ContractMissing("Multicall")
    exact = ctx.chain.exact_balances_in_eth_call
    calls = [(token.address, token.encode("balanceOf", a)) for a in addresses]
    if exact:
        calls.append((multicall.address, multicall.encode("getEthBalances", list(addresses))))
    async with BatchReader(ctx.chain, multicall.address, transport="multicall") as reader:
        answers = await reader.call_many(calls)
        failures = {
            i: (c[0], a)
            for i, (c, a) in enumerate(zip(calls, answers, strict=True))
            if isinstance(a, ChainError)
        }
        if failures:
            raise BatchReadError("wallet balances", failures)
        raw = [a for a in answers if isinstance(a, bytes)]
        credits = [CreditUnits(int.from_bytes(r, "big")) for r in raw[: len(addresses)]]
        if exact:
            (balances,) = multicall.function("getEthBalances", 1).decode(raw[-1])
            natives = [int(b) for b in balances]
        else:
            natives = await reader.eth_balances(addresses)
    return credits, natives


async def wallet_overview(ctx: Context, user_id: int) -> WalletOverview:
    """The user's wallets with their balances, the pending credit, the next mint's destination and the
    account's runway and burn rate (:func:`engine.monitoring.commands.account_runway_now`).

    Raises :class:`~engine.errors.ContractMissing`, :class:`chain.errors.BatchReadError`."""
    async with ctx.sessionmaker() as s:
        links = await wallet_links(s, user_id)
        pending = await pending_credit_units(s, user_id)
    credits, natives = await read_balances(ctx, [link.address for link in links])
    wallets = [
        WalletBalance(address=link.address, kind=link.kind, credit_units=credit, native_wei=native)
        for link, credit, native in zip(links, credits, natives, strict=True)
    ]
    linked = [w for w in wallets if w.kind != "managed"]
    managed = [w for w in wallets if w.kind == "managed"]
    candidates = linked or managed
    credit = CreditUnits(sum(w.credit_units for w in wallets))
    runway = await account_runway_now(ctx, user_id, credit)
    return WalletOverview(
        wallets=wallets,
        credit_units=credit,
        pending_credit_units=pending,
        mint_destination=candidates[0] if candidates else None,
        runway_seconds=runway.runway_seconds,
        burn_rate_per_second=runway.burn_rate_per_second,
    )


# ---- history -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryItem:
    id: str  # "payment:<ledger id>" | "reversal:<id>" | "chain:<block>:<log index>"
    type: str  # "payment.<kind>" | "reversal.<kind>" | "chain.<event>"
    kind: str  # see the module docstring
    direction: str  # "in" | "out"
    time: int  # unix seconds (0: the block's time is unknown)
    amount_cents: Cents | None
    credit_units: CreditUnits | None
    status: str
    receipt_url: str | None
    tx_hash: str | None
    wallet: str | None
    receipt_id: int | None
    from_address: str | None
    to_address: str | None

    @property
    def cursor_key(self) -> CursorKey:
        return (self.time, self.id)


@dataclass(frozen=True)
class HistoryPage:
    items: list[HistoryItem]
    next_cursor: str | None


def encode_cursor(key: CursorKey) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}|{key[1]}".encode()).decode()


def decode_cursor(cursor: str) -> CursorKey:
    """Raises :class:`~engine.wallets.errors.InvalidCursor`."""
    try:
        t, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return int(t), ident
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidCursor() from exc


async def _block_times(ctx: Context, blocks: list[int]) -> dict[int, int]:
    if not blocks:
        return {}
    results = await jsonrpc.batch(ctx.chain, [("eth_getBlockByNumber", [hex(b), False]) for b in blocks])
    return {
        b: int(r.result["timestamp"], 16) if r.ok and r.result else 0
        for b, r in zip(blocks, results, strict=True)
    }


@dataclass(frozen=True)
class Counterparties:
    """Addresses that give a ``Transfer`` its meaning (lower-case; ``None``: not on this chain)."""

    escrow: str | None
    signer: str | None


def classify(
    ev: IndexedEvent, wallet: str, tx_events: Sequence[IndexedEvent], parties: Counterparties
) -> tuple[str, str] | None:
    """``(kind, direction)`` of an indexed event for ``wallet``, or ``None`` when it is not a credit
    movement of that wallet (or repeats one: a mint's ``Transfer`` beside its ``CreditMinted``).
    ``tx_events``: the other indexed events of the same transaction."""
    me = wallet.lower()
    if ev.contract == "CreditToken" and ev.event == "CreditMinted":
        return ("mint", IN) if str(ev.args.get("to", "")).lower() == me else None
    if ev.contract != "CreditToken" or ev.event != "Transfer":
        return None
    src, dst = str(ev.args.get("from", "")).lower(), str(ev.args.get("to", "")).lower()
    if src == ZERO_ADDRESS:
        if any(o.event == "CreditMinted" and o.contract == "CreditToken" for o in tx_events):
            return None  # the same movement as the CreditMinted item
        return ("mint", IN) if dst == me else None
    if src != me and dst != me:
        return None
    direction = OUT if src == me else IN
    other = dst if direction == OUT else src
    if other == ZERO_ADDRESS:
        return ("burn", OUT)
    if parties.escrow is not None and other == parties.escrow:
        if direction == OUT:
            return ("lease_deposit", OUT)
        withdrawn = any(o.event.endswith("Withdrawn") and o.contract == "DeploymentEscrow" for o in tx_events)
        return ("withdrawal" if withdrawn else "lease_refund", IN)
    if parties.signer is not None and other == parties.signer and direction == OUT:
        return ("clawback", OUT)
    return ("transfer", direction)


async def _history(ctx: Context, user_id: int) -> list[HistoryItem]:
    items: list[HistoryItem] = []
    escrow = ctx.contracts.escrow
    parties = Counterparties(
        escrow=escrow.address.lower() if escrow is not None else None,
        signer=ctx.signer_address.lower() if ctx.signer_address else None,
    )
    async with ctx.sessionmaker() as s:
        entries = await user_ledger(s, user_id, HISTORY_WINDOW)
        reversals = await user_reversals(s, user_id, HISTORY_WINDOW)
        mints = await outbox_services.rows_by_keys(s, [e.mint_key for e in entries])
        links = await wallet_links(s, user_id)
        events: list[tuple[str, IndexedEvent]] = []
        for link in links:
            page = await events_for_account(s, ctx.chain_id, link.address, limit=HISTORY_WINDOW)
            events.extend((link.address, e) for e in page.events)
    for e in entries:
        mint = mints.get(e.mint_key)
        items.append(
            HistoryItem(
                id=f"payment:{e.id}",
                type=f"payment.{e.kind}",
                kind="card_top_up",
                direction=IN,
                time=int(e.created_at.timestamp()),
                amount_cents=e.amount_cents,
                credit_units=e.credit_units,
                status="mint_" + (str(mint.status) if mint is not None else "unknown"),
                receipt_url=e.receipt_url,
                tx_hash=mint.tx_hash if mint is not None else None,
                wallet=e.wallet_address,
                receipt_id=e.id,
                from_address=None,
                to_address=e.wallet_address,
            )
        )
    for rev, entry in reversals:
        items.append(
            HistoryItem(
                id=f"reversal:{rev.id}",
                type=f"reversal.{rev.kind}",
                kind="refund",
                direction=OUT,
                time=int(rev.created_at.timestamp()),
                amount_cents=None,
                credit_units=rev.credit_units,
                status=rev.action,
                receipt_url=entry.receipt_url,
                tx_hash=None,
                wallet=entry.wallet_address,
                receipt_id=entry.id,
                from_address=entry.wallet_address,
                to_address=None,
            )
        )
    by_tx: dict[str, list[IndexedEvent]] = {}
    for _, ev in events:
        by_tx.setdefault(ev.tx_hash, []).append(ev)
    moves: list[tuple[str, IndexedEvent, tuple[str, str]]] = []
    seen: set[tuple[str, int]] = set()
    for wallet, ev in events:
        if (ev.tx_hash, ev.log_index) in seen:
            continue
        what = classify(ev, wallet, by_tx[ev.tx_hash], parties)
        if what is None:
            continue
        seen.add((ev.tx_hash, ev.log_index))
        moves.append((wallet, ev, what))
    stamps = await _block_times(ctx, sorted({ev.block_number for _, ev, _ in moves}))
    for wallet, ev, (kind, direction) in moves:
        amount: Any = ev.args.get("value", ev.args.get("amount"))
        items.append(
            HistoryItem(
                id=f"chain:{ev.block_number}:{ev.log_index}",
                type=f"chain.{ev.event}",
                kind=kind,
                direction=direction,
                time=stamps.get(ev.block_number, 0),
                amount_cents=None,
                credit_units=CreditUnits(int(amount)) if amount is not None else None,
                status="final" if ev.final else "unconfirmed",
                receipt_url=None,
                tx_hash=ev.tx_hash,
                wallet=wallet,
                receipt_id=None,
                from_address=ev.args.get("from"),
                to_address=ev.args.get("to"),
            )
        )
    items.sort(key=lambda i: i.cursor_key, reverse=True)
    return items


async def wallet_history(ctx: Context, user_id: int, *, cursor: str | None, limit: int | None) -> HistoryPage:
    """The user's merged payment and on-chain history, newest first, after ``cursor``; ``limit`` items
    (``None``: every item left in the window, for an export).

    Raises :class:`~engine.wallets.errors.InvalidCursor`."""
    after = decode_cursor(cursor) if cursor else None
    items = await _history(ctx, user_id)
    if after is not None:
        items = [i for i in items if i.cursor_key < after]
    if limit is None or len(items) <= limit:
        return HistoryPage(items=items, next_cursor=None)
    page = items[:limit]
    return HistoryPage(items=page, next_cursor=encode_cursor(page[-1].cursor_key))
