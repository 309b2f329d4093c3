"""The observer hook: what it sees of ``call``/``publish``/``acall``/``apublish``, how it is set,
and what happens when it fails.  (That an observed dispatch behaves exactly like an unobserved
one is shown by core/test_dispatch, core/test_async and stress/test_refs, which run again with an observer.)"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from helpers_core import (
    cancel_a_running_acall,
    collecting_logger,
    quiet_logger,
    run_workers,
    unbounded_recursion,
)
from helpers_observe import CheckingObserver

import eventbus
from eventbus import _observe  # pyright: ignore[reportPrivateUsage]  # its clock, replaced

METHODS = ["call", "publish", "acall", "apublish"]


class MyBaseException(BaseException):
    pass


def dispatch(bus: Any, method: str, ctx: object, data: object) -> None:
    """Any of the four methods, the async ones from a fresh event loop."""
    if method.startswith("a"):

        async def main() -> None:
            await getattr(bus, method)(ctx, data)

        asyncio.run(main())
    else:
        getattr(bus, method)(ctx, data)


def name(handler: object) -> str:
    return getattr(handler, "__name__", repr(handler))


class Recording(eventbus.Observation):
    """Writes every hook call to ``log`` as a tuple; exceptions as ``(type name, object)``."""

    def __init__(self, log: list[tuple[Any, ...]]) -> None:
        self.log = log

    def handler_started(self, handler: Callable[[Any, Any], object]) -> None:
        self.log.append(("handler_started", name(handler)))

    def handler_finished(
        self, handler: Callable[[Any, Any], object], duration: float, error: BaseException | None
    ) -> None:
        self.log.append(("handler_finished", name(handler), duration, error))

    def finished(self, error: BaseException | None) -> None:
        self.log.append(("finished", error))


class RecordingObserver(eventbus.Observer):
    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []

    def dispatch(
        self, method: str, data: Any, handlers: tuple[Callable[[Any, Any], object], ...]
    ) -> Recording:
        self.log.append(("dispatch", method, data, tuple(name(h) for h in handlers)))
        return Recording(self.log)


class FakeClock:
    """Stands for ``time.perf_counter`` in ``eventbus._observe``: handlers advance it."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(_observe, "perf_counter", fake)
    return fake


