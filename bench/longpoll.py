"""Long-poll wake-ups: the hub in one process, then the real HTTP route held by a service process.

Hub part: 10,000 idle waiters in one process and the latency from ``publish`` to the
waiter resuming (p50/p99), LocalHub vs PostgresHub. PostgresHub runs on a throwaway cluster
(``tests/support/postgres.py``), a fresh database per round; waiters sit on one hub and the publisher is
a second hub with its own connections, so every wake crosses PostgreSQL as it would between two API
processes. LocalHub (in-process, no I/O) is the floor the PostgresHub row is compared with.

HTTP part: a service process (a subprocess serving the real node-agent routes, node-token auth and
middlewares on loopback, SQLite file database, LocalHub) holds HTTP_POLLS idle long-polls
(``GET /api/cloud-provider/nodes/{id}/workloads?wait=60&cursor=...``, one node and token each, created
directly in the database); the client (this process, one aiohttp session) re-polls on each timeout like an
agent. Then, SAMPLES times, a bench-only route in the service opens a lease for one node (commit, then
publish, as the escrow subscriber does) and returns ``time.monotonic()`` taken right after the commit;
the wake latency is the client's receipt of that node's answer minus that time (CLOCK_MONOTONIC is
system-wide on Linux). RSS is the service's, before and while holding. Two sides, each a FRESH service
process per round: as shipped (``api.app.freeze_startup_heap``: ``gc.collect()`` + ``gc.freeze()`` once
after start-up, which the service's app factory installs) and without that start-up freeze.

Every comparison: interleaved, ``ROUNDS`` rounds, median (min-max) of the per-round figures.

Run: ``.venv/bin/python bench/longpoll.py [WAITERS=10000] [SAMPLES=500] [HTTP_POLLS=2000] [--http-only]``
(writes ``bench/results/longpoll.md``; the HTTP table is ``bench/results/longpoll_http.md``). No assertions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._report import ROUNDS, interleaved, spread, table, write_section
from engine.notify import Hub, LocalHub, PostgresHub
from tests.support.postgres import start_cluster


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclasses.dataclass
class HubRun:
    waiters: int
    latencies_ms: list[float]
    rss_before_kib: int
    rss_held_kib: int


async def run(waiters_hub: Hub, publisher: Hub, count: int, samples: int) -> HubRun:
    resumed: dict[int, int] = {}
    ready = asyncio.Event()
    subscribed = 0

    async def waiter(i: int) -> None:
        nonlocal subscribed
        async with waiters_hub.listener(f"node:{i}") as sub:
            subscribed += 1
            if subscribed == count:
                ready.set()
            await sub.wait(None)
            resumed[i] = time.perf_counter_ns()

    before = rss_kib()
    tasks = [asyncio.create_task(waiter(i)) for i in range(count)]
    await ready.wait()
    await asyncio.sleep(0)
    held = rss_kib()

    step = max(1, count // samples)
    latencies: list[float] = []
    for i in range(0, min(count, step * samples), step):
        t0 = time.perf_counter_ns()
        await publisher.publish(f"node:{i}", "placed")
        await tasks[i]
        latencies.append((resumed[i] - t0) / 1e6)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return HubRun(count, latencies, before, held)


def q(latencies: list[float], pct: int) -> float:
    return statistics.quantiles(latencies, n=100, method="inclusive")[pct - 1]


def latency_rows(runs: dict[str, list[Any]], *, rss: bool) -> list[list[str]]:
    rows = []
    for name, rs in runs.items():
        row = [
            name,
            spread([q(r.latencies_ms, 50) for r in rs], "{:.2f}"),
            spread([q(r.latencies_ms, 99) for r in rs], "{:.2f}"),
            spread([max(r.latencies_ms) for r in rs], "{:.1f}"),
        ]
        if rss:  # only meaningful in a fresh process (the HTTP part's service)
            row.append(spread([(r.rss_held_kib - r.rss_before_kib) * 1024 / r.polls for r in rs], "{:,.0f}"))
        rows.append(row)
    return rows


async def hub_part(count: int, samples: int) -> None:
    cluster = start_cluster()
    dbs = iter(range(1000))
    try:

        async def local() -> HubRun:
            hub = LocalHub()
            return await run(hub, hub, count, samples)

        async def postgres() -> HubRun:
            url = cluster.createdb(f"bench_longpoll_{next(dbs)}")
            async with PostgresHub(url) as waiters_hub, PostgresHub(url) as publisher:
                return await run(waiters_hub, publisher, count, samples)

        runs = await interleaved(
            {"LocalHub (in-process floor)": local, "PostgresHub (LISTEN/NOTIFY)": postgres}
        )
    finally:
        cluster.stop()
    lo, pg = runs["LocalHub (in-process floor)"], runs["PostgresHub (LISTEN/NOTIFY)"]
    ratio_p50 = spread(
        [q(p.latencies_ms, 50) / q(x.latencies_ms, 50) for p, x in zip(pg, lo, strict=True)], "{:.0f}x"
    )
    write_section(
        "longpoll",
        f"Long-poll wake-ups, hub only: {count:,} idle waiters, {samples} publishes measured",
        table(
            ["hub", "wake p50 ms", "wake p99 ms", "max ms"],
            latency_rows(runs, rss=False),
        )
        + f"""

