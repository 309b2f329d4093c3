# cython: language_level=3, freethreading_compatible=True
# cython: embedsignature=False
# (No embedded signatures: binding=True gives inspect.signature and help() the real ones,
# and an embedded line would show twice there and make __doc__ differ from the pure twin's.)
"""The compiled twin of ``_core_py.py``: ``Data``, ``new_data``/``must_data``, ``Event``, and
``Bus``'s hot path in C (the registry read, the snapshot and the four dispatch loops).

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

cimport cython
from cpython.mem cimport PyMem_Free
from cpython.object cimport PyObject
from cpython.pycapsule cimport PyCapsule_GetPointer

from ._awaiting import await_result
from ._codec.encode import encode_params
from ._codec.engine import active as _active_engine
from ._handlers import (
    NOT_INITIALISED,
    add_note,
    check_name,
    check_raw_params,
    coroutine_refused,
    failures,
    isawaitable,
    not_data,
    not_initialised,
    observed,
    refuse_in_call,
    refuse_in_publish,
    registered_name,
    WRAPPER_TYPES,
)
from ._handlers import Refused as _Refused
from ._registry import Registry

__all__ = ["Bus", "Data", "Event", "must_data", "new_data"]


cdef extern from "_dispatch.h":
    object eventbus_lookup(PyObject *registry, PyObject *domain, PyObject *action)
    int eventbus_run(tuple handlers, Py_ssize_t *index, object ctx, object data,
                     PyObject *on_result) except -1
    int eventbus_run_unchecked "eventbus_run" (tuple handlers, Py_ssize_t *index, object ctx,
                                                object data, PyObject *on_result) noexcept
    int eventbus_raise_pending() except -1
    bint eventbus_unlikely(bint condition)
    int eventbus_flag_load(int *flag) noexcept
    void eventbus_flag_store(int *flag, int value) noexcept
    int eventbus_hide_attribute(PyObject *type, const char *name) except -1
    int eventbus_set_attribute(PyObject *type, str name, object value) except -1
    int eventbus_set_member(PyObject *type, str name, object sample, object marker) except -1
    object eventbus_typed_type()
    void eventbus_typed_fast(object decode, void *decode_c)
    object eventbus_encode(void *encode, object params, object domain, object action)
    int eventbus_learn_slot(Py_ssize_t *offset, object descr) except -1
    PyObject *eventbus_event_slot(object event, Py_ssize_t offset) noexcept


cdef extern from "_thread_copies.h":
    ctypedef unsigned long long uint64_t "uint64_t"
    object eventbus_lookup_local(PyObject *bus, PyObject *registry, PyObject *local_registries,
                                 uint64_t *versions, uint64_t *version, PyObject *domain,
                                 PyObject *action)
    int eventbus_thread_copies_init(PyObject *(*local_of)(PyObject *bus) noexcept) except -1
    uint64_t *eventbus_versions_new()
    int eventbus_local_slots() noexcept
    void eventbus_bump(uint64_t *version) noexcept


cdef object _REFUSE_IN_CALL = refuse_in_call
cdef object _REFUSE_IN_PUBLISH = refuse_in_publish


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
        if type(domain) is not str or not domain:
            domain = check_name("domain", domain)
        if type(action) is not str or not action:
            action = check_name("action", action)
        if raw_params is not None and type(raw_params) is not bytes:
            raw_params = check_raw_params(raw_params)
        self._domain = domain
        self._action = action
        self._raw_params = raw_params

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
    return Data(domain, action, _encode(params, domain, action))


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
    return Data(domain, action, _encode(params, domain, action))


def _restore_data():
    """What ``Data`` pickles call to load: ``eventbus._restore_data`` (stable across versions)."""
    from eventbus import _restore_data as restore

    return restore


# The active codec engine's encode_params (eventbus._codec.engine): the compiled one when it is
# built and not switched off, which gives the reference's bytes and errors.
_fast_engine = _active_engine()
_encode_payload = encode_params if _fast_engine is None else _fast_engine.make_encode_params(encode_params)
codec_engine = "python" if _fast_engine is None else "cython"
# The compiled engine's encode and decode as C functions: what Event.data, must_data and the
# typed wrapper call, without parsing arguments (NULL: the engine is the reference).
cdef void* _encode_c = NULL
cdef void* _decode_c = NULL
try:  # (an engine built from other sources has neither: its functions are called as any)
    _encode_c = PyCapsule_GetPointer(
        _fast_engine._ENCODE_C, b"eventbus._codec._fastcodec.encode(params, domain, action)"
    )
    _decode_c = PyCapsule_GetPointer(_fast_engine._DECODE_C, b"eventbus._codec._fastcodec.decode(data, cls)")
    _fast_decode = _fast_engine._decode
except (AttributeError, ValueError):
    _encode_c = _decode_c = NULL
del _fast_engine


cdef inline object _encode(object params, object domain, object action):
    if _encode_c == NULL:
        return _encode_payload(params, domain, action)
    return eventbus_encode(_encode_c, params, domain, action)


def _must_data_with(encode):
    """``must_data`` on another engine's ``encode_params`` (benchmarks and differential tests)."""

    def must_data_with(domain, action, params=None):
        return Data(domain, action, encode(params, domain, action))

    return must_data_with


