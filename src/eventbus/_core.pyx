# cython: language_level=3, freethreading_compatible=True, embedsignature=True
"""The compiled ``Data`` and ``Bus``: the twin of ``_core_py.py``, read line for line alike.

The registry is a dict of dicts (domain -> action -> tuple of handlers).  Writers
take the bus's lock, build a new tuple and swap it in; dispatch reads the current
tuple without a lock, so every dispatch runs on the snapshot it started with and
handlers may register, unregister or dispatch from inside a dispatch.
"""

cimport cython

from _thread import allocate_lock as _allocate_lock

from ._encode import encode_params

__all__ = ["Bus", "Data", "must_data", "new_data"]


cdef extern from *:
    """
    /* The registry read of every dispatch: domain -> action -> tuple of handlers.
       Returns a new reference to the tuple, or to None when the pair has no
       handlers.  On the free-threaded build a borrowed reference out of a dict
       could be freed by a concurrent writer, so strong references are taken there;
       with the GIL no other thread runs between the two lookups, and str keys
       compare without calling back into Python, so borrowed ones are safe. */
    static PyObject *eventbus_lookup(PyObject *registry, PyObject *domain, PyObject *action) {
    #ifdef Py_GIL_DISABLED
        PyObject *actions, *handlers;
        if (PyDict_GetItemRef(registry, domain, &actions) < 0) return NULL;
        if (actions == NULL) Py_RETURN_NONE;
        int found = PyDict_GetItemRef(actions, action, &handlers);
        Py_DECREF(actions);
        if (found < 0) return NULL;
        if (handlers == NULL) Py_RETURN_NONE;
        return handlers;
    #else
        PyObject *actions = PyDict_GetItemWithError(registry, domain);
        if (actions == NULL) {
            if (PyErr_Occurred()) return NULL;
            Py_RETURN_NONE;
        }
        PyObject *handlers = PyDict_GetItemWithError(actions, action);
        if (handlers == NULL) {
            if (PyErr_Occurred()) return NULL;
            Py_RETURN_NONE;
        }
        Py_INCREF(handlers);
        return handlers;
    #endif
    }
    """
    object eventbus_lookup(dict registry, str domain, str action)


cdef extern from *:
    """
    /* The loop of call and publish: call handlers[*index:] with (ctx, data) in
       order, advancing *index past each handler called.  A handler's non-None
       result goes to on_result(handler, result), which raises for awaitables.
       Returns 0 when every handler ran, -1 with the exception set at the first
       failure.  The tuple is immutable and the caller holds it, so its items
       stay alive while borrowed. */
    static int eventbus_run_handlers(PyObject *handlers, Py_ssize_t *index, PyObject *ctx,
                                     PyObject *data, PyObject *on_result) {
        PyObject *args[3] = {NULL, ctx, data};
        Py_ssize_t count = PyTuple_GET_SIZE(handlers);
        while (*index < count) {
            PyObject *handler = PyTuple_GET_ITEM(handlers, *index);
            (*index)++;
            /* Straight through the vectorcall slot, as Cython's own calls do:
               PyObject_Vectorcall would also re-check the result. */
            vectorcallfunc call = PyVectorcall_Function(handler);
            PyObject *result = call != NULL
                ? call(handler, args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL)
                : PyObject_Vectorcall(handler, args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
            if (result == NULL) return -1;
            if (result != Py_None) {
                PyObject *checked = PyObject_CallFunctionObjArgs(on_result, handler, result, NULL);
                Py_DECREF(result);
                if (checked == NULL) return -1;
                Py_DECREF(checked);
            } else {
                Py_DECREF(result);
            }
        }
        return 0;
    }

    static int eventbus_run(PyObject *handlers, Py_ssize_t *index, PyObject *ctx,
                            PyObject *data, PyObject *on_result) {
    #if PY_VERSION_HEX < 0x030C0000
        /* 3.11 guards the C stack only by the Python recursion limit: count each
           dispatch as a level too, so that handlers dispatching without end meet
           RecursionError before the C stack runs out, even at a raised limit. */
        if (Py_EnterRecursiveCall(" while dispatching an event")) return -1;
        int status = eventbus_run_handlers(handlers, index, ctx, data, on_result);
        Py_LeaveRecursiveCall();
        return status;
    #else
        return eventbus_run_handlers(handlers, index, ctx, data, on_result);
    #endif
    }

    /* Returns -1 so that Cython raises the exception already set. */
    static int eventbus_raise_pending(void) { return -1; }
    """
    int eventbus_run(tuple handlers, Py_ssize_t *index, object ctx, object data,
                     object on_result) except -1
    # publish checks the status itself, so its fast path enters no try block.
    int eventbus_run_unchecked "eventbus_run" (tuple handlers, Py_ssize_t *index, object ctx,
                                                object data, object on_result) noexcept
    int eventbus_raise_pending() except -1


