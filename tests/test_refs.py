"""Reference safety: dispatch keeps nothing alive, and a bus in a cycle is collected.

``sys.getrefcount`` of ``ctx``, ``data``, the handler and the bus must be the same
before and after thousands of dispatches on every path.  The success path, a
pair without handlers, a refused non-``Data`` and ``call``'s fail-fast path are
measured with the cyclic collector disabled: they must not even leave garbage.
The paths that group failures are measured after ``gc.collect()``: a caught
exception's traceback may form a cycle with the frame that caught it, which is
ordinary Python, but nothing may stay reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import types
import weakref
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from helpers_observe import observed as observed
from helpers_observe import observed_or_not
from helpers_observe import observer_kept_the_protocol as observer_kept_the_protocol

DISPATCHES = 5000


@pytest.fixture(scope="session")
def impl(impl: ModuleType, observed: str) -> ModuleType:
    """Every test here runs twice: on the plain buses, and with a do-nothing observer
    installed on each (helpers_observe): an observed dispatch keeps nothing alive either."""
    return observed_or_not(impl, observed)


def make_logger() -> logging.Logger:
    """A logger outside the logging registry: pytest cannot attach a capturing handler."""
    logger = logging.Logger("tests.refs")  # noqa: LOG001 (kept out of the registry on purpose)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


def ok(ctx: object, data: object) -> None:
    return None


def fails(ctx: object, data: object) -> None:
    raise ValueError("expected")


async def async_ok(ctx: object, data: object) -> None:
    return None


async def async_fails(ctx: object, data: object) -> None:
    raise ValueError("expected")


@pytest.fixture
def gc_disabled() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def fresh(function: Callable[..., Any]) -> Callable[..., Any]:
    """A new function object with the same code: no other test (or thread) holds it."""
    return types.FunctionType(function.__code__, function.__globals__, function.__name__)


def refcounts(*objects: object) -> list[int]:
    return [sys.getrefcount(item) for item in objects]


# name: (handlers, method, expected exception or None, collect before measuring)
SYNC_PATHS: dict[str, tuple[list[Callable[..., Any]], str, type[BaseException] | None, bool]] = {
    "call-success": ([ok, ok], "call", None, False),
    "publish-success": ([ok, ok], "publish", None, False),
    "call-no-handlers": ([], "call", None, False),
    "publish-no-handlers": ([], "publish", None, False),
    "call-failure": ([ok, fails, ok], "call", ValueError, False),
    "call-refused-coroutine": ([async_ok], "call", TypeError, False),
    "publish-failure": ([fails, ok, fails], "publish", ExceptionGroup, True),
    "publish-refused-coroutine": ([ok, async_ok], "publish", ExceptionGroup, True),
}


@pytest.mark.usefixtures("gc_disabled")
@pytest.mark.parametrize("path", list(SYNC_PATHS))
def test_dispatch_keeps_no_references(impl: ModuleType, path: str) -> None:
    handlers, method, expected, collect = SYNC_PATHS[path]
    handlers = [fresh(handler) for handler in handlers]
    bus = impl.Bus(make_logger())
    for handler in handlers:
        bus.register("users", "created", handler)
    ctx = object()
    data = impl.Data("users", "created", b'{"id":1}')
    watched = (ctx, data, bus, *handlers)
    # The first dispatch after a registration builds the pair's snapshot, which the
    # registry keeps (state of the bus, not of the dispatch): measure after it.
    with contextlib.suppress(Exception):
        getattr(bus, method)(ctx, data)
    before = refcounts(*watched)
    dispatch = getattr(bus, method)
    raised = 0
    for _ in range(DISPATCHES):
        try:
            dispatch(ctx, data)
        except Exception as exc:  # noqa: BLE001 (checked just below)
            assert expected is not None and type(exc) is expected
            raised += 1
    assert raised == (DISPATCHES if expected else 0)
    del dispatch
    if collect:
        gc.collect()
    assert refcounts(*watched) == before


@pytest.mark.usefixtures("gc_disabled")
@pytest.mark.parametrize("method", ["call", "publish"])
@pytest.mark.parametrize("registered", [True, False], ids=["with-handlers", "without"])
def test_refused_non_data_keeps_no_references(impl: ModuleType, method: str, registered: bool) -> None:
    bus = impl.Bus(make_logger())
    handler = fresh(ok)
    if registered:
        bus.register("users", "created", handler)
    ctx = object()
    not_data = ("users", "created", object())  # built here: not a shared constant
    before = refcounts(ctx, not_data, bus, handler)
    dispatch = getattr(bus, method)
    for _ in range(DISPATCHES):
        with pytest.raises(TypeError):
            dispatch(ctx, not_data)
    del dispatch
    assert refcounts(ctx, not_data, bus, handler) == before


ASYNC_PATHS: dict[str, tuple[list[Callable[..., Any]], str, type[BaseException] | None]] = {
    "acall-success": ([async_ok, ok], "acall", None),
    "apublish-success": ([async_ok, ok], "apublish", None),
    "acall-no-handlers": ([], "acall", None),
    "acall-failure": ([async_ok, async_fails], "acall", ValueError),
    "apublish-failure": ([async_fails, ok, fails], "apublish", ExceptionGroup),
}


@pytest.mark.parametrize("path", list(ASYNC_PATHS))
def test_async_dispatch_keeps_no_references(impl: ModuleType, path: str) -> None:
    handlers, method, expected = ASYNC_PATHS[path]
    handlers = [fresh(handler) for handler in handlers]
    bus = impl.Bus(make_logger())
    for handler in handlers:
        bus.register("users", "created", handler)
    ctx = object()
    data = impl.Data("users", "created")
    watched = (ctx, data, bus, *handlers)

    async def dispatch_many() -> int:
        raised = 0
        for _ in range(DISPATCHES // 5):
            try:
                await getattr(bus, method)(ctx, data)
            except Exception as exc:  # noqa: BLE001 (checked just below)
                assert expected is not None and type(exc) is expected
                raised += 1
        return raised

    with contextlib.suppress(Exception):  # builds the snapshot, as above
        asyncio.run(getattr(bus, method)(ctx, data))
    gc.collect()
    before = refcounts(*watched)
    raised = asyncio.run(dispatch_many())
    gc.collect()
    assert raised == (DISPATCHES // 5 if expected else 0)
    assert refcounts(*watched) == before


class Owner:
    """Holds a bus and registers its own method on it: bus -> method -> owner -> bus."""

    def __init__(self, bus: Any, fail: bool) -> None:
        self.bus = bus
        self.fail = fail
        self.unregister = bus.register("users", "created", self.handler)

    def handler(self, ctx: object, data: object) -> None:
        assert self.bus.handlers("users", "created")
        if self.fail:
            raise ValueError("expected")


@pytest.mark.parametrize("dispatched", ["never", "success", "failure"])
def test_bus_handler_cycle_is_collected(impl: ModuleType, dispatched: str) -> None:
    bus = impl.Bus(make_logger())
    bus_ref = weakref.ref(bus)
    owner = Owner(bus, fail=dispatched == "failure")
    if dispatched != "never":
        try:
            bus.publish(None, impl.Data("users", "created"))
        except ExceptionGroup:
            pass
    del bus, owner
    gc.collect()
    assert bus_ref() is None


def test_unregister_function_alone_keeps_the_bus_alive(impl: ModuleType) -> None:
    # The returned function refers to its bus: calling it later must work.
    bus = impl.Bus()
    bus_ref = weakref.ref(bus)
    unregister = bus.register("users", "created", ok)
    del bus
    gc.collect()
    assert bus_ref() is not None
    assert unregister() is True
    del unregister
    gc.collect()
    assert bus_ref() is None
