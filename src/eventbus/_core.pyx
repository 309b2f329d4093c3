# cython: language_level=3, freethreading_compatible=True
# cython: embedsignature=False
# (No embedded signatures: binding=True gives inspect.signature and help() the real ones,
# and an embedded line would show twice there and make __doc__ differ from the pure twin's.)
"""The compiled ``Data`` and ``Bus``: the twin of ``_core_py.py``, which behaves the same.

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

cimport cython
from cpython.mem cimport PyMem_Free
from cpython.object cimport PyObject

import sys
from _thread import RLock as _RLock
from types import FunctionType, MethodType

from . import _staging, _wiring
from ._awaiting import await_result
from ._codec.engine import active as _active_engine
from ._codec.encode import encode_params

__all__ = ["Bus", "Data", "Event", "must_data", "new_data"]


# The C of dispatch, in a header of its own (src/eventbus/_core.h, beside this file).
cdef extern from "_core.h":
    # The registry read; borrowed arguments (PyObject *): Cython takes no reference to pass them.
    object eventbus_lookup(PyObject *registry, PyObject *domain, PyObject *action)
    # The loop of call and publish.  on_result is borrowed (a module global that lives as
    # long as the module): passing it as an object would take a reference to a function
    # every thread shares.
    int eventbus_run(tuple handlers, Py_ssize_t *index, object ctx, object data,
                     PyObject *on_result) except -1
    # publish checks the status itself, so its fast path enters no try block.
    int eventbus_run_unchecked "eventbus_run" (tuple handlers, Py_ssize_t *index, object ctx,
                                                object data, PyObject *on_result) noexcept
    int eventbus_raise_pending() except -1
    # The branch hint of the observed-dispatch check: that dispatch is the cold path.
    bint eventbus_unlikely(bint condition)
    # Bus._observed: relaxed atomics on the free-threaded build, plain accesses with the GIL.
    int eventbus_flag_load(int *flag) noexcept
    void eventbus_flag_store(int *flag, int value) noexcept
    # What help() lists: a name dropped from a type's own dict (see its use below).
    int eventbus_hide_attribute(PyObject *type, const char *name) except -1
    # Free-threaded builds: dispatch on this thread's copy of the registry (see _core.h);
    # with the GIL, eventbus_lookup itself and no-ops.
    ctypedef unsigned long long uint64_t "uint64_t"
    object eventbus_lookup_local(PyObject *bus, PyObject *registry, PyObject *local_registries,
                                 uint64_t *versions, uint64_t *version, PyObject *domain,
                                 PyObject *action)
    # How a thread's end finds a bus's copies (free-threaded builds; with the GIL, a no-op).
    void eventbus_set_local_of(PyObject *(*local_of)(PyObject *bus) noexcept) noexcept
    uint64_t *eventbus_versions_new()
    int eventbus_local_slots() noexcept
    void eventbus_bump(uint64_t *version) noexcept


cdef str _check_name(str what, object value):
    if type(value) is str:
        if value:
            return <str>value
        raise ValueError(f"{what} must be a non-empty str")
    if isinstance(value, str) and issubclass(type(value), str):
        # A str subclass may redefine hashing or equality: keep a plain copy.  (The real
        # type, not isinstance alone: Mock(spec=str) fakes __class__; Cython looks past it.)
        return _check_name(what, str.__str__(value))
    raise TypeError(f"{what} must be str, not {type(value).__qualname__}")


cdef object _check_raw_params(object value):
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, bytes) and issubclass(type(value), bytes):  # (as for str above)
        return bytes(memoryview(value))
    raise TypeError(f"raw_params must be bytes or None, not {type(value).__qualname__}")


def _first_isawaitable(value):
    """``inspect.isawaitable``, importing inspect on first use (import eventbus stays cheap)."""
    global _isawaitable
    from inspect import isawaitable

    _isawaitable = isawaitable
    return isawaitable(value)


_isawaitable = _first_isawaitable


def _inspect():
    """The inspect module, imported on first use (import eventbus stays cheap)."""
    import inspect

    return inspect


def _handler_name(handler):
    name = getattr(handler, "__qualname__", None)
    module = getattr(handler, "__module__", None)
    if isinstance(name, str):
        return f"{module}.{name}" if isinstance(module, str) else name
    return repr(handler)


def _refuse_awaitable_in(handler, result, method):
    _refuse_awaitable(handler, result, method)


def _refuse_in_call(handler, result):
    _refuse_awaitable(handler, result, "call")


def _refuse_in_publish(handler, result):
    _refuse_awaitable(handler, result, "publish")


# What call and publish pass to eventbus_run, as borrowed pointers (see there).
cdef object _REFUSE_IN_CALL = _refuse_in_call
cdef object _REFUSE_IN_PUBLISH = _refuse_in_publish


cdef _refuse_awaitable(object handler, object result, str method):
    if not _isawaitable(result):
        return
    close = getattr(result, "close", None)
    if close is not None:
        close()  # a coroutine that is never awaited warns when collected
    raise TypeError(
        f"handler {_handler_name(_registered_handler(handler))} returned an awaitable, which {method}() "
        f"cannot run: dispatch with a{method}() instead"
    )


# The docstrings of Data and Bus start with the constructor's signature and a "--" line,
# CPython's convention for C types: help() and inspect.signature read the signature from
# there, and __doc__ is the rest, the same text as the pure twin's.
@cython.final
cdef class Data:
    """Data(domain, action, raw_params=None)
