"""Refunds and reversals are visible (issue 11 §3): a refunded payment reads ``partially_refunded`` /
``refunded`` with the refunded amount in the payment and receipt API, and wallet history items carry a
``direction`` and a ``kind`` derived from the event's contract and counterparty."""

from __future__ import annotations

from typing import Any

from engine.indexer.interfaces import IndexedEvent
from engine.payments.services import get_entry
from engine.wallets.commands import ZERO_ADDRESS, Counterparties, classify
from tests.api.payments.conftest import Env
from tests.api.payments.helpers import drain_outbox

ESCROW = "0x" + "e5" * 20
SIGNER = "0x" + "51" * 20
ME = "0x" + "aa" * 20
OTHER = "0x" + "bb" * 20


async def _paid(pay: Env, h: dict[str, str], amount: int = 1_000) -> tuple[int, str, int]:
    """A settled top-up: (payment id, PaymentIntent id, receipt id)."""
    r = await pay.client.post("/api/payments/create-intent", json={"amount_cents": amount}, headers=h)
    assert r.status == 201, await r.text()
    payment = (await r.json())["payment"]
    pid = payment["payment_intent_id"]
    assert (await pay.send(pay.stripe.payment_intent_succeeded_event(pid)))[0] == 200
    async with pay.runtime.sessionmaker() as s:
        entry = await get_entry(s, pid)
    assert entry is not None
    return int(payment["id"]), pid, entry.id


