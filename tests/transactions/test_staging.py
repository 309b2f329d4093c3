"""call_after_commit / publish_after_commit on a user's own ``eventbus.Transaction``.

The rules that do not depend on a database: validation at staging, no transaction open,
staging order and each event's own semantics, failures after commit, the handlers that
run, staging again after commit, threads.  The same rules on SQLAlchemy and Django, with
their savepoints, on SQLite and PostgreSQL: test_sqlalchemy.py, test_django.py.
"""

from __future__ import annotations

import functools
import gc
import logging
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from helpers_core import run_workers

import eventbus
from eventbus import _core_py  # pyright: ignore[reportPrivateUsage]


class UnitOfWork:
    """A unit of work as a user writes one: callbacks kept per savepoint, run after commit."""

    def __init__(self) -> None:
        self.levels: list[list[Callable[[], object]]] = []

    def begin(self) -> None:
        self.levels.append([])

    def active(self) -> bool:
        return bool(self.levels)

    def on_commit(self, callback: Callable[[], object], /) -> None:
        self.levels[-1].append(callback)

    def commit(self) -> None:
        finished = self.levels.pop()
        if self.levels:  # a savepoint released: its callbacks join the enclosing level
            self.levels[-1].extend(finished)
            return
        for callback in finished:
            callback()

    def rollback(self) -> None:
        self.levels.pop()


def recorder(seen: list[str], name: str) -> Callable[[object, object], None]:
    def handler(ctx: object, data: Any) -> None:
        seen.append(f"{name} {data.action}")

    handler.__qualname__ = name
    return handler


def failing(seen: list[str], name: str) -> Callable[[object, object], None]:
    def handler(ctx: object, data: Any) -> None:
        seen.append(f"{name} {data.action}")
        raise LookupError(f"{name} failed")

    handler.__qualname__ = name
    return handler


def test_a_staged_event_runs_after_the_commit_and_not_before(impl: ModuleType) -> None:
    bus, seen, unit = impl.Bus(), list[str](), UnitOfWork()
    bus.register("users", "created", recorder(seen, "mail"))
    unit.begin()
    bus.call_after_commit(None, impl.Data("users", "created"), unit)
    bus.publish_after_commit(None, impl.Data("users", "created"), unit)
    assert seen == []
    unit.commit()
    assert seen == ["mail created", "mail created"]


def test_a_rolled_back_transaction_runs_nothing(impl: ModuleType) -> None:
    bus, seen, unit = impl.Bus(), list[str](), UnitOfWork()
    bus.register("users", "created", recorder(seen, "mail"))
    unit.begin()
    bus.call_after_commit(None, impl.Data("users", "created"), unit)
    unit.rollback()
    assert seen == []


def test_savepoints_of_a_users_own_transaction(impl: ModuleType) -> None:
    bus, seen, unit = impl.Bus(), list[str](), UnitOfWork()
    for action in ("outer", "released", "dropped", "inner"):
        bus.register("users", action, recorder(seen, "h"))
    unit.begin()
    bus.call_after_commit(None, impl.Data("users", "outer"), unit)
    unit.begin()
    bus.call_after_commit(None, impl.Data("users", "released"), unit)
    unit.commit()
    unit.begin()
    bus.publish_after_commit(None, impl.Data("users", "dropped"), unit)
    unit.begin()
    bus.publish_after_commit(None, impl.Data("users", "inner"), unit)
    unit.commit()  # into "dropped"'s savepoint, rolled back with it
    unit.rollback()
    assert seen == []
    unit.commit()
    assert seen == ["h outer", "h released"]


def test_staged_events_run_in_staging_order_each_with_its_own_semantics(impl: ModuleType) -> None:
    bus, seen, unit = impl.Bus(), list[str](), UnitOfWork()
    for action in ("called", "published"):
        bus.register("users", action, recorder(seen, "first"))
        bus.register("users", action, failing(seen, "second"))
        bus.register("users", action, recorder(seen, "third"))
    unit.begin()
    bus.call_after_commit(None, impl.Data("users", "called"), unit)
    bus.publish_after_commit(None, impl.Data("users", "published"), unit)
    bus.call_after_commit(None, impl.Data("users", "called"), unit)
    unit.commit()  # raises nothing into the committing code
    assert seen == [
        "first called",
        "second called",  # call stops at its first failure
        "first published",
        "second published",
        "third published",  # publish runs every handler
        "first called",
        "second called",
    ]


