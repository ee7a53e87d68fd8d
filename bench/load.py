"""HTTP load on the hot path (issue 15 §1, §5): autocannon against the real service, SQLite and PostgreSQL.

Each backend gets a fresh service process (``--serve``: the real runtime on an eth-tester chain, the real
``create_app``, served by ``web.AppRunner`` as ``cloudmarket serve`` does, logs to a file) with one
``cloud-user`` holding 3 deployments (one lease each) and a dev-issuer token. A bare aiohttp app answering
a small JSON object, served the same way (``--ceiling``), is the limit. Targets, in turn per round
(interleaved, :data:`bench._report.ROUNDS` rounds): the ceiling, ``/healthz``, ``/api/auth/session``,
``/api/cloud-user/deployments`` and ``/api/chain``; autocannon ``-c 64 -d 5`` (``--duration``; the
issue's table used 20 s: about 6 minutes in all at 5 s, 15 at 20 s).

Besides req/s and p99 the service reports, per request, the CPU seconds its process used and the SQL
round trips it made (statements executed, transactions begun and ended, pool pre-pings), from counters a
bench-only route ``/bench/stats`` exposes. ``--workers 1,2`` (the default) also serves PostgreSQL through
``cloudmarket serve --workers 2`` (gunicorn's aiohttp worker, issue 15 §2) against the bare app under the
same worker with 2 processes; CPU is then summed over the processes and SQL is not counted.

    .venv/bin/python bench/load.py                       # both backends, 1 and 2 processes, 5 s, 3 rounds
    .venv/bin/python bench/load.py --duration 5 --backends postgresql --workers 1 --rounds 1 --no-write
    .venv/bin/python bench/load.py --profile /api/auth/session --duration 10   # cProfile one process
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import contextvars
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._report import interleaved, ratio, spread, table, write_section  # noqa: E402
from chain.devchain import Anvil  # noqa: E402

AUTOCANNON = ROOT / "node_modules" / ".bin" / "autocannon"
SUB = "dev|bench-load"
ROUTES = {
    "/healthz": False,
    "/api/auth/session": True,
    "/api/cloud-user/deployments": True,
    "/api/chain": False,
}


# ---- the service process ------------------------------------------------------------------------------
def _write_ready(ready: Path, info: dict[str, Any]) -> None:
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.rename(ready)


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


IN_REQUEST: contextvars.ContextVar[bool] = contextvars.ContextVar("in_request", default=False)


class SqlCounter:
    """Counts what the engine sends: statements, BEGINs, COMMIT/ROLLBACKs, pool checkouts (pre-pings);
    ``req_*`` only what HTTP requests send (a bench middleware marks their context), not the background
    jobs."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.counts = {"statements": 0, "begins": 0, "ends": 0, "checkouts": 0}
        self.counts.update({f"req_{k}": 0 for k in list(self.counts)})
        self.pre_ping = bool(getattr(engine.pool, "_pre_ping", False))
        sync = engine.sync_engine

        def bump(name: str) -> Any:
            def _hook(*_a: Any, **_k: Any) -> None:
                self.counts[name] += 1
                if IN_REQUEST.get():
                    self.counts["req_" + name] += 1

            return _hook

        def transactional(name: str) -> Any:
            def _hook(conn: Any, *_a: Any) -> None:  # in AUTOCOMMIT, BEGIN/ROLLBACK send nothing
                if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                    self.counts[name] += 1
                    if IN_REQUEST.get():
                        self.counts["req_" + name] += 1

            return _hook

        event.listen(sync, "before_cursor_execute", bump("statements"))
        event.listen(sync, "begin", transactional("begins"))
        event.listen(sync, "commit", transactional("ends"))
        event.listen(sync, "rollback", transactional("ends"))
        event.listen(sync.pool, "checkout", bump("checkouts"))
        self.sqlite = sync.dialect.name == "sqlite"

    def round_trips(self, prefix: str = "") -> int:
        c = {k: self.counts[prefix + k] for k in ("statements", "begins", "ends", "checkouts")}
        pings = c["checkouts"] if self.pre_ping else 0
        if self.sqlite:  # BEGIN (IMMEDIATE) is itself a statement there (engine.db's begin hook)
            return c["statements"] + c["ends"] + pings
        return c["statements"] + c["begins"] + c["ends"] + pings


