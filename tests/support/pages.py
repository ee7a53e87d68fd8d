"""Walk a paginated list route (``?limit=&cursor=`` -> ``{key: [...], "next_cursor"}``) to its end."""

from __future__ import annotations

from typing import Any


async def walk(
    client: Any, path: str, headers: dict[str, str], key: str, limit: int | None, **params: str
) -> list[list[dict[str, Any]]]:
    """Every page of ``path``, following ``next_cursor`` until it is null."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = dict(params)
        if limit is not None:
            query["limit"] = str(limit)
        if cursor is not None:
            query["cursor"] = cursor
        resp = await client.get(path, params=query, headers=headers)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert set(body) == {key, "next_cursor"}, body
        pages.append(body[key])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str) and body[key], body
        assert len(pages) < 1_000
