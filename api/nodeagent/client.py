"""HTTP client of the node agent protocol (desired-state long-poll, heartbeat, ``GET /api/chain``).

One :class:`aiohttp.ClientSession` is built by the caller (or once here) and reused. Connection errors,
timeouts, 429 and 5xx answers are retried with jittered exponential backoff (:class:`Backoff`), for ever
unless ``max_attempts`` is set; 401/403 raise :class:`NodeAuthRejected` at once (a revoked or wrong token
does not heal by retrying). The token is sent only in the ``Authorization`` header: it is never part of a
``repr``, a log record or an exception message.

Exceptions (under :class:`api.nodeagent.errors.AgentError`)::

    NodeApiError               status, detail
    ├── NodeAuthRejected       401 / 403
    └── NodeApiUnavailable     retries exhausted (connection errors, timeouts, 5xx)
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from api.nodeagent.errors import AgentError

log = logging.getLogger(__name__)

MAX_WAIT = 60
# A held long-poll answers after ``wait`` seconds; the client gives it this much more before giving up.
POLL_SLACK = 10.0


class NodeApiError(AgentError):
    """The node API answered with an error the client does not retry (or retries ran out)."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(f"node API error{f' {status}' if status is not None else ''}: {detail}")
        self.status = status
        self.detail = detail


class NodeAuthRejected(NodeApiError):
    """401/403: the node token is missing, wrong, revoked, or belongs to another node."""

    def __init__(self, status: int, detail: str, node_id: int) -> None:
        NodeApiError.__init__(self, status, detail)
        self.node_id = node_id
        self.args = (
            f"the node API rejected the token for node {node_id} ({status}): {detail}. "
            "Issue a new token with POST /api/cloud-provider/nodes/{id}/tokens",
        )


class NodeApiUnavailable(NodeApiError):
    """Every attempt failed with a retryable error."""

    def __init__(self, attempts: int, detail: str) -> None:
        super().__init__(None, f"unavailable after {attempts} attempts: {detail}")
        self.attempts = attempts


class Backoff:
    """Exponential backoff with full jitter: attempt ``n`` waits uniformly in ``[d/2, d]`` where
    ``d = min(initial * 2**n, maximum)``."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, *, rng: random.Random | None = None):
        if initial <= 0 or maximum < initial:
            raise ValueError(f"bad backoff bounds {initial}, {maximum}")
        self.initial = initial
        self.maximum = maximum
        self._rng = rng or random.Random()  # noqa: S311  (jitter, not cryptography)
        self.failures = 0

    def next_delay(self) -> float:
        ceiling = min(self.initial * (2 ** min(self.failures, 32)), self.maximum)
        self.failures += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


@dataclass(frozen=True)
class DesiredState:
    node_id: int
    cursor: str
    changed: bool
    workloads: list[dict[str, Any]]


@dataclass(frozen=True)
class HeartbeatAck:
    server_time: str
    heartbeat_interval: int


class _Retryable(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


Sleep = Callable[[float], Awaitable[None]]


class NodeApiClient:
    """Calls for one node. ``session`` is injected (tests, shared pools) or built on first use and then
    owned (closed by :meth:`close`)."""

    def __init__(
        self,
        base_url: str,
        node_id: int,
        token: str,
        *,
        session: aiohttp.ClientSession | None = None,
        backoff: Backoff | None = None,
        request_timeout: float = 15.0,
        max_attempts: int | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.node_id = node_id
        self._token = token
        self._session = session
        self._owns_session = session is None
        self.backoff = backoff or Backoff()
        self._request_timeout = request_timeout
        self._max_attempts = max_attempts
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"NodeApiClient({self.base_url!r}, node_id={self.node_id})"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> NodeApiClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- protocol calls ------------------------------------------------------------------------------

    async def desired(self, cursor: str | None, wait: int = 30) -> DesiredState:
        """The node's complete desired set; held up to ``wait`` seconds when ``cursor`` is current."""
        wait = max(0, min(int(wait), MAX_WAIT))
        params = {"wait": str(wait)}
        if cursor is not None:
            params["cursor"] = cursor
        body = await self._request(
            "GET",
            f"/api/cloud-provider/nodes/{self.node_id}/workloads",
            params=params,
            timeout=wait + POLL_SLACK,
        )
        try:
            return DesiredState(
                node_id=int(body["node_id"]),
                cursor=str(body["cursor"]),
                changed=bool(body["changed"]),
                workloads=list(body["workloads"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise NodeApiError(200, f"malformed desired state: {exc!r}") from exc

    async def heartbeat(self, payload: dict[str, Any]) -> HeartbeatAck:
        body = await self._request(
            "POST", f"/api/cloud-provider/nodes/{self.node_id}/heartbeat", json_body=payload
        )
        try:
            return HeartbeatAck(str(body["server_time"]), int(body["heartbeat_interval"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise NodeApiError(200, f"malformed heartbeat answer: {exc!r}") from exc

    async def chain_info(self) -> dict[str, Any]:
        """``GET /api/chain`` (public): rpc_url and contracts {name: {address, abi}}."""
        body = await self._request("GET", "/api/chain", auth=False)
        if not isinstance(body, dict) or "contracts" not in body or "rpc_url" not in body:
            raise NodeApiError(200, "malformed /api/chain answer")
        return body

    # -- transport -----------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109  (a per-request aiohttp timeout)
        auth: bool = True,
    ) -> Any:
        attempts = 0
        while True:
            attempts += 1
            try:
                result = await self._once(method, path, params, json_body, timeout, auth)
            except _Retryable as exc:
                if self._max_attempts is not None and attempts >= self._max_attempts:
                    raise NodeApiUnavailable(attempts, exc.detail) from None
                delay = self.backoff.next_delay()
                log.warning(
                    "node API unavailable, retrying",
                    extra={"path": path, "detail": exc.detail, "retry_in": round(delay, 3)},
                )
                await self._sleep(delay)
                continue
            self.backoff.reset()
            return result

    async def _once(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        json_body: Any,
        timeout: float | None,  # noqa: ASYNC109  (a per-request aiohttp timeout)
        auth: bool,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self._token}"
        client_timeout = aiohttp.ClientTimeout(total=timeout or self._request_timeout)
        try:
            async with self.session.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                headers=headers,
                timeout=client_timeout,
            ) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        detail = _detail(text)
        if status in (401, 403):
            raise NodeAuthRejected(status, detail, self.node_id)
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}: {detail}")
        if status >= 400:
            raise NodeApiError(status, detail)
        try:
            return json.loads(text)
        except ValueError as exc:
            raise NodeApiError(status, f"answer is not JSON: {text[:200]!r}") from exc


def _detail(text: str) -> str:
    """A short human message from an error body (our API answers ``{"error": {"message": ...}}``)."""
    try:
        data = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("code") or err)[:200]
        return str(err)[:200]
    return text[:200]
