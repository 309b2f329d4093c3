"""The observer hook: its two protocols, and dispatch when a bus has an observer.

Both twins send a dispatch here when their bus has an observer: one check at the entry of
each dispatch method, the unobserved path otherwise untouched.  One module serves both
implementations, so the observed dispatch cannot differ between them; it makes every
decision the unobserved one makes through the twin's own helpers (``Helpers``: refusing an
awaitable, grouping failures, logging them), and the dispatch and async suites run a second
time with a do-nothing observer installed to show that nothing else differs.

What a hook raises is the observer's failure, not the dispatch's: an ``Exception`` is
logged on the bus's logger and swallowed, and the dispatch goes on as if the hook had
returned.  A ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``,
``SystemExit``, a cancellation) propagates at once, as from a handler.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, TypeVar

from ._awaiting import await_result

if TYPE_CHECKING:
    from ._core_py import Data

__all__ = ["Method", "Observation", "Observer"]

Method = Literal["call", "publish", "acall", "apublish"]


class Observation(Protocol):
    """One observed dispatch, as ``Observer.dispatch`` returned it.

    The handlers of a dispatch run one after another, so the calls arrive in order:
    ``handler_started`` and ``handler_finished`` for each handler that runs, then
    ``finished`` exactly once.  Subclass it to inherit no-op methods and override the ones
    you need, or write any class with these three methods.
    """

    def handler_started(self, handler: Callable[[Any, Data], object]) -> None:
        """``handler`` is about to be called."""
        return None

    def handler_finished(
        self, handler: Callable[[Any, Data], object], duration: float, error: BaseException | None
    ) -> None:
        """``handler`` ran for ``duration`` seconds (``time.perf_counter``; for ``acall`` and
        ``apublish``, until its awaitable completed); ``error`` is the exception the dispatch
        holds against it (what ``call`` propagates or ``publish`` groups), or ``None``."""
        return None

    def finished(self, error: BaseException | None) -> None:
        """The dispatch is over; ``error`` is what it raises to its caller, or ``None``."""
        return None


class Observer(Protocol):
    """What a bus calls at the start of every dispatch (``Bus(observer=...)``, ``bus.observer``).

    Subclass it to inherit a ``dispatch`` that observes nothing, or write any class with a
    ``dispatch`` method.
    """

    def dispatch(
        self, method: Method, data: Data, handlers: tuple[Callable[[Any, Data], object], ...]
    ) -> Observation | None:
        """A dispatch of ``data`` by ``method`` to ``handlers`` (the snapshot it runs, in order;
        possibly empty) starts: return an ``Observation`` to follow it, or ``None`` not to."""
        return None


class _Unobserved:
    """What follows a dispatch that its observer declined (or failed to start)."""

    def handler_started(self, handler: object) -> None:
        pass

    def handler_finished(self, handler: object, duration: float, error: BaseException | None) -> None:
        pass

    def finished(self, error: BaseException | None) -> None:
        pass


_UNOBSERVED = _Unobserved()


class Helpers(NamedTuple):
    """The twin's own dispatch helpers, so that both paths decide alike."""

    refuse_awaitable: Callable[[object, object, str], None]
    failures: Callable[[Any, tuple[Any, ...], list[Exception]], BaseException]
    handler_name: Callable[[object], str]
    # What dispatch calls -> the handler as registered (behind a typed or weak wrapper).
    registered: Callable[[object], object]
    # The PEP 678 note on a handler's exception: add_note(exc, what dispatch called, data).
    add_note: Callable[[BaseException, object, Any], None]
    # call's up-front refusal: raises if a handler of the snapshot is a coroutine function.
    refuse_coroutines: Callable[[tuple[Any, ...]], None]


_O = TypeVar("_O")


def check_observer(observer: _O) -> _O:
    """``observer`` if a bus may hold it, else ``TypeError``: ``None`` or has ``dispatch()``."""
    if observer is not None and not callable(getattr(observer, "dispatch", None)):
        raise TypeError(
            "observer must be None or have a dispatch() method (an eventbus.Observer), "
            f"not {type(observer).__qualname__}"
        )
    return observer


