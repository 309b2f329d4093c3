"""Thread storms: many threads registering, unregistering and dispatching at once.

The harness is in the style of CPython's own concurrency tests: the workers start
together on a ``threading.Barrier``, every exception raised in a worker is
captured and re-raised in the main thread, and a join that outlives its timeout
dumps the stacks of all threads (``faulthandler``) into the failure instead of
hanging.  The GIL switch interval is forced down to a microsecond in these tests
only (and restored after), so threads are preempted inside the bus's critical
regions as often as possible.

The invariants are exact: no registration is lost or duplicated, every dispatch
runs on one consistent snapshot, nothing deadlocks and no exception escapes.  A
deliberately racy bus (a read-modify-write of the registry without a lock, with a
yield point inside) runs under the same harness, which must report the
registrations it loses: proof that the harness still forces interleavings.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from helpers_core import STORM_TIMEOUT, run_workers, scaled, tiny_switch_interval

# pytest-timeout backstop: above the harness's own join timeout, so a deadlock is
# normally reported by the harness with every thread's stack.
pytestmark = [pytest.mark.timeout(2 * STORM_TIMEOUT)]

THREADS = 12


@pytest.fixture(autouse=True)
def fast_switching() -> Iterator[None]:
    with tiny_switch_interval():
        yield


# ---------------------------------------------------------------------------
# The invariants, as functions of any bus with register / handlers.


def lost_or_duplicated(bus: Any, threads: int = THREADS, per_thread: int = scaled(1000)) -> dict[str, Any]:
    """Register ``per_thread`` distinct handlers from each thread; report what went wrong.

    Returns the handlers missing from ``handlers()``, the ones present more than
    once, and the threads whose own registrations came out of order.
    """
    made = [[_Tagged(t, i) for i in range(per_thread)] for t in range(threads)]

    def worker(mine: list[_Tagged]) -> Callable[[], None]:
        def register_all() -> None:
            for handler in mine:
                bus.register("storm", "lost", handler)

        return register_all

    run_workers([worker(mine) for mine in made])
    present = bus.handlers("storm", "lost")
    wanted = {id(h): h for row in made for h in row}
    counts: dict[int, int] = {}
    for handler in present:
        counts[id(handler)] = counts.get(id(handler), 0) + 1
    order_broken = [
        t for t in range(threads)
        if [h.index for h in present if isinstance(h, _Tagged) and h.thread == t] != list(range(per_thread))
        and all(id(h) in counts for h in made[t])
    ]
    return {
        "missing": [wanted[i] for i in wanted if i not in counts],
        "duplicated": [i for i, n in counts.items() if n > 1],
        "foreign": [i for i in counts if i not in wanted],
        "order_broken": order_broken,
    }


class _Tagged:
    """A handler that says who registered it and when: (thread, index)."""

    __slots__ = ("thread", "index", "reenter")

    def __init__(self, thread: int, index: int, reenter: Callable[[list[Any]], None] | None = None) -> None:
        self.thread = thread
        self.index = index
        self.reenter = reenter

    def __call__(self, ctx: list[Any], data: object) -> None:
        ctx.append(self)
        if self.reenter is not None:
            self.reenter(ctx)

    def __repr__(self) -> str:
        return f"_Tagged({self.thread}, {self.index})"


class RacyBus:
    """A deliberately broken bus: register reads, yields, then writes, unlocked.

    ``time.sleep(0)`` here is a yield point that widens the window between the read
    and the write, not synchronisation: two threads that both read the same tuple
    write back tuples that each lack the other's handler.
    """

    def __init__(self) -> None:
        self._registry: dict[tuple[str, str], tuple[object, ...]] = {}

    def register(self, domain: str, action: str, handler: object) -> None:
        current = self._registry.get((domain, action), ())
        time.sleep(0)
        self._registry[(domain, action)] = current + (handler,)

    def handlers(self, domain: str, action: str) -> tuple[object, ...]:
        return self._registry.get((domain, action), ())


class LiveListBus:
    """A deliberately broken bus: dispatch iterates the live list that writers mutate.

    The mistake of zope.event / PyDispatcher: a removal during an iteration shifts
    the list under the iterator, so a dispatch skips a handler or sees a state that
    never existed as a whole.
    """

    def __init__(self) -> None:
        self._handlers: list[object] = []
        self._lock = threading.Lock()

    def register(self, domain: str, action: str, handler: Callable[[Any, Any], None]) -> Callable[[], bool]:
        with self._lock:
            self._handlers.append(handler)

        def unregister() -> bool:
            with self._lock:
                for index, candidate in enumerate(self._handlers):
                    if candidate is handler:
                        del self._handlers[index]
                        return True
                return False

        return unregister

    def publish(self, ctx: Any, data: object) -> None:
        for handler in self._handlers:
            handler(ctx, data)  # type: ignore[operator]
            time.sleep(0)


def snapshot_violations(
    bus: Any,
    event: object,
    inner_event: object,
    writers: int = 6,
    readers: int = 6,
    rounds: int = scaled(300, 10),
    reenter: bool = False,
) -> list[str]:
    """Writers keep a sliding window of numbered handlers; readers check every dispatch.

    Writer ``w`` registers ``(w, 0), (w, 1), ...`` in order and, once it has a
    window of 5, unregisters its oldest first.  Whatever instant a dispatch's
    snapshot is taken at, the handlers of writer ``w`` it runs are therefore a
    run of consecutive numbers in increasing order, none twice, and a later
    dispatch by the same reader never sees a smaller newest number.  A handler
    with ``reenter`` dispatches again on another event from inside (the inner
    dispatch is checked the same way) and registers and unregisters a temporary
    handler on the event being dispatched.
    """
    violations: list[str] = []
    lock = threading.Lock()
    writers_done = [0]
    # Writers go on until every reader has dispatched this often, so the storm
    # overlaps dispatches however fast either side happens to be.
    dispatch_counts = [0] * readers
    min_dispatches = 30

    def check(seen: list[Any], where: str, newest: dict[int, int]) -> None:
        by_writer: dict[int, list[int]] = {}
        temporary = [h for h in seen if isinstance(h, _Temporary)]
        for handler in seen:
            if isinstance(handler, _Tagged):
                by_writer.setdefault(handler.thread, []).append(handler.index)
        problems = []
        for writer, indexes in by_writer.items():
            if indexes != list(range(indexes[0], indexes[0] + len(indexes))):
                problems.append(f"{where}: writer {writer} seen as {indexes}")
            if indexes[-1] < newest.get(writer, -1):
                problems.append(f"{where}: writer {writer} went back to {indexes[-1]}")
            newest[writer] = indexes[-1]
        if len({id(h) for h in temporary}) != len(temporary):
            problems.append(f"{where}: a temporary handler ran twice")
        if problems:
            with lock:
                violations.extend(problems)

    def reentry(ctx: list[Any]) -> None:
        inner: list[Any] = []
        bus.publish(inner, inner_event)
        check(inner, "inner dispatch", {})
        unregister = bus.register(_EVENT[0], _EVENT[1], _Temporary())
        assert unregister() is True

    def writer(w: int) -> Callable[[], None]:
        def run() -> None:
            live: list[Callable[[], bool]] = []
            index = 0
            while index < rounds or min(dispatch_counts) < min_dispatches:
                handler = _Tagged(w, index, reentry if reenter and index % 7 == 3 else None)
                live.append(bus.register(_EVENT[0], _EVENT[1], handler))
                # the inner event gets its own numbered writers' handlers too
                if reenter and index % 3 == 0 and index < 150:
                    bus.register("storm", "inner", _Tagged(100 + w, index // 3))
                if len(live) > 5:
                    assert live.pop(0)() is True
                index += 1
            with lock:
                writers_done[0] += 1

        return run

    def reader(r: int) -> Callable[[], None]:
        def run() -> None:
            newest: dict[int, int] = {}
            dispatches = 0
            while writers_done[0] < writers or dispatches < 20:
                seen: list[Any] = []
                bus.publish(seen, event)
                check(seen, f"reader {r} dispatch {dispatches}", newest)
                dispatches += 1
                dispatch_counts[r] = dispatches

        return run

    run_workers([writer(w) for w in range(writers)] + [reader(r) for r in range(readers)])
    return violations


_EVENT = ("storm", "snapshot")


class _Temporary:
    """A handler registered and unregistered again from inside a dispatch."""

    def __call__(self, ctx: list[Any], data: object) -> None:
        ctx.append(self)


# ---------------------------------------------------------------------------
# The real buses.


def test_no_registration_is_lost_or_duplicated(impl: ModuleType) -> None:
    report = lost_or_duplicated(impl.Bus())
    assert report == {"missing": [], "duplicated": [], "foreign": [], "order_broken": []}


def test_the_harness_catches_a_racy_register() -> None:
    """If this fails, the harness no longer forces interleavings: the other tests prove nothing."""
    report = lost_or_duplicated(RacyBus(), per_thread=1000)  # the double: full size always
    assert report["missing"], "the harness did not catch lost registrations in the racy double"


def test_every_dispatch_sees_a_consistent_snapshot(impl: ModuleType) -> None:
    bus = impl.Bus()
    violations = snapshot_violations(bus, impl.Data(*_EVENT), impl.Data("storm", "inner"))
    assert violations == []
    assert bus.handlers(*_EVENT) and len(bus.handlers(*_EVENT)) == 6 * 5


def test_reentrant_dispatch_storm(impl: ModuleType) -> None:
    """Handlers dispatch again and register/unregister from inside, on every thread."""
    bus = impl.Bus()
    violations = snapshot_violations(
        bus, impl.Data(*_EVENT), impl.Data("storm", "inner"), reenter=True
    )
    assert violations == []
    handlers = bus.handlers(*_EVENT)
    assert len(handlers) == 6 * 5
    assert not [h for h in handlers if isinstance(h, _Temporary)]  # every one went away


def test_the_harness_catches_a_live_list_dispatch() -> None:
    """The snapshot checker must see the skipped handlers of an in-place mutated list."""
    violations = snapshot_violations(LiveListBus(), object(), object(), rounds=300)
    assert violations, "the harness did not catch a dispatch iterating a live list"


def test_unregister_races_remove_each_registration_exactly_once(impl: ModuleType) -> None:
    """Every unregister is called from two threads at once: exactly one gets True."""
    bus = impl.Bus()
    keep = [_Tagged(-1, i) for i in range(50)]
    for handler in keep[:25]:
        bus.register("storm", "unregister", handler)
    doomed = [_Tagged(-2, i) for i in range(THREADS * 40)]
    unregisters = [bus.register("storm", "unregister", handler) for handler in doomed]
    for handler in keep[25:]:
        bus.register("storm", "unregister", handler)
    results: list[list[bool]] = [[] for _ in range(THREADS)]

    def worker(t: int) -> Callable[[], None]:
        # Threads t and t ^ 1 share their slice, in opposite orders.
        pair = t // 2
        mine = unregisters[pair * 80 : pair * 80 + 80]
        order = mine if t % 2 == 0 else mine[::-1]

        def run() -> None:
            for unregister in order:
                results[t].append(unregister())
                bus.publish([], impl.Data("storm", "unregister"))

        return run

    run_workers([worker(t) for t in range(THREADS)])
    for pair in range(THREADS // 2):
        first, second = results[2 * pair], results[2 * pair + 1][::-1]
        assert [a != b for a, b in zip(first, second)] == [True] * 80  # exactly one True each
    assert bus.handlers("storm", "unregister") == tuple(keep)


class _Failure(Exception):
    pass


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_concurrent_failing_publishes_group_only_their_own_failures(impl: ModuleType) -> None:
    """Each publish's ExceptionGroup holds exactly the failures of its own handlers, in order.

    Half the threads publish (each with its own ctx) while the other half register and
    unregister extra failing handlers; every failure is logged exactly once.
    """
    records = _Records()
    logger = logging.Logger("storm-failures")
    logger.addHandler(records)
    bus = impl.Bus(logger)

    def fail(tag: str) -> Callable[[dict[str, Any], object], None]:
        def handler(ctx: dict[str, Any], data: object) -> None:
            raise _Failure(tag, ctx["id"])

        return handler

    def ok(ctx: dict[str, Any], data: object) -> None:
        ctx["ok"] += 1

    for handler in (fail("first"), ok, fail("second")):
        bus.register("storm", "fail", handler)
    event = impl.Data("storm", "fail")
    publishers, churners, rounds = THREADS // 2, THREADS // 2, scaled(300)
    raised = [0] * publishers

    def publisher(t: int) -> Callable[[], None]:
        def run() -> None:
            for index in range(rounds):
                ctx = {"id": (t, index), "ok": 0}
                try:
                    bus.publish(ctx, event)
                except ExceptionGroup as group:
                    args = [e.args for e in group.exceptions]
                    message = group.message
                else:
                    raise AssertionError("publish with failing handlers raised nothing")
                # The fixed handlers first, in order; then 0 or more extra ones, all this ctx's.
                assert args[:2] == [("first", ctx["id"]), ("second", ctx["id"])], args
                assert all(a[0] == "extra" and a[1] == ctx["id"] for a in args[2:]), args
                assert ctx["ok"] == 1
                assert message.startswith(f"{len(args)} of {len(args) + 1} handlers failed")
                raised[t] += len(args)

        return run

    def churner(t: int) -> Callable[[], None]:
        def run() -> None:
            for _ in range(rounds):
                assert bus.register("storm", "fail", fail("extra"))() is True

        return run

    run_workers([publisher(t) for t in range(publishers)] + [churner(t) for t in range(churners)])
    assert len(records.records) == sum(raised)
    assert all(r.levelno == logging.ERROR and r.exc_info for r in records.records)
    assert len(bus.handlers("storm", "fail")) == 3


def test_register_and_dispatch_storm_on_many_pairs(impl: ModuleType) -> None:
    """Threads hammer their own and shared pairs; counts per pair come out exact."""
    bus = impl.Bus()
    calls: list[int] = [0] * THREADS
    rounds = scaled(150)

    def worker(t: int) -> Callable[[], None]:
        def count(ctx: list[int], data: object) -> None:
            ctx[0] += 1

        def run() -> None:
            own = impl.Data("own", f"t{t}")
            for _ in range(rounds):
                unregister = bus.register("own", f"t{t}", count)
                bus.register("shared", "all", count)
                box = [0]
                bus.call(box, own)
                assert box == [1]  # only this thread touches its own pair
                assert unregister() is True
                bus.call(box, own)
                assert box == [1]
                calls[t] += 1

        return run

    run_workers([worker(t) for t in range(THREADS)])
    assert calls == [rounds] * THREADS
    assert len(bus.handlers("shared", "all")) == THREADS * rounds
    box = [0]
    bus.publish(box, impl.Data("shared", "all"))
    assert box == [THREADS * rounds]
    for t in range(THREADS):
        assert bus.handlers("own", f"t{t}") == ()


def test_the_harness_reports_a_deadlock_with_stacks() -> None:
    """A worker that never finishes makes the harness fail with every thread's stack."""
    release = threading.Event()

    def stuck() -> None:
        release.wait(30)

    try:
        with pytest.raises(pytest.fail.Exception, match=r"(?s)still running.*stuck"):
            run_workers([stuck, lambda: None], timeout=0.5)
    finally:
        release.set()


def test_the_harness_reraises_worker_exceptions() -> None:
    def boom() -> None:
        raise KeyError("from a worker")

    with pytest.raises(BaseExceptionGroup) as caught:
        run_workers([boom, lambda: None])
    assert [type(e) for e in caught.value.exceptions] == [KeyError]