cdef extern from *:
    # Cython's own branch hint (__builtin_expect where the compiler has it): the observed
    # dispatch is the cold path, laid out away from the unobserved one.
    bint eventbus_unlikely "unlikely" (bint condition)


cdef str _check_name(str what, object value):
    if type(value) is str:
        if value:
            return <str>value
        raise ValueError(f"{what} must be a non-empty str")
    if isinstance(value, str):
        # A str subclass may redefine hashing or equality: keep a plain copy.
        return _check_name(what, str.__str__(value))
    raise TypeError(f"{what} must be str, not {type(value).__qualname__}")


cdef object _check_raw_params(object value):
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, bytes):
        return bytes(memoryview(value))
    raise TypeError(f"raw_params must be bytes or None, not {type(value).__qualname__}")


def _first_isawaitable(value):
    """``inspect.isawaitable``, importing inspect on first use (import eventbus stays cheap)."""
    global _isawaitable
    from inspect import isawaitable

    _isawaitable = isawaitable
    return isawaitable(value)


_isawaitable = _first_isawaitable


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


cdef _refuse_awaitable(object handler, object result, str method):
    if not _isawaitable(result):
        return
    close = getattr(result, "close", None)
    if close is not None:
        close()  # a coroutine that is never awaited warns when collected
    raise TypeError(
        f"handler {_handler_name(handler)} returned an awaitable, which {method}() "
        f"cannot run: dispatch with a{method}() instead"
    )


