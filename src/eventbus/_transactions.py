"""``eventbus.Transaction``: what ``call_after_commit`` and ``publish_after_commit`` stage on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Transaction"]


@runtime_checkable
class Transaction(Protocol):
    """A database transaction, or any unit of work, that events can be staged on.

    `Bus.call_after_commit` and `Bus.publish_after_commit` take one.  The adapters
    ``eventbus.sqlalchemy.transaction(session)`` and ``eventbus.django.transaction(using)``
    return one; any object with these two methods works too (a unit of work of your own,
    zope's ``transaction``, a raw driver's connection wrapped in a few lines).

    Example:
        >>> class UnitOfWork:
        ...     def __init__(self):
        ...         self.callbacks = []
        ...     def active(self):
        ...         return True
        ...     def on_commit(self, callback):
        ...         self.callbacks.append(callback)
        >>> isinstance(UnitOfWork(), eventbus.Transaction)
        True
    """

    def active(self) -> bool:
        """Whether a transaction that can still roll back is open now.

        ``False`` makes ``call_after_commit`` and ``publish_after_commit`` dispatch at
        once, as ``call`` and ``publish`` do.
        """
        ...

    def on_commit(self, callback: Callable[[], object], /) -> None:
        """Run ``callback`` once, after the outermost commit of the transaction open now.

        Drop it if that transaction, or the savepoint open now, rolls back (a savepoint
        released hands it to the enclosing one); callbacks run in the order they were
        given.  The callbacks the bus gives never raise an ``Exception``.
        """
        ...
