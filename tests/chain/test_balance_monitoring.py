"""Balance monitoring on anvil (issue 12): runways that match a hand computation after time passes, a scan
whose request count does not grow with the number of wallets, and retention that keeps the expected rows.

Leases are real: opened on a fresh suite by pre-signed transactions (``bench/lease_market.py``), and the
engine's rows (users, wallet links, deployments, leases) point at them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select, update

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.routes import identity
from bench.lease_market import OpenedLease, ensure_node, open_leases, seed_database
from chain.connect import connect
from chain.devchain import Anvil, rpc
from engine import db
from engine.context import Context, Contracts
from engine.deployments.models import Deployment
from engine.identity.models import User, WalletLink
from engine.money import ceil_div
from engine.monitoring.commands import balance_history, scan_balances
from engine.monitoring.errors import InvalidRange
from engine.monitoring.models import DAILY, DAY, HOUR, HOURLY, RAW, BalanceSnapshot, Retention
from engine.monitoring.services import compact, runway_forecast
from engine.runtime import Runtime, start_runtime
from engine.settings import Settings
from tests.api.conftest import serve

pytestmark = pytest.mark.anvil

RATES = [7, 13, 1_000]
DEPOSITS = [1_000_003, 2_000_017, 50_000_000]
CREDITS = [5_000_000, 0, 123]


@pytest.fixture
async def runtime(anvil: Anvil, tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'm.db'}",
        chain_url=anvil.url,
        scheduler_enabled=False,
    )
    rt = await start_runtime(settings, spawn_dev_chain=False)
    try:
        yield rt
    finally:
        await rt.close()


async def _open(rt: Runtime, node: int, seed: str, count: int, **kw: Any) -> list[OpenedLease]:
    key = rt.settings.signer_private_key()
    assert key is not None
    return await open_leases(
        rt.chain, rt.manifest, rt.signer, node, count=count, seed=seed, quote_key=key, **kw
    )


async def _warp(rt: Runtime, seconds: int) -> None:
    await rpc(rt.chain, "evm_increaseTime", hex(seconds))
    await rpc(rt.chain, "evm_mine")


async def test_runway_matches_a_hand_computation_after_time_passes(runtime: Runtime, tmp_path: Path) -> None:
    rt = runtime
    node = await ensure_node(rt.chain, rt.manifest, rt.signer)
    opened = await _open(
        rt,
        node,
        "runway",
        3,
        rate_of=lambda i: RATES[i],
        deposit_of=lambda i: DEPOSITS[i],
        credit_of=lambda i: CREDITS[i],
    )
    ids = await seed_database(rt.sessionmaker, opened, node, seed="runway")
    # payer 1's deployment and wallet belong to user 0 as well: one account, two leases
    async with rt.sessionmaker() as s, s.begin():
        await s.execute(update(Deployment).where(Deployment.id == ids[1][1]).values(user_id=ids[0][0]))
        await s.execute(update(WalletLink).where(WalletLink.user_id == ids[1][0]).values(user_id=ids[0][0]))
    await _warp(rt, 1_000)

    result = await scan_balances(rt.context)

    now = result.at
    assert now >= max(o.opened_at for o in opened) + 1_000

    def lease_now(o: OpenedLease) -> int:
        return max(0, o.deposit - o.rate_per_second * (now - o.opened_at))

    by_user = {r.user_id: r for r in result.runways}
    a, b = by_user[ids[0][0]], by_user[ids[2][0]]
    assert ids[1][0] not in by_user  # nothing left to watch: no wallet, no lease
    # per lease and per deployment
    got = {lr.lease_id: lr for lr in a.leases + b.leases}
    for o in opened:
        assert got[o.lease_id].balance_now == lease_now(o)
        assert got[o.lease_id].runway_seconds == lease_now(o) // o.rate_per_second
    assert b.deployments[ids[2][1]].runway_seconds == lease_now(opened[2]) // RATES[2]
    # per account: (credit + Σ balance_now) // Σ rate
    assert a.credit_units == CREDITS[0] + CREDITS[1]
    assert a.burn_rate_per_second == RATES[0] + RATES[1]
    assert a.runway_seconds == (CREDITS[0] + CREDITS[1] + lease_now(opened[0]) + lease_now(opened[1])) // (
        RATES[0] + RATES[1]
    )
    assert b.runway_seconds == (CREDITS[2] + lease_now(opened[2])) // RATES[2]
    assert 0 < a.native_wei < 2 * 10**20  # two wallets of 10**20 wei, less the opens' gas

    # stored, and what alert rules read
    async with rt.sessionmaker() as s:
        forecast = await runway_forecast(s, ids[0][0])
        rows = (await s.execute(select(func.count()).select_from(BalanceSnapshot))).scalar_one()
    assert rows == 2
    assert forecast is not None and forecast.at == now
    assert forecast.runway_seconds == a.runway_seconds
    assert forecast.deployments[ids[0][1]].runway_seconds == lease_now(opened[0]) // RATES[0]
    assert forecast.remaining_at(now + 10) == max(0, (a.runway_seconds or 0) - 10)

    # more time: the runway shrinks by exactly the elapsed seconds' burn
    await _warp(rt, 500)
    later = await scan_balances(rt.context)
    now = later.at
    a2 = next(r for r in later.runways if r.user_id == ids[0][0])
    assert a2.runway_seconds == (CREDITS[0] + CREDITS[1] + lease_now(opened[0]) + lease_now(opened[1])) // (
        RATES[0] + RATES[1]
    )

    # the API: GET /api/wallet gains runway and burn rate, GET /api/wallet/history the series
    options = identity.IdentityOptions(
        env="dev",
        data_dir=tmp_path,
        chain_id=rt.chain.chain_id,
        dev_issuer=True,
        siwe_domain="m.test",
        siwe_uri="https://m.test",
    )
    async with rt.sessionmaker() as s:
        sub = (await s.execute(select(User.sub).where(User.id == ids[0][0]))).scalar_one()
    headers = {"Authorization": "Bearer " + DevIssuer(tmp_path).mint(["cloud-user"], sub=sub)}
    async with serve(create_app(rt, background=False, identity_options=options)) as client:
        resp = await client.get("/api/wallet", headers=headers)
        assert resp.status == 200, await resp.text()
        wallet = await resp.json()
        chain_now = int((await rt.chain.w3.eth.get_block("latest"))["timestamp"])
        balance_then = (
            CREDITS[0]
            + CREDITS[1]
            + sum(max(0, o.deposit - o.rate_per_second * (chain_now - o.opened_at)) for o in opened[:2])
        )
        assert wallet["burn_rate_per_second"] == RATES[0] + RATES[1]
        assert wallet["runway_seconds"] == balance_then // (RATES[0] + RATES[1])
        query = {"from": str(result.at), "to": str(later.at + 1), "step": "60"}
        resp = await client.get("/api/wallet/history", headers=headers, params=query)
        assert resp.status == 200, await resp.text()
        series = await resp.json()
        assert [p["sampled_at"] for p in series["points"]] == [result.at, later.at]
        assert [p["runway_seconds"] for p in series["points"]] == [a.runway_seconds, a2.runway_seconds]
        assert series["points"][0]["lease_units"] == a.lease_units
        bad = await client.get("/api/wallet/history", headers=headers, params={"from": "10", "to": "5"})
        assert bad.status == 400
        assert (await bad.json())["error"]["code"] == "invalid_range"


class CountingProxy:
    """A tiny HTTP proxy in front of anvil that counts JSON-RPC POSTs (a batch is one request)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.posts = 0
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.posts += 1
        self.calls += body.count(b'"method"')
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.upstream, data=body, headers={"Content-Type": "application/json"}) as resp,
        ):
            return web.Response(body=await resp.read(), content_type="application/json")