def _start(bus: Any, observer: Any, method: Method, data: Any, registered: tuple[Any, ...]) -> Any:
    if observer is None:  # unset between the bus's check and its read
        return _UNOBSERVED
    try:
        observation = observer.dispatch(method, data, registered)
    except Exception as exc:
        _failed(bus, observer, "dispatch", data, exc)
        return _UNOBSERVED
    return _UNOBSERVED if observation is None else observation


# One function per hook rather than one taking the hook: no bound method or argument
# tuple is built per call, and the traceback of a logged failure names the hook.  (At the
# recursion limit calling one of them raises RecursionError like any call: then the hook is
# not called and the error is the dispatch's, as it would be from any line of it.)


def _failed(bus: Any, hooked: object, hook: str, data: Any, exc: Exception) -> None:
    try:
        bus._log_observer_failure(hooked, hook, data, exc)
    except Exception:  # noqa: S110 - logging failed too (a broken handler, the recursion limit)
        pass


def _handler_finished(
    bus: Any, observation: Any, handler: object, data: Any, duration: float, error: BaseException | None
) -> None:
    try:
        observation.handler_finished(handler, duration, error)
    except Exception as exc:
        _failed(bus, observation, "handler_finished", data, exc)


def _finished(bus: Any, observation: Any, data: Any, error: BaseException | None) -> None:
    try:
        observation.finished(error)
    except Exception as exc:
        _failed(bus, observation, "finished", data, exc)


