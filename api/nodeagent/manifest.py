"""What the engine asks a node to run: one :class:`WorkloadManifest` per workload slot."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from api.nodeagent.errors import InvalidManifest

# The id names the log file and work directory, so it must be a plain file name.
WORKLOAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class RestartMode(StrEnum):
    ALWAYS = "always"
    ON_FAILURE = "on-failure"
    NEVER = "never"


@dataclass(frozen=True)
class RestartPolicy:
    """Restart after an exit (``always``) or a failed exit (``on-failure``), at most ``max_restarts``
    times in a row, waiting ``backoff_initial * 2**n`` seconds (capped at ``backoff_max``) before restart
    ``n + 1``. A run that lasted ``stable_seconds`` resets the count."""

    mode: RestartMode = RestartMode.ON_FAILURE
    max_restarts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    stable_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.max_restarts < 0 or self.backoff_initial < 0 or self.backoff_max < self.backoff_initial:
            raise ValueError(f"invalid restart policy {self!r}")

    def wants_restart(self, exit_code: int | None) -> bool:
        """``exit_code`` None means unknown (an adopted process) and counts as a failure."""
        if self.mode is RestartMode.ALWAYS:
            return True
        return self.mode is RestartMode.ON_FAILURE and exit_code != 0

    def delay(self, restarts_so_far: int) -> float:
        return float(min(self.backoff_initial * (2 ** min(restarts_so_far, 32)), self.backoff_max))

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "max_restarts": self.max_restarts,
            "backoff_initial": self.backoff_initial,
            "backoff_max": self.backoff_max,
            "stable_seconds": self.stable_seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RestartPolicy:
        return cls(
            mode=RestartMode(data.get("mode", RestartMode.ON_FAILURE.value)),
            max_restarts=int(data.get("max_restarts", 5)),
            backoff_initial=float(data.get("backoff_initial", 1.0)),
            backoff_max=float(data.get("backoff_max", 60.0)),
            stable_seconds=float(data.get("stable_seconds", 60.0)),
        )


@dataclass(frozen=True)
class WorkloadManifest:
    lease_id: int
    workload_id: str
    spec_hash: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)

    def __post_init__(self) -> None:
        if not WORKLOAD_ID.match(self.workload_id):
            raise InvalidManifest(self.workload_id, "workload_id must match " + WORKLOAD_ID.pattern)
        if not self.command or not all(isinstance(a, str) and "\0" not in a for a in self.command):
            raise InvalidManifest(self.workload_id, "command must be a non-empty list of strings")
        for name, value in self.env.items():
            if not ENV_NAME.match(name) or "\0" in value:
                raise InvalidManifest(self.workload_id, f"bad environment variable {name!r}")
        if self.lease_id < 0:
            raise InvalidManifest(self.workload_id, "lease_id must be >= 0")

    def same_spec(self, other: WorkloadManifest) -> bool:
        return self.spec_hash == other.spec_hash and self.lease_id == other.lease_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "lease_id": self.lease_id,
            "workload_id": self.workload_id,
            "spec_hash": self.spec_hash,
            "command": list(self.command),
            "env": dict(self.env),
            "restart_policy": self.restart_policy.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkloadManifest:
        return cls(
            lease_id=int(data["lease_id"]),
            workload_id=str(data["workload_id"]),
            spec_hash=str(data["spec_hash"]),
            command=[str(a) for a in data["command"]],
            env={str(k): str(v) for k, v in data.get("env", {}).items()},
            restart_policy=RestartPolicy.from_dict(data.get("restart_policy", {})),
        )
