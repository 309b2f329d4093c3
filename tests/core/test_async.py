"""``acall`` / ``apublish``, and ``call`` / ``publish`` refusing async handlers."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import CoroutineType, ModuleType
from typing import Any

import pytest
from helpers_core import other_data_classes, quiet_logger, recorder
from helpers_observe import observed as observed
from helpers_observe import observed_impl as observed_impl  # every test runs plain and observed
from helpers_observe import observer_kept_the_protocol as observer_kept_the_protocol


class MyBaseException(BaseException):
    pass


class ManualAwaitable:
    """An awaitable that is not a coroutine: it logs when awaited and when closed."""

    def __init__(self, log: list[Any], name: str, raises: BaseException | None = None) -> None:
        self.log = log
        self.name = name
        self.raises = raises
        self.closed = False

    def __await__(self) -> Generator[None, None, None]:
        self.log.append(f"{self.name}:awaited")
        yield  # one trip through the event loop
        if self.raises is not None:
            raise self.raises

    def close(self) -> None:
        self.closed = True


@pytest.fixture(params=["acall", "apublish"])
def amethod(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=["call", "publish"])
def method(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def run(bus: object, amethod: str, ctx: object, data: object) -> None:
    """Dispatch with ``acall``/``apublish`` from a fresh event loop."""

    async def main() -> None:
        await getattr(bus, amethod)(ctx, data)

    asyncio.run(main())


def async_recorder(
    log: list[Any], name: str, raises: BaseException | None = None
) -> Callable[[object, object], Coroutine[Any, Any, None]]:
    """A coroutine function that logs its start, yields to the loop once, logs its end."""

    async def handler(ctx: object, data: object) -> None:
        log.append(f"{name}:start")
        await asyncio.sleep(0)  # a real suspension, not synchronisation
        log.append(f"{name}:end")
        if raises is not None:
            raise raises

    handler.__qualname__ = f"async_recorder.{name}"
    return handler


def awaitable_returner(
    log: list[Any], name: str, raises: BaseException | None = None
) -> Callable[[object, object], Awaitable[None]]:
    """A plain function that returns a non-coroutine awaitable."""

    def handler(ctx: object, data: object) -> Awaitable[None]:
        log.append(f"{name}:called")
        return ManualAwaitable(log, name, raises)

    handler.__qualname__ = f"awaitable_returner.{name}"
    return handler


# ---------------------------------------------------------------------------
# acall / apublish


def test_mixed_handlers_run_in_order_in_the_callers_task(impl: ModuleType, amethod: str) -> None:
    bus = impl.Bus()
    log: list[Any] = []
    tasks: list[asyncio.Task[Any] | None] = []
    ctx = object()
    data = impl.new_data("users", "created", {"id": 1})
    seen: list[tuple[object, object]] = []

    async def coroutine_handler(got_ctx: object, got_data: object) -> None:
        seen.append((got_ctx, got_data))
        tasks.append(asyncio.current_task())
        log.append("coroutine:start")
        await asyncio.sleep(0)
        log.append("coroutine:end")

    def plain_handler(got_ctx: object, got_data: object) -> None:
        seen.append((got_ctx, got_data))
        tasks.append(asyncio.current_task())
        log.append("plain")

    def returning_handler(got_ctx: object, got_data: object) -> Awaitable[None]:
        seen.append((got_ctx, got_data))
        tasks.append(asyncio.current_task())
        return ManualAwaitable(log, "manual")

    for handler in (coroutine_handler, plain_handler, returning_handler, coroutine_handler):
        bus.register("users", "created", handler)

    async def main() -> asyncio.Task[Any] | None:
        result = await getattr(bus, amethod)(ctx, data)
        assert result is None
        return asyncio.current_task()

    caller = asyncio.run(main())
    assert log == [
        "coroutine:start",
        "coroutine:end",
        "plain",
        "manual:awaited",
        "coroutine:start",
        "coroutine:end",
    ]
    assert tasks == [caller] * 4
    assert all(got_ctx is ctx and got_data is data for got_ctx, got_data in seen)


def test_each_handler_is_awaited_before_the_next_starts(impl: ModuleType, amethod: str) -> None:
    bus = impl.Bus()
    log: list[str] = []

    async def slow(ctx: object, data: object) -> None:
        log.append("slow:start")
        done = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(done.set_result, None)
        await done
        log.append("slow:end")

    bus.register("users", "created", slow)
    bus.register("users", "created", recorder(log, "next"))
    run(bus, amethod, None, impl.Data("users", "created"))
    assert log == ["slow:start", "slow:end", "next"]


def test_no_handlers_is_a_no_op(impl: ModuleType, amethod: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="eventbus")
    bus = impl.Bus()
    bus.register("users", "deleted", recorder([], "other"))
    run(bus, amethod, None, impl.Data("users", "created"))
    assert caplog.records == []


@pytest.mark.parametrize("not_data", [None, "users", ("users", "created", None)], ids=repr)
def test_non_data_is_a_type_error(impl: ModuleType, amethod: str, not_data: object) -> None:
    bus = impl.Bus()
    log: list[str] = []
    bus.register("users", "created", recorder(log, "never"))
    with pytest.raises(TypeError, match="Data"):
        run(bus, amethod, None, not_data)
    assert log == []


def test_other_implementations_data_is_a_type_error(impl: ModuleType, amethod: str) -> None:
    bus = impl.Bus()
    log: list[str] = []
    bus.register("users", "created", recorder(log, "never"))
    for cls in other_data_classes(impl):
        with pytest.raises(TypeError):
            run(bus, amethod, None, cls("users", "created"))
    assert log == []


def test_registration_during_dispatch_applies_later(impl: ModuleType, amethod: str) -> None:
    bus = impl.Bus()
    log: list[str] = []
    late = recorder(log, "late")
    unregister_later: list[Callable[[], bool]] = []

    async def changer(ctx: object, data: object) -> None:
        log.append("changer")
        if not ctx:
            ctx.append(True)  # type: ignore[attr-defined]
            bus.register("users", "created", late)
            assert unregister_later[0]() is True

    bus.register("users", "created", changer)
    unregister_later.append(bus.register("users", "created", async_recorder(log, "removed")))
    once: list[bool] = []
    run(bus, amethod, once, impl.Data("users", "created"))
    assert log == ["changer", "removed:start", "removed:end"]
    log.clear()
    run(bus, amethod, once, impl.Data("users", "created"))
    assert log == ["changer", "late"]


@pytest.mark.parametrize("kind", ["coroutine", "awaitable", "plain"])
def test_acall_stops_at_the_first_failure(
    impl: ModuleType, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="eventbus")
    bus = impl.Bus()
    log: list[Any] = []
    error = KeyError("first")
    make = {"coroutine": async_recorder, "awaitable": awaitable_returner, "plain": recorder}[kind]
    bus.register("users", "created", async_recorder(log, "before"))
    bus.register("users", "created", make(log, "fails", error))
    bus.register("users", "created", async_recorder(log, "never", ValueError("second")))

    async def main() -> None:
        try:
            await bus.acall(None, impl.Data("users", "created"))
        except LookupError as caught:
            assert caught is error
        else:
            pytest.fail("acall did not raise")

    asyncio.run(main())
    assert "never:start" not in log
    assert log[:2] == ["before:start", "before:end"]
    assert caplog.records == []


def test_acall_reports_a_plain_handlers_stop_iteration_alike(impl: ModuleType) -> None:
    # A coroutine cannot let StopIteration out (PEP 479): both twins raise the same
    # RuntimeError, chained from the handler's own exception, and stop there.
    bus = impl.Bus()
    log: list[Any] = []
    error = StopIteration("done")

    def stops(ctx: object, data: object) -> None:
        raise error

    bus.register("users", "created", stops)
    bus.register("users", "created", recorder(log, "never"))
    with pytest.raises(RuntimeError) as caught:
        asyncio.run(bus.acall(None, impl.Data("users", "created")))
    assert str(caught.value) == f"handler {__name__}.{stops.__qualname__} raised StopIteration"
    assert caught.value.__cause__ is error
    assert log == []


def test_apublish_runs_all_groups_and_logs(impl: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="eventbus")
    bus = impl.Bus()
    log: list[Any] = []
    errors = [ValueError("coroutine"), KeyError("awaitable"), RuntimeError("plain")]
    failing = [
        async_recorder(log, "a", errors[0]),
        awaitable_returner(log, "b", errors[1]),
        recorder(log, "c", errors[2]),
    ]
    bus.register("orders", "paid", failing[0])
    bus.register("orders", "paid", async_recorder(log, "ok"))
    bus.register("orders", "paid", failing[1])
    bus.register("orders", "paid", failing[2])

    async def main() -> BaseExceptionGroup[BaseException]:
        try:
            await bus.apublish(None, impl.Data("orders", "paid"))
        except ExceptionGroup as group:
            return group
        pytest.fail("apublish did not raise")

    group = asyncio.run(main())
    assert log == ["a:start", "a:end", "ok:start", "ok:end", "b:called", "b:awaited", "c"]
    assert len(group.exceptions) == 3
    assert all(got is want for got, want in zip(group.exceptions, errors))
    assert group.message == "3 of 4 handlers failed for event 'orders'/'paid'"
    assert len(caplog.records) == 3
    for record, handler, error in zip(caplog.records, failing, errors):
        assert record.levelno == logging.ERROR
        assert record.name == "eventbus"
        assert record.exc_info is not None and record.exc_info[1] is error
        assert handler.__qualname__ in record.getMessage()
        assert "'orders'" in record.getMessage() and "'paid'" in record.getMessage()


@pytest.mark.parametrize(
    "make_error",
    [KeyboardInterrupt, SystemExit, MyBaseException, asyncio.CancelledError],
    ids=["KeyboardInterrupt", "SystemExit", "custom", "CancelledError"],
)
@pytest.mark.parametrize("kind", ["coroutine", "awaitable", "plain"])
def test_base_exceptions_propagate_at_once(
    impl: ModuleType,
    amethod: str,
    kind: str,
    make_error: Callable[[], BaseException],
) -> None:
    bus = impl.Bus(quiet_logger())
    log: list[Any] = []
    error = make_error()
    make = {"coroutine": async_recorder, "awaitable": awaitable_returner, "plain": recorder}[kind]
    if amethod == "apublish":
        # An earlier failure waits to be grouped; the BaseException must not wait for it.
        bus.register("users", "created", recorder(log, "fails-first", ValueError("not grouped")))
    bus.register("users", "created", make(log, "raiser", error))
    bus.register("users", "created", async_recorder(log, "never"))

    async def main() -> BaseException | None:
        try:
            await getattr(bus, amethod)(None, impl.Data("users", "created"))
        except BaseException as caught:  # noqa: BLE001 (the point of the test)
            return caught
        return None

    caught = asyncio.run(main())
    assert caught is error
    assert not any(str(entry).startswith("never") for entry in log)


@pytest.mark.parametrize("where", ["coroutine", "awaitable"])
def test_cancellation_propagates_at_once(impl: ModuleType, amethod: str, where: str) -> None:
    bus = impl.Bus()
    log: list[str] = []

    async def main() -> None:
        started = asyncio.Event()
        never = asyncio.get_running_loop().create_future()

        async def waits_forever(ctx: object, data: object) -> None:
            log.append("waiting")
            started.set()
            await never

        class Forever:
            def __await__(self) -> Generator[Any, None, None]:
                log.append("waiting")
                started.set()
                return never.__await__()

        handler: Callable[[object, object], Awaitable[None]] = (
            waits_forever if where == "coroutine" else (lambda ctx, data: Forever())
        )
        bus.register("users", "created", handler)
        bus.register("users", "created", recorder(log, "after"))
        task = asyncio.create_task(getattr(bus, amethod)(None, impl.Data("users", "created")))
        await started.wait()
        assert task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        assert never.cancelled()

    asyncio.run(main())
    assert log == ["waiting"]


def test_apublish_does_not_group_a_cancellation_raised_by_a_handler(impl: ModuleType) -> None:
    bus = impl.Bus(quiet_logger())
    log: list[str] = []
    bus.register("users", "created", recorder(log, "fails", ValueError("v")))
    bus.register("users", "created", async_recorder(log, "cancels", asyncio.CancelledError()))
    bus.register("users", "created", recorder(log, "never"))

    async def main() -> None:
        with pytest.raises(asyncio.CancelledError):
            await bus.apublish(None, impl.Data("users", "created"))

    asyncio.run(main())
    assert log == ["fails", "cancels:start", "cancels:end"]


def test_awaited_results_are_ignored(impl: ModuleType, amethod: str) -> None:
    bus = impl.Bus()
    log: list[str] = []

    async def returns_a_value(ctx: object, data: object) -> int:
        return 42

    bus.register("users", "created", returns_a_value)
    bus.register("users", "created", lambda ctx, data: "not awaitable")
    bus.register("users", "created", recorder(log, "after"))
    run(bus, amethod, None, impl.Data("users", "created"))
    assert log == ["after"]


# ---------------------------------------------------------------------------
# call / publish never drop an async handler


def assert_no_never_awaited_warning(action: Callable[[], None]) -> None:
    """Run ``action`` and collect garbage, recording every warning; none may be a RuntimeWarning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
        gc.collect()
    runtime = [str(warning.message) for warning in caught if issubclass(warning.category, RuntimeWarning)]
    assert runtime == []


