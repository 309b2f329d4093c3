"""After-commit dispatch on a SQLAlchemy 2.x session (``pip install "eventbus[sqlalchemy]"``).

    import eventbus.sqlalchemy

    with Session(engine) as session, session.begin():
        session.add(user)
        bus.publish_after_commit(session, USER_CREATED.data(created),
                                 eventbus.sqlalchemy.transaction(session))
    # the handlers run here, after the COMMIT

SQLAlchemy is imported by the first call of `transaction`, not by importing this module.

SQLAlchemy fires ``after_commit`` on every savepoint release as well as on the real
COMMIT, so the events are staged per ``SessionTransaction``: one list for the root
transaction and one for each savepoint (``begin_nested``) open when something was staged.
A savepoint released hands its list to the transaction enclosing it; one rolled back,
or closed without release, drops its list (a savepoint inside it was released into it, or
ended before it); the root transaction ending after its COMMIT runs its list, and ending
any other way drops it.  Whatever ends, the root transaction's end empties every list, so
nothing staged (no ``ctx``, no ``Data``) outlives it; what stays with the session is the
small object in ``session.info`` that holds the lists, and its two listeners.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session, SessionTransaction

    from ._transactions import Transaction

__all__ = ["transaction"]

# The key of a session's staging in ``session.info``.
_KEY = "eventbus.transaction"
# sqlalchemy.orm.Session, once the first call has imported it.
_session_class: Any = None


def transaction(session: Session | AsyncSession) -> Transaction:
    """The `eventbus.Transaction` of ``session``: after-commit dispatch on its transactions.

    The same object for every call on one session (it lives in ``session.info``); the
    first call on a session listens to its ``after_commit`` and
    ``after_transaction_end`` events.  ``active()`` is true while the session has a
    transaction that has not committed (one that failed and waits for its rollback
    counts: what is staged on it is dropped by the rollback).  Events staged while a
    savepoint (``begin_nested``) is open belong to that savepoint.

    Args:
        session: A SQLAlchemy 2.x ``Session``, or an ``AsyncSession`` (its
            ``sync_session`` is used: the handlers run inside its commit, as ``await
            session.commit()`` returns).

    Returns:
        An `eventbus.Transaction` for `Bus.call_after_commit` and
        `Bus.publish_after_commit`.

    Raises:
        TypeError: ``session`` is neither a ``Session`` nor an ``AsyncSession``.

    Example:
        The handlers run once ``session.begin()``'s block has committed::

            with Session(engine) as session, session.begin():
                session.add(User(email="ada@example.com"))
                bus.publish_after_commit(
                    session, USER_CREATED.data(created), eventbus.sqlalchemy.transaction(session)
                )
    """
    global _session_class  # noqa: PLW0603
    if _session_class is None:
        from sqlalchemy.orm import Session  # noqa: PLC0415

        _session_class = Session
    sync: Any = session if isinstance(session, _session_class) else getattr(session, "sync_session", None)
    if not isinstance(sync, _session_class):
        raise TypeError(
            f"session must be a sqlalchemy.orm.Session or a sqlalchemy.ext.asyncio.AsyncSession, "
            f"not {type(session).__qualname__}"
        )
    found: _SessionStaging | None = sync.info.get(_KEY)
    if found is None:
        found = sync.info[_KEY] = _SessionStaging(sync)
    return found


class _SessionStaging:
    """A session's staged callbacks, per ``SessionTransaction`` (the root or a savepoint)."""

    __slots__ = ("_committed", "_session", "_staged")

    def __init__(self, session: Session) -> None:
        from sqlalchemy import event  # noqa: PLC0415

        self._session = session
        self._staged: dict[SessionTransaction, list[Callable[[], object]]] = {}
        # The transaction whose after_commit fired and whose end has not come yet.
        self._committed: SessionTransaction | None = None
        event.listen(session, "after_commit", self._after_commit)
        event.listen(session, "after_transaction_end", self._after_transaction_end)

    def active(self) -> bool:
        """Whether the session has a transaction that has not committed."""
        root = self._session.get_transaction()
        return root is not None and root is not self._committed

    def on_commit(self, callback: Callable[[], object], /) -> None:
        """Run ``callback`` after the root transaction's COMMIT, unless what is open now rolls back."""
        session = self._session
        current = session.get_nested_transaction()
        if current is None:
            current = session.get_transaction()
            if current is None:  # no transaction: as Django's on_commit does
                callback()
                return
        staged = self._staged.get(current)
        if staged is None:
            self._staged[current] = [callback]
        else:
            staged.append(callback)

    def _after_commit(self, session: Session) -> None:
        # Fired for the root's COMMIT and for every savepoint's release alike: the one
        # committing is the innermost savepoint, if any, else the root.
        current = session.get_nested_transaction()
        self._committed = current if current is not None else session.get_transaction()

    def _after_transaction_end(self, session: Session, ended: SessionTransaction) -> None:
        committed = ended is self._committed
        if committed:
            self._committed = None
        if not self._staged:
            return
        if ended.parent is None:
            callbacks = self._staged.pop(ended, None) if committed else None
            # Whatever is left belonged to savepoints the root's end closed: dropped.
            self._staged.clear()
            if callbacks is not None:
                for callback in callbacks:
                    callback()
            return
        callbacks = self._staged.pop(ended, None)
        if callbacks is None or not committed:
            return
        enclosing = ended.parent
        while not enclosing.nested and enclosing.parent is not None:
            enclosing = enclosing.parent  # past the flush's subtransactions
        staged = self._staged.get(enclosing)
        if staged is None:
            self._staged[enclosing] = callbacks
        else:
            staged.extend(callbacks)

    def __repr__(self) -> str:
        staged = sum(map(len, self._staged.values()))
        return f"<eventbus.sqlalchemy.transaction of {self._session!r}: {staged} staged>"
