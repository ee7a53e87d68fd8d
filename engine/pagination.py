"""Keyset pagination for list commands: an opaque cursor names the last row id a page ended on.

A page of a list ordered by id (newest first) is ``id < after`` ordered by id descending, ``limit`` rows;
the next page's cursor is the last id of this one when more rows follow (a command fetches ``limit + 1``
rows to know), else ``None``. The cursor is opaque to clients (URL-safe base64 of ``v1:<id>``) so the
scheme can change.

::

    EngineError
     └── BadCursor   400 bad_cursor   not a cursor this engine issued
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from engine.errors import EngineError, Kind

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_PREFIX = "v1:"
_MAX_ID = 2**63 - 1


class BadCursor(EngineError):
    code = "bad_cursor"
    kind = Kind.INVALID

    def __init__(self, cursor: str) -> None:
        super().__init__("cursor is not one this service issued", details={"cursor": cursor[:100]})
        self.cursor = cursor


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The last id of the previous page (``None``: first page). Raises :class:`BadCursor`."""
    if cursor is None:
        return None
    if len(cursor) > 64:
        raise BadCursor(cursor)
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor(cursor) from exc
    digits = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not digits.isascii() or not digits.isdigit() or len(digits) > 19:
        raise BadCursor(cursor)
    value = int(digits)
    if not 0 < value <= _MAX_ID:
        raise BadCursor(cursor)
    return value


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None

    @classmethod
    def of(cls, rows: Sequence[T], limit: int, id_of: Callable[[T], int]) -> Page[T]:
        """``rows``: up to ``limit + 1`` rows in page order; ``id_of(row)`` its id."""
        items = list(rows[:limit])
        more = len(rows) > limit
        return cls(items, encode_cursor(int(id_of(items[-1]))) if more and items else None)


def clamp_limit(limit: int | None) -> int:
    """``limit`` within ``1..MAX_LIMIT`` (the API's schema refuses others; engine callers get clamped)."""
    return DEFAULT_LIMIT if limit is None else max(1, min(int(limit), MAX_LIMIT))
