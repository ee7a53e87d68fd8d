"""ProcessRuntime with real processes (``sys.executable -c ...``): start/stop, restart policy and backoff
(fake clock, no sleeps), re-adoption after an agent restart, stale and reused pids, verification, and no
zombies left behind."""

# Tests wait for files written by (and the exit of) foreign processes: no event exists for those, so they
# poll, bounded by LIMIT.
# ruff: noqa: ASYNC110, ASYNC240

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from api.nodeagent import (
    InvalidManifest,
    ProcessRuntime,
    RestartMode,
    RestartPolicy,
    WorkloadManifest,
    WorkloadState,
    WorkloadStatus,
    procfs,
)

LIMIT = 30  # upper bound for a process to start or exit; outcomes are asserted, never durations

SLEEPER = "import os, sys, time\nopen(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\ntime.sleep(600)\n"
CRASHER = "import sys\nopen(sys.argv[1], 'a').write('x\\n')\nsys.exit(int(sys.argv[2]))\n"
STUBBORN = (
    "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "open(sys.argv[1], 'w').write('ready')\ntime.sleep(600)\n"
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def manifest(
    wid: str, script: str, *args: str, policy: RestartPolicy | None = None, spec: str = "0xaa", **env: str
) -> WorkloadManifest:
    return WorkloadManifest(
        lease_id=7,
        workload_id=wid,
        spec_hash=spec,
        command=[sys.executable, "-c", script, *args],
        env=env,
        restart_policy=policy or RestartPolicy(),
    )


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def by_id(statuses: list[WorkloadStatus]) -> dict[str, WorkloadStatus]:
    return {s.workload_id: s for s in statuses}


async def until(
    rt: ProcessRuntime, pred: Callable[[dict[str, WorkloadStatus]], bool]
) -> dict[str, WorkloadStatus]:
    async with asyncio.timeout(LIMIT):
        while True:
            statuses = by_id(await rt.tick())
            if pred(statuses):
                return statuses
            await rt.wait_changed(0.05)


async def file_appears(path: Path) -> None:
    async with asyncio.timeout(LIMIT):
        while not path.exists() or not path.read_text():
            await asyncio.sleep(0.01)


def zombie_children() -> list[int]:
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if fields[0] == "Z" and int(fields[1]) == me:
            found.append(int(entry.name))
    return found


@pytest.fixture
async def runtimes() -> AsyncIterator[list[ProcessRuntime]]:
    """Runtimes created by a test; every workload is stopped afterwards and no zombie may remain."""
    made: list[ProcessRuntime] = []
    yield made
    for rt in reversed(made):
        await rt.stop_all()
        await rt.close()
    async with asyncio.timeout(LIMIT):  # the child watcher reaps asynchronously
        while zombie_children():
            await asyncio.sleep(0.02)
    assert zombie_children() == []


@pytest.fixture
def make_rt(tmp_path: Path, runtimes: list[ProcessRuntime]) -> Callable[..., ProcessRuntime]:
    def make(**kwargs: object) -> ProcessRuntime:
        rt = ProcessRuntime(tmp_path / "agent", **kwargs)  # type: ignore[arg-type]
        runtimes.append(rt)
        return rt

    return make


async def test_start_reports_usage_then_stop_kills_the_group(tmp_path: Path, make_rt, monkeypatch) -> None:
    monkeypatch.setenv("AGENT_SECRET_TOKEN", "must-not-leak")
    pidfile = tmp_path / "web.pids"
    envdump = tmp_path / "env.json"
    rt = make_rt()
    first = by_id(
        await rt.ensure(
            [
                manifest("web", SLEEPER, str(pidfile)),
                manifest(
                    "envdump",
                    "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))",
                    str(envdump),
                    policy=RestartPolicy(RestartMode.NEVER),
                    GREETING="hi",
                ),
            ]
        )
    )
    assert first["web"].state in (WorkloadState.STARTING, WorkloadState.RUNNING)
    pid = first["web"].pid
    assert pid is not None and os.getpgid(pid) == pid  # own process group
    await file_appears(pidfile)
    statuses = await until(rt, lambda s: s["envdump"].state is WorkloadState.EXITED)
    assert statuses["web"].state is WorkloadState.RUNNING
    assert statuses["web"].rss_bytes > 0
    assert statuses["envdump"].exit_code == 0
    env = json.loads(envdump.read_text())
    assert env["GREETING"] == "hi" and env["CLOUDMARKET_LEASE_ID"] == "7"
    assert env["CLOUDMARKET_WORKLOAD_ID"] == "envdump"
    assert "AGENT_SECRET_TOKEN" not in env
    state = json.loads((tmp_path / "agent" / "workloads.json").read_text())
    assert state["workloads"]["web"]["pid"] == pid
    assert state["workloads"]["web"]["start_time"] == procfs.read_stat(pid).start_time  # type: ignore[union-attr]
    assert state["workloads"]["web"]["spec_hash"] == "0xaa"

    after = by_id(await rt.ensure([]))
    assert after["web"].state is WorkloadState.STOPPED
    assert not procfs.is_same_live_process(pid, state["workloads"]["web"]["start_time"])
    assert rt.status() == []
    assert json.loads((tmp_path / "agent" / "workloads.json").read_text())["workloads"] == {}
    assert (tmp_path / "agent" / "logs" / "web.log").exists()


async def test_stop_escalates_to_sigkill_after_the_grace_period(tmp_path: Path, make_rt) -> None:
    ready = tmp_path / "ready"
    rt = make_rt(stop_grace=0.2)
    await rt.ensure([manifest("stubborn", STUBBORN, str(ready))])
    await file_appears(ready)
    pid = rt.status()[0].pid
    assert pid is not None
    start = procfs.read_stat(pid).start_time  # type: ignore[union-attr]
    statuses = await rt.ensure([])
    assert statuses[0].state is WorkloadState.STOPPED
    assert not procfs.is_same_live_process(pid, start)


async def test_crash_restarts_with_exponential_backoff_then_gives_up(tmp_path: Path, make_rt) -> None:
    clock = FakeClock()
    starts = tmp_path / "starts"
    policy = RestartPolicy(RestartMode.ON_FAILURE, max_restarts=2, backoff_initial=10, backoff_max=15)
    rt = make_rt(clock=clock)
    await rt.ensure([manifest("job", CRASHER, str(starts), "3", policy=policy)])

    s = (await until(rt, lambda s: s["job"].state is WorkloadState.CRASHED))["job"]
    assert (s.exit_code, s.restarts, s.restart_in) == (3, 0, 10)
    clock.now += 9.9
    assert (await rt.tick())[0].state is WorkloadState.CRASHED  # backoff not elapsed: no new start
    assert len(lines(starts)) == 1

    clock.now += 0.1
    assert (await rt.tick())[0].restarts == 1
    s = (await until(rt, lambda s: s["job"].state is WorkloadState.CRASHED))["job"]
    assert (s.restarts, s.restart_in) == (1, 15)  # 20 capped at backoff_max

    clock.now += 15
    await rt.tick()
    s = (await until(rt, lambda s: s["job"].state is WorkloadState.CRASHED))["job"]
    assert (s.restarts, s.restart_in) == (2, None)  # max restarts reached: stays crashed
    clock.now += 10_000
    assert (await rt.tick())[0].state is WorkloadState.CRASHED
    assert len(lines(starts)) == 3


@pytest.mark.parametrize(
    ("mode", "code", "final", "restarted"),
    [
        (RestartMode.ON_FAILURE, "0", WorkloadState.EXITED, False),
        (RestartMode.NEVER, "4", WorkloadState.CRASHED, False),
        (RestartMode.ALWAYS, "0", WorkloadState.EXITED, True),
    ],
)
async def test_restart_policy_modes(tmp_path: Path, make_rt, mode, code, final, restarted) -> None:
    clock = FakeClock()
    starts = tmp_path / "starts"
    rt = make_rt(clock=clock)
    policy = RestartPolicy(mode, max_restarts=1, backoff_initial=1, backoff_max=1)
    await rt.ensure([manifest("job", CRASHER, str(starts), code, policy=policy)])
    s = (await until(rt, lambda s: s["job"].state is final))["job"]
    assert s.exit_code == int(code)
    clock.now += 1
    await rt.tick()
    if restarted:
        await until(rt, lambda s: s["job"].restarts == 1 and s["job"].state is final)
    assert len(lines(starts)) == (2 if restarted else 1)


async def test_a_long_stable_run_resets_the_restart_count(tmp_path: Path, make_rt) -> None:
    clock = FakeClock()
    starts = tmp_path / "starts"
    policy = RestartPolicy(RestartMode.ALWAYS, max_restarts=1, backoff_initial=1, stable_seconds=60)
    rt = make_rt(clock=clock)
    await rt.ensure([manifest("job", CRASHER, str(starts), "1", policy=policy)])
    await until(rt, lambda s: s["job"].state is WorkloadState.CRASHED)
    clock.now += 1
    await rt.tick()  # restart 1 of 1
    clock.now += 60  # ... which "ran" for 60 s before crashing
    s = (await until(rt, lambda s: s["job"].state is WorkloadState.CRASHED))["job"]
    assert s.restarts == 0 and s.restart_in is not None


async def test_restarted_agent_adopts_running_workload_without_a_second_copy(tmp_path: Path, make_rt) -> None:
    pidfile = tmp_path / "pids"
    m = manifest("web", SLEEPER, str(pidfile))
    old = make_rt()
    await old.ensure([m])
    await file_appears(pidfile)
    await old.close()  # the agent goes away; its workload keeps running

    new = make_rt()
    s = by_id(await new.ensure([m]))["web"]
    assert s.state is WorkloadState.RUNNING
    assert s.pid == int(lines(pidfile)[0])
    assert len(lines(pidfile)) == 1
    assert s.rss_bytes > 0

    # a different spec hash for the same slot replaces the adopted process
    assert s.pid is not None
    old_start = procfs.read_stat(s.pid).start_time  # type: ignore[union-attr]
    m2 = manifest("web", SLEEPER, str(pidfile), spec="0xbb")
    s2 = by_id(await new.ensure([m2]))["web"]
    assert s2.pid != s.pid and s2.spec_hash == "0xbb"
    assert not procfs.is_same_live_process(s.pid, old_start)
    async with asyncio.timeout(LIMIT):
        while len(lines(pidfile)) < 2:
            await asyncio.sleep(0.01)
    assert len(lines(pidfile)) == 2


def write_state(state_dir: Path, m: WorkloadManifest, pid: int, start_time: int) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    entry = {"pid": pid, "start_time": start_time, "spec_hash": m.spec_hash, "manifest": m.to_dict()}
    (state_dir / "workloads.json").write_text(json.dumps({"workloads": {m.workload_id: entry}}))


async def test_stale_state_with_a_dead_pid_starts_fresh(tmp_path: Path, make_rt) -> None:
    done = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await done.wait()
    pidfile = tmp_path / "pids"
    m = manifest("web", SLEEPER, str(pidfile))
    write_state(tmp_path / "agent", m, done.pid, 12345)
    s = by_id(await make_rt().ensure([m]))["web"]
    assert s.pid != done.pid
    await file_appears(pidfile)
    assert lines(pidfile) == [str(s.pid)]


async def test_reused_pid_with_another_start_time_is_not_adopted_nor_killed(tmp_path: Path, make_rt) -> None:
    stranger = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(600)")
    try:
        real_start = procfs.read_stat(stranger.pid).start_time  # type: ignore[union-attr]
        pidfile = tmp_path / "pids"
        m = manifest("web", SLEEPER, str(pidfile))
        write_state(tmp_path / "agent", m, stranger.pid, real_start - 1)
        rt = make_rt()
        s = by_id(await rt.ensure([m]))["web"]
        assert s.pid != stranger.pid
        await file_appears(pidfile)
        assert lines(pidfile) == [str(s.pid)]
        await rt.stop_all()
        assert procfs.is_same_live_process(stranger.pid, real_start)  # the stranger was left alone
    finally:
        stranger.send_signal(signal.SIGKILL)
        await stranger.wait()


async def test_rejected_manifest_is_not_started(tmp_path: Path, make_rt) -> None:
    good, bad, boom = tmp_path / "good", tmp_path / "bad", tmp_path / "boom"

    async def verify(m: WorkloadManifest) -> bool:
        if m.workload_id == "boom":
            raise RuntimeError("rpc down")
        return m.spec_hash == "0xaa"

    rt = make_rt()
    statuses = by_id(
        await rt.ensure(
            [
                manifest("good", SLEEPER, str(good)),
                manifest("bad", SLEEPER, str(bad), spec="0xforged"),
                manifest("boom", SLEEPER, str(boom)),
            ],
            verify=verify,
        )
    )
    assert statuses["bad"].state is WorkloadState.REJECTED and statuses["bad"].pid is None
    assert statuses["boom"].state is WorkloadState.REJECTED
    assert "rpc down" in (statuses["boom"].reason or "")
    await file_appears(good)
    assert not bad.exists() and not boom.exists()
    assert [s.workload_id for s in rt.status()] == ["good"]
    state = json.loads((tmp_path / "agent" / "workloads.json").read_text())
    assert list(state["workloads"]) == ["good"]


async def test_unstartable_command_is_reported_crashed(tmp_path: Path, make_rt) -> None:
    m = WorkloadManifest(
        1, "ghost", "0x1", ["/nonexistent/binary"], restart_policy=RestartPolicy(RestartMode.NEVER)
    )
    s = (await make_rt().ensure([m]))[0]
    assert s.state is WorkloadState.CRASHED and "cannot start" in (s.reason or "")


async def test_invalid_manifests_are_refused(make_rt) -> None:
    with pytest.raises(InvalidManifest) as err:
        WorkloadManifest(1, "../etc", "0x1", ["true"])
    assert err.value.workload_id == "../etc"
    with pytest.raises(InvalidManifest):
        WorkloadManifest(1, "ok", "0x1", [])
    with pytest.raises(InvalidManifest):
        WorkloadManifest(1, "ok", "0x1", ["true"], env={"A=B": "x"})
    m = WorkloadManifest(1, "dup", "0x1", ["true"])
    with pytest.raises(InvalidManifest):
        await make_rt().ensure([m, m])


def test_manifest_round_trips_through_dict() -> None:
    m = manifest("web", SLEEPER, "x", policy=RestartPolicy(RestartMode.ALWAYS, 3, 0.5, 8), FOO="1")
    assert WorkloadManifest.from_dict(json.loads(json.dumps(m.to_dict()))) == m


def test_procfs_reads_this_process() -> None:
    stat = procfs.read_stat(os.getpid())
    assert stat is not None and stat.alive and stat.cpu_seconds > 0
    assert procfs.is_same_live_process(os.getpid(), stat.start_time)
    assert not procfs.is_same_live_process(os.getpid(), stat.start_time + 1)
    assert procfs.read_rss_bytes(os.getpid()) > 0
    assert procfs.read_stat(2**22 + 1) is None