@cython.final
cdef class Data:
    """An event: ``(domain, action)`` and an optional JSON payload, immutable."""

    cdef readonly str domain
    cdef readonly str action
    cdef readonly bytes raw_params

    __match_args__ = ("domain", "action", "raw_params")

    # __cinit__ rather than __init__, so that no later call can change a Data.
    def __cinit__(self, domain, action, raw_params=None):
        self.domain = _check_name("domain", domain)
        self.action = _check_name("action", action)
        self.raw_params = _check_raw_params(raw_params)

    def __setattr__(self, name, value):
        raise AttributeError(f"Data is immutable: cannot set {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"Data is immutable: cannot delete {name!r}")

    def __eq__(self, other):
        if type(other) is not Data:
            return NotImplemented
        return (
            self.domain == (<Data>other).domain
            and self.action == (<Data>other).action
            and self.raw_params == (<Data>other).raw_params
        )

    def __ne__(self, other):
        if type(other) is not Data:
            return NotImplemented
        return not self == other

    def __hash__(self):
        return hash((self.domain, self.action, self.raw_params))

    def __repr__(self):
        return (
            f"Data(domain={self.domain!r}, action={self.action!r}, "
            f"raw_params={self.raw_params!r})"
        )

    def __reduce__(self):
        return (Data, (self.domain, self.action, self.raw_params))


def new_data(domain, action, params=None):
    """An event whose payload is ``params`` encoded as compact UTF-8 JSON."""
    return Data(domain, action, encode_params(params, domain, action))


def must_data(domain, action, params=None):
    """``new_data`` for payload types that cannot fail to encode."""
    return Data(domain, action, encode_params(params, domain, action))


cdef _not_data(object data):
    return TypeError(f"data must be an eventbus.Data, not {type(data).__qualname__}")


cdef class Bus:
    """Synchronous, in-process dispatch of events to the handlers of their pair."""

    cdef object _logger
    cdef object _lock
    cdef dict _handlers
    cdef dict _tokens
    cdef dict _muted
    cdef object _observer
    cdef object __weakref__

    def __init__(self, logger=None, *, observer=None):
        # Re-initialising a live bus would swap its lock and registry under other threads.
        if self._lock is not None:
            raise TypeError("Bus.__init__() may be called only once")
        import logging  # on first use: import eventbus stays cheap

        if logger is None:
            logger = logging.getLogger("eventbus")
        elif not isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
            raise TypeError(
                f"logger must be a logging.Logger or None, not {type(logger).__qualname__}"
            )
        self._observer = check_observer(observer)
        self._logger = logger
        self._lock = _allocate_lock()  # threading.Lock(), without importing threading
        # domain -> action -> handlers; the tuples are replaced, never mutated.
        self._handlers = {}
        # (domain, action) -> one token per registration, parallel to the tuple.
        self._tokens = {}
        # (domain, action) -> [its handlers, set aside; the mutes in force]: eventbus.testing.
        self._muted = {}

    def __reduce__(self):
        raise TypeError("cannot pickle eventbus.Bus: its handlers are live callables")

    # On the free-threaded build a dispatch must not take its reference to the observer
    # while a setter drops the old one: both sides hold the bus's critical section (a
    # no-op with the GIL).  The check at the entry of a dispatch only compares the pointer.
    @property
    def observer(self):
        """What sees every dispatch of this bus (see ``eventbus.Observer``); ``None``: nothing.

        Each dispatch reads it once, at its start; setting it affects later dispatches only.
        """
        return self._current_observer()

    @observer.setter
    def observer(self, observer):
        observer = check_observer(observer)
        with cython.critical_section(self):
            previous, self._observer = self._observer, observer
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

    def register(self, domain, action, handler):
        """Run ``handler(ctx, data)`` for every later dispatch of ``(domain, action)``."""
        domain = _check_name("domain", domain)
        action = _check_name("action", action)
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__qualname__}")
        token = object()
        with self._lock:
            self._install(domain, action, self._registered(domain, action) + (handler,))
            self._tokens.setdefault((domain, action), []).append(token)

        def unregister():
            return self._unregister(domain, action, token)

        return unregister

    def _unregister(self, domain, action, token):
        with self._lock:
            tokens = self._tokens.get((domain, action))
            if tokens is None:
                return False
            for index, candidate in enumerate(tokens):
                if candidate is token:
                    break
            else:
                return False
            del tokens[index]
            if not tokens:
                del self._tokens[(domain, action)]
            handlers = self._registered(domain, action)
            self._install(domain, action, handlers[:index] + handlers[index + 1 :])
            return True

    # Writers only, under the lock: what is registered for a pair, muted or not, and
    # where a new tuple of handlers goes.  Dispatch never looks at _muted.
    cdef tuple _registered(self, str domain, str action):
        muted = self._muted.get((domain, action))
        if muted is not None:
            set_aside = muted[0]
            return set_aside
        actions = self._handlers.get(domain)
        return () if actions is None else actions.get(action, ())

    cdef _install(self, str domain, str action, tuple handlers):
        muted = self._muted.get((domain, action))
        if muted is not None:
            muted[0] = handlers
        else:
            self._set_live(domain, action, handlers)

    cdef _set_live(self, str domain, str action, tuple handlers):
        actions = self._handlers.get(domain)
        if handlers:
            if actions is None:
                actions = self._handlers[domain] = {}
            actions[action] = handlers
        elif actions is not None:
            actions.pop(action, None)
            if not actions:
                del self._handlers[domain]

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
        # A list of its own: its identity marks this mute.
        entry = [tuple(replacement)]
        with self._lock:
            muted = self._muted.get(key)
            if muted is None:
                muted = self._muted[key] = [self._registered(domain, action), []]
            muted[1].append(entry)
            self._set_live(domain, action, entry[0])

        def unmute():
            with self._lock:
                muted = self._muted.get(key)
                if muted is None:
                    return
                mutes = muted[1]
                for index, candidate in enumerate(mutes):
                    if candidate is entry:
                        break
                else:
                    return
                del mutes[index]
                if mutes:
                    self._set_live(domain, action, mutes[-1][0])
                else:
                    del self._muted[key]
                    self._set_live(domain, action, muted[0])

        return unmute

    def on(self, domain, action):
        """Decorator form of ``register``: registers the function, returns it unchanged."""
        domain = _check_name("domain", domain)
        action = _check_name("action", action)

        def decorator(handler):
            self.register(domain, action, handler)
            return handler

        return decorator

    def handlers(self, domain, action):
        """The handlers of ``(domain, action)`` in registration order; ``()`` if none."""
        domain = _check_name("domain", domain)
        action = _check_name("action", action)
        handlers = eventbus_lookup(self._handlers, domain, action)
        return () if handlers is None else handlers

    # The lookup of call and publish, inlined in the pure twin to save a Python call.
    cdef inline tuple _lookup(self, Data data):
        return <tuple>eventbus_lookup(self._handlers, data.domain, data.action)

    def call(self, ctx, data):
        """Run the handlers in order; the first exception stops the dispatch and propagates."""
        if eventbus_unlikely(self._observer is not None):
            return self._dispatch_observed("call", ctx, data)
        if type(data) is not Data:
            raise _not_data(data)
        cdef tuple handlers = self._lookup(<Data>data)
        if handlers is None:
            return
        # The loop is C (eventbus_run): the pure twin's for loop, without
        # Cython's per-handler bookkeeping.
        cdef Py_ssize_t index = 0
        eventbus_run(handlers, &index, ctx, data, _refuse_in_call)

    def publish(self, ctx, data):
        """Run every handler; raise an ExceptionGroup of all the Exceptions they raised."""
        if eventbus_unlikely(self._observer is not None):
            return self._dispatch_observed("publish", ctx, data)
        if type(data) is not Data:
            raise _not_data(data)
        cdef tuple handlers = self._lookup(<Data>data)
        if handlers is None:
            return
        cdef Py_ssize_t index = 0
        # The success path enters no try block: a try costs C code on every
        # dispatch here (it is free in the interpreter).  Only after a failure is
        # the pending exception raised again, caught and the rest run one by one.
        if eventbus_run_unchecked(handlers, &index, ctx, data, _refuse_in_publish) == 0:
            return
        cdef list errors = []
        while True:
            try:
                if not errors:
                    eventbus_raise_pending()  # the failure the fast path stopped at
                eventbus_run(handlers, &index, ctx, data, _refuse_in_publish)
                break
            except Exception as exc:
                errors.append(exc)
                self._log_failure(handlers[index - 1], data, exc)
        raise _failures(data, handlers, errors)

    def _log_failure(self, handler, data, exc):
        self._logger.error(
            "eventbus: handler %s failed for event %r/%r",
            _handler_name(handler),
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
        return () if handlers is None else handlers

    async def acall(self, ctx, data):
        """``call`` for async handlers: each result that is awaitable is awaited in turn."""
        if self._observer is not None:
            return await self._dispatch_observed("acall", ctx, data)
        for handler in self._snapshot(data):
            try:
                result = handler(ctx, data)
            except StopIteration as exc:
                # A coroutine cannot let StopIteration out (PEP 479); say so in our own words.
                raise RuntimeError(f"handler {_handler_name(handler)} raised StopIteration") from exc
            if result is not None and _isawaitable(result):
                await result

    async def apublish(self, ctx, data):
        """``publish`` for async handlers: each result that is awaitable is awaited in turn."""
        if self._observer is not None:
            return await self._dispatch_observed("apublish", ctx, data)
        handlers = self._snapshot(data)
        errors = None
        for handler in handlers:
            try:
                result = handler(ctx, data)
                if result is not None and _isawaitable(result):
                    await result
            except Exception as exc:
                if errors is None:
                    errors = []
                errors.append(exc)
                self._log_failure(handler, data, exc)
        if errors is not None:
            # (Cython frames keep no locals: no cycle to break, unlike the pure twin.)
            raise _failures(data, handlers, errors)


def _failures(data, handlers, errors):
    return ExceptionGroup(
        f"{len(errors)} of {len(handlers)} handlers failed for event "
        f"{data.domain!r}/{data.action!r}",
        errors,
    )


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
        _OBSERVED = Dispatcher(Helpers(_refuse_awaitable_in, _failures, _handler_name))
        return getattr(_OBSERVED, name)


_OBSERVED = _FirstObserved()
