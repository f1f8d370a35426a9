"""Transactions that survive a lost database connection.

:func:`transaction` runs ``fn(session)`` in a fresh session and commits; when the database
connection drops (a PostgreSQL restart, a terminated backend, a network blip), a deadlock is
detected or SQLite stays locked, the whole transaction is rolled back and run again on a new
connection (``pool_pre_ping`` throws away dead pooled connections), with a short backoff.

A commit whose acknowledgement was lost may have happened: ``fn`` must be safe to run again
after a commit that did land (ingest looks its idempotency key up first, the worker's
:func:`synthlabel.service.queue.finish` sees the job is no longer its own).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
log = logging.getLogger("synthlabel.service")


MEMO = "reference_memo"


def memo(session: Session, key: str, load: Callable[[], T]) -> T:
    """``load()``, remembered for the rest of ``session`` when the session was opened with
    ``session.info[MEMO] = {}`` (the ingest worker's batch transaction: its items share the
    routing rules, queues and webhook subscriptions instead of reading them per item)."""
    cache: dict[str, Any] | None = session.info.get(MEMO)
    if cache is None:
        return load()
    if key not in cache:
        cache[key] = load()
    return cast(T, cache[key])


class DatabaseUnavailable(RuntimeError):
    """The database stayed unreachable through every retry (the message says why)."""


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth retrying the whole transaction for."""
    if isinstance(exc, OperationalError | InterfaceError | PendingRollbackError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def transaction(
    factory: sessionmaker[Session],
    fn: Callable[[Session], T],
    *,
    actor: str = "system",
    attempts: int = 6,
    first_delay: float = 0.05,
) -> T:
    """``fn(session)`` committed, retried on transient database errors."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            with factory() as session:
                session.info["actor"] = actor
                try:
                    result = fn(session)
                    session.commit()
                    return result
                except BaseException:
                    with contextlib.suppress(Exception):  # the connection may be gone
                        session.rollback()
                    raise
        except Exception as exc:
            if not transient(exc) or attempt == attempts:
                if transient(exc):
                    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                    raise DatabaseUnavailable(f"database unavailable: {reason}") from exc
                raise
            log.warning("transaction attempt %d failed (%s); retrying", attempt, exc)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")
