"""billing.client (official stripe-python underneath) against the local Stripe server."""

from __future__ import annotations

import pytest

from billing.client import StripeBilling
from billing.errors import (
    BillingError,
    CardDeclinedError,
    IdempotencyConflictError,
    PaymentsDisabledError,
    StripeAuthError,
    StripeNotFoundError,
    StripeRequestError,
)
from billing.idempotency import IdempotencyKey, IdempotencyKeyError, idempotency_key
from billing.webhooks import is_ours, parse_event
from tests.support.stripe_server import StripeTestServer


async def _customer(billing: StripeBilling, user_id: int = 7) -> str:
    return await billing.ensure_customer(
        user_id=user_id,
        existing_customer_id=None,
        email="u@example.org",
        idempotency_key=idempotency_key("customer", user_id),
    )


async def test_create_payment_intent_sends_deterministic_key_and_stripe_shapes(
    stripe_server: StripeTestServer, billing: StripeBilling
) -> None:
    cus = await _customer(billing)
    pi = await billing.create_payment_intent(
        1234, "USD", cus, {"cm_user_id": 7, "cm_topup_id": 42}, idempotency_key("topup", 42)
    )
    assert pi["id"].startswith("pi_") and pi["object"] == "payment_intent"
    assert pi["amount"] == 1234 and isinstance(pi["amount"], int) and pi["currency"] == "usd"
    assert pi["metadata"] == {"cm_app": "cloudmarket", "cm_user_id": "7", "cm_topup_id": "42"}
    assert pi["client_secret"].startswith(pi["id"] + "_secret_")
    [req] = stripe_server.requests_to("POST", "/v1/payment_intents")
    assert req.idempotency_key == "cm-topup-42"
    assert req.headers["Authorization"] == f"Bearer {stripe_server.secret_key}"
    assert req.form["metadata"]["cm_topup_id"] == "42" and req.form["amount"] == "1234"
    # and no POST ever went out with stripe-python's random key
    assert all(
        r.idempotency_key and r.idempotency_key.startswith("cm-")
        for r in stripe_server.requests
        if r.method == "POST"
    )


async def test_crash_after_create_then_retry_makes_one_payment_intent(
    stripe_server: StripeTestServer, billing: StripeBilling
) -> None:
    cus = await _customer(billing)
    row_id = 901
    first = await billing.create_payment_intent(
        5000, "usd", cus, {"cm_topup_id": row_id}, idempotency_key("topup", row_id)
    )
    del first  # the process "crashes" before storing the response
    # after restart a fresh client retries the same row
    restarted = StripeBilling.create(
        stripe_server.secret_key, api_base=stripe_server.api_base, max_network_retries=0
    )
    try:
        second = await restarted.create_payment_intent(
            5000, "usd", cus, {"cm_topup_id": row_id}, idempotency_key("topup", row_id)
        )
    finally:
        await restarted.aclose()
    reqs = stripe_server.requests_to("POST", "/v1/payment_intents")
    assert [r.idempotency_key for r in reqs] == ["cm-topup-901", "cm-topup-901"]
    assert [r.replayed for r in reqs] == [False, True]
    assert len(stripe_server.of_kind("payment_intent")) == 1
    assert second["id"] == stripe_server.of_kind("payment_intent")[0]["id"]


async def test_same_key_different_params_is_an_idempotency_conflict(
    stripe_server: StripeTestServer, billing: StripeBilling
) -> None:
    cus = await _customer(billing)
    key = idempotency_key("topup", 5)
    await billing.create_payment_intent(1000, "usd", cus, None, key)
    with pytest.raises(IdempotencyConflictError) as info:
        await billing.create_payment_intent(2000, "usd", cus, None, key)
    assert info.value.http_status == 400 and info.value.idempotency_key == "cm-topup-5"
    assert isinstance(info.value, BillingError)
    assert len(stripe_server.of_kind("payment_intent")) == 1