--

    An event: a ``(domain, action)`` pair and an optional JSON payload; immutable.

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

    # Immutable once __cinit__ has run, so read without a lock: the properties below, not
    # `cdef readonly`, whose generated getters take the object's lock (its critical
    # section) on free-threaded builds, a write to an object other threads share.
    cdef str _domain
    cdef str _action
    cdef bytes _raw_params

    @property
    def domain(self):
        return self._domain

    @property
    def action(self):
        return self._action

    @property
    def raw_params(self):
        return self._raw_params

    __match_args__ = ("domain", "action", "raw_params")

    # __cinit__ rather than __init__, so that no later call can change a Data.
    def __cinit__(self, domain, action, raw_params=None):
        self._domain = _check_name("domain", domain)
        self._action = _check_name("action", action)
        self._raw_params = _check_raw_params(raw_params)

    def __setattr__(self, name, value):
        raise AttributeError(f"Data is immutable: cannot set {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"Data is immutable: cannot delete {name!r}")

    def __eq__(self, other):
        if type(other) is not Data:
            return NotImplemented
        return (
            self._domain == (<Data>other)._domain
            and self._action == (<Data>other)._action
            and self._raw_params == (<Data>other)._raw_params
        )

    def __ne__(self, other):
        if type(other) is not Data:
            return NotImplemented
        return not self == other

    def __hash__(self):
        return hash((self._domain, self._action, self._raw_params))

    def __repr__(self):
        return (
            f"Data(domain={self._domain!r}, action={self._action!r}, "
            f"raw_params={self._raw_params!r})"
        )

    # Pickles name eventbus's own reconstructor, not this module: they load under either
    # implementation, as the Data of the one active there.  A copy is the Data itself.
    def __reduce__(self):
        return (_restore_data(), (self._domain, self._action, self._raw_params))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


def new_data(domain, action, params=None):
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


def must_data(domain, action, params=None):
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


def _restore_data():
    """What ``Data`` pickles call to load: ``eventbus._restore_data`` (stable across versions)."""
    from eventbus import _restore_data as restore

    return restore


# The active codec engine's encode_params (eventbus._codec.engine): the compiled one when it is
# built and not switched off, which gives the reference's bytes and errors.
_fast_engine = _active_engine()
_encode_payload = encode_params if _fast_engine is None else _fast_engine.make_encode_params(encode_params)
codec_engine = "python" if _fast_engine is None else "cython"
del _fast_engine


def _must_data_with(encode):
    """``must_data`` on another engine's ``encode_params`` (benchmarks and differential tests)."""

    def must_data_with(domain, action, params=None):
        return Data(domain, action, encode(params, domain, action))

    return must_data_with


cdef _not_data(object data):
    cls = type(data)
    name = cls.__qualname__
    if name == "Data":
        # Another class called Data: say whose, most often the other implementation's.
        module = cls.__module__
        name = f"{module}.Data"
        if module in ("eventbus._core", "eventbus._core_py"):
            name += " (the other implementation's: use eventbus.Data)"
    return TypeError(f"data must be an eventbus.Data, not {name}")


# eventbus._event (and typing, which it needs) loads with the first use of ``Event``:
# import eventbus stays cheap.  No Event exists before, so nothing needs the class.
_Event = None


def _event_class():
    global _Event
    if _Event is None:
        from ._event import Event as base, T

        class Event(base[T]):
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

        Event.__module__ = __name__
        Event.__qualname__ = "Event"
        _Event = Event
    return _Event


def __getattr__(name):
    if name == "Event":
        return _event_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


cdef bint _is_event(object value) except -1:
    module = sys.modules.get("eventbus._event")
    return module is not None and isinstance(value, module.Event)


# -- The registry -------------------------------------------------------------------
#
# Per pair, one insertion-ordered dict maps each registration (its token) to what
# dispatch calls for it: adding and removing one is O(1) and the two can never
# disagree.  Dispatch reads ``_handlers[domain][action]``, which is a plain tuple
# (the snapshot) or, after a change, a marker: a dispatch that meets a marker
# rebuilds the tuple under the lock, once per batch of changes.


@cython.final
cdef class _Stale:
    """In the registry, for "the snapshot must be rebuilt"; not iterable on purpose."""


cdef _Stale _STALE = _Stale()


@cython.final
cdef class _Refused:
    """The snapshot of a pair with a coroutine-function handler: ``call`` refuses it
    before running any handler; the other methods run ``handlers``."""

    cdef readonly tuple handlers
    cdef readonly str refused  # the name of the first coroutine function

    def __init__(self, tuple handlers, str refused):
        self.handlers = handlers
        self.refused = refused


@cython.final
cdef class _Mute:
    """One mute of a pair (``eventbus.testing``), its identity marking it: what ``handlers``
    reports and what dispatch runs while it is the newest mute of the pair in force."""

    cdef readonly tuple key
    cdef readonly tuple handlers
    cdef readonly object snapshot  # None, a tuple or a _Refused, as _snapshot builds it

    def __init__(self, tuple key, tuple handlers, snapshot):
        self.key = key
        self.handlers = handlers
        self.snapshot = snapshot


@cython.final
cdef class _Registration:
    """One registration: its pair, the handler as registered (or a weak reference to
    it), what dispatch calls, whether it is a coroutine function, and whether it is gone;
    for ``registrations()``, its event (or None) and where it was made."""

    cdef readonly tuple key
    cdef public object handler  # a weak reference to it, once _weakly has run
    cdef readonly bint weak
    cdef readonly bint coroutine
    cdef public bint removed
    cdef int indexed  # its place in its pair's _Index, if the pair has one
    cdef readonly object event
    cdef readonly tuple site  # (code, offset) of the register() call or the @bus.on() line

    def __init__(self, tuple key, handler, bint weak, bint coroutine, event, tuple site):
        self.key = key
        self.handler = handler
        self.weak = weak
        self.coroutine = coroutine
        self.removed = False
        self.indexed = _NOT_INDEXED
        self.event = event
        self.site = site

    cpdef object registered(self):
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

cdef int _NOT_INDEXED = 0  # not in the pair's index (no index, or removed when it was built)
cdef int _BY_IDENTITY = 1  # in _Index.by_identity
cdef int _BY_EQUALITY = 2  # counted in _Index.others

_OBJECT_EQ = object.__eq__


cdef object _identity(object handler):
    """A key equal for equal handlers (ints: no reference to the handler), or None when
    handler's == may be something other than identity."""
    cls = type(handler)
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
    except Exception:  # noqa: BLE001 - a class failing its own __eq__ lookup (a metaclass):
        pass  # its handlers are compared in order, as the contract says
    return None


def _queue(first, second):
    """A deque of registrations (collections loads on first use: import eventbus stays cheap)."""
    from collections import deque

    return deque((first, second))


@cython.final
cdef class _Index:
    """A pair's registrations by identity key (see _identity), in registration order:
    key -> the registration, or a deque of them when a handler is registered again."""

    cdef dict by_identity
    # Every type an identity key relied on: if one gains an __eq__, the index is not used.
    cdef dict types
    cdef Py_ssize_t others  # registrations of the pair whose handler's == may not be identity
    cdef Py_ssize_t dead  # removed registrations still in by_identity

    def __init__(self):
        self.by_identity = {}
        self.types = {}
        self.others = 0
        self.dead = 0

    cdef add(self, _Registration registration):
        handler = registration.handler() if registration.weak else registration.handler
        key = None if handler is None else _identity(handler)
        if key is not None:
            cls = type(handler)
            if cls is MethodType:
                cls = type(handler.__func__)
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

    cdef bint usable(self) except -1:
        if self.others:
            return False
        for cls in self.types:
            try:
                if cls.__eq__ is not _OBJECT_EQ:
                    return False
            except Exception:  # noqa: BLE001 - (as in _identity)
                return False
        return True

    cdef _Registration earliest(self, object key, object handler):
        """The earliest live registration whose handler == handler, of those keyed key."""
        present = self.by_identity.get(key)
        if present is None:
            return None
        if type(present) is _Registration:
            if (<_Registration>present).removed:
                del self.by_identity[key]
                self.dead -= 1
                return None
            registered = (<_Registration>present).registered()
            return <_Registration>present if registered is not None and registered == handler else None
        while present and (<_Registration>present[0]).removed:
            present.popleft()
            self.dead -= 1
        for registration in present:
            if not (<_Registration>registration).removed:
                registered = (<_Registration>registration).registered()
                if registered is not None and registered == handler:  # identities: runs no code
                    return <_Registration>registration
        if not present:
            del self.by_identity[key]
        return None

    cdef forget(self, object key, _Registration registration):
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


cdef bint _is_coroutine_function(object handler) except -1:
    # inspect's own answer, without its detours for plain functions (registration
    # is measured against pyee's add_listener).
    if type(handler) is FunctionType:
        if handler.__code__.co_flags & _CO_COROUTINE:
            return True
        if not _MARKABLE or getattr(handler, "_is_coroutine_marker", None) is None:
            return False
    return bool(_inspect().iscoroutinefunction(handler))


cdef int _CO_COROUTINE = 0x80  # inspect.CO_COROUTINE
# inspect.markcoroutinefunction (3.12+) marks a plain function as a coroutine function.
cdef bint _MARKABLE = sys.version_info >= (3, 12)

cdef object _getframe = sys._getframe  # one caller's frame, cheaply
# sys._getframe's depth of register()'s caller: a compiled function has no frame (with line
# tracing, the coverage build, it has one: then it is passed over as eventbus's own).
cdef int _CALLER = 0
# ... and its frames are named after this .pyx as compiled (a relative path): passed over too.
cdef tuple _SKIPPED = _wiring.SKIPPED + (_first_isawaitable.__code__.co_filename,)

_NO_PAYLOAD_TYPE = object()


class _Missing:
    """The default of an argument a call may leave out (a pair's action, a handler)."""

    __slots__ = ()

    def __repr__(self):
        return "<unset>"  # what help() shows, rather than <object object at 0x...>


_MISSING = _Missing()


def _registered_handler(target):
    """The handler as registered behind what dispatch calls (a typed or weak wrapper)."""
    # Known by its code, not by an attribute: a Mock handler has every attribute.
    if type(target) is _WRAPPER_TYPE and target.__code__ in _WRAPPER_CODES:
        behind = target._eventbus_handler
        return behind[0] if type(behind) is tuple else behind()
    return target


def _decode():
    """eventbus.decode on the active engine, imported on first use (import eventbus stays cheap)."""
    # The pure twin has one engine, the reference; here it is codec_engine's.
    from ._codec.engine import decode_on

    return decode_on(codec_engine)


def _typed_handler(handler, payload_type, decode):
    def typed_handler(ctx, data):
        return handler(ctx, decode(data, payload_type))

    typed_handler._eventbus_handler = (handler,)
    return typed_handler


def _weak_handler(ref, payload_type, decode):
    def weak_handler(ctx, data):
        handler = ref()
        return None if handler is None else handler(ctx, data)

    def weak_typed_handler(ctx, data):
        handler = ref()
        return None if handler is None else handler(ctx, decode(data, payload_type))

    wrapper = weak_handler if payload_type is _NO_PAYLOAD_TYPE else weak_typed_handler
    wrapper._eventbus_handler = ref
    return wrapper


# (The wrappers are Cython functions here, plain functions in the pure twin.)
_WRAPPER_TYPE = type(_typed_handler(print, int, None))
_WRAPPER_CODES = frozenset(
    {
        _typed_handler(print, int, None).__code__,
        *(_weak_handler(print, t, None).__code__ for t in (_NO_PAYLOAD_TYPE, int)),
    }
)


cdef _add_note(BaseException exc, object target, Data data):
    exc.add_note(
        f"eventbus: handler {_handler_name(_registered_handler(target))} failed for event "
        f"{data.domain!r}/{data.action!r}"
    )


cdef int _raise_noted(tuple handlers, Py_ssize_t index, Data data) except -1:
    # call's failure path: the pending exception gets its note and goes on.
    try:
        eventbus_raise_pending()
    except BaseException as exc:
        _add_note(exc, handlers[index - 1], data)
        raise
    return 0



def _not_initialised():
    return RuntimeError(
        "this Bus was never initialised: Bus.__init__() did not run "
        "(a subclass's __init__ must call super().__init__())"
    )


class _NotInitialised:
    """What a Bus whose __init__ never ran holds instead of its lock and registry (set by
    Bus.__new__): every use of it raises, with the same words on both twins."""

    __slots__ = ()

    def _fail(self, *args, **kwargs):
        raise _not_initialised()

    __enter__ = __exit__ = __contains__ = __getitem__ = __iter__ = __len__ = __bool__ = _fail

    def __getattr__(self, name):
        raise _not_initialised()


_NOT_INITIALISED = _NotInitialised()


cdef class Bus:
    """Bus(logger=None, *, unhandled='ignore', observer=None)
--

    Synchronous, in-process dispatch of events to the handlers of their pair.

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

    # What only writers use first, what every dispatch reads after: on a free-threaded
    # build the object's header (its shared reference count, which every thread calling
    # bus.call writes) and the fields dispatch reads are then 64 bytes apart, so never in
    # one cache line.
    cdef readonly object _logger  # for eventbus._staging, which logs what fails after commit
    cdef readonly object _lock  # readable for the fault tests (tests/test_registry_faults.py)
    cdef dict _entries
    cdef dict _holes
    cdef dict _index
    cdef dict _muted
    cdef readonly list _pending  # readable for the fault tests (tests/test_registry_faults.py)
    cdef object _observer
    cdef dict _handlers
    # Whether _observer is set: what dispatch tests.  A flag in the object, not a
    # comparison with None, which kept Py_None in a register and spilled others around
    # the registry lookup (+2-3% on call with one handler, measured).
    cdef int _observed
    # Set inside the writers' locked sections: a hint for dispatch (see _current).
    cdef int _busy
    # Free-threaded builds: every thread's own copy of the registry, and what they are
    # checked against (see eventbus_lookup_local).  None / NULL with the GIL.
    cdef list _local
    cdef uint64_t* _local_versions
    cdef uint64_t _version
    # What a dispatch that finds no handler calls: None ("ignore") or a _wiring.Unhandled.
    # Last: the fields above keep their places (see the first comment).
    cdef object _unhandled
    cdef object __weakref__

    def __cinit__(self, *args, **kwargs):
        # Until __init__ runs, using the bus raises a clear error (see _NotInitialised;
        # dispatch checks _handlers, still None).
        self._lock = _NOT_INITIALISED
        if eventbus_local_slots():
            self._local_versions = eventbus_versions_new()
            if self._local_versions == NULL:
                raise MemoryError()

    def __dealloc__(self):
        PyMem_Free(self._local_versions)

    def __init__(self, logger=None, *, unhandled="ignore", observer=None):
        # Re-initialising a live bus would swap its lock and registry under other threads.
        if self._lock is not _NOT_INITIALISED:
            raise TypeError("Bus.__init__() may be called only once")
        import logging  # on first use: import eventbus stays cheap

        if logger is None:
            logger = _wiring.library_logger()
        elif not isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
            raise TypeError(
                f"logger must be a logging.Logger or None, not {type(logger).__qualname__}"
            )
        self._unhandled = _wiring.unhandled_policy(unhandled, logger)
        self._observer = check_observer(observer)
        eventbus_flag_store(&self._observed, observer is not None)
        self._logger = logger
        # Reentrant only so that _is_owned() is exact: an operation that finds the lock
        # held by its own thread (a finalizer, a weakref callback or a signal handler
        # running inside a locked section) queues its change in _pending instead.
        self._lock = _RLock()  # threading.RLock(), without importing threading
        # domain -> action -> the snapshot dispatch runs (a tuple, replaced, never
        # mutated), _STALE after a change, or a _Refused.
        self._handlers = {}
        if eventbus_local_slots():
            self._local = [None] * eventbus_local_slots()
        # (domain, action) -> {registration: what dispatch calls}, in registration order.
        self._entries = {}
        # (domain, action) -> registrations removed since its dict was last compacted.
        self._holes = {}
        # (domain, action) -> its _Index, from the first unregister by handler on.
        self._index = {}
        # (domain, action) -> the mutes in force, oldest first: eventbus.testing.
        self._muted = {}
        # Changes queued while the lock was held: (function, argument), applied in order.
        self._pending = []

    def __reduce__(self):
        raise TypeError("cannot pickle eventbus.Bus: its handlers are live callables")

    # On the free-threaded build a dispatch must not take its reference to the observer
    # while a setter drops the old one: both sides hold the bus's critical section (a
    # no-op with the GIL).  The check at the entry of a dispatch only reads the flag.
    @property
    def observer(self):
        """What sees every dispatch of this bus (an `Observer`), or `None` for nothing.

        Each dispatch reads it once, at its start: setting it (from any thread) affects
        later dispatches only.  Setting `None`, or deleting it, removes the observer.

        Raises:
            TypeError: On setting something that is neither `None` nor has a
                ``dispatch`` method.
        """
        return self._current_observer()

    @observer.setter
    def observer(self, observer):
        observer = check_observer(observer)
        with cython.critical_section(self):
            previous, self._observer = self._observer, observer
            eventbus_flag_store(&self._observed, observer is not None)
        del previous  # dropped outside the critical section: its __del__ may run

    @observer.deleter
    def observer(self):
        self.observer = None

    cdef object _current_observer(self):
        with cython.critical_section(self):
            observer = self._observer
        return observer

    # A function of its own, so that the dispatch methods carry no more code than the check.
    @cython.final
    cdef object _dispatch_observed(self, str method, object ctx, object data):
        return getattr(_OBSERVED, method)(self, self._current_observer(), ctx, data)

    # -- arguments ----------------------------------------------------------------

    @staticmethod
    def _pair(domain, action, method):
        """(event or None, domain, action, what follows the pair) from (event, x) or (domain, action, x)."""
        if _is_event(domain):
            event = domain
            return event, event.domain, event.action, action
        if action is _MISSING:
            raise _wiring.missing_pair(method)
        try:
            return None, _check_name("domain", domain), _check_name("action", action), _MISSING
        except (TypeError, ValueError) as exc:
            raise _wiring.pair_error(method, exc, domain) from None

    # -- writers --------------------------------------------------------------------

    def register(self, domain, action=_MISSING, handler=_MISSING, *, weak=False):
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
        if type(domain) is not str and _is_event(domain):
            event = domain
            if handler is not _MISSING:
                raise TypeError("register(event, handler) takes no action: the event names the pair")
            domain, action, handler = event.domain, event.action, action
        elif action is _MISSING:
            raise _wiring.missing_pair("register")
        else:
            event = None
            try:
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
        site = (code, caller.f_lasti) if not code.co_filename.startswith(_SKIPPED) else _wiring.site_beyond(caller, _SKIPPED)
        registration = _Registration(key, handler, weak, coroutine, event, site)
        if weak:
            target = self._weakly(registration, handler, _NO_PAYLOAD_TYPE if event is None else event.payload_type)
        else:
            target = handler if event is None else _typed_handler(handler, event.payload_type, _decode())
        lock = self._lock
        if lock._is_owned():
            self._pending.append((self._add, (registration, target)))
        else:
            with lock:
                eventbus_flag_store(&self._busy, 1)  # a hint for dispatch (see _current)
                # _add, inlined (registration is measured against pyee's add_listener).
                actions = self._handlers.get(domain)
                if actions is None:
                    actions = self._handlers[domain] = {}
                actions[action] = _STALE
                eventbus_bump(&self._version)  # after the change: see eventbus_lookup_local
                # Indexed first: should indexing fail (no memory; a class failing its own
                # lookups is handled there), nothing is registered (an indexed registration
                # that is not in _entries is passed over).
                if self._index:
                    index = self._index.get(key)
                    if index is not None:
                        (<_Index>index).add(registration)
                entries = self._entries.get(key)
                if entries is None:
                    entries = self._entries[key] = {}
                entries[registration] = target
                if self._pending:
                    self._drain()
                eventbus_flag_store(&self._busy, 0)
            if self._pending:
                self._drain_soon()

        def unregister():
            return self._unregister(registration)

        return unregister

    def _weakly(self, _Registration registration, handler, payload_type):
        def collected(ref):
            # On whatever thread dropped the handler, maybe inside one of this bus's
            # locked sections: queue the removal, never wait for the lock.
            self._pending.append((self._remove, registration))
            registration.removed = True
            if not self._lock._is_owned():
                self._drain_soon()

        import weakref  # on first use: import eventbus stays cheap

        try:
            if _inspect().ismethod(handler):
                ref = weakref.WeakMethod(handler, collected)
            else:
                ref = weakref.ref(handler, collected)
        except TypeError:
            raise TypeError(
                f"cannot hold handler {_handler_name(handler)} weakly: "
                f"{type(handler).__qualname__} objects do not support weak references"
            ) from None
        registration.handler = ref
        return _weak_handler(ref, payload_type, None if payload_type is _NO_PAYLOAD_TYPE else _decode())

    def _unregister(self, _Registration registration):
        if self._lock._is_owned():
            if registration.removed:
                return False
            self._pending.append((self._remove, registration))
            registration.removed = True
            return True
        with self._lock:
            eventbus_flag_store(&self._busy, 1)  # a hint for dispatch (see _current)
            if registration.removed:
                found = False
            else:
                # Removed first, then marked: an interruption in between leaves a
                # registration that is gone, which a later unregister() finds gone.
                found = self._remove(registration)
                registration.removed = True
            if self._pending:
                self._drain()
            eventbus_flag_store(&self._busy, 0)
        if self._pending:
            self._drain_soon()
        return found

    def unregister(self, domain, action=_MISSING, handler=_MISSING):
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
        if self._entries is None:  # (a C field, None until __init__ runs)
            raise _not_initialised()
        key = (domain, action)
        entries = self._entries.get(key)
        if entries is None:
            return False
        identity = id(handler) if type(handler) is FunctionType else _identity(handler)
        if identity is not None and not self._lock._is_owned():
            with self._lock:
                eventbus_flag_store(&self._busy, 1)  # a hint for dispatch (see _current)
                removed = self._unregister_identical(key, identity, handler)
                if self._pending:
                    self._drain()
                eventbus_flag_store(&self._busy, 0)
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

    cdef object _unregister_identical(self, tuple key, object identity, object handler):
        """unregister by a handler whose == is identity, under the lock: whether one was
        removed, or None when the pair has handlers that may be equal to anything."""
        entries = self._entries.get(key)
        if entries is None:
            return False
        index = self._index.get(key)
        if index is None:
            index = _Index()
            by_identity = (<_Index>index).by_identity
            for registration in entries:
                registered = (<_Registration>registration).handler
                if (<_Registration>registration).removed:  # its removal is queued
                    (<_Registration>registration).indexed = _NOT_INDEXED
                elif type(registered) is FunctionType and id(registered) not in by_identity:
                    # _Index.add inlined for the common case, a strongly held function
                    # registered once (the build is part of the first removal's cost).
                    by_identity[id(registered)] = registration
                    (<_Registration>registration).indexed = _BY_IDENTITY
                else:
                    (<_Index>index).add(registration)
            self._index[key] = index
        if (<_Index>index).others or ((<_Index>index).types and not (<_Index>index).usable()):
            return None
        present = (<_Index>index).by_identity.get(identity)
        if type(present) is _Registration and not (<_Registration>present).removed:
            # The common case inlined (removal is measured against pyee's remove_listener):
            # one registration under the key, live.
            registered = (<_Registration>present).handler() if (<_Registration>present).weak else (<_Registration>present).handler
            # == as the contract says, never != (a class may define __ne__ alone): with identity
            # keys == compares identities and runs no code.
            if registered is None or not registered == handler:
                return False
            if self._remove(present):
                (<_Registration>present).removed = True
                del (<_Index>index).by_identity[identity]
                (<_Index>index).dead -= 1  # (_remove counted it)
                return True
            (<_Registration>present).removed = True  # gone already (an interruption): as below
        while True:
            earliest = (<_Index>index).earliest(identity, handler)
            if earliest is None:
                return False
            # (As in _unregister; one an interruption left removed but unmarked is passed.)
            removed = self._remove(earliest)
            (<_Registration>earliest).removed = True
            (<_Index>index).forget(identity, earliest)
            if removed:
                return True

    def _unregister_equal(self, _Registration registration, handler):
        if registration.removed:
            return False
        registered = registration.registered()
        return registered is not None and registered == handler and self._unregister(registration)

    # Under the lock (or from _pending), each change is one step on the registry dicts
    # after marking the pair stale, so an exception between two steps (a
    # KeyboardInterrupt from a signal handler) leaves nothing half-done.

    def _add(self, item):
        registration, target = item
        if (<_Registration>registration).removed:  # unregistered before a queued registration applied
            return
        domain, action = key = (<_Registration>registration).key
        self._set_live(domain, action, _STALE)
        entries = self._entries.get(key)
        if entries is None:
            entries = self._entries[key] = {}
        entries[registration] = target
        index = self._index.get(key)
        if index is not None:
            (<_Index>index).add(registration)

    def _remove(self, _Registration registration):
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
                (<_Index>index).others -= 1
            elif registration.indexed == _BY_IDENTITY:
                (<_Index>index).dead += 1
                if (<_Index>index).dead > len(entries) + 64:
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

    def _compact(self, key):
        entries = self._entries.get(key)
        if entries:
            self._entries[key] = dict(entries)
            self._holes[key] = 0

    def _drain(self):
        """Apply the queued changes, in order, under the lock."""
        pending = self._pending
        while pending:
            function, argument = pending[0]
            function(argument)  # each is idempotent: a retry after an interruption is harmless
            del pending[0]

    def _drain_soon(self):
        # Whoever holds the lock now checks _pending after releasing it: never wait here.
        while self._pending and self._lock.acquire(blocking=False):
            try:
                self._drain()
            finally:
                self._lock.release()

    def _build(self, str domain, str action):
        """The snapshot of a pair from the registrations (and mutes).

        Read from a copy of the registrations taken in one step (under the dict's own lock
        on free-threaded builds), so that a dispatch meeting a busy writer may build it
        without the bus's lock; under the lock the copy costs one more O(n) pass.
        """
        key = (domain, action)
        mutes = self._muted.get(key)
        if mutes:
            return (<_Mute>mutes[-1]).snapshot
        entries = self._entries.get(key)
        if not entries:
            return None
        entries = entries.copy()
        return _snapshot(tuple(entries.values()), [r for r in entries if (<_Registration>r).coroutine])

    def _current(self, str domain, str action):
        """Dispatch's slow path: the snapshot of a stale pair, rebuilt and installed."""
        lock = self._lock
        # Read only, installing nothing: inside our own locked section, or while a writer
        # (or a dispatch installing this very snapshot) holds the lock, so as never to queue
        # behind it; every change that returned is in the registrations already.  (_busy is
        # a hint, set and cleared inside the locked sections of the writers: both paths are
        # right whatever it says.)
        if lock._is_owned() or eventbus_flag_load(&self._busy):
            return self._build(domain, action)
        with lock:
            eventbus_flag_store(&self._busy, 1)
            snapshot = self._live(domain, action)
            if snapshot is _STALE:  # (else another dispatch installed it meanwhile)
                snapshot = self._build(domain, action)
                self._set_live(domain, action, snapshot)
            self._drain()
            eventbus_flag_store(&self._busy, 0)
        if self._pending:
            self._drain_soon()
        return snapshot

    cdef object _live(self, str domain, str action):
        actions = self._handlers.get(domain)
        return None if actions is None else actions.get(action)

    cdef _set_live(self, str domain, str action, object snapshot):
        actions = self._handlers.get(domain)
        if snapshot is not None:
            if actions is None:
                actions = self._handlers[domain] = {}
            actions[action] = snapshot
        elif actions is not None:
            actions.pop(action, None)
            if not actions:
                del self._handlers[domain]
        eventbus_bump(&self._version)  # after the change: see eventbus_lookup_local

    def _mute(self, domain, action, replacement=()):
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

        def unmute():
            self._write(self._remove_mute, mute)

        try:
            self._write(self._add_mute, mute)
            return unmute
        except BaseException:
            # Interrupted (a signal handler's exception) before or after the mute took
            # effect: end it, or the pair would stay muted with no unmute to end it.
            unmute()
            raise

    def _write(self, function, argument):
        if self._lock._is_owned():
            self._pending.append((function, argument))
            return
        with self._lock:
            eventbus_flag_store(&self._busy, 1)  # a hint for dispatch (see _current)
            function(argument)
            self._drain()
            eventbus_flag_store(&self._busy, 0)
        if self._pending:
            self._drain_soon()

    def _add_mute(self, _Mute mute):
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

    def _remove_mute(self, _Mute mute):
        domain, action = key = mute.key
        mutes = self._muted.get(key)
        if mutes is None:
            return
        for index, candidate in enumerate(mutes):
            if candidate is mute:
                break
        else:
            return
        self._set_live(domain, action, _STALE)
        del mutes[index]
        if not mutes:
            del self._muted[key]

    # -- readers ---------------------------------------------------------------------

    def on(self, domain, action=_MISSING):
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

        def decorator(handler):
            if event is not None:
                self.register(event, handler)
            else:
                self.register(domain, action, handler)
            return handler

        return decorator

    def _registered_now(self, key):
        mutes = self._muted.get(key)
        if mutes:
            return (<_Mute>mutes[-1]).handlers
        entries = self._entries.get(key)
        if not entries:
            return ()
        handlers = [(<_Registration>r).registered() for r in entries if not (<_Registration>r).removed]
        return tuple([h for h in handlers if h is not None])

    def handlers(self, domain, action=_MISSING):
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
        if self._lock._is_owned():
            return self._registered_now(key)
        with self._lock:
            handlers = self._registered_now(key)
            self._drain()
        if self._pending:
            self._drain_soon()
        return handlers

    def pairs(self):
        """Every pair that has at least one handler now, sorted.

        Returns:
            tuple[tuple[str, str], ...]: ``(domain, action)`` pairs, as `handlers` sees them.
        """
        if self._lock._is_owned():
            return tuple(sorted([k for k in (*self._entries, *self._muted) if self._registered_now(k)]))
        with self._lock:
            pairs = {k for k in (*self._entries, *self._muted) if self._registered_now(k)}
            self._drain()
        if self._pending:
            self._drain_soon()
        return tuple(sorted(pairs))

    def registrations(self, *pair_or_event):
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

    def _registration_rows(self, wanted):
        rows = []
        for key, entries in self._entries.items():
            if wanted is None or key == wanted:
                for registration in entries:
                    handler = (<_Registration>registration).registered()
                    if handler is not None and not (<_Registration>registration).removed:
                        rows.append(
                            (
                                key,
                                handler,
                                (<_Registration>registration).event,
                                (<_Registration>registration).weak,
                                (<_Registration>registration).site,
                            )
                        )
        return rows

    def _is_muted(self, domain, action):
        """Whether ``eventbus.testing`` mutes the pair now (then it is not unhandled)."""
        return (domain, action) in self._muted

    # -- dispatch ----------------------------------------------------------------------

    # The lookup of call and publish, inlined in the pure twin to save a Python call.
    cdef inline object _lookup(self, Data data):
        if self._handlers is None:
            raise _not_initialised()
        return eventbus_lookup_local(
            <PyObject *>self, <PyObject *>self._handlers, <PyObject *>self._local,
            self._local_versions, &self._version,
            <PyObject *>data._domain, <PyObject *>data._action,
        )

    # A dispatch that found no handler: unhandled="warn" or "raise" acts here.  A function of
    # its own, so that call and publish carry one call on that path, not the test and the call.
    @cython.final
    cdef object _no_handlers(self, object data):
        if self._unhandled is not None:
            self._unhandled(self, data)
        return None

    cdef object _slow(self, object found, Data data, bint refuse):
        # A marker instead of a tuple (the pure twin gets here by failing to iterate it).
        snapshot = self._current(data._domain, data._action)
        if eventbus_local_slots() and type(snapshot) is tuple:
            # Free-threaded: this thread's copy now, so that the first dispatch after a
            # change leaves the bus in its steady state (tests/test_refs.py counts on it).
            self._lookup(data)
        if type(snapshot) is _Refused:
            if refuse:
                raise _coroutine_refused((<_Refused>snapshot).refused, "call")
            return (<_Refused>snapshot).handlers
        return snapshot

    # binding=False: a method descriptor, not a Cython function object.  Every
    # bus.call(...) takes a reference to it; on free-threaded 3.13 CPython makes its
    # own method descriptors immortal once a second thread starts (gh-117783), not
    # Cython's functions (deferred reference counting for those is 3.14+, cython#7114),
    # so threads calling one Bus.call wrote its reference count: bus-per-thread
    # dispatch scaled 0.72x the loop's with it, 0.92x without (benchmarks/scaling.py).
    # The first docstring lines are its signature, for inspect (they are not in __doc__).
    @cython.binding(False)
    def call(self, ctx, data):
        """call($self, ctx, data)
--

        Run the handlers of ``data``'s pair in order; the first failure stops the dispatch.

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
        if eventbus_unlikely(eventbus_flag_load(&self._observed)):
            return self._dispatch_observed("call", ctx, data)
        if type(data) is not Data:
            raise _not_data(data)
        handlers = self._lookup(<Data>data)
        # One type check, as cheap as the "is None" it replaces: None, a stale pair
        # and a pair with a coroutine-function handler all take the slow path.
        if type(handlers) is not tuple:
            if handlers is None:
                return self._no_handlers(data)
            handlers = self._slow(handlers, <Data>data, True)
            if handlers is None:
                return self._no_handlers(data)
        # The loop is C (eventbus_run): the pure twin's for loop, without
        # Cython's per-handler bookkeeping.
        cdef Py_ssize_t index = 0
        if eventbus_run_unchecked(<tuple>handlers, &index, ctx, data, <PyObject *>_REFUSE_IN_CALL) != 0:
            _raise_noted(<tuple>handlers, index, <Data>data)

    @cython.binding(False)  # (see call)
    def publish(self, ctx, data):
        """publish($self, ctx, data)
--

        Run every handler of ``data``'s pair, whatever the others do.

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
        if eventbus_unlikely(eventbus_flag_load(&self._observed)):
            return self._dispatch_observed("publish", ctx, data)
        if type(data) is not Data:
            raise _not_data(data)
        handlers = self._lookup(<Data>data)
        if type(handlers) is not tuple:
            if handlers is None:
                return self._no_handlers(data)
            handlers = self._slow(handlers, <Data>data, False)
            if handlers is None:
                return self._no_handlers(data)
        cdef Py_ssize_t index = 0
        # The success path enters no try block: a try costs C code on every
        # dispatch here (it is free in the interpreter).  Only after a failure is
        # the pending exception raised again, caught and the rest run one by one.
        if eventbus_run_unchecked(<tuple>handlers, &index, ctx, data, <PyObject *>_REFUSE_IN_PUBLISH) == 0:
            return
        cdef list errors = []
        while True:
            try:
                if not errors:
                    eventbus_raise_pending()  # the failure the fast path stopped at
                eventbus_run(<tuple>handlers, &index, ctx, data, <PyObject *>_REFUSE_IN_PUBLISH)
                break
            except Exception as exc:
                _add_note(exc, (<tuple>handlers)[index - 1], <Data>data)
                errors.append(exc)
                self._log_failure((<tuple>handlers)[index - 1], data, exc)
            except BaseException as exc:
                _add_note(exc, (<tuple>handlers)[index - 1], <Data>data)
                raise
        raise _failures(data, handlers, errors)

    def _log_failure(self, handler, data, exc):
        self._logger.error(
            "eventbus: handler %s failed for event %r/%r",
            _handler_name(_registered_handler(handler)),
            data.domain,
            data.action,
            exc_info=exc,
        )

    def _log_observer_failure(self, observer, hook, data, exc):
        self._logger.error(
            "eventbus: observer %s failed in %s() for event %r/%r",
            _handler_name(type(observer)),
            hook,
            data.domain,
            data.action,
            exc_info=exc,
        )

    def _snapshot(self, data):
        if type(data) is not Data:
            raise _not_data(data)
        handlers = self._lookup(<Data>data)
        if type(handlers) is tuple:
            return handlers
        if handlers is not None:
            handlers = self._slow(handlers, <Data>data, False)
        if handlers is None:
            if self._unhandled is not None:
                self._unhandled(self, data)
            return ()
        return handlers

    async def acall(self, ctx, data):
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
        if eventbus_flag_load(&self._observed):
            return await self._dispatch_observed("acall", ctx, data)
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

    async def apublish(self, ctx, data):
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
        if eventbus_flag_load(&self._observed):
            return await self._dispatch_observed("apublish", ctx, data)
        handlers = self._snapshot(data)
        errors = None
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
            # (Cython frames keep no locals: no cycle to break, unlike the pure twin.)
            raise _failures(data, handlers, errors)

    # Not on the hot path: written once, for both twins (eventbus._staging).
    call_after_commit = _staging.call_after_commit
    publish_after_commit = _staging.publish_after_commit


# What help(), pydoc and Sphinx list is a type's own dict.  Cython adds two things the pure
# twin has not: the slot wrappers of all six rich comparisons (Data defines == and != only:
# the other four return NotImplemented, so `<` raises TypeError), and Bus's __pyx_vtable__
# capsule, read only by a module that cimports this one (none does; this module reaches
# its C methods through its own pointer).  Without them in the dict, Data.__lt__ is
# object's, which does the same, and the comparison slot is untouched.
# (Literal names: a char * taken from a module global could change under Cython's feet.)
eventbus_hide_attribute(<PyObject *>Data, b"__lt__")
eventbus_hide_attribute(<PyObject *>Data, b"__le__")
eventbus_hide_attribute(<PyObject *>Data, b"__gt__")
eventbus_hide_attribute(<PyObject *>Data, b"__ge__")
eventbus_hide_attribute(<PyObject *>Bus, b"__pyx_vtable__")


cdef PyObject* _local_of(PyObject* bus) noexcept:
    # For _core.h (free-threaded builds): the list of a bus's per-thread registry copies,
    # from which an ending thread drops its own.  Borrowed: the bus holds it.
    return <PyObject *>(<Bus>bus)._local


eventbus_set_local_of(_local_of)


def _snapshot(tuple targets, list coroutines):
    if not coroutines:
        return targets
    first = coroutines[0]
    return _Refused(targets, _handler_name(first.registered() if type(first) is _Registration else first))


def _coroutine_refused(str name, str method):
    return TypeError(
        f"handler {name} is a coroutine function, which {method}() "
        f"cannot run: dispatch with a{method}() instead"
    )


def _failures(data, handlers, errors):
    return ExceptionGroup(
        f"{len(errors)} of {len(handlers)} handlers failed for event "
        f"{data.domain!r}/{data.action!r}",
        errors,
    )


# Dispatch when the bus has an observer, with this twin's own helpers (eventbus._observe).
def _refuse_coroutines(handlers):
    """call's refusal of a snapshot with a coroutine-function handler, for the observed path."""
    for handler in handlers:
        registered = _registered_handler(handler)
        if _is_coroutine_function(registered):
            raise _coroutine_refused(_handler_name(registered), "call")


def _observed_note(exc, target, data):
    _add_note(exc, target, data)


def _registered_name(handler):
    return _handler_name(_registered_handler(handler))


# eventbus._observe (and the typing it needs) loads with the first bus that has an observer:
# import eventbus stays cheap.
def check_observer(observer):
    """``eventbus._observe.check_observer``; ``None`` needs no look."""
    if observer is None:
        return None
    from ._observe import check_observer as check

    return check(observer)


class _FirstObserved:
    """Stands in for the dispatcher below until the first observed dispatch builds it."""

    def __getattr__(self, name):
        global _OBSERVED
        from ._observe import Dispatcher, Helpers

        # Dispatch when the bus has an observer, with this twin's own helpers.
        _OBSERVED = Dispatcher(
            Helpers(_refuse_awaitable_in, _failures, _registered_name, _registered_handler, _observed_note, _refuse_coroutines)
        )
        return getattr(_OBSERVED, name)


_OBSERVED = _FirstObserved()