def test_no_transaction_open_dispatches_at_once_as_call_and_publish(impl: ModuleType) -> None:
    bus, seen, unit = impl.Bus(), list[str](), UnitOfWork()
    bus.register("users", "created", failing(seen, "first"))
    bus.register("users", "created", recorder(seen, "second"))
    with pytest.raises(LookupError, match="first failed") as called:
        bus.call_after_commit(None, impl.Data("users", "created"), unit)
    assert seen == ["first created"]
    assert any("first failed for event 'users'/'created'" in note for note in called.value.__notes__)
    with pytest.raises(ExceptionGroup, match="1 of 2 handlers failed") as published:
        bus.publish_after_commit(None, impl.Data("users", "created"), unit)
    assert seen == ["first created", "first created", "second created"]
    assert [type(error) for error in published.value.exceptions] == [LookupError]


def test_staging_refuses_what_is_not_a_data_and_stages_nothing(impl: ModuleType) -> None:
    bus, unit = impl.Bus(), UnitOfWork()
    unit.begin()
    for method in (bus.call_after_commit, bus.publish_after_commit):
        with pytest.raises(TypeError, match=r"Data"):
            method(None, ("users", "created"), unit)
        if impl is not _core_py:  # the other implementation's Data is refused too
            with pytest.raises(TypeError, match=r"Data"):
                method(None, _core_py.Data("users", "created"), unit)
    assert unit.levels == [[]]


def test_staging_refuses_a_pair_with_a_coroutine_function_as_call_does(impl: ModuleType) -> None:
    bus, unit = impl.Bus(), UnitOfWork()

    async def greet(ctx: object, data: object) -> None:
        pass

    bus.register("users", "created", lambda ctx, data: None)
    bus.register("users", "created", greet)
    with pytest.raises(TypeError) as from_call:
        bus.call(None, impl.Data("users", "created"))
    unit.begin()
    for method in (bus.call_after_commit, bus.publish_after_commit):
        with pytest.raises(TypeError) as staged:
            method(None, impl.Data("users", "created"), unit)
        assert str(staged.value) == str(from_call.value)
        assert "greet is a coroutine function" in str(staged.value)
    assert unit.levels == [[]]


@pytest.mark.parametrize("tx", [None, object(), "transaction"])
def test_staging_refuses_what_is_not_a_transaction(impl: ModuleType, tx: object) -> None:
    bus = impl.Bus()
    for method in (bus.call_after_commit, bus.publish_after_commit):
        with pytest.raises(TypeError, match=r"tx must be an eventbus\.Transaction .* not "):
            method(None, impl.Data("users", "created"), tx)