async def _seed(sessionmaker: Any) -> None:
    from engine.deployments import models as m
    from engine.identity.models import User
    from engine.identity.services import ensure_user
    from engine.nodes.models import NODE_ACTIVE, Node

    async with sessionmaker() as s:
        user = await ensure_user(s, SUB)
        provider = User(sub="dev|bench-provider")
        s.add(provider)
        await s.flush()
        node = Node(provider_user_id=provider.id, name="n1", chain_node_id=1, status=NODE_ACTIVE)
        s.add(node)
        await s.flush()
        for i in range(3):
            dep = m.Deployment(
                user_id=user.id,
                spec={"command": ["sleep", "1"], "resources": {"cpu_millicores": 100, "memory_mb": 64}},
                spec_hash="0x" + f"{i + 1:02x}" * 32,
                status=m.STARTING,
                replicas=1,
                rate_per_second=1,
                payer="0x" + "22" * 20,
                funding=m.FUNDING_WALLET,
            )
            s.add(dep)
            await s.flush()
            s.add(
                m.Lease(
                    deployment_id=dep.id,
                    replica_index=0,
                    role=m.PRIMARY,
                    node_id=node.id,
                    chain_node_id=1,
                    rate_per_second=1,
                    deposit=1,
                    status=m.AWAITING_FUNDS,
                )
            )
        await s.commit()


async def serve_main(url: str, chain_url: str, data_dir: Path, ready: Path) -> None:
    import logging

    from aiohttp import web

    from api.app import create_app
    from api.auth.devissuer import mint_dev_token
    from api.logging import configure_logging
    from engine.runtime import start_runtime
    from engine.settings import Settings

    _raise_nofile()
    configure_logging("INFO", "json")
    handler = logging.FileHandler(data_dir / "service.log")
    root = logging.getLogger()
    handler.setFormatter(root.handlers[0].formatter)
    root.handlers = [handler]
    settings = Settings(data_dir=data_dir, database_url=url, chain_url=chain_url)
    runtime = await start_runtime(settings, spawn_dev_chain=False)
    counter = SqlCounter(runtime.db_engine)
    await _seed(runtime.sessionmaker)
    token = mint_dev_token(data_dir, ["cloud-user"], SUB, 7200, roles_claim=settings.auth_roles_claim)
    app = create_app(runtime)

    @web.middleware
    async def mark(request: web.Request, handler: Any) -> web.StreamResponse:
        token = IN_REQUEST.set(True)
        try:
            return cast(web.StreamResponse, await handler(request))
        finally:
            IN_REQUEST.reset(token)

    app.middlewares.insert(0, mark)

    async def stats(_request: web.Request) -> web.Response:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return web.json_response(
            {
                "cpu": ru.ru_utime + ru.ru_stime,
                "sql": dict(counter.counts),
                "trips": counter.round_trips(),
                "req_trips": counter.round_trips("req_"),
            }
        )

    profiler: list[Any] = []

    async def profile(request: web.Request) -> web.Response:
        import cProfile
        import pstats

        if request.query.get("on") == "1":
            profiler[:] = [cProfile.Profile()]
            profiler[0].enable()
            return web.json_response({"profiling": True})
        prof = profiler.pop()
        prof.disable()
        out = data_dir / "profile.txt"
        with out.open("w") as fh:
            pstats.Stats(prof, stream=fh).sort_stats("tottime").print_stats(40)
            pstats.Stats(prof, stream=fh).sort_stats("cumulative").print_stats(60)
        return web.json_response({"written": str(out)})

    app.router.add_get("/bench/stats", stats)
    app.router.add_get("/bench/profile", profile)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    _write_ready(ready, {"port": runner.addresses[0][1], "token": token})
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await runtime.close()


