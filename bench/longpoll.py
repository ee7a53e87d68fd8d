"""Long-poll wake-ups, hub part: 10,000 idle waiters in one process (RSS before/after) and the latency
from ``publish`` to the waiter resuming (p50/p99), for LocalHub and PostgresHub side by side.

PostgresHub runs on a throwaway cluster (``tests/support/postgres.py``); waiters sit on one hub and the
publisher is a second hub with its own connections, so every wake crosses PostgreSQL as it would
between two API processes.

HTTP part: one service process (a subprocess serving the real node-agent routes, node-token auth and
middlewares on loopback, SQLite file database, LocalHub) holds WAITERS idle long-polls
(``GET /api/cloud-provider/nodes/{id}/workloads?wait=60&cursor=...``, one node and token each, created
directly in the database); the client (this process, one aiohttp session) re-polls on each timeout like an
agent. Then, SAMPLES times, a bench-only route in the service opens a lease for one node (commit, then
publish, as the escrow subscriber does) and returns ``time.monotonic()`` taken right after the commit;
the wake latency is the client's receipt of that node's answer minus that time (CLOCK_MONOTONIC is
system-wide on Linux). RSS is the service's, before and while holding.

Run: ``.venv/bin/python bench/longpoll.py [WAITERS] [SAMPLES] [--http-only]``. No assertions.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.notify import Hub, LocalHub, PostgresHub
from tests.support.postgres import start_cluster


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def run(name: str, waiters_hub: Hub, publisher: Hub, count: int, samples: int) -> None:
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

    q = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<12} waiters={count:>6}  RSS {before / 1024:7.1f} -> {held / 1024:7.1f} MiB "
        f"(+{(held - before) * 1024 / count:6.0f} B/waiter)  "
        f"wake p50={q[49]:.3f} ms p99={q[98]:.3f} ms  (n={len(latencies)})"
    )


async def main(count: int, samples: int) -> None:
    local = LocalHub()
    await run("LocalHub", local, local, count, samples)

    cluster = start_cluster()
    try:
        url = cluster.createdb("bench_longpoll")
        async with PostgresHub(url) as waiters_hub, PostgresHub(url) as publisher:
            await run("PostgresHub", waiters_hub, publisher, count, samples)
    finally:
        cluster.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        from bench.longpoll_http import serve_main

        asyncio.run(serve_main(Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])))
        sys.exit(0)
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 10_000
    k = int(args[1]) if len(args) > 1 else 500
    if "--http-only" not in sys.argv:
        asyncio.run(main(n, k))
    from bench.longpoll_http import http_main

    asyncio.run(http_main(n, min(k, 200)))
