"""The pure-Python ``Data`` and ``Bus``: the twin of ``_core.pyx``, read line for line alike.

The registry is a dict of dicts (domain -> action -> tuple of handlers).  Writers
take the bus's lock, build a new tuple and swap it in; dispatch reads the current
tuple without a lock, so every dispatch runs on the snapshot it started with and
handlers may register, unregister or dispatch from inside a dispatch.
"""

from __future__ import annotations

from _thread import allocate_lock as _allocate_lock
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast, final

from ._encode import encode_params

if TYPE_CHECKING:
    import logging

    from ._observe import Dispatcher, Observer
    from collections.abc import Awaitable
    from typing_extensions import TypeIs

__all__ = ["Bus", "Data", "must_data", "new_data"]

# ``on`` hands back the decorated function with its own type.
_F = TypeVar("_F", bound="Callable[[Any, Data], object]")


def _check_name(what: str, value: object) -> str:
    if type(value) is str:
        if value:
            return value
        raise ValueError(f"{what} must be a non-empty str")
    if isinstance(value, str):
        # A str subclass may redefine hashing or equality: keep a plain copy.
        return _check_name(what, str.__str__(value))
    raise TypeError(f"{what} must be str, not {type(value).__qualname__}")


def _check_raw_params(value: object) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, bytes):
        return bytes(memoryview(value))
    raise TypeError(f"raw_params must be bytes or None, not {type(value).__qualname__}")


def _first_isawaitable(value: object) -> TypeIs[Awaitable[Any]]:
    """``inspect.isawaitable``, importing inspect on first use (import eventbus stays cheap)."""
    global _isawaitable  # noqa: PLW0603
    from inspect import isawaitable  # noqa: PLC0415

    _isawaitable = isawaitable
    return isawaitable(value)


_isawaitable: Callable[[object], TypeIs[Awaitable[Any]]] = _first_isawaitable


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
        f"handler {_handler_name(handler)} returned an awaitable, which {method}() "
        f"cannot run: dispatch with a{method}() instead"
    )