async def _show(
    pay: Env, h: dict[str, str], payment_id: int, receipt_id: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    payment = await (await pay.client.get(f"/api/payments/intents/{payment_id}", headers=h)).json()
    receipt = await (await pay.client.get(f"/api/payments/receipts/{receipt_id}", headers=h)).json()
    return payment, receipt


async def test_refunded_payment_reads_partially_refunded_then_refunded(pay: Env) -> None:
    h = pay.new_user()
    payment_id, pid, receipt_id = await _paid(pay, h)
    payment, receipt = await _show(pay, h, payment_id, receipt_id)
    assert payment["status"] == "succeeded" and payment["refunded_cents"] == 0
    assert receipt["status"] == "paid" and receipt["refunded_cents"] == 0
    assert payment["created_at"].endswith("+00:00") and receipt["created_at"].endswith("+00:00")
    charge_id = pay.stripe._create_refund({"payment_intent": pid, "amount": "300"})["charge"]
    first = pay.stripe.charge_refunded_event(charge_id)
    assert (await pay.send(first))[0] == 200
    payment, receipt = await _show(pay, h, payment_id, receipt_id)
    assert payment["status"] == "partially_refunded" and payment["refunded_cents"] == 300
    assert receipt["status"] == "partially_refunded" and receipt["refunded_cents"] == 300
    pay.stripe._create_refund({"payment_intent": pid})  # the rest
    assert (await pay.send(pay.stripe.charge_refunded_event(charge_id)))[0] == 200
    payment, receipt = await _show(pay, h, payment_id, receipt_id)
    charged = pay.stripe.objects[charge_id]["amount"]
    assert payment["status"] == "refunded" and payment["refunded_cents"] == charged
    assert receipt["status"] == "refunded" and receipt["refunded_cents"] == charged
    # the first refund's event delivered again late with its old snapshot: nothing moves back
    late = pay.stripe.event("charge.refunded", first["data"]["object"])
    assert (await pay.send(late))[0] == 200
    payment, _ = await _show(pay, h, payment_id, receipt_id)
    assert payment["status"] == "refunded" and payment["refunded_cents"] == charged
    await _settle(pay)  # the chain is shared by the module's tests: leave nothing in flight


async def _settle(pay: Env) -> None:
    for _ in range(4):
        await drain_outbox(pay.runtime)
        await pay.billing.reversals.process_pending()


async def test_wallet_history_items_carry_direction_and_kind(pay: Env) -> None:
    h = pay.new_user()
    _, pid, receipt_id = await _paid(pay, h, 1_000)
    await drain_outbox(pay.runtime)
    charge_id = pay.stripe._create_refund({"payment_intent": pid, "amount": "250"})["charge"]
    assert (await pay.send(pay.stripe.charge_refunded_event(charge_id)))[0] == 200
    await _settle(pay)  # the managed wallet's clawback: permit -> pull -> burn
    for _ in range(5):
        await pay.runtime.indexer.run_once()
    r = await pay.client.get("/api/wallet/transactions", headers=h)
    assert r.status == 200
    items = (await r.json())["items"]
    kinds = [(i["kind"], i["direction"], i["type"]) for i in items]
    assert ("card_top_up", "in", "payment.topup") in kinds
    assert ("mint", "in", "chain.CreditMinted") in kinds
    assert ("refund", "out", "reversal.refund") in kinds
    assert ("clawback", "out", "chain.Transfer") in kinds
    # the mint is one item (its Transfer from the zero address is not repeated), nothing is a bare event
    assert sum(1 for k, _, _ in kinds if k == "mint") == 1
    assert all(i["kind"] and i["direction"] in ("in", "out") for i in items)
    assert all(i["time"] is None or i["time"].endswith("+00:00") for i in items)
    refund = next(i for i in items if i["kind"] == "refund")
    assert refund["receipt_id"] == receipt_id and refund["credit_units"] > 0
    clawback = next(i for i in items if i["kind"] == "clawback")
    assert clawback["credit_units"] == refund["credit_units"]
    csv = await (await pay.client.get("/api/wallet/transactions?format=csv", headers=h)).text()
    assert csv.splitlines()[0].startswith("time,type,kind,direction")


def _event(
    event: str, args: dict[str, Any], *, contract: str = "CreditToken", log_index: int = 0
) -> IndexedEvent:
    return IndexedEvent(
        chain_id=1,
        block_number=1,
        block_hash="0x00",
        tx_hash="0x01",
        log_index=log_index,
        contract=contract,
        address="0x" + "00" * 20,
        event=event,
        args={k: str(v) for k, v in args.items()},
        ref=None,
        final=True,
    )


def test_classify_derives_kind_from_contract_and_counterparty() -> None:
    parties = Counterparties(escrow=ESCROW, signer=SIGNER)

    def kind(ev: IndexedEvent, *others: IndexedEvent) -> tuple[str, str] | None:
        return classify(ev, ME, [ev, *others], parties)

    minted = _event("CreditMinted", {"to": ME, "amount": 5})
    mint_transfer = _event("Transfer", {"from": ZERO_ADDRESS, "to": ME, "value": 5}, log_index=1)
    assert kind(minted, mint_transfer) == ("mint", "in")
    assert kind(mint_transfer, minted) is None  # the same movement as the CreditMinted item
    assert kind(mint_transfer) == ("mint", "in")
    assert kind(_event("Transfer", {"from": ME, "to": ZERO_ADDRESS, "value": 5})) == ("burn", "out")
    assert kind(_event("Transfer", {"from": ME, "to": ESCROW, "value": 5})) == ("lease_deposit", "out")
    assert kind(_event("Transfer", {"from": ESCROW, "to": ME, "value": 5})) == ("lease_refund", "in")
    withdrawn = _event(
        "EarningsWithdrawn", {"nodeId": 1, "payee": ME, "amount": 5}, contract="DeploymentEscrow"
    )
    payout = _event("Transfer", {"from": ESCROW, "to": ME, "value": 5}, log_index=1)
    assert kind(payout, withdrawn) == ("withdrawal", "in")
    assert kind(_event("Transfer", {"from": ME, "to": SIGNER, "value": 5})) == ("clawback", "out")
    assert kind(_event("Transfer", {"from": ME, "to": OTHER, "value": 5})) == ("transfer", "out")
    assert kind(_event("Transfer", {"from": OTHER, "to": ME, "value": 5})) == ("transfer", "in")
    assert kind(_event("LeaseOpened", {"payer": ME}, contract="DeploymentEscrow")) is None
    assert kind(_event("Approval", {"owner": ME, "spender": ESCROW, "value": 5})) is None