async def ceiling_app() -> Any:
    """The limit: a bare aiohttp app answering a small JSON object (also gunicorn's app factory)."""
    from aiohttp import web

    async def hello(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/", hello)
    return app


async def ceiling_main(ready: Path) -> None:
    from aiohttp import web

    _raise_nofile()
    app = await ceiling_app()
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    _write_ready(ready, {"port": runner.addresses[0][1]})
    await asyncio.Event().wait()


# ---- the driver -------------------------------------------------------------------------------------------
@dataclass
class Run:
    rps: float
    p99: float
    errors: int
    cpu_ms: float | None = None
    sql: float | None = None


@contextlib.contextmanager
def child(args: list[str], ready: Path, log: Path) -> Iterator[dict[str, Any]]:
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *args], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 180
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"child {args[0]} died or hung; see {log}")
            time.sleep(0.2)
        yield json.loads(ready.read_text())
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _proc_cpu(root: int) -> float:
    """CPU seconds (user+system) of process ``root`` and its children (the gunicorn workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == root or ppid == root:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


@contextlib.contextmanager
def workers_service(url: str, chain_url: str, data: Path, workers: int) -> Iterator[dict[str, Any]]:
    """``cloudmarket deploy`` then ``cloudmarket serve --workers N``; seeds the database from here."""
    from api.auth.devissuer import mint_dev_token
    from chain.devchain import free_port
    from engine import db

    port = free_port()
    env = {
        **os.environ,
        "CLOUDMARKET_DATABASE_URL": url,
        "CLOUDMARKET_CHAIN_URL": chain_url,
        "CLOUDMARKET_DATA_DIR": str(data),
        "CLOUDMARKET_HTTP_PORT": str(port),
    }
    cli = [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())"]
    with (data / "deploy.log").open("w") as out:
        subprocess.run([*cli, "deploy"], env=env, cwd=ROOT, check=True, stdout=out, stderr=subprocess.STDOUT)
    with (data / "out.log").open("w") as out:
        proc = subprocess.Popen(
            [*cli, "serve", "--workers", str(workers)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve --workers died or hung; see {data / 'out.log'}")
            try:
                _get(base + "/healthz")
                break
            except OSError:
                time.sleep(0.5)

        async def seed() -> None:
            engine = db.make_engine(url)
            try:
                await _seed(db.make_sessionmaker(engine))
            finally:
                await engine.dispose()

        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # the caller's loop is running here
            pool.submit(asyncio.run, seed()).result()
        token = mint_dev_token(data, ["cloud-user"], SUB, 7200)
        yield {"port": port, "token": token, "pid": proc.pid}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def ceiling_workers(workers: int, data: Path) -> Iterator[dict[str, Any]]:
    """The bare app under gunicorn's aiohttp worker, ``workers`` processes (as ``serve --workers``)."""
    from chain.devchain import free_port

    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "bench.load:ceiling_app", "--worker-class",
           "aiohttp.GunicornWebWorker", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
           "--backlog", "4096"]  # fmt: skip
    with (data / "ceil.log").open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn ceiling died or hung; see {data / 'ceil.log'}")
            try:
                _get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                time.sleep(0.3)
        yield {"port": port}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
        return bytes(resp.read())


def autocannon(url: str, connections: int, duration: int, token: str | None) -> dict[str, Any]:
    cmd = [str(AUTOCANNON), "-c", str(connections), "-d", str(duration), "--json"]
    if token:
        cmd += ["-H", f"Authorization=Bearer {token}"]
    done = subprocess.run([*cmd, url], check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout))


_WORKERS_PID: dict[str, int] = {}  # base URL -> gunicorn master pid (no /bench/stats route there)


def _stats(base: str) -> dict[str, Any]:
    pid = _WORKERS_PID.get(base)
    if pid is not None:
        return {"cpu": _proc_cpu(pid), "trips": float("nan"), "req_trips": float("nan")}
    return dict(json.loads(_get(f"{base}/bench/stats")))


@dataclass
class Idle:
    """What the service spends per second with no requests (scheduler, indexer, sender polling)."""

    cpu: float = 0.0
    trips: float = 0.0


def idle_rates(base: str, seconds: float = 5.0) -> Idle:
    before, t0 = _stats(base), time.monotonic()
    time.sleep(seconds)
    after, t1 = _stats(base), time.monotonic()
    return Idle((after["cpu"] - before["cpu"]) / (t1 - t0), (after["trips"] - before["trips"]) / (t1 - t0))