_Event = None


def _event_class():
    global _Event
    if _Event is None:
        from ._event import Event as base, T, wrong_payload

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

            # The producer's hot path, compiled: base.data's steps without its Python frame.
            def data(self, payload):
                return _event_data(self, payload)

            # What help() and autodoc show of it: the pure Event.data's.
            for _name in ("__doc__", "__module__", "__annotations__"):
                setattr(data, _name, getattr(base.data, _name))
            data.__qualname__ = "Event.data"
            del _name

        Event.__module__ = __name__
        Event.__qualname__ = "Event"
        global _base_data, _wrong_payload
        _base_data = base.data
        _wrong_payload = wrong_payload
        eventbus_learn_slot(&_domain_at, base.__dict__["domain"])
        eventbus_learn_slot(&_action_at, base.__dict__["action"])
        eventbus_learn_slot(&_instance_of_at, base.__dict__["_instance_of"])
        _Event = Event
    return _Event


# Where Event's slots are (see eventbus_event_slot): read in place on an exact Event, whose
# attribute reads are those slot reads.  Set with the Event class.
cdef Py_ssize_t _domain_at = -1
cdef Py_ssize_t _action_at = -1
cdef Py_ssize_t _instance_of_at = -1
# (Module globals, not C ones: racing first uses of Event may both set them.)
_base_data = None  # the pure Event.data, for a subclass's event
_wrong_payload = None


cdef object _event_data(object event, object payload):
    cdef PyObject* slot
    if type(event) is not _Event:
        return _base_data(event, payload)  # a subclass's: read as the pure Event.data reads it
    # Each read in the pure Event.data's order, each value held from its read on (isinstance
    # and the encoder run user code); a slot read as NULL is read by getattr, which raises.
    slot = eventbus_event_slot(event, _instance_of_at)
    checked = event._instance_of if slot == NULL else <object>slot
    if checked is not None and not isinstance(payload, checked):
        raise _wrong_payload(event, payload)
    slot = eventbus_event_slot(event, _domain_at)
    domain = event.domain if slot == NULL else <object>slot
    slot = eventbus_event_slot(event, _action_at)
    action = event.action if slot == NULL else <object>slot
    # (The names were checked when the event was made: Data checks them again, cheaply.)
    return Data(domain, action, _encode(payload, domain, action))


def __getattr__(name):
    if name == "Event":
        return _event_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _decode():
    """eventbus.decode on the active engine, imported on first use (import eventbus stays cheap)."""
    # The pure twin has one engine, the reference; here it is codec_engine's.
    from ._codec.engine import decode_on

    return decode_on(codec_engine)


