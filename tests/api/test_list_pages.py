"""Cursor pagination of the provider and operator list routes (nodes, provider requests), through the real
HTTP stack: ``?limit=`` 1..200 (default 50), ``?cursor=`` a previous page's ``next_cursor`` (``null`` on the
last page), newest first; walking the pages sees every row exactly once. A cursor the service did not issue
is 400 ``bad_cursor``. The plans lists are in ``tests/api/payments/test_plan_pages.py``."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.routes import identity
from engine.identity.services import ensure_user
from engine.pagination import encode_cursor
from engine.providers.models import ProviderRequest
from engine.runtime import Runtime
from tests.api.conftest import serve
from tests.support.pages import walk


@pytest.fixture
async def client(eth_runtime: Runtime, tmp_path: Path) -> AsyncIterator[Any]:
    options = identity.IdentityOptions(env="dev", data_dir=tmp_path, chain_id=eth_runtime.chain.chain_id)
    app = create_app(eth_runtime, background=False, identity_options=options)
    async with serve(app) as c:
        c.dev = DevIssuer(tmp_path)  # type: ignore[attr-defined]
        yield c


def _headers(client: Any, sub: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.dev.mint([role], sub=sub)}"}


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _ids(pages: list[list[dict[str, Any]]]) -> list[int]:
    return [int(item["id"]) for page in pages for item in page]


async def _error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    err = (await resp.json())["error"]
    assert err["code"] == code, err
    return err  # type: ignore[no-any-return]


async def test_nodes_page_through_every_node_once(client: Any) -> None:
    h = _headers(client, f"dev|pages-nodes-{uuid.uuid4().hex[:8]}", "cloud-provider")
    created = []
    for i in range(7):
        resp = await client.post("/api/cloud-provider/nodes", json={"name": f"n{i}"}, headers=h)
        assert resp.status == 201, await resp.text()
        created.append((await resp.json())["id"])

    pages = await walk(client, "/api/cloud-provider/nodes", h, "nodes", 3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert _ids(pages) == sorted(created, reverse=True)  # newest first, each once
    exact = await walk(client, "/api/cloud-provider/nodes", h, "nodes", 7)
    assert [len(p) for p in exact] == [7]  # a full last page says null, not an empty page after it
    everything = await walk(client, "/api/cloud-provider/nodes", h, "nodes", None)
    assert _ids(everything) == _ids(pages)  # default limit 50 holds them all

    other = _headers(client, f"dev|pages-nodes-other-{uuid.uuid4().hex[:8]}", "cloud-provider")
    assert await walk(client, "/api/cloud-provider/nodes", other, "nodes", 2) == [[]]


async def _add_requests(runtime: Runtime, sub: str, statuses: list[str]) -> tuple[int, list[int]]:
    async with runtime.sessionmaker() as session:
        user = await ensure_user(session, sub)
        rows = [
            ProviderRequest(
                user_id=user.id,
                wallet_address="0x" + f"{n + 1:040x}",
                company=f"Pages {n}",
                contact_name="P. Ages",
                contact_email="pages@example.test",
                details={},
                collateral=10**6,
                status=status,
            )
            for n, status in enumerate(statuses)
        ]
        session.add_all(rows)
        await session.commit()
        return user.id, [r.id for r in rows]


async def test_provider_requests_page_through_every_request_once(client: Any, eth_runtime: Runtime) -> None:
    sub = f"dev|pages-requests-{uuid.uuid4().hex[:8]}"
    statuses = ["pending", "rejected", "pending", "approved", "pending"]
    _, ids = await _add_requests(eth_runtime, sub, statuses)

    mine = await walk(
        client,
        "/api/cloud-provider/provider-requests",
        _headers(client, sub, "cloud-provider"),
        "requests",
        2,
    )
    assert [len(p) for p in mine] == [2, 2, 1]
    assert _ids(mine) == sorted(ids, reverse=True)

    # the operator sees everyone's (other tests' too): ours each once, in order, across pages of 2
    oper = _headers(client, "dev|pages-operator", "cloud-operator")
    listed = _ids(await walk(client, "/api/cloud-operator/provider-requests", oper, "requests", 2))
    assert len(listed) == len(set(listed)) and listed == sorted(listed, reverse=True)
    assert [i for i in listed if i in ids] == sorted(ids, reverse=True)
    pending = await walk(
        client, "/api/cloud-operator/provider-requests", oper, "requests", 1, status="pending"
    )
    assert all(r["status"] == "pending" for page in pending for r in page)
    assert [i for i in _ids(pending) if i in ids] == sorted(
        (i for i, s in zip(ids, statuses, strict=True) if s == "pending"), reverse=True
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/cloud-provider/nodes",
        "/api/cloud-provider/provider-requests",
        "/api/cloud-operator/provider-requests",
    ],
)
async def test_bad_limits_and_cursors_are_400(client: Any, path: str) -> None:
    role = "cloud-operator" if "operator" in path else "cloud-provider"
    h = _headers(client, f"dev|pages-bad-{role}", role)
    for limit in ("0", "201", "-1", "ten", "2.0"):
        err = await _error(await client.get(path, params={"limit": limit}, headers=h), 400, "invalid_request")
        assert err["details"]["errors"][0]["path"] == "query/limit"
    assert (await client.get(path, params={"limit": "200"}, headers=h)).status == 200
    for cursor in ("not a cursor", "x" * 65, ""):
        await _error(await client.get(path, params={"cursor": cursor}, headers=h), 400, "invalid_request")
    for cursor in ("abc", _raw("v1:0"), _raw("v2:5"), _raw("v1:-3"), encode_cursor(2**63)):
        resp = await client.get(path, params={"cursor": cursor}, headers=h)
        await _error(resp, 400, "bad_cursor")
    ok = await client.get(path, params={"cursor": encode_cursor(1)}, headers=h)  # nothing below id 1
    assert ok.status == 200 and (await ok.json())["next_cursor"] is None
