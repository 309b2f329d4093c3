"""Registration and everything behind it, written once: both ``Bus`` classes run this code.

``Registry`` is a class without state of its own (``__slots__ = ()``): the pure ``Bus``
(``_core_py.py``) inherits it and keeps the state in its slots; the compiled one (``_core.pyx``)
keeps the state in C fields and has every method below attached to it when ``_core`` loads (a
Python subclass of it would cost each dispatch the interpreter's fast path for method calls).
A method added here is a method of both ``Bus`` classes.  What a ``Bus`` method needs that is
not the hot path goes here, once; the twins hold only ``Data``, the event builders, the registry
read and snapshot, and the four dispatch loops.

Per pair, one insertion-ordered dict maps each registration (a ``_Registration``, its token) to
what dispatch calls for it: adding and removing one is O(1) and the two can never disagree.
Dispatch reads ``_handlers[domain][action]`` without a lock: a plain tuple (the snapshot), or,
after a change, a marker (``STALE``, a ``Refused``) that sends it to ``_current``, which rebuilds
the tuple under the lock once per batch of changes.  Writers take the bus's lock, change one
structure per step (an interruption between two steps leaves nothing half-done), and never
mutate in place what a reader may read without the lock (the mutes of a pair are a tuple).

A finalizer, a weakref callback or a signal handler may run inside a locked section on the
lock's own thread: then the change is queued in ``_pending`` and applied, in order, by whoever
holds the lock next (``_drain``), never waited for.
"""

from __future__ import annotations

import os
import sys
from _thread import RLock
from types import FunctionType, MethodType

from . import _staging, _wiring
from ._compat import FREE_THREADED as _FREE_THREADED
from ._handlers import (
    CO_COROUTINE,
    MARKABLE,
    MISSING,
    NO_PAYLOAD_TYPE,
    NOT_INITIALISED,
    STALE,
    check_name,
    check_observer,
    handler_name,
    inspect_module,
    is_coroutine_function,
    is_event,
    registered_name,
    snapshot,
    weak_handler,
)

# Not typing's: import eventbus loads neither typing nor collections.abc.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable
    from types import CodeType, FrameType
    from typing import Any, Literal, Self, TypeVar

    from ._core_py import Data
    from ._event import Event
    from ._observe import Observer
    from ._registration import Registration

    # on()'s decorator hands back the function it registered, with its own type.
    _F = TypeVar("_F", bound="Callable[..., object]")
    # What a read under the lock (_locked) returns.
    _V = TypeVar("_V")
    # One live registration as registrations() reports it: pair, handler, event, weak, site.
    _Row = tuple[tuple[str, str], Callable[..., object], Event[Any] | None, bool, tuple[CodeType | None, int]]


_getframe = sys._getframe  # noqa: SLF001  # pyright: ignore[reportPrivateUsage] - one caller's frame, cheaply


class _Mute:
    """One mute of a pair (``eventbus.testing``), its identity marking it: what ``handlers``
    reports and what dispatch runs while it is the newest mute of the pair in force."""

    __slots__ = ("key", "handlers", "snapshot")

    def __init__(
        self, key: tuple[str, str], handlers: tuple[Callable[[Any, Any], object], ...], built: Any
    ) -> None:
        self.key = key
        self.handlers = handlers
        self.snapshot = built  # None, a tuple or a Refused, as snapshot() builds it


class _Registration:
    """One registration: its pair, the handler as registered (or a weak reference to it),
    the ``Event`` it was registered for (or None), whether it is a coroutine function, whether
    it is gone, and where it was made (for ``registrations()``)."""

    __slots__ = (
        "key",
        "handler",
        "event",
        "weak",
        "coroutine",
        "removed",
        "indexed",
        "indexed_type",
        "code",
        "offset",
    )

    def __init__(
        self,
        key: tuple[str, str],
        handler: Any,
        event: Event[Any] | None,
        weak: bool,
        coroutine: bool,
        code: CodeType | None,
        offset: int,
    ) -> None:
        # Where it was made: the code and instruction offset of the register() call or the
        # @bus.on() line (two fields, not a tuple: one object fewer per registration).
        self.code = code
        self.offset = offset
        self.key = key
        self.handler = handler  # a weak reference to it, once _weakly has run
        self.event = event
        self.weak = weak
        self.coroutine = coroutine
        self.removed = False
        self.indexed: object = None  # its identity key in its pair's _Index, _BY_EQUALITY, or None
        self.indexed_type: type | None = None  # the class _Index.types counts for it

    def registered(self) -> Callable[..., object] | None:
        """The handler as registered; ``None`` once a weak one was collected."""
        # (self.handler is Any: the handler, or a weak reference to it, as self.weak says.)
        return self.handler() if self.weak else self.handler  # type: ignore[no-any-return]


class _Unregister:
    """What ``register`` returns: ``unregister()`` removes exactly that registration, `True` the
    first time, `False` after (one object rather than a closure and its cells)."""

    __slots__ = ("_bus", "_registration")

    def __init__(self, bus: Registry, registration: _Registration) -> None:
        self._bus = bus
        self._registration = registration

    def __call__(self) -> bool:
        return self._bus._unregister(self._registration)  # noqa: SLF001  # pyright: ignore[reportPrivateUsage]

    def __repr__(self) -> str:
        domain, action = self._registration.key
        return f"<unregister {handler_name(self._registration.registered())} from {domain!r}/{action!r}>"