cdef int _raise_noted(tuple handlers, Py_ssize_t index, Data data) except -1:
    # The C loop left the handler's exception pending: raise it here, with call's note.
    try:
        eventbus_raise_pending()
    except BaseException as exc:
        add_note(exc, handlers[index - 1], data)
        raise
    return 0


@cython.auto_pickle(False)  # (a bus is never pickled: Registry.__reduce__ says so)
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

    # Every method but the hot path is eventbus._registry.Registry's, written once and attached
    # to this class when the module loads (see the end of this file); its state is here.
    cdef public object _logger
    cdef public object _lock
    cdef public object _entries
    cdef public object _holes
    cdef public object _index
    cdef public object _muted
    cdef public object _pending
    cdef public object _busy
    # domain -> action -> what dispatch runs (see _registry): None until __init__ runs.
    cdef public dict _handlers
    cdef object _observer
    # Whether _observer is set: written inside the critical section, read by every dispatch
    # without it (_dispatch.h).
    cdef int _observed
    # Free-threaded builds: each thread's copy of the registry (_thread_copies.h).
    cdef list _local
    cdef uint64_t* _local_versions
    cdef uint64_t _version
    # What a dispatch that finds no handler calls (Registry._unhandled): None for "ignore".
    # Declared last: the fields dispatch reads keep their places (and the gate its speed).
    cdef public object _on_unhandled
    cdef object __weakref__

    def __cinit__(self, *args, **kwargs):
        # Until __init__ runs, a bus holds NOT_INITIALISED: using it raises a clear error.
        self._logger = self._lock = self._entries = self._holes = NOT_INITIALISED
        self._index = self._muted = self._pending = NOT_INITIALISED
        self._busy = [False]
        self._observer = None
        if eventbus_local_slots():
            self._local = [None] * eventbus_local_slots()
            self._local_versions = eventbus_versions_new()
            if self._local_versions == NULL:
                raise MemoryError()

    def __init__(self, *args, **kwargs):
        # Registry.__init__ checks the arguments (the signature help() shows is the docstring's).
        _REGISTRY_INIT(self, *args, **kwargs)

    def __dealloc__(self):
        PyMem_Free(self._local_versions)

    def _set_observer(self, observer):
        with cython.critical_section(self):
            previous, self._observer = self._observer, observer
            eventbus_flag_store(&self._observed, observer is not None)
        del previous  # dropped outside the critical section: its __del__ may run

    def _get_observer(self):
        with cython.critical_section(self):
            observer = self._observer
        return observer

    def _bump(self):
        eventbus_bump(&self._version)  # after the change: see eventbus_lookup_local

    cdef inline object _lookup(self, Data data):
        if self._handlers is None:
            raise not_initialised()
        return eventbus_lookup_local(
            <PyObject *>self, <PyObject *>self._handlers, <PyObject *>self._local,
            self._local_versions, &self._version,
            <PyObject *>data._domain, <PyObject *>data._action,
        )

    cdef object _slow(self, object found, Data data, bint refuse):
        # A marker instead of a tuple (the pure twin gets here by failing to iterate it).
        snapshot = self._current(data._domain, data._action)
        if eventbus_local_slots() and type(snapshot) is tuple:
            # Free-threaded: this thread's copy now, so that the first dispatch after a
            # change leaves the bus in its steady state (tests/stress/test_refs.py counts on it).
            self._lookup(data)
        if type(snapshot) is _Refused:
            if refuse:
                raise coroutine_refused(snapshot.refused, "call")
            return snapshot.handlers
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
            return observed(self, self._get_observer(), "call", ctx, data)
        if type(data) is not Data:
            raise not_data(data)
        handlers = self._lookup(<Data>data)
        # One type check, as cheap as the "is None" it replaces: None, a stale pair
        # and a pair with a coroutine-function handler all take the slow path.
        if type(handlers) is not tuple:
            if handlers is None:
                if self._on_unhandled is not None:  # inline: "ignore" (the default) costs one test, no call
                    self._on_unhandled(self, data)
                return
            handlers = self._slow(handlers, <Data>data, True)
            if handlers is None:
                if self._on_unhandled is not None:
                    self._on_unhandled(self, data)
                return
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
            return observed(self, self._get_observer(), "publish", ctx, data)
        if type(data) is not Data:
            raise not_data(data)
        handlers = self._lookup(<Data>data)
        if type(handlers) is not tuple:
            if handlers is None:
                if self._on_unhandled is not None:
                    self._on_unhandled(self, data)
                return
            handlers = self._slow(handlers, <Data>data, False)
            if handlers is None:
                if self._on_unhandled is not None:
                    self._on_unhandled(self, data)
                return
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
                add_note(exc, (<tuple>handlers)[index - 1], <Data>data)
                errors.append(exc)
                self._log_failure((<tuple>handlers)[index - 1], data, exc)
            except BaseException as exc:
                add_note(exc, (<tuple>handlers)[index - 1], <Data>data)
                raise
        raise failures(data, handlers, errors)

    def _snapshot(self, data):
        if type(data) is not Data:
            raise not_data(data)
        handlers = self._lookup(<Data>data)
        if type(handlers) is tuple:
            return handlers
        if handlers is not None:
            handlers = self._slow(handlers, <Data>data, False)
        if handlers is None:
            self._unhandled(data)
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
            return await observed(self, self._get_observer(), "acall", ctx, data)
        for handler in self._snapshot(data):
            try:
                try:
                    result = handler(ctx, data)
                except StopIteration as exc:
                    # A coroutine cannot let StopIteration out (PEP 479); say so in our own words.
                    raise RuntimeError(
                        f"handler {registered_name(handler)} raised StopIteration"
                    ) from exc
                if result is not None and isawaitable(result):
                    await await_result(result)
            except BaseException as exc:
                add_note(exc, handler, data)
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
            return await observed(self, self._get_observer(), "apublish", ctx, data)
        handlers = self._snapshot(data)
        errors = None
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
            # (Cython frames keep no locals: no cycle to break, unlike the pure twin.)
            raise failures(data, handlers, errors)


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