def only_error(raised: BaseException) -> BaseException:
    """What ``call`` raised, or the one failure ``publish`` grouped."""
    if isinstance(raised, BaseExceptionGroup):
        (raised,) = raised.exceptions
    return raised


def refused(bus: Any, impl: ModuleType, method: str, handler: str) -> BaseException:
    """Dispatch ``users``/``created`` with ``method`` (``call`` or ``publish``): it must raise (or,
    ``publish``, group) one ``TypeError`` that names ``handler`` and the async method to use.
    Returns what was raised."""
    with pytest.raises((TypeError, ExceptionGroup)) as caught:
        getattr(bus, method)(None, impl.Data("users", "created"))
    error = only_error(caught.value)
    assert type(error) is TypeError
    assert handler in str(error)
    assert f"a{method}" in str(error)
    return caught.value


def test_async_handler_is_refused_with_a_type_error(impl: ModuleType, method: str) -> None:
    # A quiet logger: a captured log record's traceback would keep the coroutine alive.
    bus = impl.Bus(quiet_logger())
    log: list[str] = []

    async def an_async_handler(ctx: object, data: object) -> None:
        log.append("body ran")  # never: the coroutine is closed unstarted

    bus.register("users", "created", recorder(log, "before"))
    bus.register("users", "created", an_async_handler)
    bus.register("users", "created", recorder(log, "after"))

    def dispatch() -> None:
        raised = refused(bus, impl, method, "an_async_handler")
        if method == "publish":
            assert type(raised) is ExceptionGroup
            assert raised.message == "1 of 3 handlers failed for event 'users'/'created'"

    assert_no_never_awaited_warning(dispatch)
    # call refuses a coroutine function before running any handler; publish runs the rest.
    assert log == ([] if method == "call" else ["before", "after"])


