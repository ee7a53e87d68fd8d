"""SLA arithmetic and identities: pure functions, integers only, no database, no chain.

Uptime of a lease in a period ``[start, end)`` (chain time, Unix seconds)
    The prober (:mod:`engine.sla.probe`) takes *ticks*: at time ``at`` it records one sample per source
    (the node's heartbeat liveness, and a TCP connect per declared port). A tick is *up* when every sample
    of it is ok. A tick stands for ``[at, at + span)`` cut at the next tick and at the period's end, so a
    node's own silence (its heartbeat is too old when the engine looks) is downtime, while time the engine
    did not look at all (no tick) is neither up nor down (the engine's outage is not the provider's).
    Seconds inside a maintenance window the node announced on chain (the registry enforces the notice,
    ``minNotice``, when it is scheduled; cancelled windows are not windows) are *excluded*: neither up nor
    down. ``uptime_bps = 10_000 * up // (up + down)``, floor (in the tenant's favour), so ``0..10_000``;
    no counted second at all: no uptime (``None``), nothing is judged.

Breach and credit
    A period is breached when ``uptime_bps < target_bps``. The credit is the highest ``credit_bps`` of the
    schedule's bands ``(below_bps, credit_bps)`` with ``uptime_bps < below_bps`` (0 when none applies);
    ``rebate = floor(charge * credit_bps / 10_000)`` where ``charge = rate_per_second * seconds the lease was
    ticked in the period`` (maintenance included: the tenant paid for it). The provider's collateral is
    seized by ``min(rebate, collateral left)``; the tenant gets the whole rebate (the treasury covers a
    shortfall).

Identities (deterministic, so two processes or two runs agree)
    * ``ref = keccak256("cloudmarket.sla.v1" || chain_id || escrow || lease_id || period_start)`` (each a
      32-byte word, the escrow a 20-byte address): the registry's seize-once-per-ref makes a second seizure
      of the same (lease, period) revert on chain, whatever the database says.
    * outbox keys ``sla:<chain_id>:<step>:<lease_id>:<period_start>`` with step ``seize`` / ``credit`` /
      ``pay``; the one standing approval of the escrow is ``sla:<chain_id>:approve:<escrow>:<allowance>``.
    * evidence: :func:`canonical_json` of the measurement summary; its keccak256 is the seize's
      ``evidenceHash``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_hash.auto import keccak
from eth_utils.address import to_canonical_address

from engine.money import Rounding, apply_bps

BPS = 10_000
EVIDENCE_VERSION = 1
REF_DOMAIN = b"cloudmarket.sla.v1"


@dataclass(frozen=True)
class Policy:
    """The operator's SLA policy (engine.operator settings ``sla_*``)."""

    target_bps: int
    period: int  # seconds
    schedule: tuple[tuple[int, int], ...]  # (below_bps, credit_bps), descending below_bps

    def credit_bps(self, uptime_bps: int) -> int:
        """The credit (bps of the period's charge) an uptime earns: the highest band that applies."""
        return max((credit for below, credit in self.schedule if uptime_bps < below), default=0)

    def breached(self, uptime_bps: int) -> bool:
        return uptime_bps < self.target_bps

    def to_json(self) -> dict[str, Any]:
        return {
            "target_bps": self.target_bps,
            "period": self.period,
            "schedule": [list(b) for b in self.schedule],
        }


@dataclass(frozen=True)
class Check:
    """One sample: ``source`` and ``target`` name the check (``heartbeat``/``""``, ``probe``/``tcp:80``)."""

    at: int
    span: int
    ok: bool
    source: str = "heartbeat"
    target: str = ""


@dataclass(frozen=True)
class Measure:
    """Seconds of a period: ``up`` + ``down`` are counted, ``excluded`` fell in maintenance; ``covered`` =
    all three (the seconds the lease was ticked, the charged time)."""

    up: int = 0
    down: int = 0
    excluded: int = 0
    ticks: int = 0
    down_ticks: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # failed samples per check name

    @property
    def counted(self) -> int:
        return self.up + self.down

    @property
    def covered(self) -> int:
        return self.up + self.down + self.excluded

    @property
    def uptime_bps(self) -> int | None:
        return None if self.counted == 0 else self.up * BPS // self.counted


