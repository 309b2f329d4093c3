"""The pure-Python ``Data`` and ``Bus``: the twin of ``_core.pyx``, which behaves the same.

Most functions are written identically in both; the contract at the end says which,
and why the others differ.

The registry is a dict of dicts (domain -> action -> tuple of handlers).  Writers
take the bus's lock, build a new tuple and swap it in; dispatch reads the current
tuple without a lock, so every dispatch runs on the snapshot it started with and
handlers may register, unregister or dispatch from inside a dispatch.

The twin contract, checked by ``tests/twins/test_contract.py``.  "Identical" means the same Python
syntax tree once Cython's type declarations and casts and the pure twin's annotations,
``typing.cast`` calls and ``@overload`` stubs are removed; comments and layout are not
compared.  Every function and method of either twin is named below, once.

Identical in both twins:
    ``_check_name``, ``_check_raw_params``, ``_first_isawaitable``, ``_inspect``,
    ``_handler_name``, ``_refuse_awaitable``, ``new_data``, ``must_data``, ``_restore_data``,
    ``_not_data``, ``_is_coroutine_function``, ``_typed_handler``, ``_weak_handler``,
    ``_add_note``, ``_not_initialised``, ``_snapshot``, ``_coroutine_refused``,
    ``_failures``, ``_refuse_coroutines``, ``_observed_note``, ``_registered_name``,
    ``check_observer``;
    ``Data.__setattr__``, ``Data.__delattr__``, ``Data.__ne__``, ``Data.__copy__``,
    ``Data.__deepcopy__``; ``_Refused.__init__``, ``_Mute.__init__``,
    ``_Registration.__init__``, ``_Registration.registered``; ``_Missing.__repr__``;
    ``_NotInitialised._fail``, ``_NotInitialised.__getattr__``;
    ``_identity``, ``_queue``; ``_Index.__init__``, ``_Index.add``, ``_Index.usable``,
    ``_Index.earliest``, ``_Index.forget``;
    ``Bus.__reduce__``, ``Bus.observer.deleter``, ``Bus._pair``,
    ``Bus._weakly``, ``Bus._unregister_identical``, ``Bus._unregister_equal``,
    ``Bus._add``, ``Bus._remove``, ``Bus._compact``, ``Bus._drain``, ``Bus._drain_soon``,
    ``Bus._build``, ``Bus._mute``,
    ``Bus._add_mute``, ``Bus._remove_mute``, ``Bus.on``, ``Bus._registered_now``,
    ``Bus.handlers``, ``Bus.pairs``, ``Bus._log_failure``, ``Bus._log_observer_failure``,
    ``Bus.registrations``, ``Bus._registration_rows``, ``Bus._is_muted``.

Different on purpose:
- ``Data.__eq__``, ``Data.__hash__``, ``Data.__repr__``, ``Data.__reduce__``: the compiled
  Data reads its C fields (``self._domain``), the pure one its slots (``self.domain``).
- ``Bus.__init__``, ``Bus.observer``, ``Bus.observer.setter``: the compiled bus keeps a C
  flag beside the observer, which dispatch tests, and reads or swaps the observer inside
  the bus's critical section (free-threaded builds); the pure bus tests the attribute.
- ``Bus.call``, ``Bus.publish``: the compiled loop is C (``eventbus_run`` in ``_core.h``)
  with no try block on the success path; the pure loop is a ``for`` inside a ``try`` that
  also takes a stale pair's marker (not iterable) for the slow path, and reads the
  registry with ``dict.get`` with the GIL, ``_lookup`` without it.
- ``Bus.register``, ``Bus._unregister``, ``Bus.unregister``, ``Bus._write``, ``Bus._current``: the
  writers' ``_busy`` hint, which dispatch reads without the lock, is a C flag with relaxed
  atomics in the compiled twin (free-threaded builds), an attribute in the pure one; the
  compiled ``_current`` reads the live snapshot with ``Bus._live``, the pure one with
  ``_lookup``; the compiled ``unregister`` checks that ``__init__`` ran (its registry is a C
  field, ``None`` until then), where the pure one's ``_NOT_INITIALISED`` raises.
- ``Bus._set_live``: the compiled twin also bumps the version the free-threaded per-thread
  copies of the registry are checked against.
- ``Bus._snapshot``: through the compiled ``Bus._lookup`` and ``Bus._slow``; the pure twin
  inlines both.
- ``Bus.acall``, ``Bus.apublish``: the observer check (the C flag against the attribute);
  the pure ``apublish`` also drops its errors list after raising, to break the frame ->
  traceback -> frame cycle Cython frames do not make.
- ``_registered_handler``: the wrappers are Cython functions in the compiled twin, plain
  functions in the pure one.
- ``_decode``: the compiled twin decodes on its codec engine (``codec_engine``), the pure
  twin has one engine, the stdlib reference.
- ``_is_event``: the compiled twin looks ``eventbus._event`` up only once it is loaded, so
  that ``import eventbus`` loads no typing; the pure twin imports it.
- ``_FirstObserved.__getattr__``: the compiled ``_refuse_awaitable`` is a C function, so
  the observed dispatch gets the ``_refuse_awaitable_in`` wrapper.

Only in the compiled twin:
- ``Data.__cinit__``, ``Data.domain``, ``Data.action``, ``Data.raw_params``: a Data is
  built in ``__cinit__`` and read through properties, which take no per-object lock on
  free-threaded builds (``cdef readonly`` getters would).
- ``Bus.__cinit__``, ``Bus.__dealloc__``: mark a bus whose ``__init__`` never ran, and
  hold the versions of the free-threaded per-thread registry copies (``_core.h``).
- ``Bus._live``: the live snapshot of a pair, for ``Bus._current``.
- ``Bus._current_observer``, ``Bus._dispatch_observed``: the observer read under the
  critical section, and the cold observed path kept out of the dispatch methods.
- ``Bus._lookup``, ``Bus._slow``: dispatch's registry read (``eventbus_lookup``) and its
  slow path, which the pure dispatch inlines.
- ``Bus._no_handlers``: call's and publish's path when no handler is found (``unhandled=``),
  kept out of the two methods; the pure twin inlines it.
- ``_raise_noted``: adds call's note to the exception the C loop left pending.
- ``_local_of``: a bus's per-thread registry copies, for ``_core.h`` (a thread that ends
  drops its copies, free-threaded builds).
- ``_refuse_awaitable_in``, ``_refuse_in_call``, ``_refuse_in_publish``: Python-callable
  forms of the C ``_refuse_awaitable``, for the C loop and the observed dispatch.
- ``_event_class``, ``__getattr__``: ``Event`` defined on first use, so that
  ``import eventbus`` loads no typing.
- ``_must_data_with``: ``must_data`` on another codec engine, for benchmarks and
  differential tests.

Only in the pure twin:
- ``Data.__new__``, ``Data.__init_subclass__``: a Data built in ``__new__`` through its
  slots' descriptors, and refusing subclasses as Cython's final class does.
- ``Bus.__new__``: marks a bus whose ``__init__`` never ran.
- ``_lookup``: the registry read without ``dict.get`` (free-threaded builds).
"""