publish -> waiter resumed, in one process. {ROUNDS} rounds interleaved, fresh hubs (and a fresh database
for PostgresHub) per round; median (min-max) of the per-round figures. PostgresHub p50 is {ratio_p50} the
LocalHub floor (same round).""",
    )


async def http_part(count: int, samples: int) -> None:
    from bench.longpoll_http import http_run, populate_template, usable_count

    count = usable_count(count)

    with tempfile.TemporaryDirectory(prefix="bench-longpoll-template-") as template_dir:
        template = Path(template_dir) / "template.db"
        await populate_template(template, count)  # every run starts from a copy of this file
        shipped = "service as shipped (gc.freeze after start-up)"
        runs = await interleaved(
            {
                shipped: lambda: http_run(template, count, samples, freeze=True),
                "same, without the start-up gc.freeze": lambda: http_run(
                    template, count, samples, freeze=False
                ),
            }
        )
    armed = spread([r.armed_seconds for rs in runs.values() for r in rs], "{:.1f}")
    write_section(
        "longpoll_http",
        f"Long-poll wake-ups over HTTP: {count:,} held polls in a service process, {samples} wake-ups",
        table(
            ["service", "commit->response p50 ms", "p99 ms", "max ms", "service RSS per held poll (bytes)"],
            latency_rows(runs, rss=True),
        )
        + f"""

Each row: a fresh service process per round (SQLite file, LocalHub, the real node-agent route, node-token
auth and middlewares), {ROUNDS} rounds interleaved; median (min-max) of the per-round figures. Arming all
polls took {armed} s. The earlier headline (p50 1.7 / p99 5.5 ms) froze the cyclic GC's view of the 10,000
held requests mid-run, which no service does: that row is gone. What the service does is the start-up
freeze (``api.app.freeze_startup_heap``), compared here with its absence.""",
    )


def main(count: int, samples: int, http_polls: int, http_only: bool) -> None:
    if not http_only:
        asyncio.run(hub_part(count, samples))
    asyncio.run(http_part(http_polls, min(samples, 200)))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        from bench.longpoll_http import serve_main

        asyncio.run(
            serve_main(Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5] == "freeze")
        )
        sys.exit(0)
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    waiters = int(args[0]) if args else 10_000
    samples = int(args[1]) if len(args) > 1 else 500
    # HTTP_POLLS: 6 fresh service processes each arm this many polls (5,000: ~9 min in all on 2 shared cores;
    # 2,000 keeps the script near 3-4 min)
    main(waiters, samples, int(args[2]) if len(args) > 2 else 2_000, "--http-only" in sys.argv)
