"""Long-poll wake-ups, hub part: 10,000 idle waiters in one process (RSS before/after) and the latency
from ``publish`` to the waiter resuming (p50/p99), for LocalHub and PostgresHub side by side.

PostgresHub runs on a throwaway cluster (``tests/support/postgres.py``); waiters sit on one hub and the
publisher is a second hub with its own connections, so every wake crosses PostgreSQL as it would
between two API processes. The HTTP long-poll part is added by the route's author.

Run: ``.venv/bin/python bench/longpoll.py [WAITERS] [SAMPLES]``. No assertions.
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
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    asyncio.run(main(n, k))