# -- Unregister by handler ------------------------------------------------------------------
#
# unregister(pair, handler) removes the earliest registration whose handler == handler.  When
# == is identity (a function, a class, an object whose type keeps object.__eq__) or a bound
# method of such a function (== compares __self__ by identity and __func__ by ==), an equal
# handler has the same identity key, so a pair's _Index (built on the first removal by
# handler, then kept up to date under the lock) finds it in O(1).  Any other handler,
# registered or given, may be equal to anything: then the removal compares in registration
# order, as the contract says, outside the lock.  A registration leaves the index as it
# leaves the pair, however it is removed: the index holds only live registrations.

_BY_EQUALITY: Any = object()  # counted in _Index.others
_OBJECT_EQ: Any = object.__eq__


def _identity(handler: Any) -> object:
    """A key equal for equal handlers (ints: no reference to the handler), or None when
    handler's == may be something other than identity."""
    cls: Any = type(handler)  # pyright: ignore[reportUnknownVariableType]
    if cls is FunctionType:  # the common case first (a builtin type: its == cannot change)
        return id(handler)
    try:
        if cls is MethodType:
            func = handler.__func__
            if type(func).__eq__ is _OBJECT_EQ:
                return (id(handler.__self__), id(func))
            return None
        if cls.__eq__ is _OBJECT_EQ:
            return id(handler)
    except Exception:  # noqa: BLE001, S110 - a class failing its own __eq__ lookup (a metaclass):
        pass  # its handlers are compared in order, as the contract says
    return None


def _queue(first: _Registration, second: _Registration) -> Any:
    """A deque of registrations (collections loads on first use: import eventbus stays cheap)."""
    from collections import deque  # noqa: PLC0415

    return deque((first, second))


class _Index:
    """A pair's live registrations by identity key (see _identity), in registration order:
    key -> the registration, or a deque of them when a handler is registered again."""

    __slots__ = ("by_identity", "types", "others")

    def __init__(self) -> None:
        self.by_identity: dict[object, Any] = {}
        # Each type an identity key relies on, with how many live registrations: if one
        # gains an __eq__, the index is not used.
        self.types: dict[type, int] = {}
        self.others = 0  # registrations of the pair whose handler's == may not be identity

    def add(self, registration: _Registration) -> None:
        handler: Any = registration.registered()
        key = None if handler is None else _identity(handler)
        if key is not None:
            cls: Any = type(handler)  # pyright: ignore[reportUnknownVariableType]
            if cls is MethodType:
                cls = type(handler.__func__)  # pyright: ignore[reportUnknownVariableType, reportOptionalMemberAccess]
            if cls is not FunctionType:  # (its == cannot change)
                try:
                    self.types[cls] = self.types.get(cls, 0) + 1
                    registration.indexed_type = cls
                except Exception:  # noqa: BLE001 - a class failing its own hashing: as in _identity
                    key = None
        if key is None:
            registration.indexed = _BY_EQUALITY
            self.others += 1
            return
        present = self.by_identity.get(key)
        if present is None:
            self.by_identity[key] = registration
        elif type(present) is not _Registration:
            present.append(registration)
        else:
            self.by_identity[key] = _queue(present, registration)
        registration.indexed = key

    def discard(self, registration: _Registration) -> None:
        """Drop a registration that left its pair (no reference to it, or its handler, stays)."""
        key = registration.indexed
        if key is None:
            return
        registration.indexed = None
        if key is _BY_EQUALITY:
            self.others -= 1
        else:
            present = self.by_identity.get(key)
            if present is registration:
                del self.by_identity[key]
            elif present is not None and type(present) is not _Registration:
                if present and present[0] is registration:
                    present.popleft()  # the common case: removed in registration order
                elif registration in present:
                    present.remove(registration)
                if not present:
                    del self.by_identity[key]
        cls = registration.indexed_type
        if cls is not None:
            registration.indexed_type = None
            count = self.types.get(cls, 0) - 1
            if count > 0:
                self.types[cls] = count
            else:
                self.types.pop(cls, None)

    def usable(self) -> bool:
        if self.others:
            return False
        for cls in self.types:
            try:
                if cls.__eq__ is not _OBJECT_EQ:
                    return False
            except Exception:  # noqa: BLE001 - (as in _identity)
                return False
        return True

    def earliest(self, key: object, handler: object) -> _Registration | None:
        """The earliest live registration whose handler == handler, of those keyed key."""
        present = self.by_identity.get(key)
        if present is None:
            return None
        if type(present) is _Registration:
            if present.removed:  # (left behind by an interruption)
                del self.by_identity[key]
                return None
            registered = present.registered()
            return present if registered is not None and registered == handler else None
        while present and present[0].removed:
            present.popleft()
        for registration in present:
            if not registration.removed:
                registered = registration.registered()
                if registered is not None and registered == handler:  # identities: runs no code
                    return registration  # type: ignore[no-any-return]
        if not present:
            del self.by_identity[key]
        return None


