"""Low-balance alerts end to end: forecasts stored by the monitoring room (``balance_snapshots`` rows, as
the scan writes them) are evaluated against the thresholds; each condition becomes one in-app
notification, one email outbox row and one signed webhook delivery (verified by a receiver written in
``tests.api.notifications.helpers``) once per period; 50 deployments are one notification; auto top-up
silences what it covers and nothing while it fails; ``PUT /api/me/alerts`` validates before it writes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import select

from engine.alerts.commands import evaluate_alerts
from engine.alerts.models import AlertMark, AlertPreference
from engine.autotopup.models import FAILING, HEALTHY, AutoTopUpRule
from engine.monitoring.models import RAW, BalanceSnapshot
from engine.notifications import models as m
from engine.notifications.delivery import DeliveryWorker
from tests.api.notifications.conftest import Caller, Env
from tests.api.notifications.helpers import Clock, Receiver, receiving

ALERTS = "/api/me/alerts"
H, D = 3600, 86_400
NOW = 1_796_000_000  # a fixed evaluation time (period = NOW // 86_400); forecasts are stored at it
RATE = 10  # credit units per second


async def _forecast(
    env: Env, user_id: int, at: int, account: int | None, deployments: dict[int, int | None]
) -> None:
    """A snapshot as the balance scan stores it: the account's runway and its deployments'."""
    async with env.runtime.sessionmaker() as session, session.begin():
        session.add(
            BalanceSnapshot(
                user_id=user_id,
                resolution=RAW,
                at=at,
                block=1,
                credit_units=0,
                lease_units=0,
                native_wei="0",
                burn_rate_per_second=RATE * max(1, len(deployments)),
                runway_seconds=account,
                deployments={
                    str(dep): {
                        "runway_seconds": runway,
                        "burn_rate_per_second": RATE,
                        "lease_units": RATE * (runway or 0),
                    }
                    for dep, runway in deployments.items()
                },
            )
        )


async def _notes(env: Env, user_id: int) -> list[m.Notification]:
    async with env.runtime.sessionmaker() as session:
        stmt = select(m.Notification).where(m.Notification.user_id == user_id).order_by(m.Notification.id)
        return list((await session.scalars(stmt)).all())


async def _deliveries(env: Env, user_id: int) -> list[m.Delivery]:
    async with env.runtime.sessionmaker() as session:
        stmt = select(m.Delivery).where(m.Delivery.user_id == user_id).order_by(m.Delivery.id)
        return list((await session.scalars(stmt)).all())


async def _hook(env: Env, who: Caller, url: str) -> dict[str, Any]:
    resp = await env.client.post("/api/me/webhooks", json={"url": url, "events": ["*"]}, headers=who.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def _rule(env: Env, user_id: int, *, state: str = HEALTHY, cap: int = 10**12) -> None:
    async with env.runtime.sessionmaker() as session, session.begin():
        rule = (
            await session.scalars(select(AutoTopUpRule).where(AutoTopUpRule.user_id == user_id))
        ).one_or_none()
        if rule is None:
            rule = AutoTopUpRule(user_id=user_id, floor_seconds=D, target_seconds=2 * D, sources=[])
            session.add(rule)
        rule.state, rule.monthly_cap = state, cap
        rule.failure_reason = "card_declined" if state == FAILING else None


async def test_each_condition_is_one_notification_email_and_signed_webhook_per_period(env: Env) -> None:
    ann = await env.user(email="ann@example.test")
    async with receiving(Receiver()) as receiver:
        receiver.secret = (await _hook(env, ann, receiver.url))["secret"]
        # account: 20 h left (< 24 h); deployments: 5 h (< 6 h), 30 h (< 7 d), 8 d (fine)
        await _forecast(env, ann.user_id, NOW, 20 * H, {101: 5 * H, 102: 30 * H, 103: 8 * D})
        await evaluate_alerts(env.runtime.context, now=NOW)

        notes = await _notes(env, ann.user_id)
        assert [n.kind for n in notes] == ["low_balance", "runway_low"]
        account, deps = notes
        assert (account.payload["threshold_seconds"], account.payload["runway_seconds"]) == (D, 20 * H)
        listed = {d["deployment_id"]: d["threshold_seconds"] for d in deps.payload["deployments"]}
        assert listed == {101: 6 * H, 102: 7 * D}  # each its most severe threshold; 103 is fine
        deliveries = await _deliveries(env, ann.user_id)
        assert sorted((d.channel, d.event) for d in deliveries) == [
            ("email", "low_balance"),
            ("email", "runway_low"),
            ("webhook", "low_balance"),
            ("webhook", "runway_low"),
        ]

        # the same period, later, with a newer scan: nothing new (nor for thresholds already passed)
        await _forecast(env, ann.user_id, NOW + 600, 19 * H, {101: 4 * H, 102: 29 * H, 103: 8 * D})
        await evaluate_alerts(env.runtime.context, now=NOW + 600)
        assert len(await _notes(env, ann.user_id)) == 2

        # a deeper threshold in the same period is a new condition: 102 falls under 24 h
        await _forecast(env, ann.user_id, NOW + 1200, 19 * H, {101: 4 * H, 102: 23 * H, 103: 8 * D})
        await evaluate_alerts(env.runtime.context, now=NOW + 1200)
        notes = await _notes(env, ann.user_id)
        assert [n.kind for n in notes] == ["low_balance", "runway_low", "runway_low"]
        assert [d["deployment_id"] for d in notes[-1].payload["deployments"]] == [102]

        # webhooks arrive signed and verified by the receiver
        await DeliveryWorker(env.runtime.sessionmaker, env.runtime.settings, None, Clock()).run_once()
        mine = [json.loads(r.body) for r in receiver.received]
        assert sorted(b["type"] for b in mine) == ["low_balance", "runway_low", "runway_low"]
        assert all(r.accepted for r in receiver.received)

    # the next period announces what still holds, once
    nxt = NOW + D
    await _forecast(env, ann.user_id, nxt, 10 * H, {101: 3 * H})
    await evaluate_alerts(env.runtime.context, now=nxt)
    await evaluate_alerts(env.runtime.context, now=nxt + 60)
    kinds = [n.kind for n in await _notes(env, ann.user_id)]
    assert kinds == ["low_balance", "runway_low", "runway_low", "low_balance", "runway_low"]


async def test_fifty_deployments_crossing_or_closing_are_one_notification_each(env: Env) -> None:
    bob = await env.user(email="bob@example.test")
    low = {1000 + i: 2 * H for i in range(50)}
    gone = {2000 + i: 0 for i in range(50)}
    await _forecast(env, bob.user_id, NOW, 30 * D, {**low, **gone})
    await evaluate_alerts(env.runtime.context, now=NOW)
    notes = await _notes(env, bob.user_id)
    assert sorted(n.kind for n in notes) == ["deployment_closing", "runway_low"]
    by_kind = {n.kind: n for n in notes}
    assert sorted(d["deployment_id"] for d in by_kind["runway_low"].payload["deployments"]) == sorted(low)
    assert sorted(d["deployment_id"] for d in by_kind["deployment_closing"].payload["deployments"]) == sorted(
        gone
    )
    assert "50 deployments" in by_kind["deployment_closing"].title
    assert len(await _deliveries(env, bob.user_id)) == 2  # one email each (no webhook registered)


async def test_silent_while_auto_top_up_covers_the_gap_raised_when_it_fails(env: Env) -> None:
    cat = await env.user(email="cat@example.test")
    await _rule(env, cat.user_id)  # healthy, cap far above the gap
    await _forecast(env, cat.user_id, NOW, 20 * H, {301: 5 * H, 302: 0})
    await evaluate_alerts(env.runtime.context, now=NOW)
    # the closing deployment is announced regardless; the low runway is auto top-up's to fix
    assert [n.kind for n in await _notes(env, cat.user_id)] == ["deployment_closing"]
    async with env.runtime.sessionmaker() as session:
        marks = (await session.scalars(select(AlertMark).where(AlertMark.user_id == cat.user_id))).all()
    assert {mk.subject for mk in marks} == {"deployment:302"}  # silenced conditions are not marked

    # a cap too small for the gap: raised, saying why
    await _rule(env, cat.user_id, cap=1)
    await evaluate_alerts(env.runtime.context, now=NOW + 60)
    notes = await _notes(env, cat.user_id)
    assert [n.kind for n in notes] == ["deployment_closing", "low_balance", "runway_low"]
    assert "monthly cap" in notes[1].body

    # a failing rule (a top-up failed): raised; the failure itself is the auto top-up room's notification
    dan = await env.user(email="dan@example.test")
    await _rule(env, dan.user_id, state=FAILING)
    await _forecast(env, dan.user_id, NOW, 20 * H, {})
    await evaluate_alerts(env.runtime.context, now=NOW)
    notes = await _notes(env, dan.user_id)
    assert [n.kind for n in notes] == ["low_balance"] and "failing" in notes[0].body
    assert all(n.kind != "auto_top_up_failed" for n in notes)  # not repeated by the alert rules


async def test_user_thresholds_override_and_bad_input_writes_nothing(env: Env) -> None:
    eve = await env.user(email="eve@example.test")
    got = await (await env.client.get(ALERTS, headers=eve.headers)).json()
    assert got == {
        "enabled": True,
        "thresholds_seconds": [7 * D, D, 6 * H],
        "custom": False,
        "operator_default_seconds": [7 * D, D, 6 * H],
    }
    bad_bodies: list[dict[str, Any]] = [
        {"thresholds_seconds": []},
        {"thresholds_seconds": [60]},
        {"thresholds_seconds": [H, H]},
        {"thresholds_seconds": [H, 2 * H, 3 * H, 4 * H, 5 * H, 6 * H]},
        {"thresholds_seconds": ["1h"]},
        {"enabled": "yes"},
        {"snooze": True},
        {},
    ]
    for bad in bad_bodies:
        resp = await env.client.put(ALERTS, json=bad, headers=eve.headers)
        assert resp.status == 400, (bad, await resp.text())
    async with env.runtime.sessionmaker() as session:
        assert await session.get(AlertPreference, eve.user_id) is None  # nothing written

    resp = await env.client.put(ALERTS, json={"thresholds_seconds": [H, 2 * D]}, headers=eve.headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["thresholds_seconds"] == [2 * D, H] and (await resp.json())["custom"]

    # her thresholds apply: 30 h is under 2 d (not under the operator's 24 h)
    await _forecast(env, eve.user_id, NOW, 30 * H, {})
    await evaluate_alerts(env.runtime.context, now=NOW)
    (note,) = await _notes(env, eve.user_id)
    assert note.payload["threshold_seconds"] == 2 * D

    # off: no low-balance alert; deployments out of funds are still announced
    off = {"enabled": False, "thresholds_seconds": None}
    resp = await env.client.put(ALERTS, json=off, headers=eve.headers)
    assert (await resp.json())["custom"] is False and (await resp.json())["enabled"] is False
    await _forecast(env, eve.user_id, NOW + D, H, {401: 0})
    await evaluate_alerts(env.runtime.context, now=NOW + D)
    assert [n.kind for n in await _notes(env, eve.user_id)] == ["low_balance", "deployment_closing"]


async def test_two_evaluations_at_once_announce_once_and_stale_forecasts_are_ignored(env: Env) -> None:
    fay = await env.user(email="fay@example.test")
    await _forecast(env, fay.user_id, NOW, 2 * H, {501: H, 502: 0})
    ctx = env.runtime.context
    await asyncio.gather(*(evaluate_alerts(ctx, now=NOW + i) for i in range(3)))  # e.g. two leaders
    notes = await _notes(env, fay.user_id)
    assert sorted(n.kind for n in notes) == ["deployment_closing", "low_balance", "runway_low"]
    assert len(await _deliveries(env, fay.user_id)) == 3

    # an account no longer scanned (its last forecast is days old) is not alerted on
    gil = await env.user(email="gil@example.test")
    await _forecast(env, gil.user_id, NOW - 3 * D, 2 * H, {601: 0})
    await evaluate_alerts(ctx, now=NOW)
    assert await _notes(env, gil.user_id) == []


async def test_the_operator_sets_the_default_thresholds(env: Env) -> None:
    op, hal = await env.user("cloud-operator"), await env.user()
    settings = "/api/cloud-operator/settings"
    too_short = {"values": {"low_balance_thresholds": [10]}}
    bad = await env.client.put(settings, json=too_short, headers=op.headers)
    assert bad.status == 400, await bad.text()
    resp = await env.client.put(
        settings, json={"values": {"low_balance_thresholds": [2 * H, 3 * D]}}, headers=op.headers
    )
    assert resp.status == 200, await resp.text()
    try:
        got = await (await env.client.get(ALERTS, headers=hal.headers)).json()
        assert (got["thresholds_seconds"], got["custom"]) == ([3 * D, 2 * H], False)
        assert got["operator_default_seconds"] == [3 * D, 2 * H]
    finally:  # the shared runtime's other tests expect the built-in default
        restore = {"values": {"low_balance_thresholds": [7 * D, D, 6 * H]}}
        assert (await env.client.put(settings, json=restore, headers=op.headers)).status == 200