@final
class Data:
    """An event: ``(domain, action)`` and an optional JSON payload, immutable."""

    __slots__ = ("domain", "action", "raw_params")
    __match_args__ = ("domain", "action", "raw_params")

    domain: str
    action: str
    raw_params: bytes | None

    # __new__ rather than __init__, so that no later call can change a Data.  The common
    # case (plain non-empty str names, bytes or None) is checked inline and the slots are
    # set through their own descriptors, past __setattr__: the helpers only see the rest.
    def __new__(cls, domain: str, action: str, raw_params: bytes | None = None) -> Data:
        self = _new_object(cls)
        if type(domain) is not str or not domain:
            domain = _check_name("domain", domain)
        if type(action) is not str or not action:
            action = _check_name("action", action)
        if raw_params is not None and type(raw_params) is not bytes:
            raw_params = _check_raw_params(raw_params)
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
        return (
            f"Data(domain={self.domain!r}, action={self.action!r}, "
            f"raw_params={self.raw_params!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (Data, (self.domain, self.action, self.raw_params))


_new_object = object.__new__
# The slots' own descriptors: Data.__setattr__ refuses every assignment.
_set_domain: Callable[[Data, str], None] = Data.__dict__["domain"].__set__
_set_action: Callable[[Data, str], None] = Data.__dict__["action"].__set__
_set_raw_params: Callable[[Data, bytes | None], None] = Data.__dict__["raw_params"].__set__


def new_data(domain: str, action: str, params: object = None) -> Data:
    """An event whose payload is ``params`` encoded as compact UTF-8 JSON."""
    return Data(domain, action, encode_params(params, domain, action))


def must_data(domain: str, action: str, params: object = None) -> Data:
    """``new_data`` for payload types that cannot fail to encode."""
    return Data(domain, action, encode_params(params, domain, action))


def _not_data(data: object) -> TypeError:
    return TypeError(f"data must be an eventbus.Data, not {type(data).__qualname__}")


class Bus:
    """Synchronous, in-process dispatch of events to the handlers of their pair."""

    __slots__ = ("_logger", "_lock", "_handlers", "_tokens", "_muted", "_observer", "__weakref__")

    def __init__(
        self,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        *,
        observer: Observer | None = None,
    ) -> None:
        # Re-initialising a live bus would swap its lock and registry under other threads.
        if getattr(self, "_lock", None) is not None:
            raise TypeError("Bus.__init__() may be called only once")
        import logging  # on first use: import eventbus stays cheap

        if logger is None:
            logger = logging.getLogger("eventbus")
        elif not isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
            raise TypeError(
                f"logger must be a logging.Logger or None, not {type(logger).__qualname__}"
            )
        self._observer: Observer | None = check_observer(observer)
        self._logger = logger
        self._lock = _allocate_lock()  # threading.Lock(), without importing threading
        # domain -> action -> handlers; the tuples are replaced, never mutated.
        self._handlers: dict[str, dict[str, tuple[Callable[[Any, Data], object], ...]]] = {}
        # (domain, action) -> one token per registration, parallel to the tuple.
        self._tokens: dict[tuple[str, str], list[object]] = {}
        # (domain, action) -> [its handlers, set aside; the mutes in force]: eventbus.testing.
        self._muted: dict[tuple[str, str], list[Any]] = {}

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("cannot pickle eventbus.Bus: its handlers are live callables")

    @property
    def observer(self) -> Observer | None:
        """What sees every dispatch of this bus (see ``eventbus.Observer``); ``None``: nothing.

        Each dispatch reads it once, at its start; setting it affects later dispatches only.
        """
        return self._observer

    @observer.setter
    def observer(self, observer: Observer | None) -> None:
        self._observer = check_observer(observer)

    @observer.deleter
    def observer(self) -> None:
        self._observer = None

    def register(
        self, domain: str, action: str, handler: Callable[[Any, Data], object]
    ) -> Callable[[], bool]:
        """Run ``handler(ctx, data)`` for every later dispatch of ``(domain, action)``."""
        domain = _check_name("domain", domain)
        action = _check_name("action", action)
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__qualname__}")
        token = object()
        with self._lock:
            self._install(domain, action, self._registered(domain, action) + (handler,))
            self._tokens.setdefault((domain, action), []).append(token)

        def unregister() -> bool:
            return self._unregister(domain, action, token)

        return unregister

    def _unregister(self, domain: str, action: str, token: object) -> bool:
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
    def _registered(self, domain: str, action: str) -> tuple[Callable[[Any, Data], object], ...]:
        muted = self._muted.get((domain, action))
        if muted is not None:
            set_aside: tuple[Callable[[Any, Data], object], ...] = muted[0]
            return set_aside
        actions = self._handlers.get(domain)
        return () if actions is None else actions.get(action, ())

    def _install(
        self, domain: str, action: str, handlers: tuple[Callable[[Any, Data], object], ...]
    ) -> None:
        muted = self._muted.get((domain, action))
        if muted is not None:
            muted[0] = handlers
        else:
            self._set_live(domain, action, handlers)

    def _set_live(
        self, domain: str, action: str, handlers: tuple[Callable[[Any, Data], object], ...]
    ) -> None:
        actions = self._handlers.get(domain)
        if handlers:
            if actions is None:
                actions = self._handlers[domain] = {}
            actions[action] = handlers
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
        # A list of its own: its identity marks this mute.
        entry: list[tuple[Callable[[Any, Data], object], ...]] = [tuple(replacement)]
        with self._lock:
            muted = self._muted.get(key)
            if muted is None:
                muted = self._muted[key] = [self._registered(domain, action), []]
            muted[1].append(entry)
            self._set_live(domain, action, entry[0])

        def unmute() -> None:
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

    def on(self, domain: str, action: str) -> Callable[[_F], _F]:
        """Decorator form of ``register``: registers the function, returns it unchanged."""
        domain = _check_name("domain", domain)
        action = _check_name("action", action)

        def decorator(handler: _F) -> _F:
            self.register(domain, action, handler)
            return handler

        return decorator

    def handlers(self, domain: str, action: str) -> tuple[Callable[[Any, Data], object], ...]:
        """The handlers of ``(domain, action)`` in registration order; ``()`` if none."""
        domain = _check_name("domain", domain)
        action = _check_name("action", action)
        actions = self._handlers.get(domain)
        if actions is None:
            return ()
        return actions.get(action, ())

    def call(self, ctx: object, data: Data) -> None:
        """Run the handlers in order; the first exception stops the dispatch and propagates."""
        if self._observer is not None:
            return _OBSERVED.call(self, self._observer, ctx, data)
        if type(data) is not Data:
            raise _not_data(data)
        actions = self._handlers.get(data.domain)
        if actions is None:
            return
        handlers = actions.get(data.action)
        if handlers is None:
            return
        for handler in handlers:
            result = handler(ctx, data)
            if result is not None:
                _refuse_awaitable(handler, result, "call")

    def publish(self, ctx: object, data: Data) -> None:
        """Run every handler; raise an ExceptionGroup of all the Exceptions they raised."""
        if self._observer is not None:
            return _OBSERVED.publish(self, self._observer, ctx, data)
        if type(data) is not Data:
            raise _not_data(data)
        actions = self._handlers.get(data.domain)
        if actions is None:
            return
        handlers = actions.get(data.action)
        if handlers is None:
            return
        errors: list[Exception] | None = None
        for handler in handlers:
            try:
                result = handler(ctx, data)
                if result is not None:
                    _refuse_awaitable(handler, result, "publish")
            except Exception as exc:
                if errors is None:
                    errors = []
                errors.append(exc)
                self._log_failure(handler, data, exc)
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
            _handler_name(handler),
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
        actions = self._handlers.get(data.domain)
        if actions is None:
            return ()
        return actions.get(data.action, ())

    async def acall(self, ctx: object, data: Data) -> None:
        """``call`` for async handlers: each result that is awaitable is awaited in turn."""
        if self._observer is not None:
            return await _OBSERVED.acall(self, self._observer, ctx, data)
        for handler in self._snapshot(data):
            try:
                result = handler(ctx, data)
            except StopIteration as exc:
                # A coroutine cannot let StopIteration out (PEP 479); say so in our own words.
                raise RuntimeError(f"handler {_handler_name(handler)} raised StopIteration") from exc
            if result is not None and _isawaitable(result):
                await result

    async def apublish(self, ctx: object, data: Data) -> None:
        """``publish`` for async handlers: each result that is awaitable is awaited in turn."""
        if self._observer is not None:
            return await _OBSERVED.apublish(self, self._observer, ctx, data)
        handlers = self._snapshot(data)
        errors: list[Exception] | None = None
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
            try:
                raise _failures(data, handlers, errors)
            finally:
                # The tracebacks lead back to this frame: without this, frame ->
                # errors -> tracebacks -> frame is a cycle keeping ctx and data alive.
                errors = None


def _failures(data: Data, handlers: tuple[object, ...], errors: list[Exception]) -> ExceptionGroup[Exception]:
    return ExceptionGroup(
        f"{len(errors)} of {len(handlers)} handlers failed for event "
        f"{data.domain!r}/{data.action!r}",
        errors,
    )


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
        _OBSERVED = Dispatcher(Helpers(_refuse_awaitable, _failures, _handler_name))  # pyright: ignore[reportConstantRedefinition]
        return getattr(_OBSERVED, name)


_OBSERVED: Dispatcher = cast("Dispatcher", _FirstObserved())
