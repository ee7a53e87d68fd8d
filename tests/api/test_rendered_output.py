"""What the API renders is true (issue 11, section 3): timestamps are UTC with their offset, and no
internals leak (Python's ``str(None)``, negative sentinels).

The role matrix's world (a user with a deployment and a paid top-up, a provider with a node, node tokens
and a provider request, an operator plan) plus an operator settings change: every route of the registry
is called by every kind of caller, GET routes first, and every JSON answer (and SSE ``data:`` line) is
walked. Every string that looks like an ISO 8601 date-time must end in ``Z`` or ``+00:00``: SQLite hands
``DateTime(timezone=True)`` columns back naive, so a renderer that calls ``isoformat()`` on them instead
of :func:`api.render.iso_utc` fails here. No value may be the string ``"None"`` (a provider request's
``chain_status`` was, for a wallet not on chain) and no number negative (no amount, id, time or index
the API returns can be; retired leases once showed ``replica_index`` -6).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from aiohttp import ClientResponse

from tests.api.role_matrix import CALLERS, MATRIX, NODES, OPERATOR, OPERATOR_BASE, PAY, PROVIDER_BASE
from tests.api.test_role_matrix import LOCAL_MATRIX, _body, _request_path, matrix_env  # noqa: F401

DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
UTC_OFFSET = ("Z", "+00:00")
DEPLOYMENTS = "/api/cloud-user/deployments"

# (route, key) pairs the world must have shown with a timestamp: the walk is not vacuous
EXPECTED = {
    ("GET " + NODES, "created_at"),
    ("GET " + PROVIDER_BASE + "/provider-requests", "created_at"),
    ("GET " + OPERATOR_BASE + "/provider-requests", "created_at"),
    ("GET " + OPERATOR_BASE + "/settings", "created_at"),
    ("GET " + OPERATOR_BASE + "/settings/history", "created_at"),
    ("GET " + DEPLOYMENTS, "created_at"),
    ("GET " + DEPLOYMENTS + "/{deployment_id}", "updated_at"),
    ("GET " + PAY + "/intents/{payment_id}", "created_at"),
    ("GET " + PAY + "/receipts/{entry_id}", "created_at"),
    ("GET " + PAY + "/subscriptions", "created_at"),
    ("POST " + NODES + "/{node_id}/heartbeat", "server_time"),
}


def leaves(value: object, key: str = "") -> Iterator[tuple[str, object]]:
    """``(key, value)`` for every scalar in a JSON value (key: the nearest object key)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v, key)
    else:
        yield key, value


def timestamps(value: object) -> Iterator[tuple[str, str]]:
    """``(key, text)`` for every string in a JSON value that is an ISO date-time."""
    for key, leaf in leaves(value):
        if isinstance(leaf, str) and DATETIME.fullmatch(leaf):
            yield key, leaf


def leaks(value: object) -> Iterator[tuple[str, object]]:
    """``(key, value)`` for every ``"None"`` string and negative number in a JSON value."""
    for key, leaf in leaves(value):
        negative = isinstance(leaf, int | float) and not isinstance(leaf, bool) and leaf < 0
        if leaf == "None" or negative:
            yield key, leaf


async def payloads(resp: ClientResponse) -> list[object]:
    """The JSON documents of a response: its body, or each SSE ``data:`` line; none for other types."""
    text = await resp.text()
    if resp.content_type == "application/json":
        return [json.loads(text)] if text else []
    if resp.content_type == "text/event-stream":
        return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
    return []


def test_the_walk_finds_timestamps_and_leaks() -> None:
    doc: dict[str, object] = {
        "a": [{"at": "2026-12-06T03:15:07.330000"}],
        "b": "2026-12-06T03:15:07+00:00",
        "c": "v1",
    }
    assert list(timestamps(doc)) == [("at", "2026-12-06T03:15:07.330000"), ("b", "2026-12-06T03:15:07+00:00")]
    doc = {"s": "None", "n": None, "i": [-6, 0, 1], "f": False, "x": -0.5, "ok": "none of it"}
    assert list(leaks(doc)) == [("s", "None"), ("i", -6), ("x", -0.5)]


async def test_timestamps_are_utc_and_nothing_leaks(matrix_env) -> None:  # noqa: F811 (the imported fixture)
    _, world = matrix_env
    settings = OPERATOR_BASE + "/settings"
    resp = await world.client.put(
        settings, json=MATRIX[("PUT", settings)].body, headers=world.headers[OPERATOR]
    )
    assert resp.status == 200, await resp.text()

    table = MATRIX | LOCAL_MATRIX
    seen: set[tuple[str, str]] = set()
    naive: list[str] = []
    leaked: list[str] = []
    for (method, path), row in sorted(table.items(), key=lambda item: (item[0][0] != "GET", item[0])):
        for who in CALLERS:
            kw = {} if row.body is None else {"json": await _body(row.body, world)}
            resp = await world.client.request(
                method, _request_path(path, row).format(**world.ids), headers=world.headers[who], **kw
            )
            for doc in await payloads(resp):
                for key, text in timestamps(doc):
                    seen.add((f"{method} {path}", key))
                    if not text.endswith(UTC_OFFSET):
                        naive.append(f"{method} {path} as {who}: {key}={text}")
                if path != "/openapi.json":  # the document's own bounds (minimum: -...) are not data
                    leaked += [f"{method} {path} as {who}: {key}={v!r}" for key, v in leaks(doc)]
    assert not naive, "\n".join(naive)
    assert not leaked, "\n".join(leaked)
    assert EXPECTED - seen == set(), sorted(seen)
