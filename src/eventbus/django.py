"""After-commit dispatch on a Django database (``pip install "eventbus[django]"``).

    import eventbus.django

    with transaction.atomic():
        user = User.objects.create(email=email)
        bus.publish_after_commit(None, USER_CREATED.data(created), eventbus.django.transaction())
    # the handlers run here, after the COMMIT

Django's own ``transaction.on_commit`` does the staging, savepoints included: a callback
registered inside an ``atomic`` block whose savepoint rolls back is dropped with it.
Django is imported by the first call of `transaction`, not by importing this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._transactions import Transaction

__all__ = ["transaction"]

# django.db.transaction, once the first call has imported it.
_django_transaction: Any = None
# The Transaction of each alias asked for so far.
_by_alias: dict[str | None, _AtomicBlocks] = {}


def transaction(using: str | None = None) -> Transaction:
    """The `eventbus.Transaction` of the Django database ``using``: its ``atomic`` blocks.

    The same object for every call with one alias. ``active()`` is Django's
    ``get_connection(using).in_atomic_block``, read on the calling thread's connection at
    each call, so one object serves every thread;
    ``on_commit`` is Django's ``transaction.on_commit``.  Outside ``atomic`` (autocommit)
    no transaction is open and the event is dispatched at once.

    In a ``django.test.TestCase`` every test runs inside a transaction that never
    commits: wrap the code under test in
    ``self.captureOnCommitCallbacks(execute=True)`` to run the staged events.

    Args:
        using: A database alias of ``settings.DATABASES``; ``None`` for ``"default"``.

    Returns:
        An `eventbus.Transaction` for `Bus.call_after_commit` and
        `Bus.publish_after_commit`.

    Raises:
        TypeError: ``using`` is not a string or ``None``.
        django.utils.connection.ConnectionDoesNotExist: No database has that alias.

    Example:
        The handlers run once the ``atomic`` block has committed::

            with transaction.atomic():
                User.objects.create(email="ada@example.com")
                bus.publish_after_commit(None, USER_CREATED.data(created), eventbus.django.transaction())
    """
    global _django_transaction  # noqa: PLW0603
    if using is not None and not isinstance(using, str):
        raise TypeError(f"using must be a database alias (a str) or None, not {type(using).__qualname__}")
    found = _by_alias.get(using)
    if found is not None:
        return found
    if _django_transaction is None:
        from django.db import transaction as django_transaction  # noqa: PLC0415  # pyright: ignore[reportMissingTypeStubs]

        _django_transaction = django_transaction
    _django_transaction.get_connection(using)  # an unknown alias fails here, not at commit
    # One object per alias, kept: it holds no connection (each call looks up the caller's).
    return _by_alias.setdefault(using, _AtomicBlocks(using))


class _AtomicBlocks:
    """Django's transactions on one database alias, on whichever thread asks."""

    __slots__ = ("_using",)

    def __init__(self, using: str | None) -> None:
        self._using = using

    def active(self) -> bool:
        """Whether the calling thread is inside an ``atomic`` block on this database."""
        return bool(_django_transaction.get_connection(self._using).in_atomic_block)

    def on_commit(self, callback: Callable[[], object], /) -> None:
        """Django's ``transaction.on_commit(callback, using)``."""
        _django_transaction.on_commit(callback, using=self._using)

    def __repr__(self) -> str:
        return f"<eventbus.django.transaction({self._using!r})>"
