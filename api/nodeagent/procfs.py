"""Reading ``/proc/<pid>``: identity (start time, field 22 of ``stat``), liveness and usage.

A pid alone does not identify a process (pids are reused); ``(pid, start time)`` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str  # R, S, D, Z, T, ...
    cpu_ticks: int  # utime + stime, in clock ticks
    start_time: int  # clock ticks after boot

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_ticks / CLK_TCK


def read_stat(pid: int) -> ProcStat | None:
    """None when the process does not exist (or vanished while being read)."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) is in parentheses and may itself contain spaces or ')': split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); field n is fields[n - 3].
    return ProcStat(
        pid=pid,
        state=fields[0],
        cpu_ticks=int(fields[11]) + int(fields[12]),
        start_time=int(fields[19]),
    )


def read_rss_bytes(pid: int) -> int:
    """Resident set size from ``/proc/<pid>/status`` (0 when gone or a kernel thread)."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def is_same_live_process(pid: int, start_time: int | None) -> bool:
    """True when ``pid`` is alive (not a zombie) and is the process that started at ``start_time``."""
    if start_time is None:
        return False
    stat = read_stat(pid)
    return stat is not None and stat.alive and stat.start_time == start_time