def measure(base: str, path: str, token: str | None, args: argparse.Namespace, *, idle: Idle | None) -> Run:
    before, t0 = (_stats(base) if idle else None), time.monotonic()
    out = autocannon(base + path, args.connections, args.duration, token)
    elapsed = time.monotonic() - t0
    total = int(out["requests"]["total"]) or 1
    errors = int(out.get("non2xx", 0)) + int(out.get("errors", 0)) + int(out.get("timeouts", 0))
    run = Run(rps=float(out["requests"]["average"]), p99=float(out["latency"]["p99"]), errors=errors)
    if before is not None and idle is not None:
        after = _stats(base)
        run.cpu_ms = max(0.0, after["cpu"] - before["cpu"] - idle.cpu * elapsed) * 1000 / total
        trips = after["req_trips"] - before["req_trips"]  # what requests sent (exact, no background)
        run.sql = None if trips != trips else trips / total  # NaN: not counted (workers)
    return run


def _pg_url(tmp: Path) -> tuple[str, Any]:
    from tests.support.postgres import start_cluster

    cluster = start_cluster()
    return cluster.createdb("load"), cluster


async def bench_backend(
    backend: str, workers: int, args: argparse.Namespace, tmp: Path
) -> dict[str, list[Run]]:
    cluster = None
    if backend == "postgresql":
        url, cluster = _pg_url(tmp)
    else:
        url = f"sqlite+aiosqlite:///{tmp / backend / 'load.db'}"
    data = tmp / backend
    data.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            chain = stack.enter_context(Anvil())
            if workers > 1:
                svc = stack.enter_context(workers_service(url, chain.url, data, workers))
                _WORKERS_PID[f"http://127.0.0.1:{svc['port']}"] = svc["pid"]
            else:
                svc = stack.enter_context(
                    child(
                        ["--serve", url, chain.url, str(data), str(data / "ready.json")],
                        data / "ready.json",
                        data / "out.log",
                    )
                )
            if workers > 1:
                ceil = stack.enter_context(ceiling_workers(workers, data))
            else:
                ceil = stack.enter_context(
                    child(["--ceiling", str(data / "ceil.json")], data / "ceil.json", data / "ceil.log")
                )
            base = f"http://127.0.0.1:{svc['port']}"
            token = svc["token"]
            for path, auth in ROUTES.items():  # warm-up: caches, pool, JIT-less but first-import costs
                autocannon(base + path, 8, 1, token if auth else None)
            idle = idle_rates(base)
            sides: dict[str, Any] = {}

            def side(name: str, fn: Any) -> None:
                async def run() -> float:
                    r = await asyncio.to_thread(fn)
                    results.setdefault(name, []).append(r)
                    return float(r.rps)

                sides[name] = run

            results: dict[str, list[Run]] = {}
            side("ceiling", lambda: measure(f"http://127.0.0.1:{ceil['port']}", "/", None, args, idle=None))
            for path, auth in ROUTES.items():
                side(path, lambda p=path, a=auth: measure(base, p, token if a else None, args, idle=idle))
            await interleaved(sides, rounds=args.rounds)
            return results
    finally:
        if cluster is not None:
            cluster.stop()


def profile_backend(backend: str, path: str, args: argparse.Namespace, tmp: Path) -> str:
    """cProfile the service process while autocannon loads ``path``; returns the report's file name."""
    import urllib.request

    cluster = None
    if backend == "postgresql":
        url, cluster = _pg_url(tmp)
    else:
        url = f"sqlite+aiosqlite:///{tmp / backend / 'load.db'}"
    data = tmp / backend
    data.mkdir(parents=True, exist_ok=True)
    try:
        ready = data / "ready.json"
        with (
            Anvil() as chain,
            child(["--serve", url, chain.url, str(data), str(ready)], ready, data / "out.log") as svc,
        ):
            base = f"http://127.0.0.1:{svc['port']}"
            token = svc["token"] if ROUTES.get(path, True) else None
            autocannon(base + path, 8, 1, token)
            urllib.request.urlopen(f"{base}/bench/profile?on=1", timeout=10).read()  # noqa: S310
            before = _stats(base)
            out = autocannon(base + path, args.connections, args.duration, token)
            after = _stats(base)
            doc = json.loads(urllib.request.urlopen(f"{base}/bench/profile", timeout=60).read())  # noqa: S310
            total = int(out["requests"]["total"]) or 1
            sql = {k: (after["sql"][k] - before["sql"][k]) / total for k in after["sql"]}
            return (
                f"{path}: {out['requests']['average']} req/s (profiled), p99 {out['latency']['p99']} ms, "
                f"per request {sql}; profile: {doc['written']}"
            )
    finally:
        if cluster is not None:
            cluster.stop()


