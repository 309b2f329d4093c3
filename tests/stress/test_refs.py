"""References stay flat across thousands of iterations of every public operation.

Two measurements, the same operations:

- On a debug build of CPython (``sys.gettotalrefcount`` exists; ``.ci/steps/30-debug-refs.sh``
  builds the extension against Debian's ``python3.11-dbg``) the interpreter-wide reference
  total must not grow or shrink: a missing ``Py_DECREF`` anywhere on a path shows as a
  steady climb, a spurious one as a steady fall.
- On every build, the reference counts of the objects the operations touch (the bus, the
  context, the event, the handlers, the exception classes whose instances are raised) must
  come back to exactly what they were: a leaked or over-released context, event, handler or
  exception shows here even without a debug build.

The context is a ``bytearray`` and the handlers and exceptions are instances of classes
defined here: none of them come from a free list, so an over-release frees real memory (the
debug allocator poisons it) instead of parking the object for reuse.

Each operation is warmed up first (caches such as the codec's converters and the logger's
level cache fill once), then measured over a few rounds; a round within a small fixed slack
passes, and a leak fails every round.  ``EVENTBUS_EXPECT_DEBUG_BUILD=1`` makes the absence
of ``sys.gettotalrefcount`` a failure, so the CI step cannot silently measure less.

The second half measures dispatch alone, observed or not: the
counts of ``ctx``, ``data``, the handlers and the bus after thousands of dispatches on every
path, and that a bus in a cycle with its handlers is collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import gc
import importlib
import logging
import os
import pickle
import sys
import sysconfig
import types
import weakref
from collections.abc import Callable, Generator, Iterator
from types import FrameType, ModuleType
from typing import Any

import pytest
from helpers_observe import observed as observed
from helpers_observe import observed_or_not

import eventbus
import eventbus.testing

WARMUP = 200
ITERATIONS = 2000
ROUNDS = 5
# Refs the measurement itself may shift (the ints it stores, a cache line somewhere):
# far below the ITERATIONS a leak of one reference per iteration adds.
TOTAL_SLACK = 20

TOTAL_REFCOUNT: Callable[[], int] | None = getattr(sys, "gettotalrefcount", None)


class Context:
    """Instances of a class of ours: no free list."""


class HandlerError(Exception):
    pass


class Stop(BaseException):
    """A BaseException that is not an Exception: never grouped, propagates at once."""


class Handler:
    """A callable handler object; ``calls`` proves it ran."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, ctx: object, data: object) -> None:
        self.calls += 1


class Failing(Handler):
    def __call__(self, ctx: object, data: object) -> None:
        self.calls += 1
        raise HandlerError(bytearray(b"failed"))


class Stopping(Handler):
    def __call__(self, ctx: object, data: object) -> None:
        raise Stop()


class Suspend:
    """An awaitable that suspends once: acall/apublish must resume across it."""

    def __await__(self) -> Generator[None, None, None]:
        yield


class AsyncHandler(Handler):
    async def __call__(self, ctx: object, data: object) -> None:  # type: ignore[override]
        self.calls += 1
        await Suspend()


class AsyncFailing(Handler):
    async def __call__(self, ctx: object, data: object) -> None:  # type: ignore[override]
        await Suspend()
        raise HandlerError(bytearray(b"async failed"))