async def test_ensure_customer_is_lazy_and_idempotent(
    stripe_server: StripeTestServer, billing: StripeBilling
) -> None:
    a = await _customer(billing, 3)
    b = await _customer(billing, 3)  # crash before storing the id: same key finds the same customer
    assert a == b and a.startswith("cus_")
    assert (
        await billing.ensure_customer(
            user_id=3, existing_customer_id=a, idempotency_key=idempotency_key("customer", 3)
        )
        == a
    )
    assert len(stripe_server.of_kind("customer")) == 1
    assert len(stripe_server.requests_to("POST", "/v1/customers")) == 2  # the lazy path made no call
    cus = await billing.retrieve_customer(a)
    assert cus["metadata"] == {"cm_app": "cloudmarket", "cm_user_id": "3"}


async def test_list_recent_payment_intents_paginates_and_filters_by_created(
    stripe_server: StripeTestServer, billing: StripeBilling
) -> None:
    cus = await _customer(billing)
    await billing.create_payment_intent(999, "usd", cus, None, idempotency_key("topup", "old"))
    stripe_server.advance_clock(3600)
    since = stripe_server.now()
    ids = []
    for i in range(7):
        pi = await billing.create_payment_intent(1000 + i, "usd", cus, None, idempotency_key("topup", i))
        ids.append(pi["id"])
    got = await billing.list_recent_payment_intents(since, page_size=3)
    assert [p["id"] for p in got] == list(reversed(ids))  # newest first, old one filtered out, no dupes
    lists = stripe_server.requests_to("GET", "/v1/payment_intents")
    assert len(lists) == 3  # 3 + 3 + 1
    assert lists[0].query["created"] == {"gte": str(since)} and "starting_after" not in lists[0].query
    assert lists[1].query["starting_after"] == ids[-3]


async def test_declined_card_maps_to_card_declined_error(
    stripe_server: StripeTestServer, billing: StripeBilling
) -> None:
    cus = await _customer(billing)
    with pytest.raises(CardDeclinedError) as info:
        await billing.create_payment_intent(
            2500,
            "usd",
            cus,
            None,
            idempotency_key("topup", 77),
            payment_method="pm_card_chargeDeclinedInsufficientFunds",
            confirm=True,
        )
    err = info.value
    assert err.http_status == 402 and err.stripe_code == "card_declined"
    assert err.decline_code == "insufficient_funds"
    assert err.payment_intent_id is not None and err.payment_intent_id.startswith("pi_")
    pi = await billing.retrieve_payment_intent(err.payment_intent_id)
    assert pi["status"] == "requires_payment_method" and pi["last_payment_error"]["code"] == "card_declined"
    # Stripe stores the 402 for the key: a retry replays the decline instead of charging again
    with pytest.raises(CardDeclinedError):
        await billing.create_payment_intent(
            2500,
            "usd",
            cus,
            None,
            idempotency_key("topup", 77),
            payment_method="pm_card_chargeDeclinedInsufficientFunds",
            confirm=True,
        )
    assert len(stripe_server.of_kind("payment_intent")) == 1


async def test_confirm_success_creates_charge_with_receipt(
    stripe_server: StripeTestServer, billing: StripeBilling
) -> None:
    cus = await _customer(billing)
    pi = await billing.create_payment_intent(
        2500, "usd", cus, None, idempotency_key("topup", 8), payment_method="pm_card_visa", confirm=True
    )
    assert pi["status"] == "succeeded" and pi["amount_received"] == 2500
    charge = await billing.retrieve_charge(pi["latest_charge"])
    assert charge["id"].startswith("ch_") and charge["paid"] is True
    assert charge["receipt_url"].startswith("https://") and charge["payment_intent"] == pi["id"]
    refund = await billing.create_refund(
        payment_intent=pi["id"], idempotency_key=idempotency_key("refund", 8)
    )
    assert refund["id"].startswith("re_") and refund["amount"] == 2500
    assert (await billing.retrieve_charge(charge["id"]))["refunded"] is True


async def test_error_mapping_not_found_bad_request_auth(
    stripe_server: StripeTestServer, billing: StripeBilling
) -> None:
    with pytest.raises(StripeNotFoundError) as nf:
        await billing.retrieve_payment_intent("pi_doesnotexist")
    assert nf.value.http_status == 404 and nf.value.stripe_code == "resource_missing"
    with pytest.raises(StripeRequestError) as small:
        await billing.create_payment_intent(10, "usd", None, None, idempotency_key("topup", 1))
    assert small.value.stripe_code == "amount_too_small" and small.value.param == "amount"
    wrong = StripeBilling.create("sk_test_wrong", api_base=stripe_server.api_base, max_network_retries=0)
    try:
        with pytest.raises(StripeAuthError) as auth:
            await wrong.retrieve_payment_intent("pi_x")
    finally:
        await wrong.aclose()
    assert auth.value.http_status == 401