def test_refused_async_handler_in_call_logs_nothing(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="eventbus")
    bus = impl.Bus()

    async def an_async_handler(ctx: object, data: object) -> None:
        pass

    bus.register("users", "created", an_async_handler)
    with pytest.raises(TypeError):
        bus.call(None, impl.Data("users", "created"))
    assert caplog.records == []


def test_refused_coroutine_is_closed(impl: ModuleType, method: str) -> None:
    bus = impl.Bus(quiet_logger())
    coroutines: list[CoroutineType[Any, Any, None]] = []

    async def body() -> None:
        pass

    def returns_a_coroutine(ctx: object, data: object) -> CoroutineType[Any, Any, None]:
        coroutine = body()
        assert isinstance(coroutine, CoroutineType)
        coroutines.append(coroutine)
        return coroutine

    bus.register("users", "created", returns_a_coroutine)

    def dispatch() -> None:
        refused(bus, impl, method, "returns_a_coroutine")

    assert_no_never_awaited_warning(dispatch)
    (coroutine,) = coroutines
    assert coroutine.cr_frame is None
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED


@pytest.mark.parametrize("closable", [True, False], ids=["with-close", "without-close"])
def test_refused_awaitable_is_closed_when_it_can_be(impl: ModuleType, method: str, closable: bool) -> None:
    bus = impl.Bus(quiet_logger())
    log: list[Any] = []
    results: list[Any] = []

    class Bare:
        def __await__(self) -> Generator[None, None, None]:
            yield

    def returns_an_awaitable(ctx: object, data: object) -> Any:
        result = ManualAwaitable(log, "manual") if closable else Bare()
        results.append(result)
        return result

    bus.register("users", "created", returns_an_awaitable)
    refused(bus, impl, method, "returns_an_awaitable")
    if closable:
        assert results[0].closed is True
    assert log == []  # never awaited