class Counting(logging.Handler):
    """Counts records without keeping them (a kept record would keep its exception)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class Watch:
    """One observed dispatch: counts the hooks in its observer, keeps nothing."""

    def __init__(self, observer: Watching) -> None:
        self.observer = observer

    def handler_started(self, handler: object) -> None:
        self.observer.hooks += 1

    def handler_finished(self, handler: object, duration: float, error: BaseException | None) -> None:
        self.observer.hooks += 1

    def finished(self, error: BaseException | None) -> None:
        self.observer.hooks += 1


class Watching:
    """An observer whose observations are made per dispatch and dropped after it."""

    def __init__(self) -> None:
        self.hooks = 0

    def dispatch(self, method: str, data: object, handlers: tuple[object, ...]) -> Watch:
        self.hooks += 1
        return Watch(self)


class Raising(Watching):
    """An observer every hook of which raises: each failure is logged, none kept."""

    def dispatch(self, method: str, data: object, handlers: tuple[object, ...]) -> Watch:
        return RaisingWatch(self)


class RaisingWatch(Watch):
    def handler_started(self, handler: object) -> None:
        raise HandlerError(bytearray(b"observer failed"))

    def handler_finished(self, handler: object, duration: float, error: BaseException | None) -> None:
        raise HandlerError(bytearray(b"observer failed"))

    def finished(self, error: BaseException | None) -> None:
        raise HandlerError(bytearray(b"observer failed"))


class Name(str):
    """A str subclass: Data and the bus store a plain copy."""


class Payload(bytes):
    """A bytes subclass: Data stores a plain copy."""


class Unencodable:
    pass


@dataclasses.dataclass
class Point:
    x: int
    y: float
    label: str | None = None


class World:
    """Everything the operations touch, built once per implementation."""

    def __init__(self, impl: ModuleType) -> None:
        self.impl = impl
        self.Data = impl.Data
        self.logger = logging.Logger(f"eventbus.refs.{impl.__name__}")
        self.logger.propagate = False
        self.records = Counting()
        self.logger.addHandler(self.records)
        self.bus = impl.Bus(self.logger)
        self.ctx = bytearray(b"context")
        self.other_ctx = Context()
        self.ok = Handler()
        self.ok2 = Handler()
        self.failing = Failing()
        self.stopping = Stopping()
        self.async_ok = AsyncHandler()
        self.async_failing = AsyncFailing()
        self.reentrant_depth = 0

        def coroutine_handler(ctx: object, data: object) -> object:
            return self.async_ok(ctx, data)

        def reentrant(ctx: object, data: object) -> None:
            if self.reentrant_depth < 3:
                self.reentrant_depth += 1
                self.bus.call(ctx, data)

        def recursive(ctx: object, data: object) -> None:
            self.bus.call(ctx, data)

        self.coroutine_handler = coroutine_handler
        self.reentrant = reentrant
        self.recursive = recursive
        self.domain = "".join(["ref", "s"])  # built at run time: not a code constant
        self.payload = b'{"x":1,"y":2.5,"label":"p"}'
        self.data = impl.Data(self.domain, "ok", self.payload)
        bus = self.bus
        bus.register(self.domain, "ok", self.ok)
        bus.register(self.domain, "ok", self.ok2)
        bus.register(self.domain, "fail", self.ok)
        bus.register(self.domain, "fail", self.failing)
        bus.register(self.domain, "fail", self.failing)
        bus.register(self.domain, "stop", self.stopping)
        bus.register(self.domain, "stop", self.ok)
        bus.register(self.domain, "awaitable", self.coroutine_handler)
        bus.register(self.domain, "async", self.async_ok)
        bus.register(self.domain, "async", self.ok)
        bus.register(self.domain, "async-fail", self.async_failing)
        bus.register(self.domain, "async-fail", self.failing)
        bus.register(self.domain, "async-fail", self.async_ok)
        bus.register(self.domain, "reentrant", self.reentrant)
        bus.register(self.domain, "recursive", self.recursive)
        self.events = {
            action: impl.Data(self.domain, action, self.payload)
            for action in (
                "ok",
                "fail",
                "stop",
                "awaitable",
                "async",
                "async-fail",
                "reentrant",
                "recursive",
                "nobody",
            )
        }
        self.events["other-domain"] = impl.Data("nobody-here", "ok", None)
        # The same handlers on buses with an observer (eventbus._observe's dispatch).
        self.observer = Watching()
        self.observed = impl.Bus(self.logger, observer=self.observer)
        self.raising_observer = Raising()
        self.observed_raising = impl.Bus(self.logger, observer=self.raising_observer)
        for observed_bus in (self.observed, self.observed_raising):
            for action in ("ok", "fail", "stop", "awaitable", "async", "async-fail"):
                for handler in bus.handlers(self.domain, action):
                    observed_bus.register(self.domain, action, handler)
        self.bad_json = impl.Data(self.domain, "bad", b"{not json")
        self.empty = impl.Data(self.domain, "empty", None)
        self.floats = impl.Data(self.domain, "floats", b"[1,2.5,null]")

    def tracked(self) -> dict[str, object]:
        """The objects whose reference counts must come back exactly."""
        return {
            "bus": self.bus,
            "logger": self.logger,
            "ctx": self.ctx,
            "other_ctx": self.other_ctx,
            "data": self.data,
            "payload": self.payload,
            "domain": self.domain,
            **{f"event:{name}": event for name, event in self.events.items()},
            "bad_json": self.bad_json,
            "empty": self.empty,
            "floats": self.floats,
            "ok": self.ok,
            "ok2": self.ok2,
            "failing": self.failing,
            "stopping": self.stopping,
            "async_ok": self.async_ok,
            "async_failing": self.async_failing,
            "coroutine_handler": self.coroutine_handler,
            "reentrant": self.reentrant,
            "recursive": self.recursive,
            "observer": self.observer,
            "observed": self.observed,
            "raising_observer": self.raising_observer,
            "observed_raising": self.observed_raising,
            "Watch": Watch,
            # A class's count includes its live instances: leaked exceptions, contexts,
            # events or handlers show here even when nothing else refers to them.
            "Data": self.Data,
            "Bus": self.impl.Bus,
            "Context": Context,
            "HandlerError": HandlerError,
            "Stop": Stop,
            "Handler": Handler,
            "Point": Point,
            "Unencodable": Unencodable,
            "EncodeError": eventbus.EncodeError,
            "DecodeError": eventbus.DecodeError,
        }


def expect(error: type[BaseException], operation: Callable[[], object]) -> None:
    try:
        operation()
    except error:
        return
    raise AssertionError(f"{error.__name__} not raised")


def expect_group(operation: Callable[[], object]) -> ExceptionGroup[Exception]:
    """The ``ExceptionGroup`` ``operation`` raises (an ``AssertionError`` when it raises none)."""
    try:
        operation()
    except ExceptionGroup as group:
        return group
    raise AssertionError("ExceptionGroup not raised")


def run_coroutine(coroutine: Any) -> None:
    """Drive a coroutine to completion without an event loop (no loop state to leak)."""
    try:
        while True:
            coroutine.send(None)
    except StopIteration:
        return


def operations(w: World) -> Iterator[tuple[str, Callable[[], None]]]:
    """Every public operation, on its success path and on each of its error paths."""
    impl, Data, bus, ctx = w.impl, w.Data, w.bus, w.ctx
    domain, events = w.domain, w.events

    # -- Data
    def data_ok() -> None:
        assert Data(domain, "a", w.payload).raw_params is w.payload
        assert Data(domain, "a").raw_params is None

    def data_subclasses() -> None:
        data = Data(Name(domain), Name("a"), Payload(b"[]"))
        assert type(data.domain) is str and type(data.raw_params) is bytes

    def data_errors() -> None:
        expect(TypeError, lambda: Data(Context(), "a"))
        expect(TypeError, lambda: Data(domain, None))
        expect(ValueError, lambda: Data("", "a"))
        expect(ValueError, lambda: Data(domain, Name("")))
        expect(TypeError, lambda: Data(domain, "a", bytearray(b"[]")))
        expect(TypeError, lambda: Data(domain, "a", "[]"))

    def data_methods() -> None:
        data = w.data
        twin = Data(domain, "ok", w.payload)
        assert data == twin and not (data != twin) and hash(data) == hash(twin)  # noqa: SIM202
        assert data != w.ctx and not (data == w.ctx)  # noqa: SIM201
        assert repr(data).startswith("Data(")
        restored = pickle.loads(pickle.dumps(data))  # the active implementation's Data
        assert (restored.domain, restored.action, restored.raw_params) == (
            data.domain,
            data.action,
            data.raw_params,
        )
        assert copy.copy(data) is data and copy.deepcopy(data) is data
        expect(AttributeError, lambda: setattr(data, "domain", "x"))
        expect(AttributeError, lambda: delattr(data, "action"))

    yield "Data", data_ok
    yield "Data-subclasses", data_subclasses
    yield "Data-errors", data_errors
    yield "Data-methods", data_methods

    # -- new_data / must_data
    point = Point(1, 2.5, "p")

    def new_data_ok() -> None:
        assert impl.new_data(domain, "a", point).raw_params == w.payload
        assert impl.must_data(domain, "a", {"k": [1, "é", None, True]}).raw_params
        assert impl.new_data(domain, "a").raw_params is None

    def new_data_errors() -> None:
        expect(eventbus.EncodeError, lambda: impl.new_data(domain, "a", Unencodable()))
        expect(eventbus.EncodeError, lambda: impl.must_data(domain, "a", [Unencodable()]))
        expect(eventbus.EncodeError, lambda: impl.new_data(domain, "a", {1: "x"}))
        expect(eventbus.EncodeError, lambda: impl.must_data(domain, "a", float("nan")))
        expect(TypeError, lambda: impl.new_data(None, "a", point))
        expect(ValueError, lambda: impl.must_data(domain, "", point))

    yield "new_data", new_data_ok
    yield "new_data-errors", new_data_errors

    # -- decode
    def decode_ok() -> None:
        assert eventbus.decode(w.data) == {"x": 1, "y": 2.5, "label": "p"}
        assert eventbus.decode(w.data, Point) == point
        assert eventbus.decode(w.data, dict)["label"] == "p"
        assert eventbus.decode(w.floats, list[float | None]) == [1.0, 2.5, None]
        assert eventbus.decode(w.empty) is None

    def decode_errors() -> None:
        expect(eventbus.DecodeError, lambda: eventbus.decode(w.bad_json))
        expect(eventbus.DecodeError, lambda: eventbus.decode(w.data, list))
        expect(eventbus.DecodeError, lambda: eventbus.decode(w.data, dict[str, int]))
        expect(eventbus.DecodeError, lambda: eventbus.decode(w.empty, Point))
        expect(TypeError, lambda: eventbus.decode(w.data, Context))
        expect(TypeError, lambda: eventbus.decode(w.ctx))  # type: ignore[call-overload]

    yield "decode", decode_ok
    yield "decode-errors", decode_errors

    # -- Bus construction
    def bus_new() -> None:
        assert impl.Bus().handlers(domain, "ok") == ()
        impl.Bus(w.logger)
        expect(TypeError, lambda: impl.Bus(w.ctx))
        expect(TypeError, lambda: pickle.dumps(bus))

    yield "Bus", bus_new

    # -- register / unregister / on / handlers
    def register_unregister() -> None:
        first = bus.register(domain, "reg", w.ok)
        middle = bus.register(domain, "reg", w.failing)
        last = bus.register(Name(domain), Name("reg"), w.ok)
        assert bus.handlers(domain, "reg") == (w.ok, w.failing, w.ok)
        assert middle() is True and middle() is False
        assert first() is True and last() is True and last() is False
        assert bus.handlers(domain, "reg") == ()
        other = bus.register(Context.__name__, "reg", w.ctx.__len__)
        assert other() is True and other() is False

    def register_errors() -> None:
        expect(TypeError, lambda: bus.register(domain, "reg", w.ctx))
        expect(TypeError, lambda: bus.register(domain, None, w.ok))
        expect(ValueError, lambda: bus.register("", "reg", w.ok))
        expect(TypeError, lambda: bus.on(domain, 1))
        expect(ValueError, lambda: bus.on(domain, ""))
        expect(TypeError, lambda: bus.on(domain, "reg")(w.ctx))
        assert bus.handlers(domain, "reg") == ()

    def on_decorator() -> None:
        # A fresh bus each time (the decorator gives no unregister): freeing it must
        # release its registry and the handlers in it.
        fresh = impl.Bus(w.logger)
        assert fresh.on(domain, "on")(w.ok) is w.ok
        assert fresh.on(domain, "on")(w.ok2) is w.ok2
        assert fresh.handlers(domain, "on") == (w.ok, w.ok2)

    def handlers() -> None:
        assert bus.handlers(domain, "ok") == (w.ok, w.ok2)
        assert bus.handlers(domain, "nobody") == ()
        assert bus.handlers("nobody-here", "ok") == ()
        expect(TypeError, lambda: bus.handlers(None, "ok"))
        expect(ValueError, lambda: bus.handlers(domain, ""))

    yield "register-unregister", register_unregister
    yield "register-errors", register_errors
    yield "on", on_decorator
    yield "handlers", handlers

    # -- eventbus.testing (record and muted, through the bus's _mute)
    def testing_helpers() -> None:
        ok_calls = w.ok.calls
        with eventbus.testing.record(bus, (domain, "ok"), (domain, "nobody")) as recorded:
            bus.call(ctx, events["ok"])
            bus.publish(ctx, events["nobody"])
        assert w.ok.calls == ok_calls + 1 and len(recorded) == 2
        with eventbus.testing.record(bus, (domain, "fail"), mute=True) as recorded:
            with eventbus.testing.muted(bus, (domain, "fail")):
                bus.call(ctx, events["fail"])  # muted: nothing runs, nothing fails
                taken_back = bus.register(domain, "fail", w.ok2)
            bus.publish(ctx, events["fail"])
            assert taken_back() is True
        assert len(recorded) == 1 and bus.handlers(domain, "fail")[-1] is w.failing
        not_a_pair: Any = (domain,)
        expect(TypeError, lambda: eventbus.testing.muted(bus, not_a_pair).__enter__())

    def mute_ends_twice() -> None:
        first = bus._mute(domain, "ok", (w.ok2,))
        second = bus._mute(domain, "ok")
        first()
        first()  # already ended: nothing happens
        assert bus.handlers(domain, "ok") == ()
        second()
        second()
        assert bus.handlers(domain, "ok") == (w.ok, w.ok2)

    yield "testing-helpers", testing_helpers
    yield "mute-ends-twice", mute_ends_twice

    # -- call
    def call_ok() -> None:
        bus.call(ctx, events["ok"])
        bus.call(w.other_ctx, events["ok"])
        bus.call(None, events["ok"])

    def call_nobody() -> None:
        bus.call(ctx, events["nobody"])
        bus.call(ctx, events["other-domain"])

    def call_failure() -> None:
        expect(HandlerError, lambda: bus.call(ctx, events["fail"]))

    def call_stop() -> None:
        expect(Stop, lambda: bus.call(ctx, events["stop"]))

    def call_not_data() -> None:
        expect(TypeError, lambda: bus.call(ctx, ctx))
        expect(TypeError, lambda: bus.call(ctx, None))

    def call_awaitable() -> None:
        expect(TypeError, lambda: bus.call(ctx, events["awaitable"]))

    def call_reentrant() -> None:
        w.reentrant_depth = 0
        bus.call(ctx, events["reentrant"])
        assert w.reentrant_depth == 3

    yield "call", call_ok
    yield "call-no-handlers", call_nobody
    yield "call-failure", call_failure
    yield "call-BaseException", call_stop
    yield "call-not-Data", call_not_data
    yield "call-awaitable", call_awaitable
    yield "call-reentrant", call_reentrant

    # -- publish
    def publish_ok() -> None:
        bus.publish(ctx, events["ok"])
        bus.publish(w.other_ctx, events["ok"])

    def publish_nobody() -> None:
        bus.publish(ctx, events["nobody"])
        bus.publish(ctx, events["other-domain"])

    def publish_failure() -> None:
        before = w.records.count
        assert len(expect_group(lambda: bus.publish(ctx, events["fail"])).exceptions) == 2
        assert w.records.count == before + 2

    def publish_stop() -> None:
        expect(Stop, lambda: bus.publish(ctx, events["stop"]))

    def publish_not_data() -> None:
        expect(TypeError, lambda: bus.publish(ctx, ctx))
        expect(TypeError, lambda: bus.publish(ctx, w.other_ctx))

    def publish_awaitable() -> None:
        assert type(expect_group(lambda: bus.publish(ctx, events["awaitable"])).exceptions[0]) is TypeError

    yield "publish", publish_ok
    yield "publish-no-handlers", publish_nobody
    yield "publish-failure", publish_failure
    yield "publish-BaseException", publish_stop
    yield "publish-not-Data", publish_not_data
    yield "publish-awaitable", publish_awaitable

    # -- acall / apublish
    def acall_ok() -> None:
        calls = w.async_ok.calls
        run_coroutine(bus.acall(ctx, events["async"]))
        run_coroutine(bus.acall(ctx, events["ok"]))
        run_coroutine(bus.acall(ctx, events["nobody"]))
        assert w.async_ok.calls == calls + 1

    def acall_errors() -> None:
        expect(HandlerError, lambda: run_coroutine(bus.acall(ctx, events["async-fail"])))
        expect(HandlerError, lambda: run_coroutine(bus.acall(ctx, events["fail"])))
        expect(Stop, lambda: run_coroutine(bus.acall(ctx, events["stop"])))
        expect(TypeError, lambda: run_coroutine(bus.acall(ctx, ctx)))

    def apublish_ok() -> None:
        run_coroutine(bus.apublish(ctx, events["async"]))
        run_coroutine(bus.apublish(ctx, events["ok"]))
        run_coroutine(bus.apublish(ctx, events["nobody"]))

    def apublish_errors() -> None:
        assert (
            len(expect_group(lambda: run_coroutine(bus.apublish(ctx, events["async-fail"]))).exceptions) == 2
        )
        expect(Stop, lambda: run_coroutine(bus.apublish(ctx, events["stop"])))
        expect(TypeError, lambda: run_coroutine(bus.apublish(ctx, None)))

    yield "acall", acall_ok
    yield "acall-errors", acall_errors
    yield "apublish", apublish_ok
    yield "apublish-errors", apublish_errors

    # -- the observer hook
    def observer_set() -> None:
        other = impl.Bus(w.logger, observer=w.observer)
        assert other.observer is w.observer
        other.observer = None
        other.observer = w.observer
        del other.observer
        expect(TypeError, lambda: setattr(other, "observer", ctx))
        expect(TypeError, lambda: impl.Bus(observer=ctx))

    def observed_dispatch() -> None:
        observed, hooks = w.observed, w.observer.hooks
        observed.call(ctx, events["ok"])
        observed.publish(ctx, events["ok"])
        observed.call(ctx, events["nobody"])
        expect(HandlerError, lambda: observed.call(ctx, events["fail"]))
        expect(ExceptionGroup, lambda: observed.publish(ctx, events["fail"]))
        expect(Stop, lambda: observed.call(ctx, events["stop"]))
        expect(Stop, lambda: observed.publish(ctx, events["stop"]))
        expect(TypeError, lambda: observed.call(ctx, events["awaitable"]))
        expect(TypeError, lambda: observed.publish(ctx, ctx))
        run_coroutine(observed.acall(ctx, events["async"]))
        expect(HandlerError, lambda: run_coroutine(observed.acall(ctx, events["async-fail"])))
        expect(ExceptionGroup, lambda: run_coroutine(observed.apublish(ctx, events["async-fail"])))
        expect(Stop, lambda: run_coroutine(observed.apublish(ctx, events["stop"])))
        assert w.observer.hooks > hooks

    def observer_failures() -> None:
        before = w.records.count
        w.observed_raising.call(ctx, events["ok"])
        expect(ExceptionGroup, lambda: w.observed_raising.publish(ctx, events["fail"]))
        run_coroutine(w.observed_raising.acall(ctx, events["async"]))
        assert w.records.count > before

    yield "observer-set", observer_set
    yield "observed-dispatch", observed_dispatch
    yield "observer-failures", observer_failures


def recursion(w: World) -> Callable[[], None]:
    """Unbounded re-entrant dispatch ends in RecursionError; nothing is left behind."""

    depth = 0
    frame: FrameType | None = sys._getframe()  # pyright: ignore[reportPrivateUsage]
    while frame is not None:
        depth, frame = depth + 1, frame.f_back

    def operation() -> None:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(depth + 150)
        try:
            expect(RecursionError, lambda: w.bus.call(w.ctx, w.events["recursive"]))
        finally:
            sys.setrecursionlimit(limit)

    return operation


OPERATION_NAMES = [name for name, _ in operations(World(importlib.import_module("eventbus._core_py")))] + [
    "recursion"
]


def cython_shared_types(impl: ModuleType) -> list[type]:
    """Cython's own function and coroutine types, when ``impl`` is compiled.

    Cython 3.3.1 creates them from a spec (heap types: each instance takes a reference to
    its type) but frees their instances without giving it back when the module is not built
    with CYTHON_USE_TYPE_SPECS: every closure or coroutine the extension creates adds one to
    its type's count for good.  No memory is lost (the types live as long as the process),
    but ``sys.gettotalrefcount`` climbs by one per ``acall`` and ``apublish`` (``register``
    and ``on`` are Python code, in ``eventbus._registry``, for both implementations).  That
    count is subtracted from the total, and
    ``test_cython_shared_types_leak_only_type_references`` pins down that it is nothing more.
    """
    bus = impl.Bus()
    coroutine = bus.acall(None, impl.Data("d", "a"))
    coroutine.close()
    kinds = [type(bus.on("d", "a")), type(coroutine)]
    return [kind for kind in kinds if kind.__module__.startswith("_cython_")]


def measure(
    operation: Callable[[], None],
    tracked: dict[str, object],
    iterations: int,
    shared_types: list[type] = [],  # noqa: B006 (read only)
) -> str:
    """Run ``operation`` ``iterations`` times; describe what moved, "" when nothing did."""
    names = list(tracked)
    objects = [tracked[name] for name in names]
    gc.collect()
    counts_before = [sys.getrefcount(obj) for obj in objects]
    shared_before = sum(sys.getrefcount(kind) for kind in shared_types)
    total_before = TOTAL_REFCOUNT() if TOTAL_REFCOUNT is not None else 0
    for _ in range(iterations):
        operation()
    gc.collect()
    total_after = TOTAL_REFCOUNT() if TOTAL_REFCOUNT is not None else 0
    shared_after = sum(sys.getrefcount(kind) for kind in shared_types)
    counts_after = [sys.getrefcount(obj) for obj in objects]
    moved = [
        f"{name}: {after - before:+d}"
        for name, before, after in zip(names, counts_before, counts_after)
        if after != before
    ]
    total = total_after - total_before - (shared_after - shared_before)
    if TOTAL_REFCOUNT is not None and abs(total) > TOTAL_SLACK:
        moved.append(f"sys.gettotalrefcount(): {total:+d}")
    return ", ".join(moved)


def test_build_matches_interpreter() -> None:
    """The extension measured is the one built for this interpreter's ABI.

    The CI step sets EVENTBUS_EXPECT_DEBUG_BUILD: there the strong check must be on.
    """
    if os.environ.get("EVENTBUS_EXPECT_DEBUG_BUILD"):
        assert TOTAL_REFCOUNT is not None, "not a debug build of CPython"
        assert "d" in sys.abiflags
    if os.environ.get("EVENTBUS_NO_EXTENSIONS"):
        assert eventbus.implementation == "python"
    else:
        core = importlib.import_module("eventbus._core")
        assert core.__file__ is not None
        assert core.__file__.endswith(sysconfig.get_config_var("EXT_SUFFIX"))


@pytest.mark.parametrize("name", OPERATION_NAMES)
def test_references_stay_flat(impl: ModuleType, name: str) -> None:
    world = World(impl)
    if name == "recursion":
        operation, iterations = recursion(world), ITERATIONS // 10
    else:
        operation = dict(operations(world))[name]
        iterations = ITERATIONS
    tracked = world.tracked()
    operation()  # the behaviour itself, asserted before any counting
    for _ in range(WARMUP):
        operation()
    rounds = []
    for _ in range(ROUNDS):
        moved = measure(operation, tracked, iterations, cython_shared_types(impl))
        if not moved:
            return
        rounds.append(moved)
    pytest.fail(
        f"{name} on {impl.__name__}: references moved over {iterations} iterations "
        f"in each of {ROUNDS} rounds: " + " | ".join(rounds)
    )


def test_measurement_sees_a_leak(impl: ModuleType) -> None:
    """The harness itself: an operation that keeps one reference per call must fail it."""
    world = World(impl)
    kept: list[object] = []

    def leaky() -> None:
        world.bus.call(world.ctx, world.events["ok"])
        kept.append(world.ctx)

    moved = measure(leaky, world.tracked(), 100)
    assert "ctx: +100" in moved
    if TOTAL_REFCOUNT is not None:
        assert "sys.gettotalrefcount()" in moved


def test_cython_shared_types_leak_only_type_references(impl: ModuleType) -> None:
    """The one imbalance the total tolerates is Cython's, and it is no more than that.

    Each closure or coroutine the compiled module creates may add exactly one reference to
    its Cython type (see ``cython_shared_types``) or none (a fixed Cython): never another
    amount, and no memory blocks.
    """
    world = World(impl)
    shared_types = cython_shared_types(impl)
    if impl.__name__ == "eventbus._core":
        assert len(shared_types) == 1  # the coroutine type: the closures are the registry's
    else:
        assert shared_types == []
    bus, domain, event = world.bus, world.domain, world.events["async"]

    def create_closures_and_coroutines() -> None:
        bus.register(domain, "closures", world.ok)()
        bus.on(domain, "closures")
        run_coroutine(bus.acall(world.ctx, event))
        run_coroutine(bus.apublish(world.ctx, event))

    for _ in range(WARMUP):
        create_closures_and_coroutines()
    gc.collect()
    blocks_before = sys.getallocatedblocks()
    before = [sys.getrefcount(kind) for kind in shared_types]
    for _ in range(ITERATIONS):
        create_closures_and_coroutines()
    gc.collect()
    after = [sys.getrefcount(kind) for kind in shared_types]
    grown = [late - early for early, late in zip(before, after)]
    blocks = sys.getallocatedblocks() - blocks_before
    # Two of each per round: the unregister closure and the decorator; acall and apublish.
    # (A line-tracing build leaks on the coroutine type only: either amount is Cython's.)
    assert all(count in (0, 2 * ITERATIONS) for count in grown), grown
    if sys.gettrace() is None:  # a tracer (coverage) keeps allocations of its own
        assert blocks <= TOTAL_SLACK, f"{blocks} memory blocks more after {ITERATIONS} rounds"


# ---------------------------------------------------------------------------
# Reference safety of dispatch, and a bus in a cycle is collected.
#
# ``sys.getrefcount`` of ``ctx``, ``data``, the handler and the bus must be the same
# before and after thousands of dispatches on every path.  The success path, a
# pair without handlers, a refused non-``Data`` and ``call``'s fail-fast path are
# measured with the cyclic collector disabled: they must not even leave garbage.
# The paths that group failures are measured after ``gc.collect()``: a caught
# exception's traceback may form a cycle with the frame that caught it, which is
# ordinary Python, but nothing may stay reachable.

DISPATCHES = 5000


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


ASYNC_PATHS: dict[str, tuple[list[Callable[..., Any]], str, type[BaseException] | None]] = {
    "acall-success": ([async_ok, ok], "acall", None),
    "apublish-success": ([async_ok, ok], "apublish", None),
    "acall-no-handlers": ([], "acall", None),
    "acall-failure": ([async_ok, async_fails], "acall", ValueError),
    "apublish-failure": ([async_fails, ok, fails], "apublish", ExceptionGroup),
}


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


class TestDispatchKeepsNothingAlive:
    """Every test here runs twice: on the plain buses, and with a do-nothing observer installed
    on each (helpers_observe): an observed dispatch keeps nothing alive either.

    (The override of ``impl`` lives in this class so that the reference-total tests above keep
    the plain ``impl``.)"""

    @pytest.fixture(scope="session")
    @classmethod
    def impl(cls, impl: ModuleType, observed: str) -> ModuleType:
        return observed_or_not(impl, observed)

    @pytest.fixture(autouse=True)
    def observer_kept_the_protocol(self, impl: ModuleType) -> Iterator[None]:
        """After each test: the observer (if ``impl`` has one) saw no protocol violation."""
        yield
        observer = getattr(impl, "checking_observer", None)
        if observer is not None:
            observer.check()

    @pytest.mark.usefixtures("gc_disabled")
    @pytest.mark.parametrize("path", list(SYNC_PATHS))
    def test_dispatch_keeps_no_references(self, impl: ModuleType, path: str) -> None:
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
    def test_refused_non_data_keeps_no_references(
        self, impl: ModuleType, method: str, registered: bool
    ) -> None:
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

    @pytest.mark.parametrize("path", list(ASYNC_PATHS))
    def test_async_dispatch_keeps_no_references(self, impl: ModuleType, path: str) -> None:
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

    @pytest.mark.parametrize("dispatched", ["never", "success", "failure"])
    def test_bus_handler_cycle_is_collected(self, impl: ModuleType, dispatched: str) -> None:
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

    def test_unregister_function_alone_keeps_the_bus_alive(self, impl: ModuleType) -> None:
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