def render(all_results: dict[str, dict[str, list[Run]]], args: argparse.Namespace) -> str:
    rows = []
    for backend, res in all_results.items():
        ceil = [r.rps for r in res["ceiling"]]
        rows.append(
            [
                backend,
                "bare aiohttp (ceiling)",
                spread(ceil),
                spread([r.p99 for r in res["ceiling"]]),
                "100 %",
                "-",
                "-",
                str(sum(r.errors for r in res["ceiling"])),
            ]
        )
        for path in ROUTES:
            runs = res[path]
            rows.append(
                [
                    backend,
                    f"GET {path}",
                    spread([r.rps for r in runs]),
                    spread([r.p99 for r in runs]),
                    ratio([r.rps for r in runs], ceil),
                    spread([r.cpu_ms or 0 for r in runs], "{:.2f}"),
                    spread([r.sql for r in runs if r.sql is not None and r.sql == r.sql], "{:.1f}"),
                    str(sum(r.errors for r in runs)),
                ]
            )
    header = [
        "db, processes",
        "route",
        "req/s",
        "p99 ms",
        "of ceiling",
        "CPU ms/req",
        "SQL trips/req",
        "non-2xx",
    ]
    return (
        f"autocannon -c {args.connections} -d {args.duration}, {args.rounds} interleaved rounds, median "
        "(min-max). 1 process: the service in one process served as `cloudmarket serve` does; N: "
        "`cloudmarket serve --workers N` (gunicorn's aiohttp worker), its ceiling the bare app under the "
        "same gunicorn worker with N processes; CPU is then summed over the workers and SQL is not "
        "counted. The service, PostgreSQL, anvil and autocannon share "
        f"this machine's {os.cpu_count()} cores. CPU ms/req: the service process's user+system CPU over "
        "the run, less what it spends idle (scheduler, indexer, sender polling; measured for 5 s before), "
        "divided by the requests answered; SQL trips/req: what the requests themselves sent (statements + "
        "BEGIN + COMMIT/ROLLBACK, none in AUTOCOMMIT, + pool pre-pings), counted exactly. The chain is a "
        "fresh anvil per backend.\n\n" + table(header, rows)
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve_main(sys.argv[2], sys.argv[3], Path(sys.argv[4]), Path(sys.argv[5])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--ceiling":
        asyncio.run(ceiling_main(Path(sys.argv[2])))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per autocannon run (default 5)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--workers", default="1,2", help="API process counts, comma-separated (N > 1: PostgreSQL only)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, do not write the section")
    parser.add_argument(
        "--profile", metavar="PATH", help="only cProfile one process under load on PATH (postgresql)"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    if args.profile:
        print(profile_backend(args.backends.split(",")[0], args.profile, args, tmp))
        return
    results: dict[str, dict[str, list[Run]]] = {}
    for backend in args.backends.split(","):
        for workers in sorted({int(w) for w in args.workers.split(",")}):
            if workers > 1 and backend != "postgresql":
                continue  # `serve` refuses SQLite with more than one process
            label = f"{backend}, {workers} process" + ("es" if workers > 1 else "")
            results[label] = asyncio.run(bench_backend(backend, workers, args, tmp / f"w{workers}"))
    body = render(results, args)
    if args.no_write:
        print(body)
    else:
        write_section("load", "HTTP load on the hot path (bench/load.py)", body)


if __name__ == "__main__":
    main()
