"""Wallet commands: what ``GET /api/wallet`` and ``GET /api/wallet/transactions`` show.

:func:`wallet_overview` reads every wallet of a user (linked and managed) in one go: a single
``Multicall.aggregate`` ``eth_call`` carries every ``balanceOf`` and one ``getEthBalances``
(:func:`read_balances`, through :class:`chain.reads.BatchReader` on the context's connection), never a
request per wallet. Where the connection says a contract cannot see exact native balances inside an
``eth_call`` (eth-tester charges the call's gas to its account 0:
``ChainConnection.exact_balances_in_eth_call``), native balances are read by ``eth_getBalance`` instead.

:func:`wallet_history` walks ``wallet_history`` newest first (:mod:`engine.wallets.history`: a keyset
walk over ``(at, id)``, cost independent of the history's length, every item reachable): the user's fiat
payments with their Stripe receipt and mint status, their refunds and disputes (``reversals``), and the
credit movements of every linked wallet (written by the indexer subscriber
:mod:`engine.wallets.history_events`, dated by their block's timestamp). The cursor is the last item's
``(at, row id)``, base64 encoded; ``HISTORY_WINDOW`` is the largest page.

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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chain.errors import BatchReadError, ChainError
from chain.reads import BatchReader
from engine.context import Context
from engine.errors import ContractMissing
from engine.identity.services import wallet_links
from engine.indexer.interfaces import IndexedEvent
from engine.indexer.services import final_block
from engine.money import Cents, CreditUnits
from engine.monitoring.commands import account_runway_now
from engine.outbox import services as outbox_services
from engine.payments.models import LedgerEntry, Reversal
from engine.payments.services import pending_credit_units
from engine.wallets import history
from engine.wallets.errors import InvalidCursor

HISTORY_WINDOW = 500
ZERO_ADDRESS = "0x" + "0" * 40
IN, OUT = "in", "out"

CursorKey = tuple[int, int]  # (time, history row id)


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
    row_key: CursorKey = (0, 0)  # its wallet_history row: (at, id), the keyset position

    @property
    def cursor_key(self) -> CursorKey:
        return self.row_key


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
        return int(t), int(ident)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidCursor() from exc


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


def _item(
    row: Any,  # a wallet_history row (engine.wallets.history.page)
    *,
    entries: dict[int, LedgerEntry],
    reversals: dict[int, Reversal],
    mints: dict[str, Any],
    final: int | None,
    shown: dict[str, str],
) -> HistoryItem:
    """A history row as the API item: payments and reversals with their live fields (mint status, action,
    receipt URL), chain items with their finality."""
    status = row.status
    receipt_url: str | None = None
    tx_hash = row.tx_hash
    if row.ref.startswith(history.PAYMENT_PREFIX):
        entry = entries.get(int(row.receipt_id or 0))
        mint = mints.get(entry.mint_key) if entry is not None else None
        status = "mint_" + (str(mint.status) if mint is not None else "unknown")
        receipt_url = entry.receipt_url if entry is not None else None
        tx_hash = mint.tx_hash if mint is not None else None
    elif row.ref.startswith(history.REVERSAL_PREFIX):
        rev = reversals.get(int(row.ref.removeprefix(history.REVERSAL_PREFIX)))
        entry = entries.get(int(row.receipt_id or 0))
        status = rev.action if rev is not None else ""
        receipt_url = entry.receipt_url if entry is not None else None
    else:
        done = final is not None and row.block_number is not None and row.block_number <= final
        status = "final" if done else "unconfirmed"
    wallet = row.wallet
    if wallet is not None and row.ref.startswith(history.CHAIN_PREFIX):
        wallet = shown.get(wallet.lower(), wallet)
    return HistoryItem(
        id=row.ref,
        type=row.type,
        kind=row.kind,
        direction=row.direction,
        time=row.at,
        amount_cents=Cents(row.amount_cents) if row.amount_cents is not None else None,
        credit_units=CreditUnits(row.credit_units) if row.credit_units is not None else None,
        status=status,
        receipt_url=receipt_url,
        tx_hash=tx_hash,
        wallet=wallet,
        receipt_id=row.receipt_id,
        from_address=row.from_address,
        to_address=row.to_address,
        row_key=(row.at, row.id),
    )


async def _page(
    ctx: Context,
    s: AsyncSession,
    owners: list[str],
    shown: dict[str, str],
    before: history.Cursor | None,
    limit: int,
) -> tuple[list[HistoryItem], history.Cursor | None]:
    rows, after = await history.page(s, owners, before=before, limit=limit)
    entry_ids = {int(r.receipt_id) for r in rows if r.receipt_id is not None}
    rev_ids = [
        int(r.ref.removeprefix(history.REVERSAL_PREFIX))
        for r in rows
        if r.ref.startswith(history.REVERSAL_PREFIX)
    ]
    entries = (
        {e.id: e for e in (await s.scalars(select(LedgerEntry).where(LedgerEntry.id.in_(entry_ids)))).all()}
        if entry_ids
        else {}
    )
    reversals = (
        {r.id: r for r in (await s.scalars(select(Reversal).where(Reversal.id.in_(rev_ids)))).all()}
        if rev_ids
        else {}
    )
    mints = await outbox_services.rows_by_keys(s, [e.mint_key for e in entries.values()])
    final = await final_block(s, ctx.chain_id)
    items: list[HistoryItem] = []
    seen: set[str] = set()
    for row in rows:
        if row.ref in seen:  # a transfer between two of the user's own wallets: shown once, as before
            continue
        seen.add(row.ref)
        items.append(_item(row, entries=entries, reversals=reversals, mints=mints, final=final, shown=shown))
    return items, after


async def wallet_history(ctx: Context, user_id: int, *, cursor: str | None, limit: int | None) -> HistoryPage:
    """The user's merged payment and on-chain history, newest first, after ``cursor``: ``limit`` items
    (at most ``HISTORY_WINDOW``), or every item left (``None``, for an export: the same keyset walk, page
    after page). Reads ``wallet_history`` (:mod:`engine.wallets.history`): a page costs the same whatever the
    history's length.

    Raises :class:`~engine.wallets.errors.InvalidCursor`."""
    before = decode_cursor(cursor) if cursor else None
    async with ctx.sessionmaker() as s:
        links = await wallet_links(s, user_id)
        owners = [history.user_owner(user_id)] + [history.wallet_owner(link.address) for link in links]
        shown = {link.address.lower(): link.address for link in links}
        if limit is not None:
            items, after = await _page(ctx, s, owners, shown, before, limit)
            return HistoryPage(items=items, next_cursor=encode_cursor(after) if after else None)
        everything: list[HistoryItem] = []
        while True:
            items, before = await _page(ctx, s, owners, shown, before, HISTORY_WINDOW)
            everything += items
            if before is None:
                return HistoryPage(items=everything, next_cursor=None)
