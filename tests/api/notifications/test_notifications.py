"""Notifications through the real stack: ``notify`` (one per dedupe key, deliveries in the same
transaction), the inbox routes and SSE, email through a real local SMTP server (aiosmtpd) or ``.eml``
files, and signed webhooks to a receiver written here (signature checked, replays refused, failures
retried with exponential backoff for a day)."""

from __future__ import annotations

import asyncio
import json
import socket
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from engine.notifications import models as m
from engine.notifications.delivery import DeliveryWorker
from engine.notifications.senders import FileSender, SmtpSender, email_sender_for
from engine.notifications.services import notify, publish_noted
from engine.notifications.signing import sign
from tests.api.notifications.conftest import Caller, Env
from tests.api.notifications.helpers import Clock, Receiver, receiving

INBOX = "/api/notifications"
HOOKS = "/api/me/webhooks"


async def _notify(env: Env, user_id: int, key: str, kind: str = "low_balance", **data: Any) -> Any:
    async with env.runtime.sessionmaker() as session:
        async with session.begin():
            done = await notify(session, user_id, kind, key, f"title {key}", f"body {key}", data)
        await publish_noted(env.runtime.hub, session)
    return done


async def _hook(env: Env, who: Caller, url: str, events: list[str] | None = None) -> dict[str, Any]:
    resp = await env.client.post(HOOKS, json={"url": url, "events": events or ["*"]}, headers=who.headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def _deliveries(env: Env, **where: Any) -> list[m.Delivery]:
    async with env.runtime.sessionmaker() as session:
        stmt = select(m.Delivery).filter_by(**where).order_by(m.Delivery.id)
        return list((await session.scalars(stmt)).all())


def _worker(env: Env, clock: Clock | None = None, email: Any = None, **settings: Any) -> DeliveryWorker:
    s = env.runtime.settings.with_(**settings)
    return DeliveryWorker(env.runtime.sessionmaker, s, email, clock or Clock())


# ---- notify ------------------------------------------------------------------------------------------
async def test_one_notification_per_key_and_its_deliveries_in_one_transaction(env: Env) -> None:
    alice = await env.user(email="alice@example.test")
    hook = await _hook(env, alice, "https://127.0.0.1:9/a", ["low_balance"])
    await _hook(env, alice, "https://127.0.0.1:9/b", ["maintenance_scheduled"])  # not subscribed

    first = await _notify(env, alice.user_id, "low_balance:acct:7:2026-12-06", account=7)
    again = await _notify(env, alice.user_id, "low_balance:acct:7:2026-12-06", account=7)
    assert (first.created, first.deliveries) == (True, 2)  # email + the subscribed endpoint
    assert (again.created, again.deliveries, again.notification_id) == (False, 0, first.notification_id)
    rows = await _deliveries(env, notification_id=first.notification_id)
    assert sorted((d.channel, d.endpoint_id) for d in rows) == sorted(
        [(m.EMAIL, None), (m.WEBHOOK, hook["webhook"]["id"])]
    )
    webhook = next(d for d in rows if d.channel == m.WEBHOOK)
    assert webhook.payload["type"] == "low_balance"
    assert webhook.payload["data"]["account"] == 7

    # a rolled-back caller leaves neither the notification nor its deliveries
    async with env.runtime.sessionmaker() as session:
        async with session.begin():
            await notify(session, alice.user_id, "low_balance", "rolled-back", "t", "b", {})
            await session.rollback()
    async with env.runtime.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(m.Notification).where(m.Notification.dedupe_key == "rolled-back")
        )
    assert count == 0