from __future__ import annotations

import sys
from _thread import RLock as _RLock
from collections.abc import Callable
from types import FunctionType, MethodType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, cast, final, overload

from . import _event, _staging, _wiring
from ._awaiting import await_result
from ._codec.encode import encode_params

if TYPE_CHECKING:
    import logging
    from collections.abc import Awaitable

    from typing_extensions import TypeIs

    from ._observe import Dispatcher, Observer
    from ._registration import Registration

__all__ = ["Bus", "Data", "Event", "must_data", "new_data"]

# ``on`` hands back the decorated function with its own type.
_F = TypeVar("_F", bound="Callable[[Any, Data], object]")
_T = TypeVar("_T")
_S = TypeVar("_S")
_C = TypeVar("_C")
_R = TypeVar("_R")


def _check_name(what: str, value: object) -> str:
    if type(value) is str:
        if value:
            return value
        raise ValueError(f"{what} must be a non-empty str")
    if isinstance(value, str) and issubclass(type(value), str):
        # A str subclass may redefine hashing or equality: keep a plain copy.  (The real
        # type, not isinstance alone: Mock(spec=str) fakes __class__; Cython looks past it.)
        return _check_name(what, str.__str__(value))
    raise TypeError(f"{what} must be str, not {type(value).__qualname__}")


def _check_raw_params(value: object) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, bytes) and issubclass(type(value), bytes):  # (as for str above)
        return bytes(memoryview(value))
    raise TypeError(f"raw_params must be bytes or None, not {type(value).__qualname__}")


def _first_isawaitable(value: object) -> TypeIs[Awaitable[Any]]:
    """``inspect.isawaitable``, importing inspect on first use (import eventbus stays cheap)."""
    global _isawaitable  # noqa: PLW0603
    from inspect import isawaitable  # noqa: PLC0415

    _isawaitable = isawaitable
    return isawaitable(value)


_isawaitable: Callable[[object], TypeIs[Awaitable[Any]]] = _first_isawaitable


def _inspect() -> Any:
    """The inspect module, imported on first use (import eventbus stays cheap)."""
    import inspect  # noqa: PLC0415

    return inspect


def _handler_name(handler: object) -> str:
    name = getattr(handler, "__qualname__", None)
    module = getattr(handler, "__module__", None)
    if isinstance(name, str):
        return f"{module}.{name}" if isinstance(module, str) else name
    return repr(handler)


def _refuse_awaitable(handler: object, result: object, method: str) -> None:
    if not _isawaitable(result):
        return
    close = getattr(result, "close", None)
    if close is not None:
        close()  # a coroutine that is never awaited warns when collected
    raise TypeError(
        f"handler {_handler_name(_registered_handler(handler))} returned an awaitable, which {method}() "
        f"cannot run: dispatch with a{method}() instead"
    )


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
            domain = _check_name("domain", domain)
        if type(action) is not str or not action:
            action = _check_name("action", action)
        if raw_params is not None and type(raw_params) is not bytes:
            raw_params = _check_raw_params(raw_params)
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
    return Data(domain, action, _encode_payload(params, domain, action))


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
    return Data(domain, action, _encode_payload(params, domain, action))


def _restore_data() -> Callable[[str, str, bytes | None], object]:
    """What ``Data`` pickles call to load: ``eventbus._restore_data`` (stable across versions)."""
    from eventbus import _restore_data as restore  # noqa: PLC0415  # pyright: ignore[reportPrivateUsage]

    return restore


def _not_data(data: object) -> TypeError:
    cls = type(data)
    name: str = cls.__qualname__
    if name == "Data":
        # Another class called Data: say whose, most often the other implementation's.
        module = cls.__module__
        name = f"{module}.Data"
        if module in ("eventbus._core", "eventbus._core_py"):
            name += " (the other implementation's: use eventbus.Data)"
    return TypeError(f"data must be an eventbus.Data, not {name}")


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


def _is_event(value: object) -> bool:
    return isinstance(value, _event.Event)


# -- The registry -------------------------------------------------------------------
#
# Per pair, one insertion-ordered dict maps each registration (its token) to what
# dispatch calls for it: adding and removing one is O(1) and the two can never
# disagree.  Dispatch reads ``_handlers[domain][action]``, which is a plain tuple
# (the snapshot) or, after a change, a marker: a dispatch that meets a marker
# rebuilds the tuple under the lock, once per batch of changes.


class _Stale:
    """In the registry, for "the snapshot must be rebuilt"; not iterable on purpose."""

    __slots__ = ()


_STALE = _Stale()


class _Refused:
    """The snapshot of a pair with a coroutine-function handler: ``call`` refuses it
    before running any handler; the other methods run ``handlers``."""

    __slots__ = ("handlers", "refused")

    def __init__(self, handlers: tuple[Callable[[Any, Data], object], ...], refused: str) -> None:
        self.handlers = handlers
        self.refused = refused  # the name of the first coroutine function