def test_failures_after_commit_are_logged_never_raised_and_the_rest_still_runs(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    bus, seen, unit = impl.Bus(logger=logging.getLogger("after.commit")), list[str](), UnitOfWork()
    bus.register("users", "created", failing(seen, "mailer"))
    bus.register("users", "created", recorder(seen, "audit"))
    bus.register("users", "deleted", recorder(seen, "audit"))
    unit.begin()
    bus.call_after_commit(None, impl.Data("users", "created"), unit)
    bus.publish_after_commit(None, impl.Data("users", "created"), unit)
    bus.call_after_commit(None, impl.Data("users", "deleted"), unit)
    with caplog.at_level(logging.ERROR, logger="after.commit"):
        unit.commit()
    assert seen == ["mailer created", "mailer created", "audit created", "audit deleted"]
    records = [r for r in caplog.records if r.name == "after.commit"]
    assert len(records) == 2  # call's failure, and publish's (which logs each failing handler)
    for record in records:
        assert record.levelno == logging.ERROR
        assert "handler" in record.getMessage() and "mailer" in record.getMessage()
        assert "'users'/'created'" in record.getMessage()
        assert record.exc_info is not None and isinstance(record.exc_info[1], LookupError)
    assert "after commit" in records[0].getMessage()


def test_a_coroutine_handler_registered_after_staging_is_logged_after_commit(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    bus, unit = impl.Bus(logger=logging.getLogger("after.commit")), UnitOfWork()
    unit.begin()
    bus.call_after_commit(None, impl.Data("users", "created"), unit)

    async def late(ctx: object, data: object) -> None:
        pass

    bus.register("users", "created", late)
    with caplog.at_level(logging.ERROR, logger="after.commit"):
        unit.commit()
    (record,) = [r for r in caplog.records if r.name == "after.commit"]
    assert "'users'/'created'" in record.getMessage()
    assert record.exc_info is not None and "late is a coroutine function" in str(record.exc_info[1])


def test_the_observer_sees_a_failure_after_commit(impl: ModuleType) -> None:
    errors: list[tuple[str, BaseException | None]] = []

    class Watch:
        def __init__(self, method: str) -> None:
            self.method = method

        def handler_started(self, handler: object) -> None:
            pass

        def handler_finished(self, handler: object, duration: float, error: BaseException | None) -> None:
            pass

        def finished(self, error: BaseException | None) -> None:
            errors.append((self.method, error))

    class Observer:
        def dispatch(self, method: str, data: object, handlers: tuple[Any, ...]) -> Watch:
            return Watch(method)

    bus, seen, unit = impl.Bus(observer=Observer()), list[str](), UnitOfWork()
    bus.register("users", "created", failing(seen, "mailer"))
    unit.begin()
    bus.call_after_commit(None, impl.Data("users", "created"), unit)
    bus.publish_after_commit(None, impl.Data("users", "created"), unit)
    assert errors == []
    unit.commit()
    assert [(method, type(error)) for method, error in errors] == [
        ("call", LookupError),
        ("publish", ExceptionGroup),
    ]


def test_the_handlers_registered_at_commit_run(impl: ModuleType) -> None:
    bus, seen, unit = impl.Bus(), list[str](), UnitOfWork()
    unregister = bus.register("users", "created", recorder(seen, "early"))
    unit.begin()
    bus.call_after_commit(None, impl.Data("users", "created"), unit)
    bus.publish_after_commit(None, impl.Data("users", "created"), unit)
    unregister()
    bus.register("users", "created", recorder(seen, "late"))
    unit.commit()
    assert seen == ["late created", "late created"]


def test_a_handler_that_stages_after_commit_on_a_closed_transaction_dispatches_at_once(
    impl: ModuleType,
) -> None:
    bus, seen, unit = impl.Bus(), list[str](), UnitOfWork()

    def chain(ctx: object, data: Any) -> None:
        seen.append("created")
        bus.publish_after_commit(ctx, impl.Data("users", "welcomed"), unit)
        seen.append("staged again")

    bus.register("users", "created", chain)

    bus.register("users", "welcomed", recorder(seen, "mail"))
    unit.begin()
    bus.call_after_commit(None, impl.Data("users", "created"), unit)
    unit.commit()
    assert seen == ["created", "mail welcomed", "staged again"]


def test_nothing_staged_outlives_the_transaction(impl: ModuleType) -> None:
    bus, unit = impl.Bus(), UnitOfWork()
    bus.register("users", "created", lambda ctx, data: None)

    class Ctx:
        pass

    for end in (unit.commit, unit.rollback):
        ctx = Ctx()
        unit.begin()
        bus.call_after_commit(ctx, impl.Data("users", "created"), unit)
        bus.publish_after_commit(ctx, impl.Data("users", "created"), unit)
        gone = weakref.ref(ctx)
        del ctx
        end()
        gc.collect()
        assert gone() is None, end


def test_threads_stage_on_their_own_transactions(impl: ModuleType) -> None:
    bus = impl.Bus()
    seen: dict[int, list[int]] = {}
    lock = threading.Lock()

    def record(ctx: tuple[int, int], data: Any) -> None:
        with lock:
            seen.setdefault(ctx[0], []).append(ctx[1])

    bus.register("orders", "paid", record)

    def work(worker: int) -> None:
        for round_ in range(50):
            unit = UnitOfWork()
            unit.begin()
            for item in range(3):
                bus.publish_after_commit((worker, round_ * 3 + item), impl.Data("orders", "paid"), unit)
            if round_ % 2:
                unit.rollback()
            else:
                unit.commit()

    run_workers([functools.partial(work, worker) for worker in range(4)])
    committed = [r * 3 + i for r in range(0, 50, 2) for i in range(3)]
    assert seen == {worker: committed for worker in range(4)}


def test_transaction_is_the_protocol_any_object_can_meet() -> None:
    assert isinstance(UnitOfWork(), eventbus.Transaction)
    assert not isinstance(object(), eventbus.Transaction)


def test_importing_the_adapters_imports_no_framework() -> None:
    code = (
        "import sys, eventbus.sqlalchemy, eventbus.django; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'django')))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