# ---- in-app ------------------------------------------------------------------------------------------
async def test_inbox_pages_marks_read_and_hides_other_users_notifications(env: Env) -> None:
    bob, eve = await env.user(), await env.user()
    ids = [(await _notify(env, bob.user_id, f"k{i}")).notification_id for i in range(5)]

    resp = await env.client.get(INBOX + "?limit=2", headers=bob.headers)
    page = await resp.json()
    assert [n["id"] for n in page["notifications"]] == ids[::-1][:2]
    assert page["unread"] == 5 and page["next_cursor"]
    rest = await (await env.client.get(f"{INBOX}?cursor={page['next_cursor']}", headers=bob.headers)).json()
    assert [n["id"] for n in rest["notifications"]] == ids[::-1][2:] and rest["next_cursor"] is None

    resp = await env.client.post(f"{INBOX}/{ids[0]}/read", headers=eve.headers)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    resp = await env.client.post(f"{INBOX}/{ids[0]}/read", headers=bob.headers)
    assert resp.status == 200 and (await resp.json())["read_at"] is not None
    unread = await (await env.client.get(INBOX + "?unread=true", headers=bob.headers)).json()
    assert [n["id"] for n in unread["notifications"]] == ids[:0:-1] and unread["unread"] == 4
    assert (await (await env.client.get(INBOX, headers=eve.headers)).json())["notifications"] == []

    resp = await env.client.post(f"{INBOX}/read-all", headers=bob.headers)
    assert (await resp.json()) == {"marked": 4}
    assert (await (await env.client.get(INBOX, headers=bob.headers)).json())["unread"] == 0


async def test_stream_pushes_new_notifications(env: Env) -> None:
    carol = await env.user()
    old = await _notify(env, carol.user_id, "before-the-stream")

    async def collect() -> str:
        resp = await env.client.get(f"{INBOX}/stream?max_seconds=3", headers=carol.headers)
        assert resp.status == 200
        return str((await resp.read()).decode())

    task = asyncio.create_task(collect())
    await asyncio.sleep(0.5)
    new = await _notify(env, carol.user_id, "during-the-stream", amount=5)
    text = await asyncio.wait_for(task, 10)
    assert f"id: {new.notification_id}\nevent: notification\n" in text
    assert f"id: {old.notification_id}\n" not in text  # without Last-Event-ID: only new ones
    data = json.loads(text.split(f"id: {new.notification_id}\nevent: notification\ndata: ")[1].split("\n")[0])
    assert data["data"] == {"amount": 5} and data["title"] == "title during-the-stream"

    replay = await env.client.get(
        f"{INBOX}/stream?max_seconds=0", headers={**carol.headers, "Last-Event-ID": "0"}
    )
    assert [line for line in (await replay.text()).splitlines() if line.startswith("id: ")] == [
        f"id: {old.notification_id}",
        f"id: {new.notification_id}",
    ]


# ---- email -------------------------------------------------------------------------------------------
class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
        )
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_email_goes_through_a_real_smtp_server(env: Env) -> None:
    dave = await env.user(email="dave@example.test")
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        done = await _notify(env, dave.user_id, "low_balance:acct:9:2026-12-06")
        settings = env.runtime.settings.with_(
            smtp_host="127.0.0.1", smtp_port=port, smtp_from="ops@market.test"
        )
        sender = email_sender_for(settings)
        assert isinstance(sender, SmtpSender)
        worker = DeliveryWorker(env.runtime.sessionmaker, settings, sender, Clock())
        stats = await worker.run_once()
        assert stats.delivered >= 1
    finally:
        controller.stop()
    mine = [msg for msg in inbox.messages if msg[1] == ["dave@example.test"]]
    assert len(mine) == 1
    mail_from, _, message = mine[0]
    assert mail_from == "ops@market.test"
    assert message["Subject"] == "title low_balance:acct:9:2026-12-06"
    assert "body low_balance:acct:9:2026-12-06" in message.get_payload()
    [row] = await _deliveries(env, notification_id=done.notification_id, channel=m.EMAIL)
    assert (row.status, row.attempts) == (m.DELIVERED, 1)


async def test_email_refused_by_the_server_is_retried(env: Env) -> None:
    erin = await env.user(email="erin@example.test")
    done = await _notify(env, erin.user_id, "smtp-down")
    clock = Clock()
    # nothing listens on this port: the attempt fails and is retried later, not lost
    worker = _worker(env, clock, SmtpSender("127.0.0.1", _free_port(), timeout=2))
    await worker.run_once()
    [row] = await _deliveries(env, notification_id=done.notification_id)
    assert (row.status, row.attempts) == (m.PENDING, 1) and row.last_error

    # without any email sender (production without SMTP) retrying cannot help: failed at once
    other = await _notify(env, erin.user_id, "no-sender")
    await _worker(env, clock, None).run_once()
    [row] = await _deliveries(env, notification_id=other.notification_id)
    assert (row.status, row.attempts) == (m.FAILED, 1) and "SMTP_HOST" in (row.last_error or "")