async def test_keys_must_be_deterministic(billing: StripeBilling) -> None:
    with pytest.raises(IdempotencyKeyError):
        await billing.create_payment_intent(
            1000, "usd", None, None, IdempotencyKey("3f2c7a9e-4b1d-4c8e-9a6f-2d1b0c9e8f7a")
        )
    with pytest.raises(ValueError):
        await billing.create_payment_intent(
            10.5,
            "usd",
            None,
            None,  # type: ignore[arg-type]
            idempotency_key("topup", 1),
        )
    with pytest.raises(PaymentsDisabledError):
        StripeBilling.create(None)


async def test_payment_methods_setup_intent_default_and_detach(
    stripe_server: StripeTestServer, billing: StripeBilling
) -> None:
    cus = await _customer(billing)
    seti = await billing.create_setup_intent(customer=cus, idempotency_key=idempotency_key("setup", 1))
    assert seti["id"].startswith("seti_") and seti["client_secret"].startswith(seti["id"])
    stripe_server.complete_setup_intent(seti["id"], "pm_card_visa")  # the browser confirms with Elements
    stripe_server.complete_setup_intent(
        (await billing.create_setup_intent(customer=cus, idempotency_key=idempotency_key("setup", 2)))["id"],
        "pm_card_mastercard",
    )
    assert (await billing.retrieve_setup_intent(seti["id"]))["status"] == "succeeded"
    methods = await billing.list_payment_methods(cus)
    assert [m["card"]["brand"] for m in methods] == ["mastercard", "visa"]
    visa = methods[1]["id"]
    updated = await billing.set_default_payment_method(
        cus, visa, idempotency_key=idempotency_key("default_pm", 1)
    )
    assert updated["invoice_settings"]["default_payment_method"] == visa
    await billing.detach_payment_method(visa, idempotency_key=idempotency_key("detach", visa))
    assert [m["id"] for m in await billing.list_payment_methods(cus)] == [methods[0]["id"]]
    assert (await billing.retrieve_customer(cus))["invoice_settings"]["default_payment_method"] is None


async def test_subscription_invoices_and_cancel(
    stripe_server: StripeTestServer, billing: StripeBilling
) -> None:
    cus = await _customer(billing)
    seti = await billing.create_setup_intent(customer=cus, idempotency_key=idempotency_key("setup", 1))
    pm = stripe_server.complete_setup_intent(seti["id"])["payment_method"]
    await billing.set_default_payment_method(cus, pm, idempotency_key=idempotency_key("default_pm", 1))
    price = await billing.create_price(
        product_name="Starter",
        unit_amount_cents=2000,
        currency="usd",
        interval="month",
        idempotency_key=idempotency_key("plan_price", 1),
    )
    assert price["id"].startswith("price_") and price["recurring"]["interval"] == "month"
    sub = await billing.create_subscription(
        customer=cus,
        price=price["id"],
        metadata={"cm_plan": 1},
        idempotency_key=idempotency_key("subscription", 1),
    )
    assert sub["id"].startswith("sub_") and sub["status"] == "active"
    stripe_server.renew_subscription(sub["id"])
    invoices = await billing.list_invoices(subscription=sub["id"])
    assert len(invoices) == 2 and all(i["status"] == "paid" and i["amount_paid"] == 2000 for i in invoices)
    inv = await billing.retrieve_invoice(invoices[0]["id"])
    assert inv["parent"]["subscription_details"]["metadata"]["cm_app"] == "cloudmarket"
    event = parse_event(stripe_server.invoice_paid_event(inv["id"]))
    assert event.type == "invoice.paid" and is_ours(event.object) and event.object["amount_paid"] == 2000
    cancelled = await billing.cancel_subscription_at_period_end(
        sub["id"], idempotency_key=idempotency_key("sub_cancel", 1)
    )
    assert cancelled["cancel_at_period_end"] is True
    assert (await billing.retrieve_subscription(sub["id"]))["cancel_at_period_end"] is True
