"""The agent's persisted view of what it runs: ``{workload_id: {pid, start_time, spec_hash, manifest}}``.

Written atomically (temporary file, fsync, rename, fsync of the directory) after every change, so a
crash leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.nodeagent.manifest import WorkloadManifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunningRecord:
    pid: int
    start_time: int
    manifest: WorkloadManifest

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "start_time": self.start_time,
            "spec_hash": self.manifest.spec_hash,
            "manifest": self.manifest.to_dict(),
        }


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, RunningRecord]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("agent state file %s unreadable; starting empty", self.path, exc_info=True)
            return {}
        records: dict[str, RunningRecord] = {}
        for workload_id, entry in data.get("workloads", {}).items():
            try:
                manifest = WorkloadManifest.from_dict(entry["manifest"])
                records[workload_id] = RunningRecord(int(entry["pid"]), int(entry["start_time"]), manifest)
            except (KeyError, TypeError, ValueError):
                log.warning("skipping bad state entry for %r", workload_id, exc_info=True)
        return records

    def save(self, records: dict[str, RunningRecord]) -> None:
        body = json.dumps({"workloads": {k: v.to_dict() for k, v in sorted(records.items())}}, indent=1)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(body.encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