class _Mute:
    """One mute of a pair (``eventbus.testing``), its identity marking it: what ``handlers``
    reports and what dispatch runs while it is the newest mute of the pair in force."""

    __slots__ = ("key", "handlers", "snapshot")

    def __init__(
        self, key: tuple[str, str], handlers: tuple[Callable[[Any, Data], object], ...], snapshot: Any
    ) -> None:
        self.key = key
        self.handlers = handlers
        self.snapshot = snapshot  # None, a tuple or a _Refused, as _snapshot builds it


class _Registration:
    """One registration: its pair, the handler as registered (or a weak reference to
    it), what dispatch calls, whether it is a coroutine function, and whether it is gone;
    for ``registrations()``, its event (or None) and where it was made."""

    __slots__ = ("key", "handler", "weak", "coroutine", "removed", "indexed", "event", "site")

    def __init__(
        self,
        key: tuple[str, str],
        handler: Any,
        weak: bool,
        coroutine: bool,
        event: Any,
        site: tuple[Any, int],
    ) -> None:
        self.key = key
        self.handler = handler  # a weak reference to it, once _weakly has run
        self.weak = weak
        self.coroutine = coroutine
        self.removed = False
        self.indexed = _NOT_INDEXED  # its place in its pair's _Index, if the pair has one
        self.event = event
        self.site = site  # (code, offset) of the register() call or the @bus.on() line

    def registered(self) -> Any:
        """The handler as registered; ``None`` once a weak one was collected."""
        return self.handler() if self.weak else self.handler


# -- Unregister by handler ------------------------------------------------------------
#
# unregister(pair, handler) removes the earliest registration whose handler == handler.
# When == is identity (a function, a class, an object whose type keeps object.__eq__)
# or a bound method of such a function (== compares __self__ by identity and __func__
# by ==), an equal handler has the same identity key, so a pair's _Index (built on the
# first removal by handler, then kept up to date under the lock) finds it in O(1).  Any
# other handler, registered or given, may be equal to anything: then the removal
# compares in registration order, as the contract says, outside the lock.

_NOT_INDEXED = 0  # not in the pair's index (no index, or removed when it was built)
_BY_IDENTITY = 1  # in _Index.by_identity
_BY_EQUALITY = 2  # counted in _Index.others
_OBJECT_EQ: Any = object.__eq__


def _identity(handler: object) -> object:
    """A key equal for equal handlers (ints: no reference to the handler), or None when
    handler's == may be something other than identity."""
    cls = type(handler)
    if cls is FunctionType:  # the common case first (a builtin type: its == cannot change)
        return id(handler)
    try:
        if cls is MethodType:
            func = cast(MethodType, handler).__func__
            if type(func).__eq__ is _OBJECT_EQ:
                return (id(cast(MethodType, handler).__self__), id(func))
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
    """A pair's registrations by identity key (see _identity), in registration order:
    key -> the registration, or a deque of them when a handler is registered again."""

    __slots__ = ("by_identity", "types", "others", "dead")

    def __init__(self) -> None:
        self.by_identity: dict[object, Any] = {}
        # Every type an identity key relied on: if one gains an __eq__, the index is not used.
        self.types: dict[type, None] = {}
        self.others = 0  # registrations of the pair whose handler's == may not be identity
        self.dead = 0  # removed registrations still in by_identity

    def add(self, registration: _Registration) -> None:
        handler: Any = registration.handler() if registration.weak else registration.handler
        key = None if handler is None else _identity(handler)
        if key is not None:
            cls: Any = type(cast(Any, handler))  # pyright: ignore[reportUnknownVariableType]
            if cls is MethodType:
                cls = type(cast(Any, handler).__func__)  # pyright: ignore[reportUnknownVariableType]
            if cls is not FunctionType:  # (its == cannot change)
                try:
                    self.types[cls] = None
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
        registration.indexed = _BY_IDENTITY

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
            if present.removed:
                del self.by_identity[key]
                self.dead -= 1
                return None
            registered = present.registered()
            return present if registered is not None and registered == handler else None
        while present and present[0].removed:
            present.popleft()
            self.dead -= 1
        for registration in present:
            if not registration.removed:
                registered = registration.registered()
                if registered is not None and registered == handler:  # identities: runs no code
                    return registration  # type: ignore[no-any-return]
        if not present:
            del self.by_identity[key]
        return None

    def forget(self, key: object, registration: _Registration) -> None:
        """Drop a registration just removed (the earliest of its key)."""
        present = self.by_identity.get(key)
        if present is registration:
            del self.by_identity[key]
            self.dead -= 1
        elif type(present) is not _Registration and present and present[0] is registration:
            present.popleft()
            self.dead -= 1
            if not present:
                del self.by_identity[key]


def _is_coroutine_function(handler: object) -> bool:
    # inspect's own answer, without its detours for plain functions (registration
    # is measured against pyee's add_listener).
    if type(handler) is FunctionType:
        if handler.__code__.co_flags & _CO_COROUTINE:
            return True
        if not _MARKABLE or getattr(handler, "_is_coroutine_marker", None) is None:
            return False
    return bool(_inspect().iscoroutinefunction(handler))


_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE
# inspect.markcoroutinefunction (3.12+) marks a plain function as a coroutine function.
_MARKABLE = sys.version_info >= (3, 12)


_getframe = sys._getframe  # noqa: SLF001  # pyright: ignore[reportPrivateUsage] - one caller's line, cheaply
_CALLER = 1  # sys._getframe's depth of register()'s caller
_SKIPPED = _wiring.SKIPPED

_NO_PAYLOAD_TYPE: Any = object()


