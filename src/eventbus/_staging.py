"""Dispatch after commit: ``Bus.call_after_commit`` and ``Bus.publish_after_commit``.

Written once for both implementations: each twin's ``Bus`` takes the two functions below as
methods.  Staging validates, then hands the transaction one callback; what a savepoint
does with it is the transaction's business (``eventbus.sqlalchemy``, ``eventbus.django``).
Nothing here takes a lock or imports anything: ``import eventbus`` loads this module.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._core_py import Bus, Data
    from ._transactions import Transaction


def call_after_commit(self: Bus, ctx: object, data: Data, tx: Transaction) -> None:
    """`call` once ``tx`` commits: at once if no transaction is open, never if it rolls back.

    For the handlers that must not act on a change that may still roll back (a mail, a
    call to another service, a write elsewhere).  While ``tx`` is open (``tx.active()``)
    the event is staged on it: after its outermost commit, the staged events run in
    staging order, each as `call` runs it, to the handlers registered at that moment.  A
    savepoint released hands its events to the enclosing transaction; a savepoint rolled
    back drops its own (and those of the savepoints inside it); the transaction rolled
    back or closed without commit drops all of them and no handler runs.  With no
    transaction open, this is `call`.

    After the commit nothing is raised into the code that committed (the commit
    succeeded): the failing handler is logged on the bus's logger at ERROR with
    ``exc_info``, naming the handler and the event, the observer sees the failure as it
    sees any, and the other staged events still run.  A handler that stages again then,
    on a transaction no longer open, dispatches at once.

    Staging checks what it can at once and stages nothing when it raises.  It takes no
    lock and keeps nothing past the transaction: one callback given to
    ``tx.on_commit``.

    Args:
        ctx: Passed to every handler untouched, after the commit (the session that
            committed is a fine ``ctx``: it is open again for new work).
        data: The event.
        tx: The transaction: an `eventbus.Transaction`, such as
            ``eventbus.sqlalchemy.transaction(session)`` or
            ``eventbus.django.transaction()``.

    Raises:
        TypeError: ``data`` is not a `Data` (of this implementation); a handler of its
            pair is a coroutine function (as `call` raises it); ``tx`` has no
            ``active`` and ``on_commit`` methods.
        Exception: With no transaction open, whatever `call` raises.

    Example:
        >>> class UnitOfWork:  # any object with active() and on_commit() will do
        ...     def __init__(self):
        ...         self.callbacks = []
        ...     def active(self):
        ...         return True
        ...     def on_commit(self, callback):
        ...         self.callbacks.append(callback)
        ...     def commit(self):
        ...         for callback in self.callbacks:
        ...             callback()
        >>> bus = eventbus.Bus()
        >>> @bus.on("users", "created")
        ... def welcome(ctx, data):
        ...     ctx.append("mail sent")
        >>> sent, unit = [], UnitOfWork()
        >>> bus.call_after_commit(sent, eventbus.new_data("users", "created"), unit)
        >>> sent
        []
        >>> unit.commit()
        >>> sent
        ['mail sent']
    """
    _stage(self, ctx, data, tx, False)


def publish_after_commit(self: Bus, ctx: object, data: Data, tx: Transaction) -> None:
    """`publish` once ``tx`` commits: at once if no transaction is open, never if it rolls back.

    As `call_after_commit`, with `publish`'s semantics: after the commit every handler
    of the event runs, and each failure is logged as `publish` logs it (on the bus's
    logger at ERROR with ``exc_info``, naming the handler and the event); the
    `ExceptionGroup` is not raised into the code that committed.  With no transaction
    open, this is `publish`.

    Args:
        ctx: Passed to every handler untouched, after the commit.
        data: The event.
        tx: The transaction: an `eventbus.Transaction`.

    Raises:
        TypeError: ``data`` is not a `Data` (of this implementation); a handler of its
            pair is a coroutine function (the `TypeError` `call` raises: after the
            commit it could only fail); ``tx`` has no ``active`` and ``on_commit``
            methods.
        ExceptionGroup: With no transaction open, as `publish` raises it.
    """
    _stage(self, ctx, data, tx, True)


def _stage(bus: Bus, ctx: object, data: Data, tx: Transaction, publish: bool) -> None:
    try:
        active = tx.active
        on_commit = tx.on_commit
    except AttributeError:
        raise TypeError(
            f"tx must be an eventbus.Transaction (with active() and on_commit() methods), "
            f"not {type(tx).__qualname__}"
        ) from None
    if not active():
        if publish:
            bus.publish(ctx, data)
        else:
            bus.call(ctx, data)
        return
    # The handlers now, and the TypeError of a Data of the wrong kind; a coroutine-function
    # handler would fail after the commit, where no one could act on it: refused here.
    handlers = bus._snapshot(data)  # pyright: ignore[reportPrivateUsage]
    sys.modules[type(data).__module__]._refuse_coroutines(handlers)

    # A closure: cheaper to make than an object, and all the transaction keeps.
    def after_commit() -> None:
        _dispatch(bus, ctx, data, publish)

    on_commit(after_commit)


def _dispatch(bus: Bus, ctx: object, data: Data, publish: bool) -> None:
    """One staged event's dispatch, after the commit: never raises an ``Exception`` into
    the code that committed."""
    try:
        if publish:
            bus.publish(ctx, data)
        else:
            bus.call(ctx, data)
    except Exception as exc:  # noqa: BLE001 - logged: the commit succeeded
        if publish and isinstance(exc, ExceptionGroup):
            return  # publish logged each failing handler already
        notes: list[str] = getattr(exc, "__notes__", [])
        # call's note names the failing handler and the event, as publish's log line does.
        named = [note for note in notes if note.startswith("eventbus: handler ")]
        message = named[-1] if named else f"eventbus: call failed for event {data.domain!r}/{data.action!r}"
        bus._logger.error("%s, after commit", message, exc_info=exc)  # pyright: ignore[reportPrivateUsage]