@pytest.fixture
async def proxy(anvil: Anvil) -> AsyncIterator[tuple[CountingProxy, str]]:
    counting = CountingProxy(anvil.url)
    app = web.Application()
    app.router.add_post("/", counting.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield counting, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_scan_uses_a_bounded_number_of_requests(
    runtime: Runtime, proxy: tuple[CountingProxy, str]
) -> None:
    rt = runtime
    counting, url = proxy
    conn = await connect(url)
    ctx: Context = dataclasses.replace(
        rt.context, chain=conn, contracts=Contracts.from_manifest(conn.w3, rt.manifest, conn.chain_id)
    )
    node = await ensure_node(rt.chain, rt.manifest, rt.signer)
    try:

        async def scan(**kw: Any) -> tuple[int, int]:
            counting.posts = counting.calls = 0
            await scan_balances(ctx, **kw)
            return counting.posts, counting.calls

        await seed_database(rt.sessionmaker, await _open(rt, node, "few", 3), node, seed="few")
        few = await scan()
        await seed_database(rt.sessionmaker, await _open(rt, node, "many", 60), node, seed="many")
        many = await scan()
        # 63 wallets and 63 leases: as many requests as for 3 of each (the head block, then one batch)
        assert many[0] == few[0] == 2, (few, many)
        assert many[1] == 1 + 63 * 3
        # in chunks of 10 calls: the count follows the chunking (3 reads per wallet + lease), not the wallets
        chunked, _ = await scan(chunk_size=10)
        assert chunked == 1 + ceil_div(63 * 3, 10)
    finally:
        await conn.close()


async def test_retention_downsamples_raw_hourly_daily(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    await db.upgrade(url)
    engine = db.make_engine(url)
    sessionmaker = db.make_sessionmaker(engine)
    try:
        async with sessionmaker() as s, s.begin():
            user = User(sub="retention|1")
            s.add(user)
            await s.flush()
            now = 1_800_000_000 + 1_234  # not on an hour boundary
            start = now - 40 * DAY
            samples = list(range(start, now + 1, 600))  # every 10 minutes for 40 days
            s.add_all(
                BalanceSnapshot(
                    user_id=user.id,
                    resolution=RAW,
                    at=t,
                    block=i,
                    credit_units=i,
                    lease_units=0,
                    native_wei="0",
                    burn_rate_per_second=1,
                    runway_seconds=i,
                    deployments={},
                )
                for i, t in enumerate(samples)
            )
        retention = Retention(raw_seconds=DAY, hourly_seconds=30 * DAY)
        async with sessionmaker() as s, s.begin():
            done = await compact(s, now, retention)
        hour_cut = (now - DAY) // HOUR * HOUR
        day_cut = (now - 30 * DAY) // DAY * DAY
        want_raw = [t for t in samples if t >= hour_cut]
        want_hourly = sorted(
            {t // HOUR: t for t in samples if day_cut <= t < hour_cut}.values()  # last sample per hour
        )
        want_daily = sorted({t // DAY: t for t in samples if t < day_cut}.values())  # last per day
        async with sessionmaker() as s:
            rows = (await s.execute(select(BalanceSnapshot).order_by(BalanceSnapshot.at))).scalars().all()
        got = {res: [r.at for r in rows if r.resolution == res] for res in (RAW, HOURLY, DAILY)}
        assert got[RAW] == want_raw
        assert got[HOURLY] == want_hourly
        assert got[DAILY] == want_daily
        assert len(want_hourly) == (hour_cut - day_cut) // HOUR  # one per hour, all there
        assert done.deleted == len(samples) - len(rows)
        # the values travel with the kept sample
        assert all(r.credit_units == samples.index(r.at) for r in rows)
        # compacting again changes nothing; a day later the oldest raw hours roll up
        async with sessionmaker() as s, s.begin():
            again = await compact(s, now, retention)
        assert (again.hourly_made, again.daily_made, again.deleted) == (0, 0, 0)
        # the series: the last sample of each 6-hour bucket over the last 2 days
        ctx = Context(
            settings=Settings(data_dir=tmp_path),
            sessionmaker=sessionmaker,
            chain=None,  # type: ignore[arg-type]  # balance_history reads no chain
            contracts=None,  # type: ignore[arg-type]
            manifest=None,  # type: ignore[arg-type]
            signer_address="0x" + "00" * 20,
        )
        series = await balance_history(ctx, user.id, start=now - 2 * DAY, end=now, step=6 * HOUR)
        assert len(series.points) == 8
        for p in series.points:
            in_bucket = [t for t in samples if p.at <= t < p.at + 6 * HOUR and t < now]
            kept = [t for t in in_bucket if t in set(want_raw) | set(want_hourly)]
            assert p.sampled_at == max(kept)
        with pytest.raises(InvalidRange):
            await balance_history(ctx, user.id, start=now - 10 * DAY, end=now, step=60)  # > 2000 points
    finally:
        await engine.dispose()
