"""The in-process generation of identity data that a cached principal is built from.

``api.auth.middleware`` caches, per verified token, the caller's user id and linked wallets for a few
seconds. Whatever can make such an entry wrong must move :func:`generation`:

* every ORM flush that adds, changes or deletes a :class:`~engine.identity.models.WalletLink`, or deletes
  a :class:`~engine.identity.models.User`, marks its session; the generation moves when that session
  COMMITS (even if part of it was rolled back to a savepoint: a spurious miss is harmless). Not at
  flush: a reader between flush and commit still sees the old rows, and it captured the older generation
  before reading, so its entry is dropped anyway;
* code that changes those tables with Core statements (no ORM unit of work) calls :func:`bump` after its
  commit.

Roles are not database state: they are claims of the token itself, so a cached entry can never disagree
with its token's roles (new roles need a new token). Another process's changes are not seen here: the
cache's TTL (a few seconds) bounds how long they may be missed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from engine.identity.models import User, WalletLink

_FLAG = "identity_changed"
_generation = 0


def generation() -> int:
    """The current generation (moves on every committed change of wallet links or user deletions)."""
    return _generation


def bump() -> None:
    """Invalidate every cached principal of this process."""
    global _generation
    _generation += 1


def _touches_identity(session: Session) -> bool:
    for obj in session.new:
        if isinstance(obj, WalletLink):
            return True
    for obj in session.dirty:
        if isinstance(obj, WalletLink):
            return True
    return any(isinstance(obj, WalletLink | User) for obj in session.deleted)


@event.listens_for(Session, "before_flush")
def _mark(session: Session, _flush_context: Any, _instances: Any) -> None:
    if _touches_identity(session):
        session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        bump()
