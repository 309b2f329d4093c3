"""The pure-Python twin of ``_core.pyx``: ``Data``, ``new_data``/``must_data``, ``Event``, and
``Bus``'s hot path (the registry read, the snapshot and the four dispatch loops).

Everything else a ``Bus`` does is written once, in ``_registry.Registry`` (registration, removal,
mutes, weak handlers, the pending queue: the pure ``Bus`` inherits it, the compiled one has its
methods attached when ``_core`` loads), ``_handlers`` (what registry, dispatch and observer share
about a handler) and ``_observe`` (dispatch when the bus has an observer): both implementations run
that code.

The twin contract, checked by ``tests/twins/test_contract.py``: what the twins define, and
which of it is written identically ("identical": the same syntax tree once Cython's type
declarations and casts and the pure twin's annotations are removed).

Identical in both twins:
    ``new_data``, ``must_data``, ``_restore_data``;
    ``Data.__setattr__``, ``Data.__delattr__``, ``Data.__ne__``, ``Data.__copy__``,
    ``Data.__deepcopy__``.

Different on purpose:
- ``Data.__eq__``, ``Data.__hash__``, ``Data.__repr__``, ``Data.__reduce__``: the compiled
  Data reads its C fields (``self._domain``), the pure one its slots (``self.domain``).
- ``_decode``: the compiled twin decodes on its codec engine (``codec_engine``), the pure
  twin has one engine, the stdlib reference.
- ``Bus._set_observer``, ``Bus._get_observer``: the compiled bus keeps a C flag beside the
  observer, which dispatch tests, and reads or swaps the observer inside the bus's critical
  section (free-threaded builds); the pure bus tests the attribute.
- ``Bus._bump``: the compiled bus counts the changes of its live snapshots, against which
  the free-threaded per-thread copies are checked; the pure one has nothing to count.
- ``Bus.call``, ``Bus.publish``: the compiled loop is C (``eventbus_run`` in ``_dispatch.h``)
  with no try block on the success path; the pure loop is a ``for`` inside a ``try`` that
  also takes a stale pair's marker (not iterable) for the slow path, and reads the registry
  with ``dict.get`` with the GIL, ``_lookup`` without it.
- ``Bus._snapshot``: through the compiled ``Bus._lookup`` and ``Bus._slow``; the pure twin
  inlines both.
- ``Bus.acall``, ``Bus.apublish``: the observer check (the C flag against the attribute);
  the pure ``apublish`` also drops its errors list after raising, to break the frame ->
  traceback -> frame cycle Cython frames do not make.

Only in the compiled twin:
- ``Data.__cinit__``, ``Data.domain``, ``Data.action``, ``Data.raw_params``: a Data is
  built in ``__cinit__`` and read through properties, which take no per-object lock on
  free-threaded builds (``cdef readonly`` getters would).
- ``Bus.__cinit__``, ``Bus.__dealloc__``, ``Bus.__init__``: the compiled bus's state is in C
  fields (``__cinit__`` marks it not initialised, as ``Registry.__new__`` does the pure one's),
  with the versions of the free-threaded per-thread registry copies (``_thread_copies.h``);
  its ``__init__`` is ``Registry.__init__``, called from the slot a cdef class's ``__init__`` fills.
- ``Bus._lookup``, ``Bus._slow``: dispatch's registry read (``eventbus_lookup_local``) and
  its slow path, which the pure dispatch inlines.
- ``_raise_noted``: adds call's note to the exception the C loop left pending.
- ``_local_of``: a bus's per-thread registry copies, for ``_thread_copies.h`` (a thread that
  ends drops its copies, free-threaded builds).
- ``_event_class``, ``__getattr__``: ``Event`` defined on first use, so that
  ``import eventbus`` loads no typing.
- ``_must_data_with``: ``must_data`` on another codec engine, for benchmarks and
  differential tests.
- ``_encode``: the compiled codec engine's ``encode_params`` through its C entry (a capsule),
  without parsing arguments; the pure twin's ``_encode`` is ``encode_params`` itself.
- ``_event_data``: ``Event.data``, compiled; it reads an exact Event's slots in place
  (``eventbus_event_slot``, with the GIL), and leaves a subclass's to the pure ``Event.data``.

Only in the pure twin:
- ``Data.__new__``, ``Data.__init_subclass__``: a Data built in ``__new__`` through its
  slots' descriptors, and refusing subclasses as Cython's final class does.
- ``_lookup``: the registry read without ``dict.get`` (free-threaded builds).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, final, overload

from . import _event
from ._awaiting import await_result
from ._codec.encode import encode_params
from ._compat import FREE_THREADED
from ._handlers import (
    Refused,
    add_note,
    check_name,
    check_raw_params,
    coroutine_refused,
    failures,
    isawaitable,
    not_data,
    observed,
    refuse_awaitable,
    registered_name,
    typed_handler,
)
from ._registry import Registry

if TYPE_CHECKING:
    from ._observe import Observer
    from ._registration import Registration

__all__ = ["Bus", "Data", "Event", "must_data", "new_data"]

# ``on`` hands back the decorated function with its own type.
_F = TypeVar("_F", bound="Callable[[Any, Data], object]")
_T = TypeVar("_T")
_S = TypeVar("_S")
_C = TypeVar("_C")
_R = TypeVar("_R")


@final
class Data:
    """An event: a ``(domain, action)`` pair and an optional JSON payload; immutable.

    Build one with `new_data`, `must_data` or `Event.data`, which encode the payload;
    call ``Data`` directly for an event without payload or with bytes you already
    have.  Two ``Data`` are equal, and hash alike, when all three fields are equal.
    Assigning or deleting an attribute raises `AttributeError`, and ``Data`` cannot
    be subclassed (a bus checks the exact type on every dispatch).

    Args:
        domain: What the event is about, a non-empty `str` (``"users"``). A `str`
            subclass is stored as a plain `str`.
        action: What happened, a non-empty `str` (``"created"``).
        raw_params: The payload as UTF-8 JSON, or `None` for an event without one.

    Attributes:
        domain (str): The ``domain`` given.
        action (str): The ``action`` given.
        raw_params (bytes | None): The payload, as given.

    Raises:
        TypeError: ``domain`` or ``action`` is not a `str`, or ``raw_params`` is
            neither `bytes` nor `None`.
        ValueError: ``domain`` or ``action`` is empty.

    Example:
        >>> eventbus.Data("users", "deleted", b'{"id":7}')
        Data(domain='users', action='deleted', raw_params=b'{"id":7}')
    """

    __slots__ = ("domain", "action", "raw_params")
    __match_args__ = ("domain", "action", "raw_params")

    domain: str
    action: str
    raw_params: bytes | None

    # __new__ rather than __init__, so that no later call can change a Data.  The common
    # case (plain non-empty str names, bytes or None) is checked inline: the helpers only
    # see the rest.  Then, where the GIL is on, the fields are set on a blank object of a
    # twin class with the same slots and no __setattr__ (plain attribute stores, the
    # interpreter's fastest) and the object becomes a Data, whose __setattr__ refuses
    # every later assignment; elsewhere (free-threaded CPython, where a __class__
    # assignment stops every thread) through the slots' own descriptors.
    def __new__(cls, domain: str, action: str, raw_params: bytes | None = None) -> Data:
        if type(domain) is not str or not domain:
            domain = check_name("domain", domain)
        if type(action) is not str or not action:
            action = check_name("action", action)
        if raw_params is not None and type(raw_params) is not bytes:
            raw_params = check_raw_params(raw_params)
        if _BUILD_BLANK and cls is Data:
            blank = _Blank()
            blank.domain = domain
            blank.action = action
            blank.raw_params = raw_params
            blank.__class__ = Data  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]
            return blank  # type: ignore[return-value]  # pyright: ignore[reportReturnType]
        self = _new_object(cls)
        _set_domain(self, domain)
        _set_action(self, action)
        _set_raw_params(self, raw_params)
        return self

    def __init_subclass__(cls, **kwargs: object) -> None:
        # The bus checks the exact type on every dispatch; subclasses would defeat it.
        raise TypeError(f"type '{__name__}.Data' is not an acceptable base type")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Data is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Data is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not Data:
            return NotImplemented
        return (
            self.domain == other.domain
            and self.action == other.action
            and self.raw_params == other.raw_params
        )

    def __ne__(self, other: object) -> bool:
        if type(other) is not Data:
            return NotImplemented
        return not self == other

    def __hash__(self) -> int:
        return hash((self.domain, self.action, self.raw_params))

    def __repr__(self) -> str:
        return f"Data(domain={self.domain!r}, action={self.action!r}, raw_params={self.raw_params!r})"

    # Pickles name eventbus's own reconstructor, not this module: they load under either
    # implementation, as the Data of the one active there.  A copy is the Data itself.
    def __reduce__(self) -> tuple[object, ...]:
        return (_restore_data(), (self.domain, self.action, self.raw_params))

    def __copy__(self) -> Data:
        return self

    def __deepcopy__(self, memo: object) -> Data:
        return self


class _Blank:
    """A ``Data`` being built: the same slots, no ``__setattr__`` (see ``Data.__new__``)."""

    __slots__ = ("domain", "action", "raw_params")

    domain: str
    action: str
    raw_params: bytes | None


# A __class__ assignment makes the interpreter stop every other thread on free-threaded
# CPython (the build, whether or not the GIL was turned back on): descriptors there.
_BUILD_BLANK = "t" not in getattr(sys, "abiflags", "") and getattr(sys, "_is_gil_enabled", lambda: True)()

_new_object = object.__new__
# The slots' own descriptors: Data.__setattr__ refuses every assignment.
_set_domain: Callable[[Data, str], None] = Data.__dict__["domain"].__set__
_set_action: Callable[[Data, str], None] = Data.__dict__["action"].__set__
_set_raw_params: Callable[[Data, bytes | None], None] = Data.__dict__["raw_params"].__set__


# The codec's encode_params: the pure twin has one engine, the stdlib reference.
_encode_payload = encode_params
_encode = encode_params  # (the compiled twin's _encode calls its engine's C entry)


def new_data(domain: str, action: str, params: object = None) -> Data:
    """An event whose payload is ``params`` encoded as compact UTF-8 JSON.

    The JSON has no spaces after separators, keeps non-ASCII characters as UTF-8 and
    keys in insertion order.  Encodable: JSON-native values (`dict` with `str` keys,
    `list`, `tuple`, `str`, `int`, `float`, `bool`, `None`), dataclasses (fields in
    declaration order), and the payload types of the payloads guide (`datetime`,
    `uuid.UUID`, `decimal.Decimal`, enums, `TypedDict`, pydantic models, msgspec
    Structs...), nested freely.

    Args:
        domain: The event's domain, as for `Data`.
        action: The event's action, as for `Data`.
        params: The payload; `None` gives an event without payload
            (``raw_params is None``).

    Returns:
        Data: The event, ready to dispatch.

    Raises:
        EncodeError: ``params`` holds something that cannot be encoded (another type,
            a non-`str` dict key, NaN or an infinity); the message names the event,
            the offending type and where it was, and the original error is chained.
        TypeError: ``domain`` or ``action`` is not a `str`.
        ValueError: ``domain`` or ``action`` is empty.

    Example:
        >>> eventbus.new_data("users", "created", {"id": 7, "tags": ["new"]})
        Data(domain='users', action='created', raw_params=b'{"id":7,"tags":["new"]}')
    """
    return Data(domain, action, _encode(params, domain, action))


def must_data(domain: str, action: str, params: object = None) -> Data:
    """`new_data` for payloads whose type cannot fail to encode.

    It encodes exactly as `new_data` does and raises the same `EncodeError`: the two
    differ only in what the call site says.  Write ``must_data`` where the payload's
    type is fixed and encodable by construction (a dataclass of `str` and `int`
    fields, say), so that a failure there is a bug rather than bad input;
    `Event.data` encodes this way.  Write `new_data` where the payload comes from
    elsewhere and may not encode, and handle its `EncodeError`.

    Args:
        domain: The event's domain, as for `Data`.
        action: The event's action, as for `Data`.
        params: The payload, as for `new_data`.

    Returns:
        Data: The event, ready to dispatch.

    Raises:
        EncodeError: As `new_data`.
        TypeError: ``domain`` or ``action`` is not a `str`.
        ValueError: ``domain`` or ``action`` is empty.
    """
    return Data(domain, action, _encode(params, domain, action))


def _restore_data() -> Callable[[str, str, bytes | None], object]:
    """What ``Data`` pickles call to load: ``eventbus._restore_data`` (stable across versions)."""
    from eventbus import _restore_data as restore  # noqa: PLC0415  # pyright: ignore[reportPrivateUsage]

    return restore


def _decode() -> Callable[[Any, Any], Any]:
    """eventbus.decode, imported on first use (import eventbus stays cheap)."""
    from ._codec.decode import decode  # noqa: PLC0415

    return decode


# (The compiled twin defines its Event on first use, to keep typing out of import eventbus;
# here typing is loaded anyway, and type checkers read this class.)
class Event(_event.Event[_T]):
    """A declared event: a ``(domain, action)`` pair bound to its payload type.

    Declare each event once, in a contract module that producers and consumers both
    import (and that imports neither): a misspelled event is then a `NameError` at
    import, and mypy and pyright check the producer's `data` and the consumer's
    handler against the same type.  ``Event`` is generic: ``Event("users",
    "created", UserCreated)`` is an ``Event[UserCreated]``.  Events are immutable,
    equal and hashable by their three fields.  A `Bus` accepts an event wherever it
    accepts a pair: ``register(event, handler)`` calls ``handler(ctx, payload)``
    with the payload decoded.  An event is synchronous unless declared
    ``asynchronous=True``: it refuses a coroutine-function handler when it is
    registered, and type checkers take its handlers as ``Callable[[Any, T], None]``.

    Args:
        domain: As for `Data`.
        action: As for `Data`.
        payload_type: Any type `decode` accepts (a dataclass, `dict`, `list`, a
            pydantic model, ``list[X]``, ``X | None``...).
        asynchronous: Whether its handlers may be coroutine functions; its producers
            then dispatch it with `Bus.acall` or `Bus.apublish`.  Part of the event's
            equality, hash, repr and pickles.

    Raises:
        TypeError: ``payload_type`` is not a type `decode` accepts (checked here, not
            at the first dispatch), ``domain`` or ``action`` is not a `str`, or
            ``asynchronous`` is not a `bool`.
        ValueError: ``domain`` or ``action`` is empty.

    Example:
        >>> import dataclasses
        >>> @dataclasses.dataclass
        ... class UserCreated:
        ...     id: int
        >>> USER_CREATED = eventbus.Event("users", "created", UserCreated)
        >>> USER_CREATED.data(UserCreated(id=7))
        Data(domain='users', action='created', raw_params=b'{"id":7}')
    """

    __slots__ = ()
    _Data = Data
    _encode_params = staticmethod(_encode_payload)
    _decoder = staticmethod(_decode)

    if TYPE_CHECKING:  # the constructor binds this class's type parameter, not the base's

        @overload
        def __new__(
            cls, domain: str, action: str, payload_type: type[_S], *, asynchronous: Literal[False] = False
        ) -> Event[_S]: ...
        @overload
        def __new__(
            cls, domain: str, action: str, payload_type: type[_S], *, asynchronous: Literal[True]
        ) -> AsyncEvent[_S]: ...
        @overload
        def __new__(
            cls, domain: str, action: str, payload_type: object, *, asynchronous: Literal[False] = False
        ) -> Event[Any]: ...
        @overload
        def __new__(
            cls, domain: str, action: str, payload_type: object, *, asynchronous: Literal[True]
        ) -> AsyncEvent[Any]: ...
        def __new__(
            cls, domain: str, action: str, payload_type: object, *, asynchronous: bool = False
        ) -> Any: ...


if TYPE_CHECKING:

    class AsyncEvent(Event[_T]):
        """For type checkers: an ``Event(..., asynchronous=True)``, whose handlers may be
        coroutine functions (a synchronous event's must return None)."""


class Bus(Registry):
    """Synchronous, in-process dispatch of events to the handlers of their pair.

    Handlers register for a ``(domain, action)`` pair or an `Event`; `call`,
    `publish`, `acall` and `apublish` run the handlers of the pair a `Data` names,
    in registration order, on the caller's thread, before they return.  A bus is
    safe to use from any number of threads: each dispatch runs on the snapshot of
    handlers taken when it starts, and a handler may register, unregister or
    dispatch again without deadlock.  A bus cannot be pickled, and ``__init__``
    runs once.

    Args:
        logger: Where `publish` and `apublish` log each handler's failure (at ERROR,
            with ``exc_info``), and where an observer's failure is logged; default
            ``logging.getLogger("eventbus")`` (which carries a `logging.NullHandler`).
        unhandled: What a dispatch (`call`, `publish`, `acall`, `apublish`) that finds
            no handler for its pair does: ``"ignore"`` (nothing; the default),
            ``"warn"`` (the first one of each pair logs a WARNING naming it) or
            ``"raise"`` (`UnhandledEventError`, with the closest registered pair).  A
            pair muted by `eventbus.testing` is not unhandled.
        observer: An `Observer` that sees every dispatch; default none (see
            `observer`).

    Raises:
        TypeError: ``logger`` is not a `logging.Logger` (or adapter), or
            ``observer`` has no ``dispatch`` method.
        ValueError: ``unhandled`` is not one of the three.

    Example:
        >>> bus = eventbus.Bus()
        >>> @bus.on("users", "created")
        ... def greet(ctx, data):
        ...     ctx.append(eventbus.decode(data)["name"])
        >>> seen = []
        >>> bus.call(seen, eventbus.new_data("users", "created", {"name": "Ada"}))
        >>> seen
        ['Ada']
    """

    __slots__ = (
        "_logger",
        "_lock",
        "_handlers",
        "_entries",
        "_holes",
        "_index",
        "_muted",
        "_pending",
        "_busy",
        "_observer",
        "_on_unhandled",
        "__weakref__",
    )

    _observer: Observer | None

    _codec_engine = "python"  # the pure twin has one codec engine, the stdlib reference
    _typed_handler = staticmethod(typed_handler)

    if TYPE_CHECKING:  # what type checkers see of the registry's methods (eventbus._registry)

        @overload  # type: ignore[override]
        def register(
            self, domain: str, action: str, handler: Callable[[Any, Data], object], *, weak: bool = False
        ) -> Callable[[], bool]: ...
        @overload
        def register(
            self, event: AsyncEvent[_T], handler: Callable[[Any, _T], object], /, *, weak: bool = False
        ) -> Callable[[], bool]: ...
        @overload
        def register(
            self, event: Event[_T], handler: Callable[[Any, _T], None], /, *, weak: bool = False
        ) -> Callable[[], bool]: ...
        def register(self, *args: Any, **kwargs: Any) -> Callable[[], bool]: ...  # pyright: ignore[reportIncompatibleMethodOverride]
        @overload  # type: ignore[override]
        def unregister(self, domain: str, action: str, handler: object) -> bool: ...
        @overload
        def unregister(self, event: Event[Any], handler: object, /) -> bool: ...
        def unregister(self, *args: Any, **kwargs: Any) -> bool: ...  # pyright: ignore[reportIncompatibleMethodOverride]
        @overload  # type: ignore[override]
        def on(self, domain: str, action: str) -> Callable[[_F], _F]: ...
        @overload
        def on(
            self, event: AsyncEvent[_T], /
        ) -> Callable[[Callable[[_C, _T], _R]], Callable[[_C, _T], _R]]: ...
        @overload
        def on(
            self, event: Event[_T], /
        ) -> Callable[[Callable[[_C, _T], None]], Callable[[_C, _T], None]]: ...
        def on(self, *args: Any, **kwargs: Any) -> Any: ...  # pyright: ignore[reportIncompatibleMethodOverride]
        @overload  # type: ignore[override]
        def handlers(self, domain: str, action: str) -> tuple[Callable[[Any, Data], object], ...]: ...
        @overload
        def handlers(self, event: Event[Any], /) -> tuple[Callable[[Any, Any], object], ...]: ...
        def handlers(self, *args: Any, **kwargs: Any) -> tuple[Callable[[Any, Any], object], ...]: ...  # pyright: ignore[reportIncompatibleMethodOverride]
        @overload
        def registrations(self) -> tuple[Registration, ...]: ...
        @overload
        def registrations(self, domain: str, action: str, /) -> tuple[Registration, ...]: ...
        @overload
        def registrations(self, event: Event[Any], /) -> tuple[Registration, ...]: ...
        def registrations(self, *args: Any) -> tuple[Registration, ...]: ...

    def _set_observer(self, observer: Observer | None) -> None:
        self._observer = observer

    def _get_observer(self) -> Observer | None:
        return self._observer

    def _bump(self) -> None:
        pass  # the compiled bus counts the changes for its per-thread copies: none here

    # -- dispatch ----------------------------------------------------------------------

    def call(self, ctx: object, data: Data) -> None:
        """Run the handlers of ``data``'s pair in order; the first failure stops the dispatch.

        The exception a handler raises propagates as it is, the same object, with a
        PEP 678 note naming the handler and the event: ``except LookupError`` around
        ``call`` catches a handler's `KeyError`.  Nothing is logged.  A pair without
        handlers is a no-op.  A pair with a coroutine-function handler is refused
        before any handler runs.

        Args:
            ctx: Passed to every handler untouched (any object, `None` included).
            data: The event.

        Raises:
            TypeError: ``data`` is not a `Data` (of this implementation); a handler is
                a coroutine function, or returned an awaitable (closed unawaited): use
                `acall`.
            UnhandledEventError: No handler for the pair, on a bus built with
                ``unhandled="raise"``.
            Exception: Whatever the first failing handler raised.
        """
        if self._observer is not None:
            observed(self, self._observer, "call", ctx, data)
            return
        if type(data) is not Data:
            raise not_data(data)
        if _FREE_THREADED:
            handlers = _lookup(self._handlers, data.domain, data.action)
            if handlers is None:
                if self._on_unhandled is not None:  # inline: "ignore" (the default) costs one test, no call
                    self._on_unhandled(self, data)
                return
        else:  # with the GIL dict.get is lock-free, and the fastest read
            actions = self._handlers.get(data.domain)
            if actions is None:
                if self._on_unhandled is not None:
                    self._on_unhandled(self, data)
                return
            handlers = actions.get(data.action)
            if handlers is None:
                if self._on_unhandled is not None:
                    self._on_unhandled(self, data)
                return
        while True:
            try:
                for handler in handlers:
                    result = handler(ctx, data)
                    if result is not None:
                        refuse_awaitable(handler, result, "call")
            except BaseException as exc:
                # A marker is not iterable: the slow path below, no handler ran.
                # (The try costs nothing in the interpreter; a type check would.)
                if type(handlers) is tuple:
                    try:
                        failed = handler  # pyright: ignore[reportPossiblyUnboundVariable]
                    except UnboundLocalError:
                        pass  # a signal handler's exception, before the first handler ran
                    else:
                        add_note(exc, failed, data)
                    raise
                if type(exc) is not TypeError:
                    raise  # a signal handler's, not the marker's: never swallowed
            else:
                return
            handlers = self._current(data.domain, data.action)
            if handlers is None:
                if self._on_unhandled is not None:
                    self._on_unhandled(self, data)
                return
            if type(handlers) is Refused:
                raise coroutine_refused(handlers.refused, "call")

    def publish(self, ctx: object, data: Data) -> None:
        """Run every handler of ``data``'s pair, whatever the others do.

        Each `Exception` a handler raises is logged on the bus's logger at ERROR with
        ``exc_info``, naming the handler and the event, and the next handler runs.  A
        `BaseException` that is not an `Exception` (`KeyboardInterrupt`, `SystemExit`)
        propagates at once.

        Args:
            ctx: Passed to every handler untouched.
            data: The event.

        Raises:
            ExceptionGroup: After the last handler, if any raised: its message names
                the event and how many handlers failed (``"2 of 3 handlers failed for
                event 'users'/'created'"``); ``.exceptions`` are the raised objects in
                registration order.  Use ``except*`` to handle the kinds you expect.
            TypeError: ``data`` is not a `Data` (of this implementation).
        """
        if self._observer is not None:
            observed(self, self._observer, "publish", ctx, data)
            return
        if type(data) is not Data:
            raise not_data(data)
        if _FREE_THREADED:
            handlers = _lookup(self._handlers, data.domain, data.action)
            if handlers is None:
                if self._on_unhandled is not None:
                    self._on_unhandled(self, data)
                return
        else:  # with the GIL dict.get is lock-free, and the fastest read
            actions = self._handlers.get(data.domain)
            if actions is None:
                if self._on_unhandled is not None:
                    self._on_unhandled(self, data)
                return
            handlers = actions.get(data.action)
            if handlers is None:
                if self._on_unhandled is not None:
                    self._on_unhandled(self, data)
                return
        errors: list[Exception] | None = None
        while True:
            try:
                for handler in handlers:
                    try:
                        result = handler(ctx, data)
                        if result is not None:
                            refuse_awaitable(handler, result, "publish")
                    except Exception as exc:
                        add_note(exc, handler, data)
                        if errors is None:
                            errors = []
                        errors.append(exc)
                        self._log_failure(handler, data, exc)
            except BaseException as exc:
                if type(handlers) is tuple:  # else a marker: not iterable, no handler ran
                    if not isinstance(exc, Exception):
                        try:
                            failed = handler  # pyright: ignore[reportPossiblyUnboundVariable]
                        except UnboundLocalError:
                            pass  # a signal handler's exception, before the first handler ran
                        else:
                            add_note(exc, failed, data)
                    raise
                if type(exc) is not TypeError:
                    raise  # a signal handler's, not the marker's: never swallowed
            else:
                break
            handlers = self._current(data.domain, data.action)
            if handlers is None:
                if self._on_unhandled is not None:
                    self._on_unhandled(self, data)
                return
            if type(handlers) is Refused:
                handlers = handlers.handlers
        if errors is not None:
            try:
                raise failures(data, handlers, errors)
            finally:
                # The tracebacks lead back to this frame: without this, frame ->
                # errors -> tracebacks -> frame is a cycle keeping ctx and data alive.
                errors = None

    def _snapshot(self, data: object) -> tuple[Callable[[Any, Data], object], ...]:
        if type(data) is not Data:
            raise not_data(data)
        handlers: Any = _lookup(self._handlers, data.domain, data.action)
        if handlers is None:
            self._unhandled(data)
            return ()
        if type(handlers) is tuple:
            return handlers  # pyright: ignore[reportUnknownVariableType]
        handlers = self._current(data.domain, data.action)
        if handlers is None:
            self._unhandled(data)
            return ()
        return handlers.handlers if type(handlers) is Refused else handlers

    async def acall(self, ctx: object, data: Data) -> None:
        """`call` for async handlers: each handler's awaitable is awaited in turn.

        Coroutine functions, handlers returning any awaitable and plain handlers alike
        are called one after another in registration order, in the caller's task, each
        awaited before the next starts.  The first failure stops the dispatch and
        propagates; cancellation propagates at once.  A plain handler's `StopIteration`
        becomes a `RuntimeError` chained from it (a coroutine cannot let it out).

        Args:
            ctx: Passed to every handler untouched.
            data: The event.

        Raises:
            TypeError: ``data`` is not a `Data` (of this implementation).
            Exception: Whatever the first failing handler raised.
        """
        if self._observer is not None:
            await observed(self, self._observer, "acall", ctx, data)
            return
        for handler in self._snapshot(data):
            try:
                try:
                    result = handler(ctx, data)
                except StopIteration as exc:
                    # A coroutine cannot let StopIteration out (PEP 479); say so in our own words.
                    raise RuntimeError(f"handler {registered_name(handler)} raised StopIteration") from exc
                if result is not None and isawaitable(result):
                    await await_result(result)
            except BaseException as exc:
                add_note(exc, handler, data)
                raise

    async def apublish(self, ctx: object, data: Data) -> None:
        """`publish` for async handlers: each handler's awaitable is awaited in turn.

        As `acall`, but every handler runs: failures are logged and grouped as by
        `publish`.

        Args:
            ctx: Passed to every handler untouched.
            data: The event.

        Raises:
            ExceptionGroup: After the last handler, if any raised, as `publish`.
            TypeError: ``data`` is not a `Data` (of this implementation).
        """
        if self._observer is not None:
            await observed(self, self._observer, "apublish", ctx, data)
            return
        handlers = self._snapshot(data)
        errors: list[Exception] | None = None
        for handler in handlers:
            try:
                result = handler(ctx, data)
                if result is not None and isawaitable(result):
                    await await_result(result)
            except Exception as exc:
                add_note(exc, handler, data)
                if errors is None:
                    errors = []
                errors.append(exc)
                self._log_failure(handler, data, exc)
            except BaseException as exc:
                add_note(exc, handler, data)
                raise
        if errors is not None:
            try:
                raise failures(data, handlers, errors)
            finally:
                # The tracebacks lead back to this frame: without this, frame ->
                # errors -> tracebacks -> frame is a cycle keeping ctx and data alive.
                errors = None


# Whether the GIL is off (free-threaded CPython), decided once at import.  Both reads are
# correct on every build; call and publish take the one that is fast there (see _lookup).
_FREE_THREADED = FREE_THREADED


def _lookup(registry: dict[str, dict[str, Any]], domain: str, action: str) -> Any:
    """The registry read: what ``registry[domain][action]`` holds, None if nothing.

    Tests and subscripts, never ``dict.get``: on free-threaded 3.13 ``dict.get`` takes the
    dict's lock, and threads dispatching at once queue on it (a domain equal to the key
    but not the same str, decoded or built at run time, ran at 0.02x one thread there);
    ``in`` and ``[]`` read without a lock.  A writer on another thread may remove the
    pair between the test and the read: then the pair has no handlers.  (With the GIL,
    call and publish read with dict.get instead, faster there.)
    """
    try:
        if domain not in registry:
            return None
        actions = registry[domain]
        if action not in actions:
            return None
        return actions[action]
    except KeyError:
        return None
