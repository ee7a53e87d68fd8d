"""``PUT|GET /api/wallet/auto-top-up`` (issue 12): a bad rule is refused with the field that is wrong and
writes nothing (the previous rule stays as it was); a card source must name one of the caller's own saved
payment methods; a good rule reads back healthy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from engine.autotopup.models import AutoTopUpRule
from engine.money import MAX_CREDIT_UNITS
from tests.api.payments.conftest import Env

PATH = "/api/wallet/auto-top-up"
GOOD: dict[str, Any] = {
    "floor_seconds": 86_400,
    "target_seconds": 2 * 86_400,
    "monthly_cap": 500 * 10**6,
    "sources": [{"kind": "credit"}],
}


async def _saved_card(pay: Env, headers: dict[str, str]) -> str:
    resp = await pay.client.post("/api/payments/methods", headers=headers)
    assert resp.status == 201, await resp.text()
    seti = (await resp.json())["setup_intent_id"]
    return str(pay.stripe.complete_setup_intent(seti)["payment_method"])


async def _rules(pay: Env) -> int:
    async with pay.runtime.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(AutoTopUpRule)) or 0)


async def test_bad_rules_are_refused_and_write_nothing(pay: Env) -> None:
    user, other = pay.new_user(), pay.new_user()
    others_card = await _saved_card(pay, other)
    before = await _rules(pay)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"floor_seconds": 7_200, "target_seconds": 7_200}, 422, "invalid_auto_top_up"),
        ({"floor_seconds": 9_000, "target_seconds": 7_200}, 422, "invalid_auto_top_up"),
        ({"monthly_cap": MAX_CREDIT_UNITS + 1}, 400, "invalid_request"),
        ({"monthly_cap": 0}, 400, "invalid_request"),
        ({"sources": []}, 400, "invalid_request"),
        ({"sources": [{"kind": "credit"}, {"kind": "credit"}]}, 422, "invalid_auto_top_up"),
        ({"sources": [{"kind": "card"}]}, 422, "invalid_auto_top_up"),
        ({"sources": [{"kind": "credit", "payment_method": "pm_x"}]}, 422, "invalid_auto_top_up"),
        ({"sources": [{"kind": "card", "payment_method": "pm_unknown"}]}, 404, "unknown_payment_method"),
        ({"sources": [{"kind": "card", "payment_method": others_card}]}, 404, "unknown_payment_method"),
        ({"sources": [{"kind": "bank"}]}, 400, "invalid_request"),
    ]
    for change, status, code in cases:
        resp = await pay.client.put(PATH, json=GOOD | change, headers=user)
        body = await resp.json()
        assert (resp.status, body["error"]["code"]) == (status, code), (change, body)
    assert await _rules(pay) == before
    got = await (await pay.client.get(PATH, headers=user)).json()
    assert got["rule"] is None and got["actions"] == [] and got["next_cursor"] is None


async def test_a_good_rule_reads_back_and_a_bad_update_leaves_it_unchanged(pay: Env) -> None:
    user = pay.new_user()
    card = await _saved_card(pay, user)
    rule = GOOD | {"sources": [{"kind": "credit"}, {"kind": "card", "payment_method": card}]}
    resp = await pay.client.put(PATH, json=rule, headers=user)
    assert resp.status == 200, await resp.text()
    put = await resp.json()
    assert put["state"] == "healthy" and put["failure_reason"] is None and put["cap_used"] == 0
    assert put["sources"] == rule["sources"]

    bad = await pay.client.put(PATH, json=GOOD | {"floor_seconds": 3 * 86_400}, headers=user)
    assert bad.status == 422
    got = await (await pay.client.get(PATH, headers=user)).json()
    assert {k: got["rule"][k] for k in rule} == rule  # unchanged by the refused update
    assert got["rule"]["state"] == "healthy"
    assert got["actions"] == [] and got["transactions"] == []  # no wallet yet: nothing to sign
