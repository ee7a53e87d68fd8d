"""Cursor pagination of the plans lists (operator: all plans; user: the active ones), newest first: walking
the pages sees every plan once; a cursor the service did not issue is 400 ``bad_cursor``."""

from __future__ import annotations

import uuid
from typing import Any

from engine.payments.models import Plan
from engine.runtime import Runtime
from tests.api.payments.conftest import Env
from tests.support.pages import walk


async def _add_plans(runtime: Runtime, active: list[bool]) -> list[int]:
    tag = uuid.uuid4().hex[:8]
    async with runtime.sessionmaker() as session:
        rows = [
            Plan(
                name=f"pages-{tag}-{n}",
                price_cents=500 + n,
                credit_cents=500,
                currency="usd",
                interval="month",
                stripe_price_id=f"price_pages_{tag}_{n}",
                active=on,
            )
            for n, on in enumerate(active)
        ]
        session.add_all(rows)
        await session.commit()
        return [r.id for r in rows]


def _ids(pages: list[list[dict[str, Any]]]) -> list[int]:
    return [int(p["id"]) for page in pages for p in page]


async def test_plans_page_through_every_plan_once(pay: Env) -> None:
    active = [True, False, True, True, False, True]
    ids = await _add_plans(pay.runtime, active)
    oper = pay.headers("dev|plan-pages-operator", ("cloud-operator",))
    user = pay.new_user()

    pages = await walk(pay.client, "/api/cloud-operator/plans", oper, "plans", 2)
    listed = _ids(pages)
    assert len(listed) == len(set(listed)) and listed == sorted(listed, reverse=True)
    assert [i for i in listed if i in ids] == sorted(ids, reverse=True)
    assert len(pages) >= 3 and all(len(p) == 2 for p in pages[:-1])

    shown = _ids(await walk(pay.client, "/api/payments/plans", user, "plans", 1))
    assert len(shown) == len(set(shown))
    on = [i for i, a in zip(ids, active, strict=True) if a]
    assert [i for i in shown if i in ids] == sorted(on, reverse=True)
    assert (
        _ids(await walk(pay.client, "/api/payments/plans", user, "plans", None)) == shown or len(shown) > 50
    )


async def test_plans_refuse_bad_cursors_and_limits(pay: Env) -> None:
    user = pay.new_user()
    for params, code in (
        ({"cursor": "abc"}, "bad_cursor"),
        ({"cursor": "no way"}, "invalid_request"),
        ({"limit": "201"}, "invalid_request"),
        ({"limit": "0"}, "invalid_request"),
    ):
        resp = await pay.client.get("/api/payments/plans", params=params, headers=user)
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["error"]["code"] == code, params