def without_durations(log: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [entry[:2] + entry[3:] if entry[0] == "handler_finished" else entry for entry in log]


# ---------------------------------------------------------------------------
# What the observer sees


@pytest.mark.parametrize("method", METHODS)
def test_observer_sees_start_each_handler_and_end(impl: ModuleType, method: str, clock: FakeClock) -> None:
    observer = RecordingObserver()
    bus = impl.Bus(observer=observer)
    ran: list[str] = []

    def first(ctx: object, data: object) -> None:
        ran.append("first")
        clock.now += 0.25

    async def second(ctx: object, data: object) -> None:
        await asyncio.sleep(0)
        clock.now += 1.5  # after the await: an async handler's duration includes it
        ran.append("second")

    bus.register("users", "created", first)
    if method.startswith("a"):
        bus.register("users", "created", second)
    data = impl.Data("users", "created", b"{}")
    dispatch(bus, method, "ctx", data)
    names = ("first", "second") if method.startswith("a") else ("first",)
    assert ran == list(names)
    expected: list[tuple[Any, ...]] = [
        ("dispatch", method, data, names),
        ("handler_started", "first"),
        ("handler_finished", "first", 0.25, None),
    ]
    if method.startswith("a"):
        expected += [("handler_started", "second"), ("handler_finished", "second", 1.5, None)]
    assert observer.log == expected + [("finished", None)]


@pytest.mark.parametrize("method", METHODS)
def test_observer_sees_the_handlers_as_registered(impl: ModuleType, method: str) -> None:
    seen: list[tuple[Any, ...]] = []

    class Seeing(eventbus.Observation):
        def handler_started(self, handler: Callable[[Any, Any], object]) -> None:
            seen.append(("started", handler))

    class Observer(eventbus.Observer):
        def dispatch(
            self, method: str, data: Any, handlers: tuple[Callable[[Any, Any], object], ...]
        ) -> Seeing:
            seen.append(("dispatch", handlers))
            return Seeing()

    class Account:
        def opened(self, ctx: object, data: object) -> None:
            pass

    def plain(ctx: object, data: object) -> None:
        pass

    account = Account()
    bus = impl.Bus(observer=Observer())
    bus.register("users", "created", plain)
    bus.register("users", "created", account.opened, weak=True)  # dispatch calls a wrapper
    dispatch(bus, method, None, impl.Data("users", "created"))
    registered = bus.handlers("users", "created")
    assert registered == (plain, account.opened)
    assert seen == [("dispatch", registered), ("started", plain), ("started", account.opened)]


@pytest.mark.parametrize("method", METHODS)
def test_observer_sees_a_dispatch_without_handlers(impl: ModuleType, method: str) -> None:
    observer = RecordingObserver()
    bus = impl.Bus(observer=observer)
    data = impl.Data("nobody", "listens")
    dispatch(bus, method, None, data)
    assert observer.log == [("dispatch", method, data, ()), ("finished", None)]


@pytest.mark.parametrize("method", METHODS)
def test_a_non_data_is_refused_before_the_observer_hears_of_it(impl: ModuleType, method: str) -> None:
    observer = RecordingObserver()
    bus = impl.Bus(observer=observer)
    with pytest.raises(TypeError, match="data must be an eventbus.Data, not tuple"):
        dispatch(bus, method, None, ("users", "created"))
    assert observer.log == []


@pytest.mark.parametrize("method", ["call", "acall"])
def test_fail_fast_failure_is_seen_on_the_handler_and_the_dispatch(impl: ModuleType, method: str) -> None:
    observer = RecordingObserver()
    bus = impl.Bus(observer=observer)
    error = KeyError("missing")

    def ok(ctx: object, data: object) -> None:
        pass

    def fails(ctx: object, data: object) -> None:
        raise error

    def never(ctx: object, data: object) -> None:
        raise AssertionError("call stops at the first failure")

    for handler in (ok, fails, never):
        bus.register("users", "created", handler)
    with pytest.raises(KeyError) as caught:
        dispatch(bus, method, None, impl.Data("users", "created"))
    assert caught.value is error
    assert without_durations(observer.log)[1:] == [
        ("handler_started", "ok"),
        ("handler_finished", "ok", None),
        ("handler_started", "fails"),
        ("handler_finished", "fails", error),
        ("finished", error),
    ]


@pytest.mark.parametrize("method", ["publish", "apublish"])
def test_run_all_failures_are_seen_per_handler_and_the_group_at_the_end(
    impl: ModuleType, method: str
) -> None:
    observer = RecordingObserver()
    logger, records = collecting_logger("tests.observer.publish")
    bus = impl.Bus(logger, observer=observer)
    first, second = ValueError("one"), LookupError("two")

    def fails_first(ctx: object, data: object) -> None:
        raise first

    def ok(ctx: object, data: object) -> None:
        pass

    def fails_second(ctx: object, data: object) -> None:
        raise second

    for handler in (fails_first, ok, fails_second):
        bus.register("users", "created", handler)
    with pytest.raises(ExceptionGroup) as caught:
        dispatch(bus, method, None, impl.Data("users", "created"))
    assert caught.value.exceptions == (first, second)
    assert without_durations(observer.log)[1:] == [
        ("handler_started", "fails_first"),
        ("handler_finished", "fails_first", first),
        ("handler_started", "ok"),
        ("handler_finished", "ok", None),
        ("handler_started", "fails_second"),
        ("handler_finished", "fails_second", second),
        ("finished", caught.value),
    ]
    # Each failure is still logged, once, by the bus.
    assert [record.exc_info[1] for record in records if record.exc_info] == [first, second]


@pytest.mark.parametrize("method", ["call", "publish"])
def test_a_refused_awaitable_is_that_handlers_error(impl: ModuleType, method: str) -> None:
    observer = RecordingObserver()
    bus = impl.Bus(quiet_logger(), observer=observer)

    async def handler(ctx: object, data: object) -> None:
        pass

    bus.register("users", "created", handler)
    with pytest.raises((TypeError, ExceptionGroup)) as caught:
        dispatch(bus, method, None, impl.Data("users", "created"))
    group = caught.value
    refusal = group.exceptions[0] if isinstance(group, ExceptionGroup) else group
    assert type(refusal) is TypeError and "a" + method in str(refusal)
    if method == "call":
        # call refuses a coroutine-function handler before running any.
        assert without_durations(observer.log)[1:] == [("finished", refusal)]
        return
    assert without_durations(observer.log)[2:] == [
        ("handler_finished", "handler", refusal),
        ("finished", caught.value),
    ]


@pytest.mark.parametrize("method", METHODS)
def test_the_handlers_error_carries_its_note_when_the_observer_sees_it(impl: ModuleType, method: str) -> None:
    notes: list[list[str]] = []

    class Notes(eventbus.Observation):
        def handler_finished(
            self, handler: Callable[[Any, Any], object], duration: float, error: BaseException | None
        ) -> None:
            notes.append(list(getattr(error, "__notes__", [])))

    class Observer(eventbus.Observer):
        def dispatch(self, method: str, data: Any, handlers: tuple[Any, ...]) -> Notes:
            return Notes()

    def declines(ctx: object, data: object) -> None:
        raise KeyError("no account")

    bus = impl.Bus(quiet_logger(), observer=Observer())
    bus.register("users", "created", declines)
    with pytest.raises((KeyError, ExceptionGroup)):
        dispatch(bus, method, None, impl.Data("users", "created"))
    assert len(notes) == 1 and len(notes[0]) == 1
    assert "declines" in notes[0][0] and "'users'/'created'" in notes[0][0]


def test_acall_stop_iteration_is_seen_as_the_runtime_error_acall_raises(impl: ModuleType) -> None:
    observer = RecordingObserver()
    bus = impl.Bus(observer=observer)

    def stops(ctx: object, data: object) -> None:
        raise StopIteration

    bus.register("users", "created", stops)
    with pytest.raises(RuntimeError, match="raised StopIteration") as caught:
        dispatch(bus, "acall", None, impl.Data("users", "created"))
    assert type(caught.value.__cause__) is StopIteration
    assert without_durations(observer.log)[2:] == [
        ("handler_finished", "stops", caught.value),
        ("finished", caught.value),
    ]


@pytest.mark.parametrize("method", METHODS)
def test_a_base_exception_is_seen_and_propagates_at_once(impl: ModuleType, method: str) -> None:
    observer = RecordingObserver()
    bus = impl.Bus(observer=observer)
    stop = MyBaseException("stop")

    def interrupted(ctx: object, data: object) -> None:
        raise stop

    def never(ctx: object, data: object) -> None:
        raise AssertionError("a BaseException stops every method")

    bus.register("users", "created", interrupted)
    bus.register("users", "created", never)
    with pytest.raises(MyBaseException) as caught:
        dispatch(bus, method, None, impl.Data("users", "created"))
    assert caught.value is stop
    assert without_durations(observer.log)[1:] == [
        ("handler_started", "interrupted"),
        ("handler_finished", "interrupted", stop),
        ("finished", stop),
    ]


def test_a_cancelled_acall_is_finished_with_the_cancellation(impl: ModuleType) -> None:
    observer = RecordingObserver()
    bus = impl.Bus(observer=observer)
    cancel_a_running_acall(bus, impl.Data("users", "created"))
    kinds = [(entry[0], type(entry[-1]).__name__) for entry in observer.log[1:]]
    assert kinds == [
        ("handler_started", "str"),
        ("handler_finished", "CancelledError"),
        ("finished", "CancelledError"),
    ]


@pytest.mark.parametrize("method", METHODS)
def test_nested_dispatch_is_observed_inside_the_outer_handler(impl: ModuleType, method: str) -> None:
    observer = RecordingObserver()
    bus = impl.Bus(observer=observer)
    inner = impl.Data("billing", "opened")

    async def outer_async(ctx: object, data: object) -> None:
        await getattr(bus, method)(ctx, inner)

    def outer_sync(ctx: object, data: object) -> None:
        getattr(bus, method)(ctx, inner)

    def opened(ctx: object, data: object) -> None:
        pass

    outer = outer_async if method.startswith("a") else outer_sync
    bus.register("users", "created", outer)
    bus.register("billing", "opened", opened)
    data = impl.Data("users", "created")
    dispatch(bus, method, None, data)
    assert without_durations(observer.log) == [
        ("dispatch", method, data, (outer.__name__,)),
        ("handler_started", outer.__name__),
        ("dispatch", method, inner, ("opened",)),
        ("handler_started", "opened"),
        ("handler_finished", "opened", None),
        ("finished", None),
        ("handler_finished", outer.__name__, None),
        ("finished", None),
    ]


@pytest.mark.parametrize("method", METHODS)
def test_an_observer_that_declines_sees_nothing_more(impl: ModuleType, method: str) -> None:
    seen: list[str] = []

    class OnlyBilling(eventbus.Observer):
        def dispatch(
            self, method: str, data: Any, handlers: tuple[Callable[[Any, Any], object], ...]
        ) -> eventbus.Observation | None:
            seen.append(data.domain)
            return None

    bus = impl.Bus(observer=OnlyBilling())
    ran: list[object] = []
    bus.register("users", "created", lambda ctx, data: ran.append(ctx))
    dispatch(bus, method, "ctx", impl.Data("users", "created"))
    assert seen == ["users"] and ran == ["ctx"]


def test_the_base_classes_observe_nothing(impl: ModuleType) -> None:
    class Nothing(eventbus.Observer):
        pass

    class Quiet(eventbus.Observation):
        pass

    bus = impl.Bus(observer=Nothing())
    ran: list[object] = []
    bus.register("users", "created", lambda ctx, data: ran.append(ctx))
    bus.call(1, impl.Data("users", "created"))
    assert ran == [1]
    assert Nothing().dispatch("call", impl.Data("users", "created"), ()) is None
    quiet = Quiet()
    quiet.handler_started(print)
    quiet.handler_finished(print, 0.0, None)
    quiet.finished(None)


# ---------------------------------------------------------------------------
# Setting it


def test_observer_is_set_by_constructor_and_property(impl: ModuleType) -> None:
    first, second = RecordingObserver(), RecordingObserver()
    bus = impl.Bus()
    assert bus.observer is None
    bus.observer = first
    assert bus.observer is first
    bus.call(None, impl.Data("users", "created"))
    bus.observer = second
    bus.call(None, impl.Data("users", "created"))
    assert len(first.log) == len(second.log) == 2
    bus.observer = None
    bus.call(None, impl.Data("users", "created"))
    assert len(second.log) == 2
    bus.observer = first
    del bus.observer
    assert bus.observer is None
    assert impl.Bus(observer=second).observer is second
    assert impl.Bus(quiet_logger(), observer=None).observer is None


@pytest.mark.parametrize("bad", [print, 3, "observer", object(), type("NoDispatch", (), {"dispatch": 1})()])
def test_a_bad_observer_is_refused_and_nothing_changes(impl: ModuleType, bad: object) -> None:
    kept = RecordingObserver()
    bus = impl.Bus(observer=kept)
    with pytest.raises(TypeError, match=r"observer must be None or have a dispatch\(\) method") as caught:
        bus.observer = bad
    assert type(bad).__qualname__ in str(caught.value)
    assert bus.observer is kept
    with pytest.raises(TypeError, match=r"observer must be None or have a dispatch\(\) method"):
        impl.Bus(observer=bad)
    with pytest.raises(TypeError):
        impl.Bus(quiet_logger(), bad)  # keyword-only


def test_setting_the_observer_mid_dispatch_affects_later_dispatches_only(impl: ModuleType) -> None:
    observer = RecordingObserver()
    bus = impl.Bus()
    data = impl.Data("users", "created")

    def installs(ctx: object, data: object) -> None:
        bus.observer = observer

    def removes(ctx: object, data: object) -> None:
        bus.observer = None

    bus.register("users", "created", installs)
    bus.call(None, data)  # unobserved when it started: stays so
    assert observer.log == []
    bus.register("users", "created", removes)
    bus.call(None, data)  # observed when it started: stays so, to its end
    assert [entry[0] for entry in observer.log] == [
        "dispatch",
        "handler_started",
        "handler_finished",
        "handler_started",
        "handler_finished",
        "finished",
    ]
    assert bus.observer is None


def test_dispatch_from_many_threads_is_observed_whole(impl: ModuleType) -> None:
    observer = CheckingObserver()
    bus = impl.Bus(observer=observer)
    count = [0]
    lock = threading.Lock()

    def handler(ctx: object, data: object) -> None:
        with lock:
            count[0] += 1

    for _ in range(3):
        bus.register("users", "created", handler)
    data = impl.Data("users", "created")

    def worker() -> None:
        for _ in range(300):
            bus.call(None, data)
            bus.publish(None, data)

    run_workers([worker] * 6)
    observer.check()
    assert observer.started == observer.finished == 6 * 300 * 2
    assert count[0] == 6 * 300 * 2 * 3


def test_swapping_the_observer_while_threads_dispatch(impl: ModuleType) -> None:
    observers = [CheckingObserver() for _ in range(3)]
    bus = impl.Bus()
    calls = [0]
    dispatched = threading.Condition()

    def handler(ctx: object, data: object) -> None:
        with dispatched:
            calls[0] += 1
            dispatched.notify_all()

    bus.register("users", "created", handler)
    data = impl.Data("users", "created")
    done = threading.Event()

    def dispatcher() -> None:
        while not done.is_set():
            bus.call(None, data)
            bus.publish(None, data)

    def swapper() -> None:
        try:
            for index in range(400):
                bus.observer = observers[index % 3] if index % 4 else None
                # Each setting is seen by a few dispatches before the next.
                with dispatched:
                    target = calls[0] + 3
                    assert dispatched.wait_for(lambda: calls[0] >= target, timeout=30)
        finally:
            done.set()

    run_workers([dispatcher, dispatcher, swapper])
    for observer in observers:
        observer.check()
        assert observer.started > 0


# ---------------------------------------------------------------------------
# An observer that fails


class Failing(eventbus.Observer, eventbus.Observation):
    """Raises ``error`` from the hook named ``where``; records the others."""

    def __init__(self, where: str, error: BaseException) -> None:
        self.where = where
        self.error = error
        self.log: list[str] = []

    def _hook(self, hook: str) -> None:
        self.log.append(hook)
        if hook == self.where:
            raise self.error

    def dispatch(
        self, method: str, data: Any, handlers: tuple[Callable[[Any, Any], object], ...]
    ) -> eventbus.Observation:
        self._hook("dispatch")
        return self

    def handler_started(self, handler: Callable[[Any, Any], object]) -> None:
        self._hook("handler_started")

    def handler_finished(
        self, handler: Callable[[Any, Any], object], duration: float, error: BaseException | None
    ) -> None:
        self._hook("handler_finished")

    def finished(self, error: BaseException | None) -> None:
        self._hook("finished")


HOOKS = ["dispatch", "handler_started", "handler_finished", "finished"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("where", HOOKS)
def test_an_observer_exception_is_logged_and_changes_nothing(
    impl: ModuleType, method: str, where: str
) -> None:
    observer = Failing(where, ZeroDivisionError("observer bug"))
    logger, records = collecting_logger(f"tests.observer.failing.{where}.{method}")
    bus = impl.Bus(logger, observer=observer)
    ran: list[str] = []
    handler_error = KeyError("handler")

    def ok(ctx: object, data: object) -> None:
        ran.append("ok")

    def fails(ctx: object, data: object) -> None:
        ran.append("fails")
        raise handler_error

    bus.register("users", "created", ok)
    bus.register("users", "created", fails)
    expected = ExceptionGroup if method.endswith("publish") else KeyError
    with pytest.raises(expected) as caught:
        dispatch(bus, method, None, impl.Data("users", "created"))
    assert ran == ["ok", "fails"]
    if expected is KeyError:
        assert caught.value is handler_error
    else:
        assert caught.value.exceptions == (handler_error,)  # type: ignore[attr-defined]
    observer_records = [r for r in records if r.getMessage().startswith("eventbus: observer ")]
    calls = 1 if where in ("dispatch", "finished") else 2
    assert len(observer_records) == calls
    for record in observer_records:
        assert record.levelno == logging.ERROR
        assert record.getMessage() == (
            f"eventbus: observer test_observer.Failing failed in {where}() for event 'users'/'created'"
        )
        assert record.exc_info is not None and record.exc_info[1] is observer.error
    # A failed dispatch() leaves the dispatch unobserved; any other hook keeps being called.
    if where == "dispatch":
        assert observer.log == ["dispatch"]
    else:
        assert observer.log == ["dispatch"] + ["handler_started", "handler_finished"] * 2 + ["finished"]


@pytest.mark.parametrize("method", ["call", "acall"])
def test_an_observer_exception_on_the_success_path_is_logged_only(impl: ModuleType, method: str) -> None:
    observer = Failing("handler_finished", ZeroDivisionError("observer bug"))
    logger, records = collecting_logger(f"tests.observer.success.{method}")
    bus = impl.Bus(logger, observer=observer)
    ran: list[object] = []
    bus.register("users", "created", lambda ctx, data: ran.append(ctx))
    dispatch(bus, method, "ctx", impl.Data("users", "created"))
    assert ran == ["ctx"]
    assert [r.getMessage() for r in records] == [
        "eventbus: observer test_observer.Failing failed in handler_finished() for event 'users'/'created'"
    ]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("where", HOOKS)
def test_an_observer_base_exception_propagates_at_once(impl: ModuleType, method: str, where: str) -> None:
    stop = MyBaseException("observer stops")
    observer = Failing(where, stop)
    bus = impl.Bus(quiet_logger(), observer=observer)
    ran: list[str] = []
    bus.register("users", "created", lambda ctx, data: ran.append("first"))
    bus.register("users", "created", lambda ctx, data: ran.append("second"))
    with pytest.raises(MyBaseException) as caught:
        dispatch(bus, method, None, impl.Data("users", "created"))
    assert caught.value is stop
    # Up to the hook that raised, then only finished() (which a started dispatch always gets).
    expected_ran = {
        "dispatch": [],
        "handler_started": [],
        "handler_finished": ["first"],
        "finished": ["first", "second"],
    }
    assert ran == expected_ran[where]
    expected_log = {
        "dispatch": ["dispatch"],
        "handler_started": ["dispatch", "handler_started", "finished"],
        "handler_finished": ["dispatch", "handler_started", "handler_finished", "finished"],
        "finished": ["dispatch"] + ["handler_started", "handler_finished"] * 2 + ["finished"],
    }
    assert observer.log == expected_log[where]


def test_an_observer_that_returns_a_bad_observation_is_logged(impl: ModuleType) -> None:
    class Bad(eventbus.Observer):
        def dispatch(self, method: str, data: Any, handlers: tuple[Any, ...]) -> Any:
            return 42

    logger, records = collecting_logger("tests.observer.bad-observation")
    bus = impl.Bus(logger, observer=Bad())
    ran: list[object] = []
    bus.register("users", "created", lambda ctx, data: ran.append(ctx))
    bus.call("ctx", impl.Data("users", "created"))
    assert ran == ["ctx"]
    assert [r.getMessage().split(" failed in ")[1] for r in records] == [
        "handler_started() for event 'users'/'created'",
        "handler_finished() for event 'users'/'created'",
        "finished() for event 'users'/'created'",
    ]
    assert all(isinstance(r.exc_info[1], AttributeError) for r in records if r.exc_info)


# ---------------------------------------------------------------------------
# Recursion


@pytest.mark.parametrize("method", ["call", "publish"])
def test_observed_unbounded_recursion_ends_in_recursion_error(impl: ModuleType, method: str) -> None:
    result = unbounded_recursion(impl, method, observed=True)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    expected = "RecursionError" if method == "call" else "group of RecursionError"
    assert result.stdout.strip() == expected


class _Counting(eventbus.Observation):
    """Follows a dispatch and keeps nothing of it: how many hooks ran."""

    def __init__(self) -> None:
        self.hooks = 0

    def handler_started(self, handler: Callable[[Any, Any], object]) -> None:
        self.hooks += 1


class _Declining(eventbus.Observer):
    """Follows no dispatch (the protocol's own dispatch)."""


class _Following(eventbus.Observer):
    def __init__(self) -> None:
        self.observations: list[_Counting] = []

    def dispatch(self, method: Any, data: Any, handlers: tuple[Any, ...]) -> _Counting:
        self.observations.append(_Counting())
        return self.observations[-1]


@pytest.mark.parametrize("method", ["call", "publish", "acall", "apublish"])
@pytest.mark.parametrize("follows", [False, True], ids=["declines", "follows"])
def test_an_observed_dispatch_skips_a_weak_handler_an_earlier_handler_dropped(
    impl: ModuleType, method: str, follows: bool
) -> None:
    """As the unobserved dispatch: the observer holds no handler for the whole dispatch."""
    log: list[str] = []

    class Account:
        def opened(self, ctx: object, data: object) -> None:
            log.append("dropped one ran")

    accounts = [Account()]

    def drop(ctx: object, data: object) -> None:
        log.append("drop")
        accounts.clear()  # the last reference: the weak handler's object is gone

    observer = _Following() if follows else _Declining()
    bus = impl.Bus(observer=observer)
    bus.register("users", "created", drop)
    bus.register("users", "created", accounts[0].opened, weak=True)
    result = getattr(bus, method)(None, impl.Data("users", "created"))
    if method.startswith("a"):
        asyncio.run(result)
    assert log == ["drop"]
    if isinstance(observer, _Following):
        assert [o.hooks for o in observer.observations] == [1]