def period_of(at: int, period: int) -> int:
    """Start of the period holding ``at`` (periods aligned to the Unix epoch)."""
    return at - at % period


def closed_periods(now: int, period: int, lookback: int) -> list[int]:
    """Starts of the last ``lookback`` periods that ended at or before ``now``, oldest first."""
    last = period_of(now, period) - period
    return [last - i * period for i in range(lookback - 1, -1, -1) if last - i * period >= 0]


def merge(windows: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of half-open intervals, sorted and disjoint (empty ones dropped)."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(w for w in windows if w[1] > w[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def overlap(a: int, b: int, windows: Sequence[tuple[int, int]]) -> int:
    """Seconds of ``[a, b)`` inside the (merged, disjoint) ``windows``."""
    return sum(max(0, min(b, e) - max(a, s)) for s, e in windows)


def measure(checks: Iterable[Check], start: int, end: int, maintenance: Iterable[tuple[int, int]]) -> Measure:
    """Up / down / excluded seconds of ``[start, end)`` from the checks (module docstring)."""
    windows = merge(maintenance)
    by_tick: dict[int, list[Check]] = {}
    for c in checks:
        if start <= c.at < end and c.span > 0:
            by_tick.setdefault(c.at, []).append(c)
    ats = sorted(by_tick)
    up = down = excluded = down_ticks = 0
    failures: dict[str, int] = {}
    for i, at in enumerate(ats):
        group = by_tick[at]
        stop = min(at + max(c.span for c in group), end)
        if i + 1 < len(ats):
            stop = min(stop, ats[i + 1])
        length = stop - at
        out = overlap(at, stop, windows)
        excluded += out
        ok = all(c.ok for c in group)
        for c in group:
            if not c.ok:
                name = c.source if not c.target else f"{c.source}:{c.target}"
                failures[name] = failures.get(name, 0) + 1
        if ok:
            up += length - out
        else:
            down += length - out
            down_ticks += 1
    return Measure(up, down, excluded, len(ats), down_ticks, failures)


def rebate(charge: int, credit_bps: int) -> int:
    return apply_bps(charge, credit_bps, Rounding.FLOOR)


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes whose keccak256 is the evidence hash."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def evidence(
    *,
    chain_id: int,
    lease_id: int,
    chain_node_id: int,
    period_start: int,
    period_end: int,
    policy: Policy,
    m: Measure,
    maintenance: Sequence[tuple[int, int]],
    rate_per_second: int,
    charge: int,
    credit_bps: int,
) -> dict[str, Any]:
    """The summary of the samples a breach rests on (canonical-JSON ready)."""
    return {
        "v": EVIDENCE_VERSION,
        "chain_id": chain_id,
        "lease_id": str(lease_id),
        "node_id": chain_node_id,
        "period": [period_start, period_end],
        "policy": policy.to_json(),
        "seconds": {"up": m.up, "down": m.down, "excluded": m.excluded},
        "ticks": m.ticks,
        "down_ticks": m.down_ticks,
        "failures": dict(sorted(m.failures.items())),
        "maintenance": [list(w) for w in merge(maintenance)],
        "uptime_bps": m.uptime_bps,
        "rate_per_second": rate_per_second,
        "charge": charge,
        "credit_bps": credit_bps,
    }


def evidence_hash(value: dict[str, Any]) -> bytes:
    return keccak(canonical_json(value))


def seize_ref(chain_id: int, escrow: str, lease_id: int, period_start: int) -> bytes:
    """The single-use seize ref of (lease, period) (module docstring)."""
    return keccak(
        REF_DOMAIN
        + chain_id.to_bytes(32, "big")
        + to_canonical_address(escrow)
        + lease_id.to_bytes(32, "big")
        + period_start.to_bytes(32, "big")
    )


def outbox_key(chain_id: int, step: str, lease_id: int | str, period_start: int) -> str:
    return f"sla:{chain_id}:{step}:{lease_id}:{period_start}"


def approve_key(chain_id: int, escrow: str, allowance: int) -> str:
    return f"sla:{chain_id}:approve:{escrow.lower()}:{allowance}"
