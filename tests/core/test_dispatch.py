"""``Bus.call`` and ``Bus.publish``: order, failures, logging, ctx, snapshots, re-entrancy."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from types import ModuleType

import pytest
from helpers_core import (
    Handler,
    collecting_logger,
    other_data_classes,
    quiet_logger,
    recorder,
    unbounded_recursion,
    value_id,
)
from helpers_observe import observed as observed
from helpers_observe import observed_impl as observed_impl  # every test runs plain and observed
from helpers_observe import observer_kept_the_protocol as observer_kept_the_protocol


@pytest.fixture(params=["call", "publish"])
def method(request: pytest.FixtureRequest) -> str:
    """The dispatch method under test, where both share the semantics."""
    return request.param  # type: ignore[no-any-return]


def dispatch(bus: object, method: str, ctx: object, data: object) -> object:
    return getattr(bus, method)(ctx, data)


class MyBaseException(BaseException):
    pass


class Untouchable:
    """A ctx that fails loudly if the bus compares, hashes, tests or copies it."""

    def __eq__(self, other: object) -> bool:
        raise AssertionError("ctx was compared")

    def __hash__(self) -> int:
        raise AssertionError("ctx was hashed")

    def __bool__(self) -> bool:
        raise AssertionError("ctx was tested for truth")

    def __len__(self) -> int:
        raise AssertionError("ctx was measured")

    def __reduce__(self) -> str:
        raise AssertionError("ctx was copied")


# ---------------------------------------------------------------------------
# Both methods


def test_handlers_run_in_order_with_ctx_and_data(impl: ModuleType, method: str) -> None:
    bus = impl.Bus()
    seen: list[tuple[str, object, object]] = []
    for name in ("first", "second", "third"):
        bus.register("users", "created", lambda ctx, data, name=name: seen.append((name, ctx, data)))
    ctx = object()
    data = impl.new_data("users", "created", {"id": 1})
    assert dispatch(bus, method, ctx, data) is None
    assert [name for name, _, _ in seen] == ["first", "second", "third"]
    assert all(got_ctx is ctx and got_data is data for _, got_ctx, got_data in seen)


@pytest.mark.parametrize("ctx", [None, Untouchable(), 0, "", [], {"k": "v"}], ids=value_id)
def test_ctx_is_passed_untouched(impl: ModuleType, method: str, ctx: object) -> None:
    bus = impl.Bus()
    seen: list[object] = []
    bus.register("users", "created", lambda got, data: seen.append(got))
    bus.register("users", "created", lambda got, data: seen.append(got))
    dispatch(bus, method, ctx, impl.Data("users", "created"))
    assert len(seen) == 2
    assert seen[0] is ctx and seen[1] is ctx


@pytest.mark.parametrize("result", [0, 1, "text", [1], False, object()], ids=value_id)
def test_return_values_are_ignored(impl: ModuleType, method: str, result: object) -> None:
    bus = impl.Bus()
    log: list[object] = []
    bus.register("users", "created", lambda ctx, data: result)
    bus.register("users", "created", recorder(log, "after"))
    dispatch(bus, method, None, impl.Data("users", "created"))
    assert log == ["after"]


def test_no_handlers_is_a_no_op(impl: ModuleType, method: str, caplog: pytest.LogCaptureFixture) -> None:
    bus = impl.Bus()
    bus.register("users", "created", recorder([], "other-pair"))
    unregister = bus.register("users", "deleted", recorder([], "removed"))
    unregister()
    caplog.set_level(logging.DEBUG)
    for action in ("deleted", "updated"):
        assert dispatch(bus, method, None, impl.Data("users", action)) is None
        assert dispatch(bus, method, None, impl.Data("orders", action)) is None
    assert caplog.records == []


def test_success_path_logs_nothing(impl: ModuleType, method: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bus = impl.Bus()
    log: list[object] = []
    for name in ("a", "b", "c"):
        bus.register("users", "created", recorder(log, name))
    dispatch(bus, method, None, impl.Data("users", "created"))
    assert log == ["a", "b", "c"]
    assert caplog.records == []


class DataLookalike:
    domain = "users"
    action = "created"
    raw_params = None


@pytest.mark.parametrize("registered", [True, False], ids=["with-handlers", "without"])
def test_data_that_is_not_a_data_is_a_type_error(impl: ModuleType, method: str, registered: bool) -> None:
    bus = impl.Bus()
    log: list[object] = []
    if registered:
        bus.register("users", "created", recorder(log, "handler"))
    not_data: list[object] = [None, "users", ("users", "created", None), {"domain": "users"}, DataLookalike()]
    not_data += [cls("users", "created") for cls in other_data_classes(impl)]
    for candidate in not_data:
        with pytest.raises(TypeError, match="Data"):
            dispatch(bus, method, None, candidate)
    assert log == []


def test_the_other_implementations_data_is_refused(impl: ModuleType, method: str) -> None:
    # The compiled case always has the pure twin beside it, and vice versa when built.
    others = other_data_classes(impl)
    if impl.__name__ == "eventbus._core":
        assert others, "the pure twin must always be importable"
    bus = impl.Bus()
    bus.register("users", "created", recorder([], "handler"))
    for cls in others:
        with pytest.raises(TypeError):
            dispatch(bus, method, None, cls("users", "created"))


@pytest.mark.parametrize(
    "make_error",
    [KeyboardInterrupt, SystemExit, MyBaseException, lambda: SystemExit(3)],
    ids=["KeyboardInterrupt", "SystemExit", "custom", "SystemExit-code"],
)
def test_base_exceptions_propagate_at_once(
    impl: ModuleType,
    method: str,
    make_error: Callable[[], BaseException],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bus = impl.Bus()
    log: list[object] = []
    error = make_error()
    bus.register("users", "created", recorder(log, "before"))
    bus.register("users", "created", recorder(log, "raiser", error))
    bus.register("users", "created", recorder(log, "after"))
    with pytest.raises(BaseException) as caught:
        dispatch(bus, method, None, impl.Data("users", "created"))
    assert caught.value is error
    assert log == ["before", "raiser"]
    assert caplog.records == []


def test_publish_base_exception_after_a_failure_is_not_grouped(impl: ModuleType) -> None:
    bus = impl.Bus(quiet_logger())
    log: list[object] = []
    interrupt = KeyboardInterrupt()
    bus.register("users", "created", recorder(log, "fails", ValueError("first")))
    bus.register("users", "created", recorder(log, "interrupts", interrupt))
    bus.register("users", "created", recorder(log, "never"))
    with pytest.raises(KeyboardInterrupt) as caught:
        bus.publish(None, impl.Data("users", "created"))
    assert caught.value is interrupt
    assert log == ["fails", "interrupts"]


# ---------------------------------------------------------------------------
# call: fail fast


@pytest.mark.parametrize(
    "error", [KeyError("k"), ValueError("v"), RuntimeError("r"), TypeError("t"), StopIteration()], ids=repr
)
def test_call_stops_at_the_first_failure_and_reraises_it(
    impl: ModuleType, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bus = impl.Bus()
    log: list[object] = []
    bus.register("users", "created", recorder(log, "first"))
    bus.register("users", "created", recorder(log, "fails", error))
    bus.register("users", "created", recorder(log, "never", RuntimeError("second failure")))
    with pytest.raises(type(error)) as caught:
        bus.call(None, impl.Data("users", "created"))
    assert caught.value is error
    assert log == ["first", "fails"]
    assert caplog.records == []


def test_call_failure_is_caught_by_its_base_type(impl: ModuleType) -> None:
    bus = impl.Bus()
    error = KeyError("missing")
    bus.register("users", "created", recorder([], "fails", error))
    try:
        bus.call(None, impl.Data("users", "created"))
    except LookupError as caught:
        assert caught is error
    else:
        pytest.fail("call did not raise")


def test_call_failure_keeps_the_handlers_traceback(impl: ModuleType) -> None:
    bus = impl.Bus()

    def failing_handler(ctx: object, data: object) -> None:
        raise ValueError("boom")

    bus.register("users", "created", failing_handler)
    with pytest.raises(ValueError) as caught:
        bus.call(None, impl.Data("users", "created"))
    assert caught.traceback[-1].name == "failing_handler"


# ---------------------------------------------------------------------------
# publish: run all, group, log


def test_publish_runs_every_handler_and_groups_failures(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bus = impl.Bus()
    log: list[object] = []
    first, second = KeyError("first"), ValueError("second")
    handlers = [
        recorder(log, "ok-1"),
        recorder(log, "fails-1", first),
        recorder(log, "ok-2"),
        recorder(log, "fails-2", second),
        recorder(log, "ok-3"),
    ]
    for handler in handlers:
        bus.register("users", "created", handler)
    with pytest.raises(ExceptionGroup) as caught:
        bus.publish(None, impl.Data("users", "created"))
    group = caught.value
    assert log == ["ok-1", "fails-1", "ok-2", "fails-2", "ok-3"]
    assert len(group.exceptions) == 2
    assert group.exceptions[0] is first
    assert group.exceptions[1] is second
    assert group.message == "2 of 5 handlers failed for event 'users'/'created'"

    records = caplog.records
    assert len(records) == 2
    for record, handler, error in zip(records, (handlers[1], handlers[3]), (first, second)):
        assert record.name == "eventbus"
        assert record.levelno == logging.ERROR
        assert record.exc_info is not None and record.exc_info[1] is error
        message = record.getMessage()
        assert handler.__qualname__ in message
        assert "'users'" in message and "'created'" in message


@pytest.mark.parametrize("failing", [0, 1, 2])
def test_publish_single_failure_is_still_a_group(impl: ModuleType, failing: int) -> None:
    bus = impl.Bus(quiet_logger())
    log: list[object] = []
    error = RuntimeError("only one")
    for index in range(3):
        bus.register("orders", "paid", recorder(log, str(index), error if index == failing else None))
    with pytest.raises(ExceptionGroup) as caught:
        bus.publish(None, impl.Data("orders", "paid"))
    assert caught.value.exceptions == (error,)
    assert caught.value.message == "1 of 3 handlers failed for event 'orders'/'paid'"
    assert log == ["0", "1", "2"]


def test_publish_all_failing(impl: ModuleType) -> None:
    bus = impl.Bus(quiet_logger())
    errors = [ValueError(str(index)) for index in range(4)]
    for index, error in enumerate(errors):
        bus.register("users", "created", recorder([], str(index), error))
    with pytest.raises(ExceptionGroup) as caught:
        bus.publish(None, impl.Data("users", "created"))
    assert list(caught.value.exceptions) == errors
    assert all(got is want for got, want in zip(caught.value.exceptions, errors))
    assert "4 of 4" in caught.value.message


def test_publish_same_exception_object_twice(impl: ModuleType) -> None:
    bus = impl.Bus(quiet_logger())
    error = ValueError("shared")
    handler = recorder([], "twice", error)
    bus.register("users", "created", handler)
    bus.register("users", "created", handler)
    with pytest.raises(ExceptionGroup) as caught:
        bus.publish(None, impl.Data("users", "created"))
    assert len(caught.value.exceptions) == 2
    assert all(got is error for got in caught.value.exceptions)


def test_publish_group_works_with_except_star(impl: ModuleType) -> None:
    bus = impl.Bus(quiet_logger())
    key_error, value_error = KeyError("k"), ValueError("v")
    bus.register("users", "created", recorder([], "a", key_error))
    bus.register("users", "created", recorder([], "b", value_error))
    caught_keys: list[BaseException] = []
    caught_values: list[BaseException] = []
    try:
        bus.publish(None, impl.Data("users", "created"))
    except* LookupError as group:
        caught_keys.extend(group.exceptions)
    except* ValueError as group:
        caught_values.extend(group.exceptions)
    assert caught_keys == [key_error] and caught_keys[0] is key_error
    assert caught_values == [value_error] and caught_values[0] is value_error


class FailingCallable:
    def __call__(self, ctx: object, data: object) -> None:
        raise ValueError("instance")

    def method(self, ctx: object, data: object) -> None:
        raise ValueError("method")


def failing_function(ctx: object, data: object, extra: object = None) -> None:
    raise ValueError("function")


@pytest.mark.parametrize(
    "handler, named",
    [
        (failing_function, "failing_function"),
        (FailingCallable().method, "FailingCallable.method"),
        (FailingCallable(), "FailingCallable"),
        (functools.partial(failing_function, extra=1), "failing_function"),
    ],
    ids=["function", "bound-method", "callable-instance", "partial"],
)
def test_publish_log_names_any_kind_of_handler(impl: ModuleType, handler: Handler, named: str) -> None:
    logger, records = collecting_logger()
    bus = impl.Bus(logger)
    bus.register("users", "created", handler)
    with pytest.raises(ExceptionGroup):
        bus.publish(None, impl.Data("users", "created"))
    (record,) = records
    assert named in record.getMessage()
    assert "'users'" in record.getMessage() and "'created'" in record.getMessage()


def test_publish_logs_on_a_custom_logger(impl: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logger, records = collecting_logger("tests.dispatch.custom")
    bus = impl.Bus(logger)
    error = ValueError("custom")
    bus.register("users", "created", recorder([], "fails", error))
    with pytest.raises(ExceptionGroup):
        bus.publish(None, impl.Data("users", "created"))
    assert [(record.name, record.levelno) for record in records] == [("tests.dispatch.custom", logging.ERROR)]
    assert records[0].exc_info is not None
    assert records[0].exc_info[1] is error
    assert caplog.records == []  # nothing on the default "eventbus" logger


def test_publish_logs_through_a_logger_adapter(impl: ModuleType) -> None:
    logger, records = collecting_logger("tests.dispatch.adapter")
    bus = impl.Bus(logging.LoggerAdapter(logger, {"tag": "x"}))
    bus.register("users", "created", recorder([], "fails", ValueError("adapted")))
    with pytest.raises(ExceptionGroup):
        bus.publish(None, impl.Data("users", "created"))
    assert [(record.name, record.levelno) for record in records] == [
        ("tests.dispatch.adapter", logging.ERROR)
    ]
    assert getattr(records[0], "tag") == "x"  # noqa: B009 (an extra attribute)


def test_call_logs_nothing_even_on_a_custom_logger(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bus = impl.Bus(logging.getLogger("tests.dispatch.custom"))
    bus.register("users", "created", recorder([], "fails", ValueError("call")))
    with pytest.raises(ValueError):
        bus.call(None, impl.Data("users", "created"))
    assert caplog.records == []


# ---------------------------------------------------------------------------
# Re-entrancy: snapshots, nested dispatch, recursion


def test_registering_inside_a_handler_applies_to_later_dispatches(impl: ModuleType, method: str) -> None:
    bus = impl.Bus()
    log: list[object] = []
    late = recorder(log, "late")
    other_pair = recorder(log, "other-pair")

    def registering(ctx: object, data: object) -> None:
        log.append("registering")
        if not ctx:
            ctx.append(True)  # type: ignore[attr-defined]
            bus.register("users", "created", late)
            bus.register("users", "deleted", other_pair)

    bus.register("users", "created", registering)
    bus.register("users", "created", recorder(log, "existing"))
    once: list[bool] = []
    dispatch(bus, method, once, impl.Data("users", "created"))
    assert log == ["registering", "existing"]
    log.clear()
    dispatch(bus, method, once, impl.Data("users", "created"))
    assert log == ["registering", "existing", "late"]
    log.clear()
    dispatch(bus, method, once, impl.Data("users", "deleted"))
    assert log == ["other-pair"]


def test_unregistering_inside_a_handler_does_not_affect_the_running_dispatch(
    impl: ModuleType, method: str
) -> None:
    bus = impl.Bus()
    log: list[object] = []
    unregisters: dict[str, Callable[[], bool]] = {}
    results: list[bool] = []

    def remover(ctx: object, data: object) -> None:
        log.append("remover")
        results.append(unregisters["self"]())
        results.append(unregisters["later"]())
        results.append(unregisters["earlier"]())

    unregisters["earlier"] = bus.register("users", "created", recorder(log, "earlier"))
    unregisters["self"] = bus.register("users", "created", remover)
    unregisters["later"] = bus.register("users", "created", recorder(log, "later"))
    kept = recorder(log, "kept")
    bus.register("users", "created", kept)
    dispatch(bus, method, None, impl.Data("users", "created"))
    assert log == ["earlier", "remover", "later", "kept"]
    assert results == [True, True, True]
    assert bus.handlers("users", "created") == (kept,)
    log.clear()
    dispatch(bus, method, None, impl.Data("users", "created"))
    assert log == ["kept"]


def test_unregister_from_another_handler_during_dispatch_keeps_snapshot(
    impl: ModuleType, method: str
) -> None:
    # The dispatch that is running sees the tuple it started with, even when a
    # handler empties the pair entirely.
    bus = impl.Bus()
    log: list[object] = []
    unregisters: list[Callable[[], bool]] = []

    def clear_all(ctx: object, data: object) -> None:
        log.append("clear-all")
        for unregister in unregisters:
            unregister()

    unregisters.append(bus.register("users", "created", clear_all))
    for name in ("b", "c", "d"):
        unregisters.append(bus.register("users", "created", recorder(log, name)))
    dispatch(bus, method, None, impl.Data("users", "created"))
    assert log == ["clear-all", "b", "c", "d"]
    assert bus.handlers("users", "created") == ()


def test_nested_dispatch_of_another_and_the_same_event(impl: ModuleType, method: str) -> None:
    bus = impl.Bus()
    log: list[object] = []

    def outer(ctx: list[int], data: object) -> None:
        log.append(("outer", ctx[0]))
        if ctx[0] < 2:
            ctx[0] += 1
            dispatch(bus, method, ctx, impl.Data("users", "created"))  # the same event
        dispatch(bus, method, ctx, impl.Data("audit", "written"))  # another event

    bus.register("users", "created", outer)
    bus.register("users", "created", lambda ctx, data: log.append(("second", ctx[0])))
    bus.register("audit", "written", lambda ctx, data: log.append(("audit", ctx[0])))
    dispatch(bus, method, [0], impl.Data("users", "created"))
    assert log == [
        ("outer", 0),
        ("outer", 1),
        ("outer", 2),
        ("audit", 2),
        ("second", 2),
        ("audit", 2),
        ("second", 2),
        ("audit", 2),
        ("second", 2),
    ]


def test_nested_publish_failure_is_grouped_inside_the_outer_group(impl: ModuleType) -> None:
    bus = impl.Bus(quiet_logger())
    inner_error = ValueError("inner")
    bus.register("inner", "event", recorder([], "inner", inner_error))
    bus.register("outer", "event", lambda ctx, data: bus.publish(ctx, impl.Data("inner", "event")))
    with pytest.raises(ExceptionGroup) as caught:
        bus.publish(None, impl.Data("outer", "event"))
    (inner_group,) = caught.value.exceptions
    assert isinstance(inner_group, ExceptionGroup)
    assert inner_group.exceptions == (inner_error,)
    assert "'inner'/'event'" in inner_group.message
    assert "'outer'/'event'" in caught.value.message


def innermost(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        assert len(error.exceptions) == 1
        error = error.exceptions[0]
    return error


def test_unbounded_recursion_ends_in_recursion_error(impl: ModuleType, method: str) -> None:
    bus = impl.Bus(quiet_logger())
    data = impl.Data("loop", "forever")
    bus.register("loop", "forever", lambda ctx, got: dispatch(bus, method, ctx, got))
    with pytest.raises((RecursionError, ExceptionGroup)) as caught:
        dispatch(bus, method, None, data)
    if method == "call":
        assert type(caught.value) is RecursionError
    else:
        assert isinstance(caught.value, ExceptionGroup)
        assert type(innermost(caught.value)) is RecursionError
    # The interpreter is intact: the bus still dispatches.
    log: list[object] = []
    bus.register("after", "recursion", recorder(log, "after"))
    dispatch(bus, method, None, impl.Data("after", "recursion"))
    assert log == ["after"]


def test_unbounded_recursion_does_not_crash_the_process(impl: ModuleType, method: str) -> None:
    result = unbounded_recursion(impl, method, observed=False)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    expected = "RecursionError" if method == "call" else "group of RecursionError"
    assert result.stdout.strip() == expected


class _OutOfContext:
    """A handler behind a proxy used outside its context: every attribute it does not define
    raises (``__qualname__`` included), as its repr does."""

    def __init__(self, log: list[str], error: Exception) -> None:
        self.log = log
        self.error = error

    def __call__(self, ctx: object, data: object) -> None:
        self.log.append("proxy")
        raise self.error

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"working outside of the request context ({name})")

    def __repr__(self) -> str:
        raise RuntimeError("working outside of the request context (repr)")


def test_a_handler_whose_name_cannot_be_read_keeps_its_own_failure(impl: ModuleType) -> None:
    log: list[str] = []
    error = ValueError("the handler's own")
    bus = impl.Bus(quiet_logger())
    bus.register("users", "created", _OutOfContext(log, error))
    bus.register("users", "created", lambda ctx, data: log.append("next"))
    with pytest.raises(ValueError) as called:
        bus.call(None, impl.Data("users", "created"))
    assert called.value is error
    assert "_OutOfContext" in called.value.__notes__[0]
    assert log == ["proxy"]
    log.clear()
    with pytest.raises(ExceptionGroup) as published:
        bus.publish(None, impl.Data("users", "created"))
    assert published.value.exceptions == (error,)
    assert log == ["proxy", "next"]  # publish ran the remaining handlers
