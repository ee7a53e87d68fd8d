"""Check a workload against its lease on chain before starting it.

The engine tells the node what to run; the chain is what the payer signed. For each workload the agent
fetches the escrow's ``LeaseOpened(leaseId indexed, payer indexed, nodeId indexed, rate, deposit,
specHash, discountBps)`` log with ``eth_getLogs`` (topic1 = the lease id as a 32-byte word) and accepts
the workload only when the log's ``specHash`` equals the manifest's and its ``nodeId`` equals the
workload entry's ``chain_node_id``.

A lease's opening log never changes, so a found log is cached for good (one RPC per lease for the
agent's life); a missing log is remembered for ``miss_ttl`` seconds only (the lease may be mined later).
JSON-RPC goes over the agent's own :class:`aiohttp.ClientSession` (injected).

The chain itself may move under a running agent (a dev chain restarted on another port, contracts
redeployed): :class:`ChainCheck` re-reads ``GET /api/chain`` when a check fails and, if the RPC URL or the
escrow changed, checks again against the new one before the workload is rejected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from eth_utils.crypto import keccak

from api.nodeagent.errors import AgentError

log = logging.getLogger(__name__)

ESCROW = "DeploymentEscrow"
EVENT = "LeaseOpened"
WORD = 32


class ChainVerificationError(AgentError):
    """The chain could not be asked (RPC down, bad answer): neither accept nor reject for good."""

    def __init__(self, lease_id: int, detail: str) -> None:
        super().__init__(f"cannot verify lease {lease_id}: {detail}")
        self.lease_id = lease_id
        self.detail = detail


@dataclass(frozen=True)
class LeaseRecord:
    """What ``LeaseOpened`` fixed on chain for one lease."""

    lease_id: int
    node_id: int
    spec_hash: str  # 0x + 64 lowercase hex
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None = None


def event_topic(abi: list[dict[str, Any]], name: str = EVENT) -> str:
    """``keccak(Name(type,...))`` of the event ``name`` in ``abi``, as a 0x hex topic."""
    for item in abi:
        if item.get("type") == "event" and item.get("name") == name:
            signature = f"{name}({','.join(_canonical(i) for i in item['inputs'])})"
            return "0x" + keccak(text=signature).hex()
    raise ValueError(f"event {name} not in the ABI")


def _canonical(inp: dict[str, Any]) -> str:
    kind = str(inp["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in inp["components"]) + ")" + kind[len("tuple") :]
    return kind


def _target(rpc_url: str, escrow_address: str, escrow_abi: list[dict[str, Any]]) -> tuple[str, str, str]:
    if not rpc_url.startswith(("http://", "https://")):
        raise ValueError(f"the agent verifies over HTTP JSON-RPC; got {rpc_url!r} (use --rpc-url)")
    return rpc_url, escrow_address.lower(), event_topic(escrow_abi)


def uint_topic(value: int) -> str:
    if not 0 <= value < 2**256:
        raise ValueError(f"{value} is not a uint256")
    return "0x" + value.to_bytes(WORD, "big").hex()


def normalize_hash(value: str) -> str:
    h = value.lower()
    if not h.startswith("0x"):
        h = "0x" + h
    return h


def decode_lease_opened(entry: dict[str, Any]) -> LeaseRecord:
    """Topics: [sig, leaseId, payer, nodeId]; data: rate, deposit, specHash, discountBps (one word each)."""
    topics = entry["topics"]
    data = bytes.fromhex(str(entry["data"]).removeprefix("0x"))
    if len(topics) != 4 or len(data) != 4 * WORD:
        raise ValueError(f"unexpected LeaseOpened layout: {len(topics)} topics, {len(data)} data bytes")
    return LeaseRecord(
        lease_id=int(topics[1], 16),
        node_id=int(topics[3], 16),
        spec_hash="0x" + data[2 * WORD : 3 * WORD].hex(),
        block_number=int(entry["blockNumber"], 16),
        tx_hash=str(entry["transactionHash"]),
    )


class LeaseVerifier:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        rpc_url: str,
        escrow_address: str,
        escrow_abi: list[dict[str, Any]],
        *,
        from_block: int = 0,
        miss_ttl: float = 30.0,
        request_timeout: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self.rpc_url, self.escrow_address, self._topic0 = _target(rpc_url, escrow_address, escrow_abi)
        self._from_block = from_block
        self._miss_ttl = miss_ttl
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._clock = clock
        self._found: dict[int, LeaseRecord] = {}
        self._missing: dict[int, float] = {}  # lease id -> monotonic time of the miss
        self._ids = 0
        self.rpc_calls = 0

    @classmethod
    def from_chain_info(
        cls,
        session: aiohttp.ClientSession,
        info: dict[str, Any],
        *,
        rpc_url: str | None = None,
        from_block: int = 0,
    ) -> LeaseVerifier:
        """Build from a ``GET /api/chain`` answer; ``rpc_url`` overrides the advertised one."""
        escrow = info["contracts"][ESCROW]
        return cls(
            session,
            rpc_url or str(info["rpc_url"]),
            str(escrow["address"]),
            list(escrow["abi"]),
            from_block=from_block,
        )

    def retarget(self, rpc_url: str, escrow_address: str, escrow_abi: list[dict[str, Any]]) -> bool:
        """Point at another RPC URL and/or escrow (forgetting every cached answer); False when both are
        the ones in use. :class:`ValueError` for a URL that is not HTTP(S) or an ABI without the event."""
        target = _target(rpc_url, escrow_address, escrow_abi)
        if target == (self.rpc_url, self.escrow_address, self._topic0):
            return False
        self.rpc_url, self.escrow_address, self._topic0 = target
        self._found.clear()
        self._missing.clear()
        return True

    async def lease(self, lease_id: int) -> LeaseRecord | None:
        """The lease's opening record, or None when no ``LeaseOpened`` log exists (yet)."""
        if lease_id in self._found:
            return self._found[lease_id]
        missed = self._missing.get(lease_id)
        if missed is not None and self._clock() - missed < self._miss_ttl:
            return None
        logs = await self._rpc(
            lease_id,
            "eth_getLogs",
            [
                {
                    "address": self.escrow_address,
                    "fromBlock": hex(self._from_block),
                    "toBlock": "latest",
                    "topics": [self._topic0, uint_topic(lease_id)],
                }
            ],
        )
        records = []
        for entry in logs or []:
            if entry.get("removed"):
                continue
            try:
                records.append(decode_lease_opened(entry))
            except (KeyError, ValueError) as exc:
                raise ChainVerificationError(lease_id, f"undecodable log: {exc}") from exc
        if not records:
            self._missing[lease_id] = self._clock()
            return None
        # Lease ids are unique per escrow: one opening log. Should a node ever return more, the first
        # one is the lease.
        record = min(records, key=lambda r: r.block_number)
        self._found[lease_id] = record
        self._missing.pop(lease_id, None)
        return record

    async def verify(self, lease_id: int, spec_hash: str, chain_node_id: int) -> Verdict:
        try:
            record = await self.lease(lease_id)
        except ChainVerificationError as exc:
            return Verdict(False, str(exc))
        if record is None:
            return Verdict(False, f"no LeaseOpened log for lease {lease_id} on chain")
        if record.spec_hash != normalize_hash(spec_hash):
            return Verdict(
                False, f"spec hash mismatch for lease {lease_id}: chain {record.spec_hash}, got {spec_hash}"
            )
        if record.node_id != chain_node_id:
            return Verdict(
                False, f"lease {lease_id} is for chain node {record.node_id}, not node {chain_node_id}"
            )
        return Verdict(True)

    async def _rpc(self, lease_id: int, method: str, params: list[Any]) -> Any:
        self._ids += 1
        self.rpc_calls += 1
        payload = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}
        try:
            async with self._session.post(self.rpc_url, json=payload, timeout=self._timeout) as resp:
                if resp.status != 200:
                    raise ChainVerificationError(lease_id, f"RPC HTTP {resp.status}")
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ChainVerificationError(lease_id, f"RPC {method} failed: {exc}") from exc
        if not isinstance(answer, dict):
            raise ChainVerificationError(lease_id, "RPC answer is not an object")
        if answer.get("error"):
            raise ChainVerificationError(lease_id, f"RPC error {answer['error']}")
        return answer.get("result")