class Dispatcher:
    """``call``, ``publish``, ``acall`` and ``apublish`` of a bus that has an observer.

    Each follows its unobserved twin step by step; the hooks are called between the steps.
    Every ``except BaseException`` below re-raises what it caught, after telling the
    observer: no exception is added, dropped or replaced by observing.
    """

    def __init__(self, helpers: Helpers) -> None:
        self._refuse_awaitable = helpers.refuse_awaitable
        self._failures = helpers.failures
        self._handler_name = helpers.handler_name
        self._registered = helpers.registered
        self._add_note = helpers.add_note
        self._refuse_coroutines = helpers.refuse_coroutines

    def call(self, bus: Any, observer: object, ctx: object, data: Any) -> None:
        handlers = bus._snapshot(data)
        # The handlers as registered (as bus.handlers() gives them) for every hook, not the
        # wrappers dispatch calls for weak and typed handlers.
        as_registered = tuple(map(self._registered, handlers))
        observation = _start(bus, observer, "call", data, as_registered)
        error: BaseException | None = None
        try:
            self._refuse_coroutines(handlers)
            for handler, registered in zip(handlers, as_registered):
                # The success path's hooks inline (a guard function each: +0.2 us a handler).
                try:
                    observation.handler_started(registered)
                except Exception as exc:
                    _failed(bus, observation, "handler_started", data, exc)
                start = perf_counter()
                try:
                    result = handler(ctx, data)
                    duration = perf_counter() - start
                    if result is not None:
                        self._refuse_awaitable(handler, result, "call")
                except BaseException as exc:
                    self._add_note(exc, handler, data)
                    _handler_finished(bus, observation, registered, data, perf_counter() - start, exc)
                    raise
                try:
                    observation.handler_finished(registered, duration, None)
                except Exception as exc:
                    _failed(bus, observation, "handler_finished", data, exc)
        except BaseException as exc:
            error = exc
            raise
        finally:
            _finished(bus, observation, data, error)
            # The traceback leads back to this frame: frame -> error -> traceback -> frame.
            error = None

    def publish(self, bus: Any, observer: object, ctx: object, data: Any) -> None:
        handlers = bus._snapshot(data)
        # The handlers as registered (as bus.handlers() gives them) for every hook, not the
        # wrappers dispatch calls for weak and typed handlers.
        as_registered = tuple(map(self._registered, handlers))
        observation = _start(bus, observer, "publish", data, as_registered)
        errors: list[Exception] | None = None
        error: BaseException | None = None
        try:
            for handler, registered in zip(handlers, as_registered):
                # The success path's hooks inline (a guard function each: +0.2 us a handler).
                try:
                    observation.handler_started(registered)
                except Exception as exc:
                    _failed(bus, observation, "handler_started", data, exc)
                start = perf_counter()
                failure: Exception | None = None
                try:
                    result = handler(ctx, data)
                    duration = perf_counter() - start
                    if result is not None:
                        self._refuse_awaitable(handler, result, "publish")
                except Exception as exc:
                    duration = perf_counter() - start
                    self._add_note(exc, handler, data)
                    if errors is None:
                        errors = []
                    errors.append(exc)
                    bus._log_failure(handler, data, exc)
                    failure = exc
                except BaseException as exc:
                    self._add_note(exc, handler, data)
                    _handler_finished(bus, observation, registered, data, perf_counter() - start, exc)
                    raise
                try:
                    observation.handler_finished(registered, duration, failure)
                except Exception as exc:
                    _failed(bus, observation, "handler_finished", data, exc)
                failure = None
            if errors is not None:
                raise self._failures(data, handlers, errors)
        except BaseException as exc:
            error = exc
            raise
        finally:
            _finished(bus, observation, data, error)
            error = errors = None

    async def acall(self, bus: Any, observer: object, ctx: object, data: Any) -> None:
        handlers = bus._snapshot(data)
        # The handlers as registered (as bus.handlers() gives them) for every hook, not the
        # wrappers dispatch calls for weak and typed handlers.
        as_registered = tuple(map(self._registered, handlers))
        observation = _start(bus, observer, "acall", data, as_registered)
        error: BaseException | None = None
        try:
            for handler, registered in zip(handlers, as_registered):
                # The success path's hooks inline (a guard function each: +0.2 us a handler).
                try:
                    observation.handler_started(registered)
                except Exception as exc:
                    _failed(bus, observation, "handler_started", data, exc)
                start = perf_counter()
                try:
                    try:
                        result = handler(ctx, data)
                    except StopIteration as exc:
                        # As the unobserved acall words it (PEP 479).
                        raise RuntimeError(
                            f"handler {self._handler_name(registered)} raised StopIteration"
                        ) from exc
                    if result is not None and inspect.isawaitable(result):
                        await await_result(result)
                except BaseException as exc:
                    self._add_note(exc, handler, data)
                    _handler_finished(bus, observation, registered, data, perf_counter() - start, exc)
                    raise
                duration = perf_counter() - start
                try:
                    observation.handler_finished(registered, duration, None)
                except Exception as exc:
                    _failed(bus, observation, "handler_finished", data, exc)
        except BaseException as exc:
            error = exc
            raise
        finally:
            _finished(bus, observation, data, error)
            error = None

    async def apublish(self, bus: Any, observer: object, ctx: object, data: Any) -> None:
        handlers = bus._snapshot(data)
        # The handlers as registered (as bus.handlers() gives them) for every hook, not the
        # wrappers dispatch calls for weak and typed handlers.
        as_registered = tuple(map(self._registered, handlers))
        observation = _start(bus, observer, "apublish", data, as_registered)
        errors: list[Exception] | None = None
        error: BaseException | None = None
        try:
            for handler, registered in zip(handlers, as_registered):
                # The success path's hooks inline (a guard function each: +0.2 us a handler).
                try:
                    observation.handler_started(registered)
                except Exception as exc:
                    _failed(bus, observation, "handler_started", data, exc)
                start = perf_counter()
                failure: Exception | None = None
                try:
                    result = handler(ctx, data)
                    if result is not None and inspect.isawaitable(result):
                        await await_result(result)
                    duration = perf_counter() - start
                except Exception as exc:
                    duration = perf_counter() - start
                    self._add_note(exc, handler, data)
                    if errors is None:
                        errors = []
                    errors.append(exc)
                    bus._log_failure(handler, data, exc)
                    failure = exc
                except BaseException as exc:
                    self._add_note(exc, handler, data)
                    _handler_finished(bus, observation, registered, data, perf_counter() - start, exc)
                    raise
                try:
                    observation.handler_finished(registered, duration, failure)
                except Exception as exc:
                    _failed(bus, observation, "handler_finished", data, exc)
                failure = None
            if errors is not None:
                raise self._failures(data, handlers, errors)
        except BaseException as exc:
            error = exc
            raise
        finally:
            _finished(bus, observation, data, error)
            error = errors = None
