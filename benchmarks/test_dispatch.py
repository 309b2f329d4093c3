"""Dispatch: call and publish to 0, 1 and 10 handlers, the failure paths, register + unregister.

The handlers count their runs (workloads.counting_handlers), so a dispatch that ran nothing fails.
"""

from __future__ import annotations

import logging
from types import ModuleType

import pytest

from .workloads import (
    ACTION,
    CTX,
    DOMAIN,
    HANDLER_COUNTS,
    Benchmark,
    assert_ran,
    bus_with,
    counting_handlers,
    event,
    failing_handler,
    noop_handlers,
)


@pytest.mark.parametrize("count", HANDLER_COUNTS)
def test_call(benchmark: Benchmark, impl: ModuleType, count: int) -> None:
    handlers, runs = counting_handlers(count)
    bus = bus_with(impl, handlers)
    benchmark(bus.call, CTX, event(impl))
    assert_ran(runs, count)


@pytest.mark.parametrize("count", HANDLER_COUNTS)
def test_publish(benchmark: Benchmark, impl: ModuleType, count: int) -> None:
    handlers, runs = counting_handlers(count)
    bus = bus_with(impl, handlers)
    benchmark(bus.publish, CTX, event(impl))
    assert_ran(runs, count)


def test_call_stops_at_a_raising_handler(benchmark: Benchmark, impl: ModuleType) -> None:
    # The handler after the failing one must not run: it would fail the test.
    bus = bus_with(impl, (*noop_handlers(1), failing_handler, _must_not_run))
    data = event(impl)

    def call_failing() -> None:
        try:
            bus.call(CTX, data)
        except LookupError:
            pass
        else:
            raise AssertionError("call() did not re-raise the handler's exception")

    benchmark(call_failing)


def test_publish_groups_two_failures(
    benchmark: Benchmark, impl: ModuleType, quiet_logger: logging.Logger
) -> None:
    handlers = (failing_handler, *noop_handlers(1), failing_handler)
    bus = bus_with(impl, handlers, logger=quiet_logger)
    data = event(impl)

    def publish_failing() -> None:
        try:
            bus.publish(CTX, data)
        except ExceptionGroup as group:
            if len(group.exceptions) != 2:
                raise AssertionError(f"expected 2 grouped failures, got {group!r}") from group
        else:
            raise AssertionError("publish() did not raise an ExceptionGroup")

    benchmark(publish_failing)


def test_register_unregister(benchmark: Benchmark, impl: ModuleType) -> None:
    bus = bus_with(impl, noop_handlers(1))
    handler = noop_handlers(1)[0]

    def register_unregister() -> None:
        unregister = bus.register(DOMAIN, ACTION, handler)
        if not unregister():
            raise AssertionError("unregister() did not remove the registration")

    benchmark(register_unregister)
    assert len(bus.handlers(DOMAIN, ACTION)) == 1


def _must_not_run(ctx: object, data: object) -> None:
    raise AssertionError("call() ran a handler after the failing one")