# -- After fork ----------------------------------------------------------------------------
#
# A process forked while another thread held a bus's lock would find it held for good: the
# child's first registration would wait forever.  As logging does for its handlers' locks,
# every bus's lock is made anew in the child.

_after_fork: Any = None  # the live buses (a WeakSet, made with the first bus)


def _after_fork_in_child() -> None:
    for bus in list(_after_fork):
        bus._lock._at_fork_reinit()  # noqa: SLF001
        bus._busy[0] = False  # noqa: SLF001 - a hint set by the writer that no longer runs here


def _reinitialised_after_fork(bus: object) -> None:
    global _after_fork  # noqa: PLW0603
    if _after_fork is None:
        import weakref  # noqa: PLC0415 - loaded by logging already, at the first bus

        _after_fork = weakref.WeakSet()  # pyright: ignore[reportUnknownVariableType]
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_in_child)
    _after_fork.add(bus)


class Registry:
    """Every method of ``Bus`` but the hot path, for both implementations (see the module
    docstring).  Its subclasses declare the state: ``_logger``, ``_lock``, ``_handlers``,
    ``_entries``, ``_holes``, ``_index``, ``_muted``, ``_pending``, ``_busy``, ``_on_unhandled``; and the
    observer's, ``_set_observer`` and ``_get_observer``; ``_bump``, called after each change
    of the live snapshots."""

    if not TYPE_CHECKING:  # (type checkers would refuse the attributes the subclasses declare)
        __slots__ = ()

    if TYPE_CHECKING:
        _logger: logging.Logger | logging.LoggerAdapter[Any]
        _lock: Any
        # domain -> action -> the snapshot dispatch runs (a tuple, replaced, never mutated),
        # STALE after a change, or a Refused.
        _handlers: dict[str, dict[str, Any]]
        # (domain, action) -> {registration: what dispatch calls}, in registration order.
        _entries: dict[tuple[str, str], dict[_Registration, Callable[[Any, Any], object]]]
        # (domain, action) -> registrations removed since its dict was last compacted.
        _holes: dict[tuple[str, str], int]
        # (domain, action) -> its _Index, from the first unregister by handler on.
        _index: dict[tuple[str, str], _Index]
        # (domain, action) -> the mutes in force, oldest first (a tuple, replaced): testing.
        _muted: dict[tuple[str, str], tuple[_Mute, ...]]
        # Changes queued while the lock was held: (function, argument), applied in order.
        _pending: list[tuple[Callable[[Any], object], Any]]
        # [whether a writer is inside its locked section]: dispatch's slow path then reads
        # without waiting (a hint: both paths are right whatever it says).  One list item,
        # read and written without a lock from any thread (free-threaded builds too).
        _busy: list[bool]
        _codec_engine: str
        # What dispatch calls for a handler registered for an Event: handler(ctx, payload),
        # with the payload decoded (_handlers.typed_handler, or the compiled core's C type).
        _typed_handler: Callable[[Callable[[Any, Any], object], object, Any], Callable[[Any, Any], object]]
        # What a dispatch that finds no handler calls: None ("ignore") or a _wiring.Unhandled.
        _on_unhandled: _wiring.Unhandled | None

        def _set_observer(self, observer: Observer | None) -> None: ...
        def _get_observer(self) -> Observer | None: ...
        def _bump(self) -> None: ...

    def __new__(
        cls,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        *,
        unhandled: Literal["ignore", "warn", "raise"] = "ignore",
        observer: Observer | None = None,
    ) -> Self:  # (__init__'s)
        # Until __init__ runs, a bus holds NOT_INITIALISED: using it raises a clear error (a
        # subclass that forgets super().__init__(), Bus.__new__(Bus)), not AttributeError.
        # (The pure bus's; the compiled one's __cinit__ does the same.)
        self = super().__new__(cls)
        for name in ("_logger", "_lock", "_handlers", "_entries", "_holes", "_index", "_muted", "_pending"):
            object.__setattr__(self, name, NOT_INITIALISED)
        self._busy = [False]
        self._on_unhandled = None
        self._set_observer(None)
        return self

    def __init__(
        self,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        *,
        unhandled: Literal["ignore", "warn", "raise"] = "ignore",
        observer: Observer | None = None,
    ) -> None:
        # Re-initialising a live bus would swap its lock and registry under other threads.
        if self._lock is not NOT_INITIALISED:
            raise TypeError("Bus.__init__() may be called only once")
        import logging  # noqa: PLC0415 - on first use: import eventbus stays cheap

        if logger is None:
            logger = _wiring.library_logger()
        elif not isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
            raise TypeError(f"logger must be a logging.Logger or None, not {type(logger).__qualname__}")
        self._on_unhandled = _wiring.unhandled_policy(unhandled, logger)
        self._set_observer(check_observer(observer))
        self._logger = logger
        self._handlers = {}
        self._entries = {}
        self._holes = {}
        self._index = {}
        self._muted = {}
        self._pending = []
        self._busy = [False]
        # Reentrant only so that _is_owned() is exact: an operation that finds the lock held
        # by its own thread (a finalizer, a weakref callback or a signal handler running
        # inside a locked section) queues its change in _pending instead.
        self._lock = RLock()  # threading.RLock(), without importing threading
        _reinitialised_after_fork(self)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("cannot pickle eventbus.Bus: its handlers are live callables")

    @property
    def observer(self) -> Observer | None:
        """What sees every dispatch of this bus (an `Observer`), or `None` for nothing.

        Each dispatch reads it once, at its start: setting it (from any thread) affects
        later dispatches only.  Setting `None`, or deleting it, removes the observer.

        Raises:
            TypeError: On setting something that is neither `None` nor has a
                ``dispatch`` method.
        """
        return self._get_observer()

    @observer.setter
    def observer(self, observer: Observer | None) -> None:
        self._set_observer(check_observer(observer))

    @observer.deleter
    def observer(self) -> None:
        self._set_observer(None)

    # -- arguments ----------------------------------------------------------------------

    @staticmethod
    def _pair(domain: object, action: object, method: str) -> tuple[Event[Any] | None, str, str, object]:
        """(event or None, domain, action, what follows the pair) from (event, x) or (domain, action, x)."""
        if is_event(domain):
            event: Any = domain
            return event, event.domain, event.action, action
        if action is MISSING:
            raise _wiring.missing_pair(method)
        try:
            return None, check_name("domain", domain), check_name("action", action), MISSING
        except (TypeError, ValueError) as exc:
            raise _wiring.pair_error(method, exc, domain) from None

    # -- writers ------------------------------------------------------------------------

    def register(
        self,
        domain: Any,
        action: Any = MISSING,
        handler: Any = MISSING,
        *,
        weak: bool = False,
    ) -> Callable[[], bool]:
        """Register ``handler`` for every later dispatch of a pair or an event.

        ``register(domain, action, handler)`` calls ``handler(ctx, data)`` with the
        dispatched `Data`; ``register(event, handler)`` calls ``handler(ctx, payload)``
        with the payload decoded as ``event.payload_type``, afresh for each handler (a
        `DecodeError` there is that handler's failure).  Handlers of a pair run in
        registration order, plain and event handlers in one order; registering the same
        callable twice registers it twice.  A dispatch already running is not affected.

        Args:
            domain: The pair's domain, or an `Event` (then ``action`` is the handler).
            action: The pair's action.
            handler: Any callable taking ``(ctx, data)``; what it returns is ignored,
                except an awaitable (see `acall`).
            weak: Hold the handler through a weak reference (a bound method through its
                object): when it is collected, its registration is removed.

        Returns:
            Callable[[], bool]: ``unregister()``, which removes exactly this registration
            and returns `True` the first time, `False` after.

        Raises:
            TypeError: ``handler`` is not callable, a name is not a `str`, ``weak`` is
                not a `bool`, the handler cannot be held weakly, or it is a coroutine
                function and ``event`` is synchronous (declare it ``asynchronous=True``).
            ValueError: ``domain`` or ``action`` is empty.  Nothing is registered when
                an argument is refused.
        """
        # domain, action and handler are Any: their overloads are the twins' (_core_py, _core.pyi),
        # and the fast path below tests their types into locals, which checkers cannot follow.
        event: Any
        if type(domain) is not str and is_event(domain):
            event = domain
            if handler is not MISSING:
                raise TypeError("register(event, handler) takes no action: the event names the pair")
            domain, action, handler = event.domain, event.action, action
        elif action is MISSING:
            raise _wiring.missing_pair("register")
        else:
            event = None
            if type(domain) is not str or not domain or type(action) is not str or not action:
                try:  # (two plain names skip the calls)
                    domain, action = check_name("domain", domain), check_name("action", action)
                except (TypeError, ValueError) as exc:
                    raise _wiring.pair_error("register", exc, domain) from None
        if handler is MISSING:
            raise TypeError("register() needs a handler")
        function = type(handler) is FunctionType  # the common case: callable, no call to ask
        if not function and not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__qualname__}")
        if weak is not False and weak is not True:
            raise TypeError(f"weak must be a bool, not {type(weak).__qualname__}")
        key = (domain, action)
        if function and not MARKABLE and not handler.__code__.co_flags & CO_COROUTINE:
            coroutine = False  # is_coroutine_function's answer, inlined for the common case
        else:
            coroutine = is_coroutine_function(handler)
            if coroutine and event is not None and not event.asynchronous:
                raise _wiring.coroutine_refused(handler_name(handler), event)
        # Where it is registered, at registration only: the caller's code and offset (its line is
        # worked out by registrations()).  No test of who the caller is here (registration is
        # measured against pyee): on()'s decorator and eventbus.testing, which register for
        # someone else, move the site to their own caller's with _registered_from.
        caller = _getframe(1)
        registration = _Registration(key, handler, event, weak, coroutine, caller.f_code, caller.f_lasti)
        target: Callable[[Any, Any], object]
        if weak:
            target = self._weakly(
                registration, handler, NO_PAYLOAD_TYPE if event is None else event.payload_type
            )
        else:
            target = (
                handler
                if event is None
                else self._typed_handler(handler, event.payload_type, self._decoder())
            )
        lock = self._lock
        if lock._is_owned():
            self._pending.append((self._add, (registration, target)))
        else:
            # (Locals, not attributes: each read of the compiled bus's fields is a call.)
            busy = self._busy
            with lock:
                busy[0] = True
                # _add, inlined (registration is measured against pyee's add_listener).
                handlers = self._handlers
                actions = handlers.get(domain)
                if actions is None:
                    actions = handlers[domain] = {}
                actions[action] = STALE
                if _FREE_THREADED:
                    self._bump()
                # Indexed first: should indexing fail (no memory; a class failing its own
                # lookups is handled there), nothing is registered (an indexed registration
                # that is not in _entries is passed over).
                index_of = self._index
                if index_of:
                    index = index_of.get(key)
                    if index is not None:
                        index.add(registration)
                all_entries = self._entries
                entries = all_entries.get(key)
                if entries is None:
                    entries = all_entries[key] = {}
                entries[registration] = target
                if self._pending:
                    self._drain()
                busy[0] = False
            if self._pending:
                self._drain_soon()

        return _Unregister(self, registration)

    def _decoder(self) -> Callable[..., Any]:
        """``eventbus.decode`` on this implementation's codec engine (loaded on first use)."""
        from ._codec.engine import decode_on  # noqa: PLC0415

        return decode_on(self._codec_engine)

    def _weakly(
        self, registration: _Registration, handler: Any, payload_type: object
    ) -> Callable[[Any, Any], object]:
        def collected(ref: object) -> None:
            # On whatever thread dropped the handler, maybe inside one of this bus's locked
            # sections: queue the removal, never wait for the lock.
            self._pending.append((self._remove, registration))
            registration.removed = True
            if not self._lock._is_owned():
                self._drain_soon()

        import weakref  # noqa: PLC0415 - on first use: import eventbus stays cheap

        try:
            if inspect_module().ismethod(handler):
                ref: Callable[[], Any] = weakref.WeakMethod(handler, collected)
            else:
                ref = weakref.ref(handler, collected)
        except TypeError:
            raise TypeError(
                f"cannot hold handler {handler_name(handler)} weakly: "
                f"{type(handler).__qualname__} objects do not support weak references"
            ) from None
        registration.handler = ref
        return weak_handler(ref, payload_type, None if payload_type is NO_PAYLOAD_TYPE else self._decoder())

    def _unregister(self, registration: _Registration) -> bool:
        lock = self._lock
        if lock._is_owned():
            if registration.removed:
                return False
            self._pending.append((self._remove, registration))
            registration.removed = True
            return True
        busy = self._busy
        with lock:
            busy[0] = True
            if registration.removed:
                found = False
            else:
                # Removed first, then marked: an interruption in between leaves a
                # registration that is gone, which a later unregister() finds gone.
                found = self._remove(registration)
                registration.removed = True
            if self._pending:
                self._drain()
            busy[0] = False
        if self._pending:
            self._drain_soon()
        return found

    def unregister(
        self, domain: str | Event[Any], action: object = MISSING, handler: object = MISSING
    ) -> bool:
        """Remove the earliest registration of the pair whose handler ``==`` ``handler``.

        Takes ``(domain, action, handler)`` or ``(event, handler)``.  Equality rather
        than identity, so that a decorated function or a bound method (a new object at
        each attribute access) can be removed.  The order of the other registrations is
        kept; a dispatch already running is not affected.

        Returns:
            bool: `True` if a registration was removed, `False` if none matched.

        Raises:
            TypeError: The pair or the handler is missing, or a name is not a `str`.
            ValueError: ``domain`` or ``action`` is empty.
        """
        if type(domain) is str and domain and type(action) is str and action and handler is not MISSING:
            rest = MISSING  # _pair's answer for a plain pair, without the call
        else:
            _, domain, action, rest = self._pair(domain, action, "unregister")
        if rest is not MISSING:
            if handler is not MISSING:
                raise TypeError("unregister(event, handler) takes no action: the event names the pair")
            handler = rest
        if handler is MISSING:
            raise TypeError("unregister() needs the handler to remove")
        key = (domain, action)
        entries = self._entries.get(key)
        if entries is None:
            return False
        identity = id(handler) if type(handler) is FunctionType else _identity(handler)
        lock = self._lock
        if identity is not None and not lock._is_owned():
            busy = self._busy
            with lock:
                busy[0] = True
                removed = self._unregister_identical(key, identity, handler)
                if self._pending:
                    self._drain()
                busy[0] = False
            if self._pending:
                self._drain_soon()
            if removed is not None:
                return removed
            entries = self._entries.get(key)
            if entries is None:
                return False
        holes = self._holes.get(key, 0)
        if holes * holes > 2 * len(entries) + 256:
            # About sqrt(2n) deleted slots at the front: compacting now balances its O(n)
            # against skipping them, so removing n handlers in registration order costs
            # O(n sqrt n) slot skips, not O(n^2).
            self._write(self._compact, key)
            entries = self._entries.get(key)
            if entries is None:
                return False
        # Compared outside the lock, since a handler's __eq__ may run anything (this bus
        # included), in registration order, so that removing handlers in the order they
        # were registered stays O(1) each.  A change meanwhile restarts on a copy.
        try:
            for registration in entries:
                if self._unregister_equal(registration, handler):
                    return True
        except RuntimeError:  # the dict changed size during iteration
            for registration in list(entries):
                if self._unregister_equal(registration, handler):
                    return True
        return False

    def _unregister_identical(self, key: tuple[str, str], identity: object, handler: object) -> bool | None:
        """unregister by a handler whose == is identity, under the lock: whether one was
        removed, or None when the pair has handlers that may be equal to anything."""
        entries = self._entries.get(key)
        if entries is None:
            return False
        index = self._index.get(key)
        if index is None:
            index = _Index()
            by_identity = index.by_identity
            for registration in entries:
                registered = registration.handler
                if registration.removed:  # its removal is queued
                    registration.indexed = None
                elif type(registered) is FunctionType and id(registered) not in by_identity:
                    # _Index.add inlined for the common case, a strongly held function
                    # registered once (the build is part of the first removal's cost).
                    by_identity[id(registered)] = registration
                    registration.indexed = id(registered)
                else:
                    index.add(registration)
            self._index[key] = index
        if index.others or (index.types and not index.usable()):
            return None
        present = index.by_identity.get(identity)
        if type(present) is _Registration and not present.removed:
            # The common case inlined (removal is measured against pyee's remove_listener):
            # one registration under the key, live.
            registered = present.handler() if present.weak else present.handler
            # == as the contract says, never != (a class may define __ne__ alone): with identity
            # keys == compares identities and runs no code.
            if registered is None or not registered == handler:  # noqa: SIM201
                return False
            holes = self._holes.get(key, 0) + 1
            if holes < len(entries) and present.indexed_type is None and present in entries:
                # _remove's common case inlined: the pair keeps other registrations, needs no
                # compaction, and the handler's key is a plain one.  The same steps in the same
                # order (an interruption between two leaves what _remove's would).
                domain, action = key
                actions = self._handlers.get(domain)
                if actions is None:
                    self._set_live(domain, action, STALE)
                else:
                    actions[action] = STALE
                    if _FREE_THREADED:
                        self._bump()
                del entries[present]
                del index.by_identity[identity]
                present.indexed = None
                self._holes[key] = holes
                present.removed = True
                return True
            if self._remove(present):
                present.removed = True
                return True
            present.removed = True  # gone already (an interruption): as below
            index.discard(present)
        while True:
            earliest = index.earliest(identity, handler)
            if earliest is None:
                return False
            # (As in _unregister; one an interruption left removed but unmarked is passed.)
            removed = self._remove(earliest)
            earliest.removed = True
            index.discard(earliest)
            if removed:
                return True

    def _unregister_equal(self, registration: _Registration, handler: object) -> bool:
        if registration.removed:
            return False
        registered = registration.registered()
        return registered is not None and registered == handler and self._unregister(registration)

    # Under the lock (or from _pending), each change is one step on the registry dicts after
    # marking the pair stale, so an exception between two steps (a KeyboardInterrupt from a
    # signal handler) leaves nothing half-done.

    def _add(self, item: tuple[_Registration, Callable[[Any, Any], object]]) -> None:
        registration, target = item
        if registration.removed:  # unregistered before a queued registration applied
            return
        domain, action = key = registration.key
        self._set_live(domain, action, STALE)
        entries = self._entries.get(key)
        if entries is None:
            entries = self._entries[key] = {}
        entries[registration] = target
        index = self._index.get(key)
        if index is not None:
            index.add(registration)

    def _remove(self, registration: _Registration) -> bool:
        key = registration.key
        entries = self._entries.get(key)
        if entries is None or registration not in entries:
            return False
        domain, action = key
        actions = self._handlers.get(domain)
        if actions is not None:  # (_set_live inlined: removal is measured against pyee's)
            actions[action] = STALE
            if _FREE_THREADED:
                self._bump()
        else:
            self._set_live(domain, action, STALE)
        del entries[registration]
        if not entries:
            del self._entries[key]
            self._holes.pop(key, None)
            self._index.pop(key, None)
            if key not in self._muted:
                self._set_live(domain, action, None)
            return True
        indexed = registration.indexed
        if indexed is not None:
            index = self._index.get(key)
            if index is None:
                pass
            elif registration.indexed_type is None and index.by_identity.get(indexed) is registration:
                del index.by_identity[indexed]  # index.discard's common case, inlined
                registration.indexed = None
            else:
                index.discard(registration)
        # A dict keeps the slot of a deleted key until it grows; iterating it (unregister by
        # handler, earliest first) skips them one by one: compact when they outnumber the
        # registrations (O(1) amortized per removal; unregister by handler compacts sooner,
        # when it is about to iterate).
        holes = self._holes.get(key, 0) + 1
        if holes > len(entries):
            self._entries[key] = dict(entries)
            holes = 0
        self._holes[key] = holes
        return True

    def _compact(self, key: tuple[str, str]) -> None:
        entries = self._entries.get(key)
        if entries:
            self._entries[key] = dict(entries)
            self._holes[key] = 0

    def _drain(self) -> None:
        """Apply the queued changes, in order, under the lock."""
        pending = self._pending
        while pending:
            function, argument = pending[0]
            function(argument)  # each is idempotent: a retry after an interruption is harmless
            del pending[0]

    def _drain_soon(self) -> None:
        # Whoever holds the lock now checks _pending after releasing it: never wait here.
        while self._pending:
            acquired = False
            try:  # (acquired inside the try: an interruption right after it still releases)
                acquired = self._lock.acquire(blocking=False)
                if not acquired:
                    return
                self._drain()
            finally:
                if acquired:
                    self._lock.release()

    def _build(self, domain: str, action: str) -> Any:
        """The snapshot of a pair from the registrations (and mutes).

        Read without the lock when a writer holds it: every structure read here is read in
        one step (a tuple of mutes, replaced rather than changed; a copy of the registrations
        taken under the dict's own lock on free-threaded builds).
        """
        key = (domain, action)
        mutes = self._muted.get(key)
        if mutes:
            return mutes[-1].snapshot
        entries = self._entries.get(key)
        if not entries:
            return None
        entries = entries.copy()
        return snapshot(tuple(entries.values()), [r.registered() for r in entries if r.coroutine])

    def _current(self, domain: str, action: str) -> Any:
        """Dispatch's slow path: the snapshot of a stale pair, rebuilt and installed."""
        lock = self._lock
        # Read only, installing nothing: inside our own locked section, or while a writer
        # (or a dispatch installing this very snapshot) holds the lock, so as never to queue
        # behind it; every change that returned is in the registrations already.
        if lock._is_owned() or self._busy[0]:
            return self._build(domain, action)
        with lock:
            self._busy[0] = True
            actions = self._handlers.get(domain)
            built = None if actions is None else actions.get(action)
            if built is STALE:  # (else another dispatch installed it meanwhile)
                built = self._build(domain, action)
                self._set_live(domain, action, built)
            self._drain()
            self._busy[0] = False
        if self._pending:
            self._drain_soon()
        return built

    def _set_live(self, domain: str, action: str, built: Any) -> None:
        actions = self._handlers.get(domain)
        if built is not None:
            if actions is None:
                actions = self._handlers[domain] = {}
            actions[action] = built
        elif actions is not None:
            actions.pop(action, None)
            if not actions:
                del self._handlers[domain]
        if _FREE_THREADED:  # (the per-thread copies exist only there)
            self._bump()

    def _unhandled(self, data: Data) -> None:
        """A dispatch found no handler for ``data``'s pair: ``unhandled="warn"`` or ``"raise"``
        acts (see _wiring.Unhandled), ``"ignore"`` does nothing."""
        if self._on_unhandled is not None:
            self._on_unhandled(self, data)

    def _is_muted(self, domain: str, action: str) -> bool:
        """Whether ``eventbus.testing`` mutes the pair now (then it is not unhandled)."""
        return (domain, action) in self._muted

    def _mute(
        self, domain: str, action: str, replacement: tuple[Callable[[Any, Any], object], ...] = ()
    ) -> Callable[[], None]:
        """For ``eventbus.testing``: until the returned function is called, dispatches of
        the pair run ``replacement`` instead of the pair's handlers.

        The handlers are set aside, not removed: registering and unregistering keep
        working on them and take effect when the last mute of the pair ends.  Mutes
        nest and may end in any order; the newest one in force decides.
        """
        domain = check_name("domain", domain)
        action = check_name("action", action)
        key = (domain, action)
        replacement = tuple(replacement)
        coroutines = [h for h in replacement if is_coroutine_function(h)]
        mute = _Mute(key, replacement, snapshot(replacement, coroutines) if replacement else None)

        def unmute() -> None:
            self._write(self._remove_mute, mute)

        try:
            self._write(self._add_mute, mute)
            return unmute
        except BaseException:
            # Interrupted (a signal handler's exception) before or after the mute took
            # effect: end it, or the pair would stay muted with no unmute to end it.
            unmute()
            raise

    def _write(self, function: Callable[[Any], object], argument: Any) -> None:
        if self._lock._is_owned():
            self._pending.append((function, argument))
            return
        with self._lock:
            self._busy[0] = True
            function(argument)
            self._drain()
            self._busy[0] = False
        if self._pending:
            self._drain_soon()

    def _add_mute(self, mute: _Mute) -> None:
        domain, action = key = mute.key
        mutes = self._muted.get(key, ())
        if mute in mutes:  # a retry after an interruption
            return
        self._set_live(domain, action, STALE)
        self._muted[key] = (*mutes, mute)

    def _remove_mute(self, mute: _Mute) -> None:
        domain, action = key = mute.key
        mutes = self._muted.get(key, ())
        if mute not in mutes:
            return
        self._set_live(domain, action, STALE)
        rest = tuple([m for m in mutes if m is not mute])
        if rest:
            self._muted[key] = rest
        else:
            del self._muted[key]

    # -- readers ------------------------------------------------------------------------

    def on(self, domain: str | Event[Any], action: str = MISSING) -> Callable[[_F], _F]:
        """Decorator form of `register`: registers the function and returns it unchanged.

        ``@bus.on(domain, action)`` registers ``handler(ctx, data)``; ``@bus.on(event)``
        registers ``handler(ctx, payload)``.  The decorated function keeps its own type,
        so it stays callable, and testable, as written.

        Raises:
            TypeError: As `register`, when the decorator is applied.
            ValueError: As `register`.
        """
        event, domain, action, rest = self._pair(domain, action, "on")
        if rest is not MISSING:
            raise TypeError("on(event) takes no action: the event names the pair")

        def decorator(handler: _F) -> _F:
            if event is not None:
                unregister = self.register(event, handler)
            else:
                unregister = self.register(domain, action, handler)
            self._registered_from(unregister, _getframe(1))  # the @bus.on(...) line
            return handler

        return decorator

    def _registered_now(self, key: tuple[str, str]) -> tuple[Callable[[Any, Any], object], ...]:
        mutes = self._muted.get(key)
        if mutes:
            return mutes[-1].handlers
        entries = self._entries.get(key)
        if not entries:
            return ()
        handlers = [r.registered() for r in entries if not r.removed]
        return tuple([h for h in handlers if h is not None])

    def _locked(self, read: Callable[[], _V]) -> _V:
        """``read()`` under the lock, applying what was queued meanwhile."""
        if self._lock._is_owned():
            return read()
        with self._lock:
            found = read()
            self._drain()
        if self._pending:
            self._drain_soon()
        return found

    def handlers(
        self, domain: str | Event[Any], action: str = MISSING
    ) -> tuple[Callable[[Any, Any], object], ...]:
        """The handlers of a pair (or an `Event`), in registration order.

        A snapshot: a `tuple` of the callables as they were registered (never a
        wrapper), ``()`` if the pair has none.  Weak handlers already collected are
        left out; inside `eventbus.testing.muted` a muted pair has none.

        Raises:
            TypeError: A name is not a `str`.
            ValueError: ``domain`` or ``action`` is empty.
        """
        _, domain, action, rest = self._pair(domain, action, "handlers")
        if rest is not MISSING:
            raise TypeError("handlers(event) takes no action: the event names the pair")
        key = (domain, action)
        return self._locked(lambda: self._registered_now(key))

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every pair that has at least one handler now, sorted.

        Returns:
            tuple[tuple[str, str], ...]: ``(domain, action)`` pairs, as `handlers` sees them.
        """
        found = self._locked(lambda: [k for k in {*self._entries, *self._muted} if self._registered_now(k)])
        return tuple(sorted(found))

    def registrations(self, *pair_or_event: Any) -> tuple[Registration, ...]:
        """Every live registration, or those of one pair or `Event`: who handles what, wired where.

        Takes nothing, ``(domain, action)`` or ``(event)``.  Sorted by pair, then in
        registration order; weak handlers already collected are left out.  Each
        `Registration` says the handler as registered, the event it was registered for
        (`None` for a plain pair), whether it is held weakly, and its site:
        ``"path/to/module.py:LINE"`` of the ``register(...)`` call or of the
        ``@bus.on(...)`` line.  A muted pair's registrations are listed: they are set
        aside, not removed.

        Raises:
            TypeError: A name is not a `str`, or the arguments are not a pair or an event.
            ValueError: ``domain`` or ``action`` is empty.
        """
        wanted = _wiring.registrations_filter(self._pair, MISSING, pair_or_event)
        rows = self._locked(lambda: self._registration_rows(wanted))
        return _wiring.registrations(rows)

    def _registered_from(self, unregister: object, frame: FrameType) -> None:
        """Make the site of the registration ``unregister`` removes the first frame from
        ``frame`` up that is outside eventbus: for a caller that registers for someone else."""
        if type(unregister) is _Unregister:  # (a subclass's register may return anything)
            registration = unregister._registration  # noqa: SLF001  # pyright: ignore[reportPrivateUsage]
            code, offset = _wiring.site_beyond(frame)

            def move() -> None:  # under the lock: registrations() reads both fields at once
                registration.code, registration.offset = code, offset

            self._locked(move)

    def _registration_rows(self, wanted: tuple[str, str] | None) -> list[_Row]:
        rows: list[_Row] = []
        for key, entries in self._entries.items():
            if wanted is None or key == wanted:
                for registration in entries:
                    handler = registration.registered()
                    if handler is not None and not registration.removed:
                        rows.append(
                            (
                                key,
                                handler,
                                registration.event,
                                registration.weak,
                                (registration.code, registration.offset),
                            )
                        )
        return rows

    # -- after commit (eventbus._staging) -------------------------------------------------

    call_after_commit = _staging.call_after_commit
    publish_after_commit = _staging.publish_after_commit

    # -- failures -----------------------------------------------------------------------

    def _log_failure(self, handler: object, data: Data, exc: Exception) -> None:
        self._logger.error(
            "eventbus: handler %s failed for event %r/%r",
            registered_name(handler),
            data.domain,
            data.action,
            exc_info=exc,
        )

    def _log_observer_failure(self, observer: object, hook: str, data: Data, exc: Exception) -> None:
        self._logger.error(
            "eventbus: observer %s failed in %s() for event %r/%r",
            handler_name(type(observer)),
            hook,
            data.domain,
            data.action,
            exc_info=exc,
        )
