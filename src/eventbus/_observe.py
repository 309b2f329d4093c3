"""The observer hook: its two protocols, and dispatch when a bus has an observer.

Both twins send a dispatch here when their bus has an observer: one check at the entry of
each dispatch method, the unobserved path otherwise untouched.  One loop serves ``call`` and
``publish``, one ``acall`` and ``apublish``, for both implementations, so the observed dispatch
cannot differ between them; it makes every decision the unobserved one makes through the same
helpers (``eventbus._handlers``: refusing an awaitable, grouping failures, the notes), and the
dispatch and async suites run a second time with a do-nothing observer installed to show that
nothing else differs.

What a hook raises is the observer's failure, not the dispatch's: an ``Exception`` is
logged on the bus's logger and swallowed, and the dispatch goes on as if the hook had
returned.  A ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``,
``SystemExit``, a cancellation) propagates at once, as from a handler.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from ._awaiting import await_result
from ._handlers import (
    add_note,
    failures,
    handler_name,
    isawaitable,
    refuse_awaitable,
    refuse_coroutines,
    registered_handler,
)

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


_O = TypeVar("_O")


def check_observer(observer: _O) -> _O:
    """``observer`` if a bus may hold it, else ``TypeError``: ``None`` or has ``dispatch()``."""
    if observer is not None and not callable(getattr(observer, "dispatch", None)):
        raise TypeError(
            "observer must be None or have a dispatch() method (an eventbus.Observer), "
            f"not {type(observer).__qualname__}"
        )
    return observer


def _start(bus: Any, observer: Any, method: Method, data: Any, handlers: tuple[Any, ...]) -> Any:
    if observer is None:  # unset between the bus's check and its read
        return _UNOBSERVED
    # The handlers as registered (as bus.handlers() gives them), not the wrappers dispatch
    # calls for weak and typed handlers; held only for this call.
    registered = tuple([h for h in map(registered_handler, handlers) if h is not None])
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


def dispatch(bus: Any, observer: object, method: Method, ctx: object, data: Any) -> Any:
    """``bus.<method>(ctx, data)`` for a bus that has ``observer``: ``None``, or for ``acall``
    and ``apublish`` the coroutine to await."""
    if method == "call" or method == "publish":
        return _dispatch(bus, observer, method, ctx, data)
    return _adispatch(bus, observer, method, ctx, data)


def _stopped(
    bus: Any,
    observation: Any,
    registered: object,
    handler: object,
    data: Any,
    duration: float,
    exc: BaseException,
) -> None:
    """A handler's exception that ends the dispatch: noted and told to the observer (the caller
    re-raises it)."""
    add_note(exc, handler, data)
    _handler_finished(bus, observation, registered, data, duration, exc)


def _grouped(
    bus: Any, handler: object, data: Any, exc: Exception, errors: list[Exception] | None
) -> list[Exception]:
    """A handler's failure that publish and apublish group: noted, kept and logged."""
    add_note(exc, handler, data)
    if errors is None:
        errors = []
    errors.append(exc)
    bus._log_failure(handler, data, exc)
    return errors


# Each loop follows its unobserved twins step by step; the hooks are called between the steps.
# Every ``except BaseException`` below re-raises what it caught, after telling the observer: no
# exception is added, dropped or replaced by observing.  The handlers are looked up as
# registered one at a time, as each is about to run, and held no longer than the unobserved
# dispatch holds them: a weak handler that an earlier handler dropped is not called.


def _dispatch(bus: Any, observer: object, method: Method, ctx: object, data: Any) -> None:
    """``call`` (the first failure stops the dispatch) and ``publish`` (every handler runs)."""
    handlers = bus._snapshot(data)
    observation = _start(bus, observer, method, data, handlers)
    stop = method == "call"
    errors: list[Exception] | None = None
    error: BaseException | None = None
    try:
        if stop:
            refuse_coroutines(handlers)
        for handler in handlers:
            registered = registered_handler(handler)
            if registered is None:
                continue  # a weak handler collected since the snapshot: nothing runs
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
                    refuse_awaitable(handler, result, method)
            except Exception as exc:
                duration = perf_counter() - start
                if stop:
                    _stopped(bus, observation, registered, handler, data, duration, exc)
                    raise
                errors = _grouped(bus, handler, data, exc, errors)
                failure = exc
            except BaseException as exc:
                _stopped(bus, observation, registered, handler, data, perf_counter() - start, exc)
                raise
            try:
                observation.handler_finished(registered, duration, failure)
            except Exception as exc:
                _failed(bus, observation, "handler_finished", data, exc)
            failure = registered = None
        if errors is not None:
            raise failures(data, handlers, errors)
    except BaseException as exc:
        error = exc
        raise
    finally:
        _finished(bus, observation, data, error)
        # The traceback leads back to this frame: frame -> error -> traceback -> frame.
        error = errors = None


async def _adispatch(bus: Any, observer: object, method: Method, ctx: object, data: Any) -> None:
    """``acall`` (the first failure stops the dispatch) and ``apublish`` (every handler runs)."""
    handlers = bus._snapshot(data)
    observation = _start(bus, observer, method, data, handlers)
    stop = method == "acall"
    errors: list[Exception] | None = None
    error: BaseException | None = None
    try:
        for handler in handlers:
            registered = registered_handler(handler)
            if registered is None:
                continue  # (as in _dispatch)
            try:
                observation.handler_started(registered)
            except Exception as exc:
                _failed(bus, observation, "handler_started", data, exc)
            start = perf_counter()
            failure: Exception | None = None
            try:
                try:
                    result = handler(ctx, data)
                except StopIteration as exc:
                    if not stop:
                        raise
                    # As the unobserved acall words it (PEP 479).
                    raise RuntimeError(f"handler {handler_name(registered)} raised StopIteration") from exc
                if result is not None and isawaitable(result):
                    await await_result(result)
                duration = perf_counter() - start
            except Exception as exc:
                duration = perf_counter() - start
                if stop:
                    _stopped(bus, observation, registered, handler, data, duration, exc)
                    raise
                errors = _grouped(bus, handler, data, exc, errors)
                failure = exc
            except BaseException as exc:
                _stopped(bus, observation, registered, handler, data, perf_counter() - start, exc)
                raise
            try:
                observation.handler_finished(registered, duration, failure)
            except Exception as exc:
                _failed(bus, observation, "handler_finished", data, exc)
            failure = registered = None
        if errors is not None:
            raise failures(data, handlers, errors)
    except BaseException as exc:
        error = exc
        raise
    finally:
        _finished(bus, observation, data, error)
        error = errors = None