def test_acall_and_apublish_return_coroutines(impl: ModuleType) -> None:
    # What they return can be handed to asyncio.run / create_task directly.
    bus = impl.Bus()
    log: list[str] = []
    bus.register("users", "created", recorder(log, "ran"))
    for name in ("acall", "apublish"):
        pending = getattr(bus, name)(None, impl.Data("users", "created"))
        assert asyncio.iscoroutine(pending)
        assert asyncio.run(pending) is None
    assert log == ["ran", "ran"]


# ---------------------------------------------------------------------------
# What an awaitable's __await__ does reaches the caller as the interpreter would have it,
# the same on both implementations (the compiled one once rewrote it).


class _RaisesInAwait:
    """``__await__`` itself raises, before returning an iterator."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __await__(self) -> Generator[None, None, None]:
        raise self.exc


class _ReturnsCoroutine:
    """``__await__`` returns a coroutine, which the interpreter refuses."""

    def __init__(self) -> None:
        self.inner: Coroutine[Any, Any, None] | None = None

    def __await__(self) -> Any:
        async def inner() -> None:
            pass

        self.inner = inner()
        return self.inner


def _outcome(impl: ModuleType, amethod: str, result: object) -> BaseException:
    bus = impl.Bus(quiet_logger())
    bus.register("d", "a", lambda ctx, data: result)
    with pytest.raises(BaseException) as caught:
        run(bus, amethod, None, impl.Data("d", "a"))
    exc = caught.value
    if amethod == "apublish":
        assert isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1
        return exc.exceptions[0]
    return exc


def test_an_exception_raised_by_await_itself_comes_out_unchanged(impl: ModuleType, amethod: str) -> None:
    error = KeyError("from __await__")
    assert _outcome(impl, amethod, _RaisesInAwait(error)) is error


def test_except_star_matches_what_await_raised(impl: ModuleType) -> None:
    bus = impl.Bus(quiet_logger())
    bus.register("d", "a", lambda ctx, data: _RaisesInAwait(KeyError("k")))
    matched: list[BaseException] = []

    async def main() -> None:
        try:
            await bus.apublish(None, impl.Data("d", "a"))
        except* KeyError as group:
            matched.extend(group.exceptions)

    asyncio.run(main())
    assert [type(e) for e in matched] == [KeyError]


def test_stop_iteration_from_await_is_pep_479s_runtime_error(impl: ModuleType, amethod: str) -> None:
    stop = StopIteration(5)
    exc = _outcome(impl, amethod, _RaisesInAwait(stop))
    assert type(exc) is RuntimeError
    assert str(exc) == "coroutine raised StopIteration"
    assert exc.__cause__ is stop


def test_await_returning_a_coroutine_is_the_interpreters_type_error(impl: ModuleType, amethod: str) -> None:
    awaitable = _ReturnsCoroutine()
    exc = _outcome(impl, amethod, awaitable)
    assert type(exc) is TypeError
    assert str(exc) == "__await__() returned a coroutine"
    assert awaitable.inner is not None
    awaitable.inner.close()


def test_await_returning_a_non_iterator_is_the_interpreters_type_error(
    impl: ModuleType, amethod: str
) -> None:
    class NotAnIterator:
        def __await__(self) -> Any:
            return 42

    exc = _outcome(impl, amethod, NotAnIterator())
    assert type(exc) is TypeError
    assert str(exc) == "__await__() returned non-iterator of type 'int'"