class _Missing:
    """The default of an argument a call may leave out (a pair's action, a handler)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"  # what help() shows, rather than <object object at 0x...>


_MISSING: Any = _Missing()


def _registered_handler(target: object) -> object:
    """The handler as registered behind what dispatch calls (a typed or weak wrapper)."""
    # Known by its code, not by an attribute: a Mock handler has every attribute.
    if type(target) is FunctionType and target.__code__ in _WRAPPER_CODES:
        behind: Any = target._eventbus_handler  # type: ignore[attr-defined]
        return behind[0] if type(behind) is tuple else behind()  # pyright: ignore[reportUnknownVariableType]
    return target


def _typed_handler(
    handler: Callable[[Any, Any], object], payload_type: object, decode: Any
) -> Callable[[Any, Data], object]:
    def typed_handler(ctx: object, data: Data) -> object:
        return handler(ctx, decode(data, payload_type))

    typed_handler._eventbus_handler = (handler,)  # type: ignore[attr-defined]
    return typed_handler


def _weak_handler(ref: Callable[[], Any], payload_type: object, decode: Any) -> Callable[[Any, Data], object]:
    def weak_handler(ctx: object, data: Data) -> object:
        handler = ref()
        return None if handler is None else handler(ctx, data)

    def weak_typed_handler(ctx: object, data: Data) -> object:
        handler = ref()
        return None if handler is None else handler(ctx, decode(data, payload_type))

    wrapper = weak_handler if payload_type is _NO_PAYLOAD_TYPE else weak_typed_handler
    wrapper._eventbus_handler = ref  # type: ignore[attr-defined]
    return wrapper


_WRAPPER_CODES = frozenset(
    {
        _typed_handler(print, int, None).__code__,
        *(_weak_handler(print, t, None).__code__ for t in (_NO_PAYLOAD_TYPE, int)),
    }
)


def _add_note(exc: BaseException, target: object, data: Data) -> None:
    exc.add_note(
        f"eventbus: handler {_handler_name(_registered_handler(target))} failed for event "
        f"{data.domain!r}/{data.action!r}"
    )


def _not_initialised() -> RuntimeError:
    return RuntimeError(
        "this Bus was never initialised: Bus.__init__() did not run "
        "(a subclass's __init__ must call super().__init__())"
    )


class _NotInitialised:
    """What a Bus whose __init__ never ran holds instead of its lock and registry (set by
    Bus.__new__): every use of it raises, with the same words on both twins."""

    __slots__ = ()

    def _fail(self, *args: object, **kwargs: object) -> Any:
        raise _not_initialised()

    __enter__ = __exit__ = __contains__ = __getitem__ = __iter__ = __len__ = __bool__ = _fail

    def __getattr__(self, name: str) -> Any:
        raise _not_initialised()


_NOT_INITIALISED: Any = _NotInitialised()


class Bus:
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
        "_observer",
        "_busy",
        "_unhandled",
        "__weakref__",
    )

    def __new__(
        cls, logger: Any = None, *, unhandled: Any = "ignore", observer: Any = None
    ) -> Self:  # (__init__'s)
        # Until __init__ runs, a bus holds _NOT_INITIALISED: using it raises a clear error
        # (a subclass that forgets super().__init__(), Bus.__new__(Bus)), not AttributeError.
        self = object.__new__(cls)
        for name in ("_logger", "_lock", "_handlers", "_entries", "_holes", "_index", "_muted", "_pending"):
            object.__setattr__(self, name, _NOT_INITIALISED)
        self._observer = None
        self._busy = False
        self._unhandled = None
        return self

    def __init__(
        self,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        *,
        unhandled: Literal["ignore", "warn", "raise"] = "ignore",
        observer: Observer | None = None,
    ) -> None:
        # Re-initialising a live bus would swap its lock and registry under other threads.
        if cast(Any, self)._lock is not _NOT_INITIALISED:
            raise TypeError("Bus.__init__() may be called only once")
        import logging  # noqa: PLC0415 - on first use: import eventbus stays cheap

        if logger is None:
            logger = _wiring.library_logger()
        elif not isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
            raise TypeError(f"logger must be a logging.Logger or None, not {type(logger).__qualname__}")
        # What a dispatch that finds no handler calls: None ("ignore") or a _wiring.Unhandled.
        self._unhandled: _wiring.Unhandled | None = _wiring.unhandled_policy(unhandled, logger)
        self._observer: Observer | None = check_observer(observer)
        self._logger = logger
        # Reentrant only so that _is_owned() is exact: an operation that finds the lock
        # held by its own thread (a finalizer, a weakref callback or a signal handler
        # running inside a locked section) queues its change in _pending instead.
        self._lock = _RLock()  # threading.RLock(), without importing threading
        # domain -> action -> the snapshot dispatch runs (a tuple, replaced, never
        # mutated), _STALE after a change, or a _Refused.
        self._handlers: dict[str, dict[str, Any]] = {}
        # (domain, action) -> {registration: what dispatch calls}, in registration order.
        self._entries: dict[tuple[str, str], dict[_Registration, Callable[[Any, Data], object]]] = {}
        # (domain, action) -> registrations removed since its dict was last compacted.
        self._holes: dict[tuple[str, str], int] = {}
        # (domain, action) -> its _Index, from the first unregister by handler on.
        self._index: dict[tuple[str, str], _Index] = {}
        # (domain, action) -> the mutes in force, oldest first: eventbus.testing.
        self._muted: dict[tuple[str, str], list[_Mute]] = {}
        # Changes queued while the lock was held: (function, argument), applied in order.
        self._pending: list[tuple[Callable[[Any], object], Any]] = []

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
        return self._observer

    @observer.setter
    def observer(self, observer: Observer | None) -> None:
        self._observer = check_observer(observer)

    @observer.deleter
    def observer(self) -> None:
        self.observer = None

    # -- arguments ----------------------------------------------------------------

    @staticmethod
    def _pair(domain: object, action: object, method: str) -> tuple[Any, str, str, Any]:
        """(event or None, domain, action, what follows the pair) from (event, x) or (domain, action, x)."""
        if _is_event(domain):
            event: Any = cast(Any, domain)
            return event, event.domain, event.action, action
        if action is _MISSING:
            raise _wiring.missing_pair(method)
        try:
            return None, _check_name("domain", domain), _check_name("action", action), _MISSING
        except (TypeError, ValueError) as exc:
            raise _wiring.pair_error(method, exc, domain) from None

    # -- writers --------------------------------------------------------------------

    @overload
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
    def register(
        self,
        domain: Any,
        action: Any = _MISSING,
        handler: Any = _MISSING,
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
        event: Any
        if type(domain) is not str and _is_event(domain):
            event = domain
            if handler is not _MISSING:
                raise TypeError("register(event, handler) takes no action: the event names the pair")
            domain, action, handler = event.domain, event.action, action
        elif action is _MISSING:
            raise _wiring.missing_pair("register")
        else:
            event = None
            if type(domain) is not str or not domain or type(action) is not str or not action:
                try:  # (two plain names skip the calls)
                    domain, action = _check_name("domain", domain), _check_name("action", action)
                except (TypeError, ValueError) as exc:
                    raise _wiring.pair_error("register", exc, domain) from None
        if handler is _MISSING:
            raise TypeError("register() needs a handler")
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__qualname__}")
        if weak is not False and weak is not True:
            raise TypeError(f"weak must be a bool, not {type(weak).__qualname__}")
        key = (domain, action)
        coroutine = _is_coroutine_function(handler)
        if coroutine and event is not None and not event.asynchronous:
            raise _wiring.coroutine_refused(_handler_name(handler), event)
        # Where it is registered, at registration only: the caller's code and offset (its line is
        # worked out by registrations()); past eventbus's own frames for on() and eventbus.testing.
        caller = _getframe(_CALLER)
        code = caller.f_code
        site = (
            (code, caller.f_lasti)
            if not code.co_filename.startswith(_SKIPPED)
            else _wiring.site_beyond(caller)
        )
        registration = _Registration(key, handler, weak, coroutine, event, site)
        target: Callable[[Any, Data], object]
        if weak:
            target = self._weakly(
                registration, handler, _NO_PAYLOAD_TYPE if event is None else event.payload_type
            )
        else:
            target = handler if event is None else _typed_handler(handler, event.payload_type, _decode())
        lock = self._lock
        if lock._is_owned():  # type: ignore[attr-defined]
            self._pending.append((self._add, (registration, target)))
        else:
            with lock:
                self._busy = True  # a hint for dispatch (see _current)
                # _add, inlined (registration is measured against pyee's add_listener).
                actions = self._handlers.get(domain)
                if actions is None:
                    actions = self._handlers[domain] = {}
                actions[action] = _STALE
                # Indexed first: should indexing fail (no memory; a class failing its own
                # lookups is handled there), nothing is registered (an indexed registration
                # that is not in _entries is passed over).
                if self._index:
                    index = self._index.get(key)
                    if index is not None:
                        index.add(registration)
                entries = self._entries.get(key)
                if entries is None:
                    entries = self._entries[key] = {}
                entries[registration] = target
                if self._pending:
                    self._drain()
                self._busy = False
            if self._pending:
                self._drain_soon()

        def unregister() -> bool:
            return self._unregister(registration)

        return unregister

    def _weakly(
        self, registration: _Registration, handler: Any, payload_type: object
    ) -> Callable[[Any, Data], object]:
        def collected(ref: object) -> None:
            # On whatever thread dropped the handler, maybe inside one of this bus's
            # locked sections: queue the removal, never wait for the lock.
            self._pending.append((self._remove, registration))
            registration.removed = True
            if not self._lock._is_owned():  # type: ignore[attr-defined]
                self._drain_soon()

        import weakref  # noqa: PLC0415 - on first use: import eventbus stays cheap

        try:
            if _inspect().ismethod(handler):
                ref: Callable[[], Any] = weakref.WeakMethod(handler, collected)
            else:
                ref = weakref.ref(handler, collected)
        except TypeError:
            raise TypeError(
                f"cannot hold handler {_handler_name(handler)} weakly: "
                f"{type(handler).__qualname__} objects do not support weak references"
            ) from None
        registration.handler = ref
        return _weak_handler(ref, payload_type, None if payload_type is _NO_PAYLOAD_TYPE else _decode())

    def _unregister(self, registration: _Registration) -> bool:
        if self._lock._is_owned():  # type: ignore[attr-defined]
            if registration.removed:
                return False
            self._pending.append((self._remove, registration))
            registration.removed = True
            return True
        with self._lock:
            self._busy = True  # a hint for dispatch (see _current)
            if registration.removed:
                found = False
            else:
                # Removed first, then marked: an interruption in between leaves a
                # registration that is gone, which a later unregister() finds gone.
                found = self._remove(registration)
                registration.removed = True
            if self._pending:
                self._drain()
            self._busy = False
        if self._pending:
            self._drain_soon()
        return found

    @overload
    def unregister(self, domain: str, action: str, handler: object) -> bool: ...
    @overload
    def unregister(self, event: Event[Any], handler: object, /) -> bool: ...
    def unregister(self, domain: Any, action: Any = _MISSING, handler: Any = _MISSING) -> bool:
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
        if type(domain) is str and domain and type(action) is str and action and handler is not _MISSING:
            rest = _MISSING  # _pair's answer for a plain pair, without the call
        else:
            _, domain, action, rest = self._pair(domain, action, "unregister")
        if rest is not _MISSING:
            if handler is not _MISSING:
                raise TypeError("unregister(event, handler) takes no action: the event names the pair")
            handler = rest
        if handler is _MISSING:
            raise TypeError("unregister() needs the handler to remove")
        key = (domain, action)
        entries = self._entries.get(key)
        if entries is None:
            return False
        identity = id(handler) if type(handler) is FunctionType else _identity(handler)
        if identity is not None and not self._lock._is_owned():  # type: ignore[attr-defined]
            with self._lock:
                self._busy = True  # a hint for dispatch (see _current)
                removed = self._unregister_identical(key, identity, handler)
                if self._pending:
                    self._drain()
                self._busy = False
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
                    registration.indexed = _NOT_INDEXED
                elif type(registered) is FunctionType and id(registered) not in by_identity:
                    # _Index.add inlined for the common case, a strongly held function
                    # registered once (the build is part of the first removal's cost).
                    by_identity[id(registered)] = registration
                    registration.indexed = _BY_IDENTITY
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
            if self._remove(present):
                present.removed = True
                del index.by_identity[identity]
                index.dead -= 1  # (_remove counted it)
                return True
            present.removed = True  # gone already (an interruption): as below
        while True:
            earliest = index.earliest(identity, handler)
            if earliest is None:
                return False
            # (As in _unregister; one an interruption left removed but unmarked is passed.)
            removed = self._remove(earliest)
            earliest.removed = True
            index.forget(identity, earliest)
            if removed:
                return True

    def _unregister_equal(self, registration: _Registration, handler: object) -> bool:
        if registration.removed:
            return False
        registered = registration.registered()
        return registered is not None and registered == handler and self._unregister(registration)

    # Under the lock (or from _pending), each change is one step on the registry dicts
    # after marking the pair stale, so an exception between two steps (a
    # KeyboardInterrupt from a signal handler) leaves nothing half-done.

    def _add(self, item: tuple[_Registration, Callable[[Any, Data], object]]) -> None:
        registration, target = item
        if registration.removed:  # unregistered before a queued registration applied
            return
        domain, action = key = registration.key
        self._set_live(domain, action, _STALE)
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
        self._set_live(domain, action, _STALE)
        del entries[registration]
        if not entries:
            del self._entries[key]
            self._holes.pop(key, None)
            self._index.pop(key, None)
            if key not in self._muted:
                self._set_live(domain, action, None)
            return True
        index = self._index.get(key)
        if index is not None:
            if registration.indexed == _BY_EQUALITY:
                index.others -= 1
            elif registration.indexed == _BY_IDENTITY:
                index.dead += 1
                if index.dead > len(entries) + 64:
                    del self._index[key]  # rebuilt by the next unregister by handler
            registration.indexed = _NOT_INDEXED
        # A dict keeps the slot of a deleted key until it grows; iterating it (unregister
        # by handler, earliest first) skips them one by one: compact when they outnumber
        # the registrations (O(1) amortized per removal; unregister by handler compacts
        # sooner, when it is about to iterate).
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
        while self._pending and self._lock.acquire(blocking=False):
            try:
                self._drain()
            finally:
                self._lock.release()

    def _build(self, domain: str, action: str) -> Any:
        """The snapshot of a pair from the registrations (and mutes).

        Read from a copy of the registrations taken in one step (under the dict's own lock
        on free-threaded builds), so that a dispatch meeting a busy writer may build it
        without the bus's lock; under the lock the copy costs one more O(n) pass.
        """
        key = (domain, action)
        mutes = self._muted.get(key)
        if mutes:
            return mutes[-1].snapshot
        entries = self._entries.get(key)
        if not entries:
            return None
        entries = entries.copy()
        return _snapshot(tuple(entries.values()), [r for r in entries if r.coroutine])

    def _current(self, domain: str, action: str) -> Any:
        """Dispatch's slow path: the snapshot of a stale pair, rebuilt and installed."""
        lock = self._lock
        # Read only, installing nothing: inside our own locked section, or while a writer
        # (or a dispatch installing this very snapshot) holds the lock, so as never to queue
        # behind it; every change that returned is in the registrations already.  (_busy is
        # a hint, set and cleared inside the locked sections of the writers: both paths are
        # right whatever it says.)
        if lock._is_owned() or self._busy:  # type: ignore[attr-defined]
            return self._build(domain, action)
        with lock:
            self._busy = True
            snapshot = _lookup(self._handlers, domain, action)
            if snapshot is _STALE:  # (else another dispatch installed it meanwhile)
                snapshot = self._build(domain, action)
                self._set_live(domain, action, snapshot)
            self._drain()
            self._busy = False
        if self._pending:
            self._drain_soon()
        return snapshot

    def _set_live(self, domain: str, action: str, snapshot: Any) -> None:
        actions = self._handlers.get(domain)
        if snapshot is not None:
            if actions is None:
                actions = self._handlers[domain] = {}
            actions[action] = snapshot
        elif actions is not None:
            actions.pop(action, None)
            if not actions:
                del self._handlers[domain]

    def _mute(
        self, domain: str, action: str, replacement: tuple[Callable[[Any, Data], object], ...] = ()
    ) -> Callable[[], None]:
        """For ``eventbus.testing``: until the returned function is called, dispatches of
        the pair run ``replacement`` instead of the pair's handlers.

        The handlers are set aside, not removed: registering and unregistering keep
        working on them and take effect when the last mute of the pair ends.  Mutes
        nest and may end in any order; the newest one in force decides.
        """
        domain = _check_name("domain", domain)
        action = _check_name("action", action)
        key = (domain, action)
        replacement = tuple(replacement)
        coroutines = [h for h in replacement if _is_coroutine_function(h)]
        mute = _Mute(key, replacement, _snapshot(replacement, coroutines) if replacement else None)

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
        if self._lock._is_owned():  # type: ignore[attr-defined]
            self._pending.append((function, argument))
            return
        with self._lock:
            self._busy = True  # a hint for dispatch (see _current)
            function(argument)
            self._drain()
            self._busy = False
        if self._pending:
            self._drain_soon()

    def _add_mute(self, mute: _Mute) -> None:
        domain, action = key = mute.key
        mutes = self._muted.get(key)
        if mutes is None:
            mutes = self._muted[key] = []
        for candidate in mutes:
            if candidate is mute:  # a retry after an interruption
                return
        # (A loop, not any() over a generator: each compiled generator keeps a reference
        # to Cython's generator type for good, see tests/stress/test_refs.py.)
        self._set_live(domain, action, _STALE)
        mutes.append(mute)

    def _remove_mute(self, mute: _Mute) -> None:
        domain, action = key = mute.key
        mutes = self._muted.get(key)
        if mutes is None:
            return
        for index, candidate in enumerate(mutes):  # noqa: B007 - index is read after the loop
            if candidate is mute:
                break
        else:
            return
        self._set_live(domain, action, _STALE)
        del mutes[index]
        if not mutes:
            del self._muted[key]

    # -- readers ---------------------------------------------------------------------

    @overload
    def on(self, domain: str, action: str) -> Callable[[_F], _F]: ...
    @overload
    def on(self, event: AsyncEvent[_T], /) -> Callable[[Callable[[_C, _T], _R]], Callable[[_C, _T], _R]]: ...
    @overload
    def on(self, event: Event[_T], /) -> Callable[[Callable[[_C, _T], None]], Callable[[_C, _T], None]]: ...
    def on(self, domain: Any, action: Any = _MISSING) -> Any:
        """Decorator form of `register`: registers the function and returns it unchanged.

        ``@bus.on(domain, action)`` registers ``handler(ctx, data)``; ``@bus.on(event)``
        registers ``handler(ctx, payload)``.  The decorated function keeps its own type,
        so it stays callable, and testable, as written.

        Raises:
            TypeError: As `register`, when the decorator is applied.
            ValueError: As `register`.
        """
        event, domain, action, rest = self._pair(domain, action, "on")
        if rest is not _MISSING:
            raise TypeError("on(event) takes no action: the event names the pair")

        def decorator(handler: Any) -> Any:
            if event is not None:
                self.register(event, handler)
            else:
                self.register(domain, action, handler)
            return handler

        return decorator

    def _registered_now(self, key: tuple[str, str]) -> tuple[Any, ...]:
        mutes = self._muted.get(key)
        if mutes:
            return mutes[-1].handlers
        entries = self._entries.get(key)
        if not entries:
            return ()
        handlers = [r.registered() for r in entries if not r.removed]
        return tuple([h for h in handlers if h is not None])

    @overload
    def handlers(self, domain: str, action: str) -> tuple[Callable[[Any, Data], object], ...]: ...
    @overload
    def handlers(self, event: Event[Any], /) -> tuple[Callable[[Any, Any], object], ...]: ...
    def handlers(self, domain: Any, action: Any = _MISSING) -> tuple[Callable[[Any, Any], object], ...]:
        """The handlers of a pair (or an `Event`), in registration order.

        A snapshot: a `tuple` of the callables as they were registered (never a
        wrapper), ``()`` if the pair has none.  Weak handlers already collected are
        left out; inside `eventbus.testing.muted` a muted pair has none.

        Raises:
            TypeError: A name is not a `str`.
            ValueError: ``domain`` or ``action`` is empty.
        """
        _, domain, action, rest = self._pair(domain, action, "handlers")
        if rest is not _MISSING:
            raise TypeError("handlers(event) takes no action: the event names the pair")
        key = (domain, action)
        if self._lock._is_owned():  # type: ignore[attr-defined]
            return self._registered_now(key)
        with self._lock:
            handlers = self._registered_now(key)
            self._drain()
        if self._pending:
            self._drain_soon()
        return handlers

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every pair that has at least one handler now, sorted.

        Returns:
            tuple[tuple[str, str], ...]: ``(domain, action)`` pairs, as `handlers` sees them.
        """
        if self._lock._is_owned():  # type: ignore[attr-defined]
            return tuple(sorted([k for k in (*self._entries, *self._muted) if self._registered_now(k)]))
        with self._lock:
            pairs = {k for k in (*self._entries, *self._muted) if self._registered_now(k)}
            self._drain()
        if self._pending:
            self._drain_soon()
        return tuple(sorted(pairs))

    @overload
    def registrations(self) -> tuple[Registration, ...]: ...
    @overload
    def registrations(self, domain: str, action: str, /) -> tuple[Registration, ...]: ...
    @overload
    def registrations(self, event: Event[Any], /) -> tuple[Registration, ...]: ...
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
        return _wiring.registrations_of(self, pair_or_event, _MISSING)

    def _registration_rows(self, wanted: tuple[str, str] | None) -> list[Any]:
        rows: list[Any] = []
        for key, entries in self._entries.items():
            if wanted is None or key == wanted:
                for registration in entries:
                    handler = registration.registered()
                    if handler is not None and not registration.removed:
                        rows.append((key, handler, registration.event, registration.weak, registration.site))
        return rows

    def _is_muted(self, domain: str, action: str) -> bool:
        """Whether ``eventbus.testing`` mutes the pair now (then it is not unhandled)."""
        return (domain, action) in self._muted

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
            return _OBSERVED.call(self, self._observer, ctx, data)
        if type(data) is not Data:
            raise _not_data(data)
        if _FREE_THREADED:
            handlers = _lookup(self._handlers, data.domain, data.action)
            if handlers is None:
                return None if self._unhandled is None else self._unhandled(self, data)
        else:  # with the GIL dict.get is lock-free, and the fastest read
            actions = self._handlers.get(data.domain)
            if actions is None:
                return None if self._unhandled is None else self._unhandled(self, data)
            handlers = actions.get(data.action)
            if handlers is None:
                return None if self._unhandled is None else self._unhandled(self, data)
        while True:
            try:
                for handler in handlers:
                    result = handler(ctx, data)
                    if result is not None:
                        _refuse_awaitable(handler, result, "call")
            except BaseException as exc:
                # A marker is not iterable: the slow path below, no handler ran.
                # (The try costs nothing in the interpreter; a type check would.)
                if type(handlers) is tuple:
                    try:
                        failed = handler  # pyright: ignore[reportPossiblyUnboundVariable]
                    except UnboundLocalError:
                        pass  # a signal handler's exception, before the first handler ran
                    else:
                        _add_note(exc, failed, data)
                    raise
                if type(exc) is not TypeError:
                    raise  # a signal handler's, not the marker's: never swallowed
            else:
                return
            handlers = self._current(data.domain, data.action)
            if handlers is None:
                return None if self._unhandled is None else self._unhandled(self, data)
            if type(handlers) is _Refused:
                raise _coroutine_refused(handlers.refused, "call")

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
            return _OBSERVED.publish(self, self._observer, ctx, data)
        if type(data) is not Data:
            raise _not_data(data)
        if _FREE_THREADED:
            handlers = _lookup(self._handlers, data.domain, data.action)
            if handlers is None:
                return None if self._unhandled is None else self._unhandled(self, data)
        else:  # with the GIL dict.get is lock-free, and the fastest read
            actions = self._handlers.get(data.domain)
            if actions is None:
                return None if self._unhandled is None else self._unhandled(self, data)
            handlers = actions.get(data.action)
            if handlers is None:
                return None if self._unhandled is None else self._unhandled(self, data)
        errors: list[Exception] | None = None
        while True:
            try:
                for handler in handlers:
                    try:
                        result = handler(ctx, data)
                        if result is not None:
                            _refuse_awaitable(handler, result, "publish")
                    except Exception as exc:
                        _add_note(exc, handler, data)
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
                            _add_note(exc, failed, data)
                    raise
                if type(exc) is not TypeError:
                    raise  # a signal handler's, not the marker's: never swallowed
            else:
                break
            handlers = self._current(data.domain, data.action)
            if handlers is None:
                return None if self._unhandled is None else self._unhandled(self, data)
            if type(handlers) is _Refused:
                handlers = handlers.handlers
        if errors is not None:
            try:
                raise _failures(data, handlers, errors)
            finally:
                # The tracebacks lead back to this frame: without this, frame ->
                # errors -> tracebacks -> frame is a cycle keeping ctx and data alive.
                errors = None

    def _log_failure(self, handler: object, data: Data, exc: Exception) -> None:
        self._logger.error(
            "eventbus: handler %s failed for event %r/%r",
            _handler_name(_registered_handler(handler)),
            data.domain,
            data.action,
            exc_info=exc,
        )

    def _log_observer_failure(self, observer: object, hook: str, data: Data, exc: Exception) -> None:
        self._logger.error(
            "eventbus: observer %s failed in %s() for event %r/%r",
            _handler_name(type(observer)),
            hook,
            data.domain,
            data.action,
            exc_info=exc,
        )

    def _snapshot(self, data: object) -> tuple[Callable[[Any, Data], object], ...]:
        if type(data) is not Data:
            raise _not_data(data)
        handlers: Any = _lookup(self._handlers, data.domain, data.action)
        if type(handlers) is tuple:
            return handlers  # pyright: ignore[reportUnknownVariableType]
        if handlers is not None:
            handlers = self._current(data.domain, data.action)
        if handlers is None:
            if self._unhandled is not None:
                self._unhandled(self, data)
            return ()
        return handlers.handlers if type(handlers) is _Refused else handlers

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
            return await _OBSERVED.acall(self, self._observer, ctx, data)
        for handler in self._snapshot(data):
            try:
                try:
                    result = handler(ctx, data)
                except StopIteration as exc:
                    # A coroutine cannot let StopIteration out (PEP 479); say so in our own words.
                    raise RuntimeError(
                        f"handler {_handler_name(_registered_handler(handler))} raised StopIteration"
                    ) from exc
                if result is not None and _isawaitable(result):
                    await await_result(result)
            except BaseException as exc:
                _add_note(exc, handler, data)
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
            return await _OBSERVED.apublish(self, self._observer, ctx, data)
        handlers = self._snapshot(data)
        errors: list[Exception] | None = None
        for handler in handlers:
            try:
                result = handler(ctx, data)
                if result is not None and _isawaitable(result):
                    await await_result(result)
            except Exception as exc:
                _add_note(exc, handler, data)
                if errors is None:
                    errors = []
                errors.append(exc)
                self._log_failure(handler, data, exc)
            except BaseException as exc:
                _add_note(exc, handler, data)
                raise
        if errors is not None:
            try:
                raise _failures(data, handlers, errors)
            finally:
                # The tracebacks lead back to this frame: without this, frame ->
                # errors -> tracebacks -> frame is a cycle keeping ctx and data alive.
                errors = None

    # Not on the hot path: written once, for both twins (eventbus._staging).
    call_after_commit = _staging.call_after_commit
    publish_after_commit = _staging.publish_after_commit


# Whether the GIL is off (free-threaded CPython), decided once at import.  Both reads are
# correct on every build; call and publish take the one that is fast there (see _lookup).
_FREE_THREADED = not getattr(sys, "_is_gil_enabled", lambda: True)()


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


def _snapshot(targets: tuple[Callable[[Any, Data], object], ...], coroutines: list[Any]) -> Any:
    if not coroutines:
        return targets
    first = coroutines[0]
    return _Refused(targets, _handler_name(first.registered() if type(first) is _Registration else first))


def _coroutine_refused(name: str, method: str) -> TypeError:
    return TypeError(
        f"handler {name} is a coroutine function, which {method}() "
        f"cannot run: dispatch with a{method}() instead"
    )


def _failures(data: Data, handlers: tuple[object, ...], errors: list[Exception]) -> ExceptionGroup[Exception]:
    return ExceptionGroup(
        f"{len(errors)} of {len(handlers)} handlers failed for event {data.domain!r}/{data.action!r}",
        errors,
    )


# Dispatch when the bus has an observer, with this twin's own helpers (eventbus._observe).
def _refuse_coroutines(handlers: tuple[Any, ...]) -> None:
    """call's refusal of a snapshot with a coroutine-function handler, for the observed path."""
    for handler in handlers:
        registered = _registered_handler(handler)
        if _is_coroutine_function(registered):
            raise _coroutine_refused(_handler_name(registered), "call")