async def test_dev_without_smtp_writes_eml_files(env: Env) -> None:
    frank = await env.user(email="frank@example.test")
    await _notify(env, frank.user_id, "eml")
    sender = email_sender_for(env.runtime.settings)
    assert isinstance(sender, FileSender)
    assert email_sender_for(env.runtime.settings.with_(env="production")) is None
    await _worker(env, email=sender).run_once()
    files = [p for p in sender.directory.glob("*.eml") if b"frank@example.test" in p.read_bytes()]
    assert len(files) == 1
    assert message_from_bytes(files[0].read_bytes())["Subject"] == "title eml"


# ---- webhooks ----------------------------------------------------------------------------------------
async def test_signed_delivery_is_verified_and_a_replay_is_refused(env: Env) -> None:
    gina = await env.user()
    async with receiving(Receiver(tolerance=1)) as receiver:
        created = await _hook(env, gina, receiver.url)
        receiver.secret = created["secret"]
        hook_id = created["webhook"]["id"]
        listed = await (await env.client.get(HOOKS, headers=gina.headers)).json()
        assert listed["webhooks"] == [created["webhook"]]  # the secret is shown only once
        assert "secret" not in json.dumps(listed)

        resp = await env.client.post(f"{HOOKS}/{hook_id}/test", headers=gina.headers)
        assert resp.status == 202, await resp.text()
        done = await _notify(env, gina.user_id, "deployment_closing:2026-12-06", kind="deployment_closing")
        await _worker(env, clock=None).run_once()
        assert [r.accepted for r in receiver.received] == [True, True]
        events = [json.loads(r.body)["type"] for r in receiver.received]
        assert sorted(events) == ["deployment_closing", "webhook.test"]
        body = next(r.body for r in receiver.received if b"deployment_closing" in r.body)
        assert json.loads(body)["data"]["notification_id"] == done.notification_id

        log = await (await env.client.get(f"{HOOKS}/{hook_id}/deliveries", headers=gina.headers)).json()
        assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log["deliveries"]] == [
            ("delivered", 1, 200),
            ("delivered", 1, 200),
        ]

        # a captured delivery sent again after the receiver's tolerance is refused; so is a forged one
        first = receiver.received[0]
        await asyncio.sleep(2.2)
        async with env.client.session.post(
            receiver.url, data=first.body, headers={"Cloudmarket-Signature": first.header}
        ) as replay:
            assert replay.status == 400
        fresh_but_forged = sign("whsec_not_the_secret", first.body, int(asyncio.get_running_loop().time()))
        async with env.client.session.post(
            receiver.url, data=first.body, headers={"Cloudmarket-Signature": fresh_but_forged}
        ) as forged:
            assert forged.status == 400


