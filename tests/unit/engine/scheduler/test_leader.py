"""Leader election against the real things: two candidates on one PostgreSQL database (advisory lock on a
dedicated connection; the leader's connection is killed server-side) and two candidates on one lock file
(the leader stops; a holder process is SIGKILLed)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from engine.scheduler import (
    SCHEDULER_LOCK_KEY,
    FileLeaderLock,
    LeaderElector,
    PgAdvisoryLock,
    is_leader,
    on_leadership_change,
    this_process,
)
from engine.scheduler.leader import leader_lock_for
from engine.settings import Settings
from tests.conftest import new_database_url
from tests.unit.engine.scheduler.conftest import campaigning, eventually

RETRY = 0.05


class Candidate:
    def __init__(self, lock: PgAdvisoryLock | FileLeaderLock) -> None:
        self.lock = lock
        self.elected = 0
        self.lost = 0
        self.elector = LeaderElector(lock, retry_interval=RETRY, on_elected=self._up, on_lost=self._down)

    async def _up(self) -> None:
        self.elected += 1

    async def _down(self) -> None:
        self.lost += 1

    @property
    def leads(self) -> bool:
        return self.elector.is_leader


@pytest.fixture
async def pg_url(
    pg_cluster: object, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> str:
    return new_database_url("postgresql", tmp_path_factory, request)


def _pid(c: Candidate) -> int | None:
    assert isinstance(c.lock, PgAdvisoryLock)
    return c.lock.backend_pid


async def _advisory_holders(url: str) -> list[int]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "AND ((classid::bigint << 32) | objid::bigint) = :k"
                ),
                {"k": SCHEDULER_LOCK_KEY},
            )
            return [int(r[0]) for r in rows]
    finally:
        await engine.dispose()


async def _terminate(url: str, pid: int) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})).scalar_one()
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_pg_one_leader_and_takeover_when_its_connection_dies(pg_url: str) -> None:
    a, b = Candidate(PgAdvisoryLock(pg_url)), Candidate(PgAdvisoryLock(pg_url))
    async with campaigning(a.elector), campaigning(b.elector):
        await eventually(lambda: a.leads or b.leads, what="a leader")
        leader, follower = (a, b) if a.leads else (b, a)
        start = follower.elector.attempts
        await eventually(lambda: follower.elector.attempts >= start + 3, what="follower retried")
        assert leader.leads and not follower.leads
        assert (leader.elected, follower.elected) == (1, 0)
        # the follower names the leader from the server's view (pg_locks + application_name)
        assert await follower.elector.lock.holder() == this_process() == await leader.elector.lock.holder()
        old_pid = _pid(leader)
        assert old_pid is not None
        assert await _advisory_holders(pg_url) == [old_pid]

        await _terminate(pg_url, old_pid)  # the leader's connection dies server-side
        await eventually(lambda: follower.leads, what="follower takes over")
        await eventually(lambda: leader.lost == 1, what="old leader steps down")
        assert not leader.leads
        new_pid = _pid(follower)
        assert new_pid is not None and new_pid != old_pid
        assert await _advisory_holders(pg_url) == [new_pid]
        # the old leader campaigns again on a new connection, and stays a follower
        again = leader.elector.attempts
        await eventually(lambda: leader.elector.attempts >= again + 3, what="old leader retried")
        assert not leader.leads and follower.leads
    # stopping releases the lock on the server
    assert await _advisory_holders(pg_url) == []
    assert follower.lost == 1


def test_lock_choice_follows_the_database(tmp_path: Path) -> None:
    pg = leader_lock_for(Settings(data_dir=tmp_path, database_url="postgresql+asyncpg://u@h/db"))
    assert isinstance(pg, PgAdvisoryLock) and pg.key == SCHEDULER_LOCK_KEY
    lite = leader_lock_for(Settings(data_dir=tmp_path))
    assert isinstance(lite, FileLeaderLock) and lite.path == tmp_path / "scheduler.lock"


async def test_lock_file_one_leader_and_takeover_when_the_leader_stops(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.lock"
    a, b = Candidate(FileLeaderLock(path)), Candidate(FileLeaderLock(path))
    async with campaigning(a.elector):
        await eventually(lambda: a.leads, what="first candidate leads")
        async with campaigning(b.elector):
            await eventually(lambda: b.elector.attempts >= 3, what="second candidate retried")
            assert a.leads and not b.leads and is_leader()
            assert path.read_text().strip() == this_process() == await b.elector.lock.holder()
            # first candidate stops (its loop ends): the lock is released, the second takes over
        assert not b.leads
    assert not is_leader() and await b.elector.lock.holder() is None  # released: nobody leads
    flips: list[bool] = []
    on_leadership_change(flips.append)
    async with campaigning(b.elector):
        await eventually(lambda: b.leads, what="second candidate leads")
        assert (a.elected, a.lost, b.elected) == (1, 1, 1)
    assert flips == [False, True, False]


_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
time.sleep(600)
"""


async def test_lock_file_is_freed_when_the_holding_process_dies(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.lock"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOLDER, str(path), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert await proc.stdout.readline() == b"locked\n"
        c = Candidate(FileLeaderLock(path))
        async with campaigning(c.elector):
            await eventually(lambda: c.elector.attempts >= 3, what="candidate retried")
            assert not c.leads
            proc.send_signal(signal.SIGKILL)  # no clean-up in the holder: the kernel drops the flock
            await proc.wait()
            await eventually(lambda: c.leads, what="candidate leads after the holder died")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_pg_database_down_keeps_a_follower_retrying(tmp_path: Path) -> None:
    # Nothing listens on port 1: every attempt fails, the candidate stays a follower and keeps trying.
    c = Candidate(PgAdvisoryLock("postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    async with campaigning(c.elector):
        await eventually(lambda: c.elector.attempts >= 3, what="retries")
        assert not c.leads and c.elected == 0