def _observed_note(exc: BaseException, target: object, data: Data) -> None:
    _add_note(exc, target, data)


def _registered_name(handler: object) -> str:
    return _handler_name(_registered_handler(handler))


# eventbus._observe (and the typing it needs) loads with the first bus that has an observer:
# import eventbus stays cheap.
def check_observer(observer: Observer | None) -> Observer | None:
    """``eventbus._observe.check_observer``; ``None`` needs no look."""
    if observer is None:
        return None
    from ._observe import check_observer as check  # noqa: PLC0415

    return check(observer)


class _FirstObserved:
    """Stands in for the dispatcher below until the first observed dispatch builds it."""

    def __getattr__(self, name: str) -> Any:
        global _OBSERVED  # noqa: PLW0603
        from ._observe import Dispatcher, Helpers  # noqa: PLC0415

        # Dispatch when the bus has an observer, with this twin's own helpers.
        _OBSERVED = Dispatcher(  # pyright: ignore[reportConstantRedefinition]
            Helpers(
                _refuse_awaitable,
                _failures,
                _registered_name,
                _registered_handler,
                _observed_note,
                _refuse_coroutines,
            )
        )
        return getattr(_OBSERVED, name)


_OBSERVED: Dispatcher = cast("Dispatcher", _FirstObserved())