class ChainCheck:
    """:meth:`LeaseVerifier.verify` that re-reads ``GET /api/chain`` before it rejects a workload.

    A failed check (no log, another spec hash, RPC unreachable) may mean the chain moved: the engine's RPC
    URL or escrow address changed since the agent started. Then ``chain_info`` (the API client's
    ``chain_info``) is asked again, at most once per ``min_interval`` seconds and for at most ``timeout``
    seconds; if it names another RPC URL or escrow, the verifier is pointed there and the lease checked
    once more. ``rpc_url`` (the agent's ``--rpc-url``) pins the URL: only the escrow can change then.
    """

    def __init__(
        self,
        verifier: LeaseVerifier,
        chain_info: Callable[[], Awaitable[dict[str, Any]]],
        *,
        rpc_url: str | None = None,
        min_interval: float = 5.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.verifier = verifier
        self._chain_info = chain_info
        self._rpc_url = rpc_url
        self._min_interval = min_interval
        self._timeout = timeout
        self._clock = clock
        self._last_refresh: float | None = None
        self.refreshes = 0

    async def __call__(self, lease_id: int, spec_hash: str, chain_node_id: int) -> Verdict:
        verdict = await self.verifier.verify(lease_id, spec_hash, chain_node_id)
        if verdict.ok or not await self.refresh():
            return verdict
        return await self.verifier.verify(lease_id, spec_hash, chain_node_id)

    async def refresh(self) -> bool:
        """Re-read ``/api/chain`` (throttled); True when the verifier now points at another chain."""
        now = self._clock()
        if self._last_refresh is not None and now - self._last_refresh < self._min_interval:
            return False
        self._last_refresh = now
        self.refreshes += 1
        try:
            async with asyncio.timeout(self._timeout):
                info = await self._chain_info()
            escrow = info["contracts"][ESCROW]
            rpc_url = self._rpc_url or str(info["rpc_url"])
            changed = self.verifier.retarget(rpc_url, str(escrow["address"]), list(escrow["abi"]))
        except (AgentError, TimeoutError, KeyError, TypeError, ValueError) as exc:
            log.warning("cannot re-read the chain info", extra={"error": str(exc)})
            return False
        if changed:
            log.warning(
                "the chain info changed; lease checks follow it",
                extra={"rpc_url": rpc_url, "escrow": self.verifier.escrow_address},
            )
        return changed