# The registry's methods, attached to this Bus (not inherited: a Python subclass of a cdef class
# would cost every dispatch its method call's fast path, which wants the exact type).
cdef object _REGISTRY_INIT = Registry.__init__
for _name, _attribute in Registry.__dict__.items():
    if _name not in ("__new__", "__init__", "__slots__", "__module__", "__doc__", "__qualname__") and (
        callable(_attribute) or isinstance(_attribute, (property, staticmethod))
    ):
        eventbus_set_attribute(<PyObject *>Bus, _name, _attribute)
eventbus_set_attribute(<PyObject *>Bus, "_codec_engine", codec_engine)
# What dispatch calls for a handler registered for an Event: a C callable, no Python frame.
_TypedHandler = eventbus_typed_type()
WRAPPER_TYPES.add(_TypedHandler)
if _decode_c != NULL:
    eventbus_typed_fast(_fast_decode, _decode_c)
    del _fast_decode
eventbus_set_attribute(<PyObject *>Bus, "_typed_handler", _TypedHandler)
del _name, _attribute


# The registry's state as slots (member descriptors) rather than Cython's properties: the
# registry reads it on every registration, as fast as the pure bus's slots.
_sample = Bus.__new__(Bus)
for _name in ("_logger", "_lock", "_entries", "_holes", "_index", "_muted", "_pending", "_busy"):
    _marker = object()
    setattr(_sample, _name, _marker)
    eventbus_set_member(<PyObject *>Bus, _name, _sample, _marker)
del _sample, _name, _marker


cdef PyObject* _local_of(PyObject* bus) noexcept:
    return <PyObject *>(<Bus>bus)._local


eventbus_thread_copies_init(_local_of)