async def test_a_failing_receiver_gets_retries_with_backoff_for_a_day(env: Env) -> None:
    hank = await env.user()
    async with receiving(Receiver(fail_with=503)) as receiver:
        created = await _hook(env, hank, receiver.url)
        receiver.secret = created["secret"]
        hook_id = created["webhook"]["id"]
        clock = Clock()
        worker = _worker(env, clock, notify_retry_base=30.0, notify_retry_max=3600.0)
        await env.client.post(f"{HOOKS}/{hook_id}/test", headers=hank.headers)

        gaps = []
        [row] = await _deliveries(env, endpoint_id=hook_id)
        for _ in range(3):
            await worker.run_once()
            [after] = await _deliveries(env, endpoint_id=hook_id)
            assert after.last_attempt_at is not None
            gaps.append((after.next_attempt_at - after.last_attempt_at).total_seconds())
            clock.advance(gaps[-1] - 1)
            sent = len(receiver.received)
            await worker.run_once()
            assert len(receiver.received) == sent  # not due yet: nothing is sent early
            clock.advance(1)
        assert gaps == [30, 60, 120]
        assert len(receiver.received) == 3 and all(r.accepted for r in receiver.received)

        receiver.fail_with = None  # the receiver recovers: the next attempt delivers
        assert (await worker.run_once()).delivered >= 1
        [row] = await _deliveries(env, endpoint_id=hook_id)
        assert (row.status, row.attempts, row.last_status_code) == (m.DELIVERED, 4, 200)

        # another delivery to a receiver that never recovers: retried until a day has passed, then failed
        receiver.fail_with = 500
        await env.client.post(f"{HOOKS}/{hook_id}/test", headers=hank.headers)
        before = len(receiver.received)
        for _ in range(100):
            pending = [d for d in await _deliveries(env, endpoint_id=hook_id) if d.status == m.PENDING]
            if not pending:
                break
            due = pending[0].next_attempt_at
            clock.now = max(clock.now, due if due.tzinfo else due.replace(tzinfo=clock.now.tzinfo))
            await worker.run_once()
        last = (await _deliveries(env, endpoint_id=hook_id))[-1]
        attempts = len(receiver.received) - before
        assert last.status == m.FAILED and last.attempts == attempts
        assert 20 <= attempts <= 40  # 30 s doubling to an hour, for a day
        assert last.last_attempt_at is not None
        span = (last.last_attempt_at - last.created_at).total_seconds()
        assert 23 * 3600 <= span <= 24 * 3600
        log = await (
            await env.client.get(f"{HOOKS}/{hook_id}/deliveries?limit=1", headers=hank.headers)
        ).json()
        assert log["deliveries"][0]["status"] == "failed" and log["deliveries"][0]["next_attempt_at"] is None


async def test_webhook_urls_events_and_ownership(env: Env) -> None:
    ivy, jack = await env.user(), await env.user()
    for url in (
        "ftp://hooks.example.test/x",
        "http://hooks.example.test/x",
        "https:///x",
        "https://u:p@h.test/",
    ):
        resp = await env.client.post(HOOKS, json={"url": url, "events": ["*"]}, headers=ivy.headers)
        assert resp.status == 400, url
        assert (await resp.json())["error"]["code"] == "invalid_webhook_url", url
    resp = await env.client.post(
        HOOKS, json={"url": "https://h.test/", "events": ["nope"]}, headers=ivy.headers
    )
    assert resp.status == 400
    created = await _hook(env, ivy, "http://localhost:9/hook")  # loopback http: dev only
    hook_id = created["webhook"]["id"]
    for method, path in (
        ("DELETE", f"{HOOKS}/{hook_id}"),
        ("GET", f"{HOOKS}/{hook_id}/deliveries"),
        ("POST", f"{HOOKS}/{hook_id}/test"),
    ):
        resp = await env.client.request(method, path, headers=jack.headers)
        assert resp.status == 404, (method, path)
    assert [
        h["id"] for h in (await (await env.client.get(HOOKS, headers=ivy.headers)).json())["webhooks"]
    ] == [hook_id]
    resp = await env.client.delete(f"{HOOKS}/{hook_id}", headers=ivy.headers)
    assert resp.status == 200
    assert (await env.client.delete(f"{HOOKS}/{hook_id}", headers=ivy.headers)).status == 404


async def test_two_workers_at_once_send_each_delivery_once(env: Env) -> None:
    kim = await env.user()
    async with receiving(Receiver()) as receiver:
        created = await _hook(env, kim, receiver.url)
        receiver.secret = created["secret"]
        for _ in range(6):
            resp = await env.client.post(f"{HOOKS}/{created['webhook']['id']}/test", headers=kim.headers)
            assert resp.status == 202
        clock = Clock()
        await asyncio.gather(_worker(env, clock).run_once(), _worker(env, clock).run_once())
        await _worker(env, clock).run_once()  # nothing left for a third
    ids = [json.loads(r.body)["id"] for r in receiver.received]
    assert len(ids) == 6 and len(set(ids)) == 6 and all(r.accepted for r in receiver.received)
    rows = await _deliveries(env, endpoint_id=created["webhook"]["id"])
    assert [(d.status, d.attempts) for d in rows] == [(m.DELIVERED, 1)] * 6
