"""The outbox sender: pending rows become signed, broadcast, mined and confirmed chain transactions.

One pass (:meth:`OutboxSender.run_once`) does, in batches (one JSON-RPC batch and one DB transaction per
step, never one request per row):

1. **sign** — estimate gas for pending rows (a revert marks the row failed and takes no nonce), then in
   ONE transaction holding the signer's nonce-row lock: give contiguous nonces, sign locally, store every
   signed raw tx as an attempt, COMMIT. Only then anything is sent (failpoint ``outbox.after_sign_commit``).
2. **send** — broadcast the stored bytes of signed rows; ``already known`` / ``nonce too low`` /
   ``replacement transaction underpriced`` mean "already submitted" (failpoint ``outbox.after_broadcast``).
3. **track** — receipts for every attempt hash of broadcast rows: whichever attempt was mined wins.
   No receipt and older than ``replace_after``: a replacement at the same nonce with both fees bumped by
   >= 12.5% (stored and committed before it is sent). A nonce consumed by a transaction that is none of
   ours sends the row back to pending (it will get a new nonce: ours can no longer be mined).
4. **confirm** — rows whose block is still canonical and ``confirmations`` deep become confirmed (or
   failed when the receipt status is 0). Rows (also confirmed ones, within ``reorg_window`` blocks) whose
   block hash is no longer canonical go back to broadcast and their stored raw tx is sent again.

A crash anywhere leaves the DB in a state the next pass continues from: the signed bytes are durable
before they can reach the chain, so a restart can only re-send the same transaction, never a second one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain import jsonrpc as rpc
from chain.connect import ChainConnection
from chain.deploy import gas_limit
from chain.signer import LocalSigner, TxRequest
from engine.failpoints import failpoint
from engine.outbox.failures import describe_revert, is_revert
from engine.outbox.fees import Fees, bumped_fees, initial_fees
from engine.outbox.models import OutboxAttempt, OutboxStatus, OutboxTx, utcnow
from engine.outbox.nonces import lock_nonce

log = logging.getLogger(__name__)

# Node answers to a re-sent transaction that mean "it is (or was) in the chain or the pool already".
ALREADY_SUBMITTED = (
    "already known",
    "known transaction",
    "already imported",
    "nonce too low",
    "replacement transaction underpriced",
    "transaction already exists",
)

_TX = cast(Table, OutboxTx.__table__)
_ATTEMPT = cast(Table, OutboxAttempt.__table__)


@dataclass
class Progress:
    """What one pass did. Truthy when anything changed."""

    signed: int = 0
    failed: int = 0
    broadcast: int = 0
    replaced: int = 0
    mined: int = 0
    confirmed: int = 0
    reorged: int = 0
    requeued: int = 0
    in_flight: int = 0  # rows signed/broadcast/mined after the pass (not a change)

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self) if f.name != "in_flight")


@dataclass
class _Attempt:
    outbox_id: int
    tx_hash: str
    raw: bytes
    nonce: int
    gas: int
    fees: Fees
    age: float  # seconds since created


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _already_submitted(message: str) -> bool:
    m = message.lower()
    return any(s in m for s in ALREADY_SUBMITTED)


async def _transition(
    session: AsyncSession, from_status: OutboxStatus, rows: Sequence[dict[str, Any]]
) -> None:
    """Conditional executemany: ``UPDATE outbox_tx SET .. WHERE id = :id AND status = from_status``.

    Each dict holds ``id`` and the same set of column values. A row another sender moved meanwhile is
    left alone.
    """
    if not rows:
        return
    keys = [k for k in rows[0] if k != "id"]
    stmt = (
        update(_TX)
        .where(_TX.c.id == bindparam("b_id"), _TX.c.status == from_status.value)
        .values({k: bindparam(f"b_{k}") for k in [*keys, "updated_at"]})
    )
    now = utcnow()
    params = []
    for r in rows:
        p = {f"b_{k}": (v.value if isinstance(v, OutboxStatus) else v) for k, v in r.items()}
        p["b_updated_at"] = now
        params.append(p)
    await session.execute(stmt, params)


class OutboxSender:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        conn: ChainConnection,
        signer: LocalSigner,
        *,
        confirmations: int,
        replace_after: float,
        max_fee_cap: int,
        poll_interval: float,
        batch_size: int = 500,  # rows signed per DB transaction (bench/sender_io.py: 500 beats 200)
        max_in_flight: int = 2000,
        reorg_window: int = 64,
        rebroadcast_after: float = 10.0,
        foreign_nonce_grace: float = 30.0,
    ) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be >= 1 (1: the mining block itself is enough)")
        self._sm = sessionmaker
        self._conn = conn
        self._signer = signer
        self.address = signer.address.lower()
        self.confirmations = confirmations
        self.replace_after = replace_after
        self.max_fee_cap = max_fee_cap
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.max_in_flight = max_in_flight
        self.reorg_window = reorg_window
        self.rebroadcast_after = rebroadcast_after
        self.foreign_nonce_grace = foreign_nonce_grace
        self._suspects: dict[int, float] = {}  # row id -> when its nonce was first seen used by another tx

    # ---- driving -----------------------------------------------------------------------------------
    async def run_once(self) -> Progress:
        progress = Progress()
        # Pipeline: batch k is broadcast (the node works on the other core) while batch k+1 is signed.
        # Each send waits for the previous one, so nonces reach the node in order.
        sends: list[asyncio.Task[None]] = []
        try:
            for _ in range(max(1, self.max_in_flight // self.batch_size)):
                signed = await self._sign_pending(progress)
                if not signed:
                    break
                prev = sends[-1] if sends else None
                sends.append(asyncio.create_task(self._send_after(prev, signed, progress)))
                if len(signed) < self.batch_size:
                    break
        finally:
            await asyncio.gather(*sends)
        await self._send_signed(progress)  # rows left signed by a crash or a failed send
        await self._track_broadcast(progress)
        await self._confirm(progress)
        async with self._sm() as s:
            progress.in_flight = len(
                (
                    await s.execute(
                        select(OutboxTx.id).where(
                            OutboxTx.from_address == self.address,
                            OutboxTx.status.in_(
                                [OutboxStatus.SIGNED, OutboxStatus.BROADCAST, OutboxStatus.MINED]
                            ),
                        )
                    )
                ).all()
            )
        return progress

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Passes until ``stop`` is set; sleeps ``poll_interval`` after a pass that changed nothing."""
        while not stop.is_set():
            try:
                progress = await self.run_once()
            except Exception:  # a transient RPC/DB failure must not kill the sender; the next pass retries
                log.exception("outbox sender pass failed")
                progress = Progress()
            if progress:
                continue
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)
            except TimeoutError:
                pass

    # ---- 1. sign -----------------------------------------------------------------------------------
    async def _sign_pending(self, progress: Progress) -> list[_Attempt]:
        """Sign up to ``batch_size`` pending rows; returns the committed attempts (to send)."""
        async with self._sm() as s:
            in_flight = (
                await s.execute(
                    select(OutboxTx.id).where(
                        OutboxTx.from_address == self.address,
                        OutboxTx.status.in_([OutboxStatus.SIGNED, OutboxStatus.BROADCAST]),
                    )
                )
            ).all()
            room = min(self.batch_size, self.max_in_flight - len(in_flight))
            if room <= 0:
                return []
            pending = (
                await s.execute(
                    select(OutboxTx.id, OutboxTx.to_address, OutboxTx.data, OutboxTx.value)
                    .where(OutboxTx.status == OutboxStatus.PENDING)
                    .order_by(OutboxTx.id)
                    .limit(room)
                )
            ).all()
        if not pending:
            return []
        calls: list[rpc.Call] = []
        for _id, to, data, value in pending:
            tx: dict[str, Any] = {"from": self.address, "data": _hex(data), "value": hex(value)}
            if to is not None:
                tx["to"] = to
            # sees our own in-flight txs ("pending"; "latest" where the chain keeps no pending state)
            tag = self._conn.pending_tag
            calls.append(("eth_estimateGas", [tx, tag]))
        calls += [
            ("eth_getTransactionCount", [self.address, "pending"]),
            ("eth_getBlockByNumber", ["latest", False]),
            ("eth_maxPriorityFeePerGas", []),
        ]
        results = await rpc.batch(self._conn, calls)
        estimates, (count_r, block_r, tip_r) = results[: len(pending)], results[len(pending) :]
        for r, what in ((count_r, "nonce"), (block_r, "latest block"), (tip_r, "priority fee")):
            if not r.ok:
                raise rpc.RpcError(what, None, r.message)
        chain_pending = int(count_r.result, 16)
        fees = initial_fees(
            int(block_r.result.get("baseFeePerGas") or "0x0", 16), int(tip_r.result, 16), self.max_fee_cap
        )
        gas_by_id: dict[int, int] = {}
        reverted: dict[int, str] = {}
        transient: dict[int, str] = {}
        for (row_id, to, data, _v), est in zip(pending, estimates, strict=True):
            if est.ok:
                gas = int(est.result, 16)
                # headroom for contract calls whose gas depends on state that may change before mining
                gas_by_id[row_id] = gas_limit(gas, has_data=bool(data))
            elif is_revert(est.error):
                reverted[row_id] = describe_revert(est.error_data, est.message, to)
            else:
                transient[row_id] = f"estimateGas: {est.message}"

        now = utcnow()
        async with self._sm() as s, s.begin():
            nonce_row = await lock_nonce(s, self.address, self._conn.chain_id, chain_pending)
            fresh = (
                await s.execute(
                    select(OutboxTx.id, OutboxTx.to_address, OutboxTx.data, OutboxTx.value)
                    .where(OutboxTx.id.in_([p[0] for p in pending]), OutboxTx.status == OutboxStatus.PENDING)
                    .order_by(OutboxTx.id)
                )
            ).all()
            nonce = nonce_row.next_nonce
            signed_rows: list[dict[str, Any]] = []
            attempts: list[dict[str, Any]] = []
            failed_rows: list[dict[str, Any]] = []
            error_rows: list[dict[str, Any]] = []
            for row_id, to, data, value in fresh:
                if row_id in reverted:
                    failed_rows.append(
                        {
                            "id": row_id,
                            "status": OutboxStatus.FAILED,
                            "last_error": reverted[row_id],
                            "failed_at": now,
                        }
                    )
                    continue
                if row_id in transient:
                    error_rows.append({"id": row_id, "last_error": transient[row_id]})
                    continue
                gas = gas_by_id[row_id]
                signed = self._signer.sign(
                    TxRequest(
                        chain_id=self._conn.chain_id,
                        nonce=nonce,
                        to=to,
                        data=data,
                        value=value,
                        gas=gas,
                        max_fee_per_gas=fees.max_fee_per_gas,
                        max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
                    )
                )
                signed_rows.append(
                    {
                        "id": row_id,
                        "status": OutboxStatus.SIGNED,
                        "nonce": nonce,
                        "gas": gas,
                        "from_address": self.address,
                        "chain_id": self._conn.chain_id,
                        "attempt_count": 1,
                        "signed_at": now,
                        "last_error": None,
                    }
                )
                attempts.append(
                    {
                        "outbox_id": row_id,
                        "tx_hash": signed.hash,
                        "raw": signed.raw,
                        "nonce": nonce,
                        "gas": gas,
                        "max_fee_per_gas": fees.max_fee_per_gas,
                        "max_priority_fee_per_gas": fees.max_priority_fee_per_gas,
                        "created_at": now,
                    }
                )
                nonce += 1
            await _transition(s, OutboxStatus.PENDING, signed_rows)
            await _transition(s, OutboxStatus.PENDING, failed_rows)
            await _transition(s, OutboxStatus.PENDING, error_rows)
            if attempts:
                await s.execute(_ATTEMPT.insert(), attempts)
            nonce_row.next_nonce = nonce
        progress.signed += len(signed_rows)
        progress.failed += len(failed_rows)
        # committed: the send step may use these bytes without reading them back
        # committed: these bytes may now be sent without reading them back
        to_send = [
            _Attempt(a["outbox_id"], a["tx_hash"], a["raw"], a["nonce"], a["gas"], fees, 0.0)
            for a in attempts
        ]
        if signed_rows:
            failpoint("outbox.after_sign_commit")
        return to_send

    # ---- 2. send -----------------------------------------------------------------------------------
    async def _latest_attempts(self, s: AsyncSession, ids: Iterable[int]) -> dict[int, list[_Attempt]]:
        by_row: dict[int, list[_Attempt]] = defaultdict(list)
        id_list = list(ids)
        now = utcnow()
        for start in range(0, len(id_list), 900):
            chunk = id_list[start : start + 900]
            result = await s.execute(
                select(
                    _ATTEMPT.c.outbox_id,
                    _ATTEMPT.c.tx_hash,
                    _ATTEMPT.c.raw,
                    _ATTEMPT.c.nonce,
                    _ATTEMPT.c.gas,
                    _ATTEMPT.c.max_fee_per_gas,
                    _ATTEMPT.c.max_priority_fee_per_gas,
                    _ATTEMPT.c.created_at,
                )
                .where(_ATTEMPT.c.outbox_id.in_(chunk))
                .order_by(_ATTEMPT.c.id)
            )
            for oid, tx_hash, raw, nonce, gas, max_fee, tip, created in result:
                by_row[oid].append(
                    _Attempt(
                        outbox_id=oid,
                        tx_hash=tx_hash,
                        raw=raw,
                        nonce=nonce,
                        gas=gas,
                        fees=Fees(max_fee, tip),
                        age=(now - created).total_seconds(),
                    )
                )
        return by_row

    async def _broadcast(self, raws: Sequence[_Attempt]) -> tuple[list[_Attempt], dict[int, str]]:
        """Send stored bytes; returns (accepted or already submitted, {outbox_id: error})."""
        results = await rpc.batch(self._conn, [("eth_sendRawTransaction", [_hex(a.raw)]) for a in raws])
        sent: list[_Attempt] = []
        errors: dict[int, str] = {}
        for a, r in zip(raws, results, strict=True):
            if r.ok or _already_submitted(r.message):
                sent.append(a)
            else:
                errors[a.outbox_id] = f"sendRawTransaction: {r.message}"
        return sent, errors

    async def _send_signed(self, progress: Progress) -> None:
        async with self._sm() as s:
            rows = (
                await s.execute(
                    select(OutboxTx.id)
                    .where(OutboxTx.status == OutboxStatus.SIGNED, OutboxTx.from_address == self.address)
                    .order_by(OutboxTx.nonce)
                    .limit(self.max_in_flight)
                )
            ).all()
            if not rows:
                return
            attempts = await self._latest_attempts(s, [r[0] for r in rows])
        await self._send_and_mark(sorted((a[-1] for a in attempts.values()), key=lambda a: a.nonce), progress)

    async def _send_after(
        self, prev: asyncio.Task[None] | None, attempts: list[_Attempt], progress: Progress
    ) -> None:
        if prev is not None:
            await asyncio.shield(prev)
        await self._send_and_mark(attempts, progress)

    async def _send_and_mark(self, latest: Sequence[_Attempt], progress: Progress) -> None:
        """Broadcast signed (committed) attempts, then mark their rows broadcast."""
        sent, errors = await self._broadcast(latest)
        failpoint("outbox.after_broadcast")
        now = utcnow()
        async with self._sm() as s, s.begin():
            await _transition(
                s,
                OutboxStatus.SIGNED,
                [{"id": a.outbox_id, "status": OutboxStatus.BROADCAST, "broadcast_at": now} for a in sent],
            )
            await _transition(s, OutboxStatus.SIGNED, [{"id": i, "last_error": e} for i, e in errors.items()])
        progress.broadcast += len(sent)
        for i, e in errors.items():
            log.warning("outbox row %d not sent: %s", i, e)

    # ---- 3. track ----------------------------------------------------------------------------------
    async def _track_broadcast(self, progress: Progress) -> None:
        async with self._sm() as s:
            rows = (
                await s.execute(
                    select(
                        OutboxTx.id,
                        OutboxTx.nonce,
                        OutboxTx.broadcast_at,
                        OutboxTx.to_address,
                        OutboxTx.data,
                        OutboxTx.value,
                    )
                    .where(OutboxTx.status == OutboxStatus.BROADCAST, OutboxTx.from_address == self.address)
                    .order_by(OutboxTx.nonce)
                    .limit(self.max_in_flight)
                )
            ).all()
            if not rows:
                return
            attempts = await self._latest_attempts(s, [r[0] for r in rows])
        # The mined count is read BEFORE the receipts: a nonce below it with none of our hashes mined
        # was taken by someone else's transaction.
        mined_count = int(
            await rpc.call_ok(self._conn, "eth_getTransactionCount", [self.address, "latest"]), 16
        )
        hashes = [a for row in rows for a in attempts.get(row[0], [])]
        receipts = await rpc.batch(self._conn, [("eth_getTransactionReceipt", [a.tx_hash]) for a in hashes])
        found: dict[int, dict[str, Any]] = {}
        for a, r in zip(hashes, receipts, strict=True):
            if r.ok and r.result:
                found[a.outbox_id] = r.result
                self._suspects.pop(a.outbox_id, None)
        now = utcnow()
        now_mono = time.monotonic()
        mined_rows: list[dict[str, Any]] = []
        requeue: list[dict[str, Any]] = []
        to_replace: list[tuple[int, _Attempt]] = []
        to_resend: list[_Attempt] = []
        for row_id, nonce, broadcast_at, to, data, value in rows:
            rcpt = found.get(row_id)
            if rcpt is not None:
                status = int(rcpt["status"], 16)
                err = None
                if status == 0:
                    err = await self._replay_revert(to, data, value, int(rcpt["blockNumber"], 16))
                mined_rows.append(
                    {
                        "id": row_id,
                        "status": OutboxStatus.MINED,
                        "tx_hash": rcpt["transactionHash"],
                        "block_number": int(rcpt["blockNumber"], 16),
                        "block_hash": rcpt["blockHash"],
                        "receipt_status": status,
                        "gas_used": int(rcpt["gasUsed"], 16),
                        "mined_at": now,
                        "last_error": err,
                    }
                )
                continue
            tries = attempts.get(row_id, [])
            if not tries:
                continue
            if nonce is not None and mined_count > nonce:
                # Our nonce is used but none of our hashes has a receipt. Nodes index receipts a moment
                # after the state moves (seen on anvil under load), so only a second sighting at least
                # ``foreign_nonce_grace`` seconds later counts; requeueing early would pay twice.
                first_seen = self._suspects.setdefault(row_id, now_mono)
                if first_seen == now_mono or now_mono - first_seen < self.foreign_nonce_grace:
                    continue
                del self._suspects[row_id]
                requeue.append(
                    {
                        "id": row_id,
                        "status": OutboxStatus.PENDING,
                        "nonce": None,
                        "signed_at": None,
                        "broadcast_at": None,
                        "last_error": f"nonce {nonce} was used by a transaction not from this outbox",
                    }
                )
                continue
            latest = tries[-1]
            if latest.age >= self.replace_after:
                to_replace.append((row_id, latest))
            elif broadcast_at is None or (now - broadcast_at) >= timedelta(seconds=self.rebroadcast_after):
                to_resend.append(latest)
        if mined_rows or requeue:
            async with self._sm() as s, s.begin():
                await _transition(s, OutboxStatus.BROADCAST, mined_rows)
                await _transition(s, OutboxStatus.BROADCAST, requeue)
            progress.mined += len(mined_rows)
            progress.requeued += len(requeue)
            for q in requeue:
                log.warning("outbox row %d: %s; back to pending", q["id"], q["last_error"])
        if to_replace:
            await self._replace(to_replace, progress)
        if to_resend:
            sent, _errors = await self._broadcast(to_resend)
            async with self._sm() as s, s.begin():
                await _transition(
                    s, OutboxStatus.BROADCAST, [{"id": a.outbox_id, "broadcast_at": now} for a in sent]
                )

    async def _replace(self, stuck: Sequence[tuple[int, _Attempt]], progress: Progress) -> None:
        block = await rpc.call_ok(self._conn, "eth_getBlockByNumber", ["latest", False])
        base_fee = int(block.get("baseFeePerGas") or "0x0", 16)
        now = utcnow()
        new: list[_Attempt] = []
        async with self._sm() as s, s.begin():
            for row_id, old in stuck:
                fees = bumped_fees(old.fees, self.max_fee_cap, base_fee)
                if fees is None:
                    continue  # at the cap: keep waiting for the last attempt
                row = (
                    await s.execute(
                        select(OutboxTx)
                        .where(OutboxTx.id == row_id)
                        .with_for_update()
                        .execution_options(populate_existing=True)
                    )
                ).scalar_one()
                last_hash = (
                    await s.execute(
                        select(OutboxAttempt.tx_hash)
                        .where(OutboxAttempt.outbox_id == row_id)
                        .order_by(OutboxAttempt.id.desc())
                        .limit(1)
                    )
                ).scalar_one()
                if row.status is not OutboxStatus.BROADCAST or last_hash != old.tx_hash:
                    continue  # another sender moved it
                signed = self._signer.sign(
                    TxRequest(
                        chain_id=self._conn.chain_id,
                        nonce=old.nonce,
                        to=row.to_address,
                        data=row.data,
                        value=row.value,
                        gas=old.gas,
                        max_fee_per_gas=fees.max_fee_per_gas,
                        max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
                    )
                )
                s.add(
                    OutboxAttempt(
                        outbox_id=row_id,
                        tx_hash=signed.hash,
                        raw=signed.raw,
                        nonce=old.nonce,
                        gas=old.gas,
                        max_fee_per_gas=fees.max_fee_per_gas,
                        max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
                        created_at=now,
                    )
                )
                row.attempt_count += 1
                row.broadcast_at = now
                new.append(_Attempt(row_id, signed.hash, signed.raw, old.nonce, old.gas, fees, 0.0))
        if not new:
            return
        _sent, errors = await self._broadcast(new)
        progress.replaced += len(new)
        if errors:
            async with self._sm() as s, s.begin():
                await _transition(
                    s, OutboxStatus.BROADCAST, [{"id": i, "last_error": e} for i, e in errors.items()]
                )
        log.info("outbox: replaced %d stuck transaction(s) with higher fees", len(new))

    async def _replay_revert(self, to: str | None, data: bytes, value: int, block_number: int) -> str:
        tx: dict[str, Any] = {"from": self.address, "data": _hex(data), "value": hex(value)}
        if to is not None:
            tx["to"] = to
        # The state after the mining block usually reproduces the failure (e.g. a ref used earlier in the
        # same block); the parent block's state covers the rest. Exact mid-block state needs a tracer.
        for tag in (hex(block_number), hex(max(block_number - 1, 0))):
            res = await rpc.call(self._conn, "eth_call", [tx, tag])
            if not res.ok:
                return describe_revert(res.error_data, res.message, to)
        return "reverted on chain (status 0; an eth_call replay did not reproduce it)"

    # ---- 4. confirm / reorg --------------------------------------------------------------------------
    async def _confirm(self, progress: Progress) -> None:
        head = int(await rpc.call_ok(self._conn, "eth_blockNumber", []), 16)
        async with self._sm() as s:
            rows = (
                await s.execute(
                    select(
                        OutboxTx.id,
                        OutboxTx.status,
                        OutboxTx.block_number,
                        OutboxTx.block_hash,
                        OutboxTx.receipt_status,
                    ).where(
                        OutboxTx.from_address == self.address,
                        OutboxTx.block_number.is_not(None),
                        (OutboxTx.status == OutboxStatus.MINED)
                        | (
                            OutboxTx.status.in_([OutboxStatus.CONFIRMED, OutboxStatus.FAILED])
                            & (OutboxTx.block_number >= head - self.reorg_window)
                        ),
                    )
                )
            ).all()
        if not rows:
            return
        numbers = sorted({r.block_number for r in rows})
        blocks = await rpc.batch(self._conn, [("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        canonical = {
            n: (b.result or {}).get("hash") if b.ok else None for n, b in zip(numbers, blocks, strict=True)
        }
        now = utcnow()
        done: list[dict[str, Any]] = []
        orphaned = []
        for r in rows:
            if canonical.get(r.block_number) != r.block_hash:
                orphaned.append(r)
            elif r.status is OutboxStatus.MINED and head - r.block_number + 1 >= self.confirmations:
                ok = r.receipt_status == 1
                done.append(
                    {
                        "id": r.id,
                        "status": OutboxStatus.CONFIRMED if ok else OutboxStatus.FAILED,
                        "confirmed_at" if ok else "failed_at": now,
                    }
                )
        confirmed = [d for d in done if d["status"] is OutboxStatus.CONFIRMED]
        failed = [d for d in done if d["status"] is OutboxStatus.FAILED]
        async with self._sm() as s, s.begin():
            await _transition(s, OutboxStatus.MINED, confirmed)
            await _transition(s, OutboxStatus.MINED, failed)
        progress.confirmed += len(confirmed)
        progress.failed += len(failed)
        if orphaned:
            await self._handle_reorg(orphaned, progress)

    async def _handle_reorg(self, orphaned: Sequence[Any], progress: Progress) -> None:
        """Block gone from the canonical chain: moved to another block, or back to broadcast + re-send."""
        async with self._sm() as s:
            attempts = await self._latest_attempts(s, [r.id for r in orphaned])
        hashes = [a for r in orphaned for a in attempts.get(r.id, [])]
        receipts = await rpc.batch(self._conn, [("eth_getTransactionReceipt", [a.tx_hash]) for a in hashes])
        found: dict[int, dict[str, Any]] = {}
        for a, rr in zip(hashes, receipts, strict=True):
            if rr.ok and rr.result:
                found[a.outbox_id] = rr.result
        now = utcnow()
        resend: list[_Attempt] = []
        async with self._sm() as s, s.begin():
            for r in orphaned:
                rcpt = found.get(r.id)
                if rcpt is not None and rcpt["blockHash"] != r.block_hash:
                    await _transition(
                        s,
                        r.status,
                        [
                            {
                                "id": r.id,
                                "status": OutboxStatus.MINED,
                                "tx_hash": rcpt["transactionHash"],
                                "block_number": int(rcpt["blockNumber"], 16),
                                "block_hash": rcpt["blockHash"],
                                "receipt_status": int(rcpt["status"], 16),
                                "confirmed_at": None,
                                "failed_at": None,
                            }
                        ],
                    )
                else:
                    await _transition(
                        s,
                        r.status,
                        [
                            {
                                "id": r.id,
                                "status": OutboxStatus.BROADCAST,
                                "block_number": None,
                                "block_hash": None,
                                "receipt_status": None,
                                "gas_used": None,
                                "mined_at": None,
                                "confirmed_at": None,
                                "failed_at": None,
                                "broadcast_at": now,
                                "last_error": f"block {r.block_number} {r.block_hash} left the chain",
                            }
                        ],
                    )
                    resend.extend(attempts.get(r.id, [])[-1:])
                log.warning("outbox row %d: block %d %s was reorged out", r.id, r.block_number, r.block_hash)
        progress.reorged += len(orphaned)
        if resend:
            await self._broadcast(resend)
