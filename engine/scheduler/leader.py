"""Leader election: of all the service processes, exactly one runs the scheduled jobs.

Two locks behind one small interface (:class:`LeaderLock`), chosen by the database URL
(:func:`leader_lock_for`):

* **PostgreSQL** — :class:`PgAdvisoryLock`: ``pg_try_advisory_lock(SCHEDULER_LOCK_KEY)`` on a connection
  of its own (not from the service's pool), in autocommit so it never sits idle in a transaction. The
  lock is session-level: it is held as long as that connection lives. If the process dies or the
  connection drops, PostgreSQL ends the session and releases the lock, and a follower's next attempt
  wins. Advisory locks are per database, so two deployments on one server do not block each other.
* **SQLite** — :class:`FileLeaderLock`: the embedded mode is one process by design, but two local
  processes on one data dir must still not both lead, so an exclusive ``fcntl.flock`` on
  ``<data_dir>/scheduler.lock``. The kernel drops it when the process dies.

:class:`LeaderElector` runs the loop: a follower tries the lock every ``retry_interval`` seconds; the
leader checks on the same beat that it still holds it (for PostgreSQL: that its connection answers). On
winning it awaits ``on_elected``, on losing (connection gone, check failed, stop) ``on_lost``.

Split brain: a leader whose connection silently died only notices on its next check, while PostgreSQL
may already have handed the lock on. For that window two processes can run a job; every job must be
idempotent (ours are: business keys, outbox idempotency keys), so the overlap costs work, not money, and
an interval job's run first claims its period (:mod:`engine.scheduler.runs`), so the second process skips
a period the first one ran. A leader killed outright (``kill -9``) loses its connection at once; the
follower's next attempt, within ``retry_interval``, wins and runs the next period (or the current one, if
it had not run).

Who leads is visible from every process: :meth:`LeaderLock.holder` names the holder as ``<host>:<pid>``
(PostgreSQL: the lock connection's ``application_name``, read from ``pg_locks`` joined with
``pg_stat_activity``; SQLite: the pid the holder wrote into the lock file). In-process, :func:`is_leader`
says whether an elector of this process leads and :func:`on_leadership_change` calls back on every flip
(the ``/metrics`` gauge).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from engine.settings import Settings

log = logging.getLogger(__name__)

# A fixed 64-bit key for pg_try_advisory_lock: ASCII "cmsched\0". Every process of one deployment uses it.
SCHEDULER_LOCK_KEY = int.from_bytes(b"cmsched\x00", "big")
LOCK_FILE_NAME = "scheduler.lock"
APPLICATION_NAME_PREFIX = "cmsched "  # + <host>:<pid>, on the lock's connection (63 bytes at most in all)

# The holder of a bigint advisory lock, seen from any session of the same database: pg_locks splits the
# key into classid (high 32 bits) and objid (low 32 bits), objsubid 1 marks the one-bigint form.
_HOLDER_SQL = text(
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND l.classid = :hi AND l.objid = :lo"
)


def this_process() -> str:
    """How a process names itself to operators: ``<host>:<pid>``."""
    return f"{socket.gethostname()}:{os.getpid()}"


# ---- in-process view of leadership (metrics, the operator jobs route) ---------------------------------
_leading: set[int] = set()  # id() of the electors of this process that lead now
_listeners: list[Callable[[bool], None]] = []


def is_leader() -> bool:
    """Whether this process leads the scheduler now (an elector of this process holds the lock)."""
    return bool(_leading)


def on_leadership_change(callback: Callable[[bool], None]) -> None:
    """Call ``callback(is_leader())`` now and whenever this process's leadership flips. Callbacks run on
    the event loop and must not block; an exception in one is logged and ignored."""
    _listeners.append(callback)
    _notify(callback)


def _notify(callback: Callable[[bool], None]) -> None:
    try:
        callback(is_leader())
    except Exception:
        log.exception("leadership listener failed")


def _record(elector: object, leading: bool) -> None:
    before = is_leader()
    (_leading.add if leading else _leading.discard)(id(elector))
    if is_leader() != before:
        for callback in list(_listeners):
            _notify(callback)


class LeaderLock(Protocol):
    """A lock that at most one holder has at a time, across processes."""

    @property
    def name(self) -> str: ...

    async def try_acquire(self) -> bool:
        """Take the lock if free; ``False`` if someone else holds it. May raise on connection errors."""
        ...

    async def still_held(self) -> bool:
        """``True`` while this holder still has the lock. May raise (counts as lost)."""
        ...

    async def release(self) -> None:
        """Give the lock up (idempotent, never raises)."""
        ...

    async def holder(self) -> str | None:
        """The process that holds the lock now (``<host>:<pid>``), ``None`` if nobody (or unknown)."""
        ...


class PgAdvisoryLock:
    """A session-level PostgreSQL advisory lock held on a dedicated connection."""

    def __init__(self, url: str, *, key: int = SCHEDULER_LOCK_KEY, check_timeout: float = 10.0) -> None:
        self.key = key
        self._url = url
        self._check_timeout = check_timeout
        self._engine: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None
        self._held = False
        self._busy = asyncio.Lock()  # one statement at a time on the connection (the elector, holder())
        self.backend_pid: int | None = None  # the server process of our connection (operators, tests)

    @property
    def name(self) -> str:
        return f"pg_advisory_lock({self.key})"

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            if self._engine is None:
                # Own engine, no pool: this connection's life *is* the lock's life.
                self._engine = create_async_engine(
                    self._url,
                    poolclass=NullPool,
                    isolation_level="AUTOCOMMIT",
                    # names the holder in pg_stat_activity: every process can tell who leads (holder())
                    connect_args={
                        "server_settings": {"application_name": APPLICATION_NAME_PREFIX + this_process()}
                    },
                )
            self._conn = await self._engine.connect()
            self.backend_pid = int((await self._conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        return self._conn

    async def try_acquire(self) -> bool:
        async with self._busy:
            return await self._try_acquire()

    async def _try_acquire(self) -> bool:
        try:
            conn = await self._connection()
            got = bool(
                (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})).scalar_one()
            )
        except BaseException:
            await self._drop_connection()
            raise
        self._held = got
        return got

    async def still_held(self) -> bool:
        async with self._busy:
            return await self._still_held()

    async def _still_held(self) -> bool:
        if not self._held or self._conn is None:
            return False
        try:
            # A live session keeps its session-level locks; a dead connection fails here.
            await asyncio.wait_for(self._conn.execute(text("SELECT 1")), self._check_timeout)
        except BaseException:
            self._held = False
            await self._drop_connection()
            raise
        return True

    async def release(self) -> None:
        async with self._busy:
            await self._release()

    async def _release(self) -> None:
        if self._held and self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        self._held = False
        await self._drop_connection()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def holder(self) -> str | None:
        if self._held:
            return this_process()
        async with self._busy:
            return await self._holder()

    async def _holder(self) -> str | None:
        try:
            conn = await self._connection()
            name = (
                await asyncio.wait_for(
                    conn.execute(_HOLDER_SQL, {"hi": self.key >> 32, "lo": self.key & 0xFFFFFFFF}),
                    self._check_timeout,
                )
            ).scalar()
        except Exception:
            log.warning("cannot read the scheduler leader from %s", self.name, exc_info=True)
            await self._drop_connection()
            return None
        if name is None:
            return None
        return str(name).removeprefix(APPLICATION_NAME_PREFIX) or None

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        self.backend_pid = None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()


class FileLeaderLock:
    """An exclusive, non-blocking ``flock`` on a file; released by the kernel when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def name(self) -> str:
        return f"flock({self.path})"

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        # The holder, for whoever wonders who leads (informational only; the flock is the lock).
        os.ftruncate(fd, 0)
        os.write(fd, f"{this_process()}\n".encode())
        self._fd = fd
        return True

    async def still_held(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # nobody leads now (a killed holder leaves its name: see holder())
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    async def holder(self) -> str | None:
        if self._fd is not None:
            return this_process()
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            try:  # free: nobody leads (the name in the file is a killed holder's)
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return os.read(fd, 256).decode(errors="replace").strip() or None
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def leader_lock_for(settings: Settings) -> LeaderLock:
    """PostgreSQL: the advisory lock on the service's database; otherwise the lock file in the data dir."""
    url = settings.effective_database_url
    if url.startswith("postgresql"):
        return PgAdvisoryLock(url, check_timeout=max(1.0, settings.scheduler_retry_interval))
    return FileLeaderLock(settings.data_dir / LOCK_FILE_NAME)


Callback = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


class LeaderElector:
    """Follow / lead loop around a :class:`LeaderLock`. ``is_leader`` is safe to read at any time."""

    def __init__(
        self,
        lock: LeaderLock,
        *,
        retry_interval: float,
        on_elected: Callback = _nothing,
        on_lost: Callback = _nothing,
    ) -> None:
        if retry_interval <= 0:
            raise ValueError(f"retry_interval must be > 0, got {retry_interval}")
        self.lock = lock
        self.retry_interval = retry_interval
        self._on_elected = on_elected
        self._on_lost = on_lost
        self.is_leader = False
        self.attempts = 0  # lock attempts made as a follower
        self.terms = 0  # times this candidate became leader
        self.changed = asyncio.Condition()  # notified whenever is_leader flips

    async def _set_leader(self, value: bool) -> None:
        async with self.changed:
            self.is_leader = value
            _record(self, value)
            self.changed.notify_all()

    async def _step_down(self, reason: str, *, level: int = logging.WARNING) -> None:
        log.log(level, "scheduler leadership given up (%s): %s", self.lock.name, reason)
        await self._set_leader(False)
        try:
            await self._on_lost()
        finally:
            await self.lock.release()

    async def step(self) -> None:
        """One beat: try to become leader, or check that leadership still holds."""
        if not self.is_leader:
            self.attempts += 1
            try:
                won = await self.lock.try_acquire()
            except Exception as exc:  # database down: stay a follower, try again next beat
                log.warning("scheduler leader lock %s unavailable: %r", self.lock.name, exc)
                return
            if won:
                self.terms += 1
                await self._set_leader(True)
                log.info("scheduler leadership taken (%s)", self.lock.name)
                try:
                    await self._on_elected()
                except BaseException:
                    await self._step_down("start failed")
                    raise
            return
        try:
            held = await self.lock.still_held()
        except Exception as exc:
            await self._step_down(repr(exc))
            return
        if not held:
            await self._step_down("lock no longer held")

    async def run(self, stop: asyncio.Event) -> None:
        """Beat every ``retry_interval`` until ``stop`` is set; then step down and release the lock."""
        try:
            while not stop.is_set():
                await self.step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.retry_interval)
        finally:
            if self.is_leader:
                await asyncio.shield(self._step_down("stopping", level=logging.INFO))
            else:
                await self.lock.release()

    async def wait_for(self, leader: bool) -> None:
        """Return once ``is_leader == leader`` (tests, start-up probes)."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.is_leader == leader)
