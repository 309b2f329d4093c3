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

The second half runs the same harness over whole
workloads: registrars, dispatchers and churners on one bus at once, racing
unregisters of the same tokens, removals from the middle, and a dispatch blocked in a
handler while another thread changes its pair.
"""

from __future__ import annotations

import collections
import gc
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from helpers_core import STORM_TIMEOUT, quiet_logger, run_workers, scaled, tiny_switch_interval

# pytest-timeout backstop: above the harness's own join timeout, so a deadlock is
# normally reported by the harness with every thread's stack.
pytestmark = [pytest.mark.timeout(2 * STORM_TIMEOUT)]

THREADS = 12
JOIN_SECONDS = 2 * STORM_TIMEOUT


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
        t
        for t in range(threads)
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
    violations = snapshot_violations(bus, impl.Data(*_EVENT), impl.Data("storm", "inner"), reenter=True)
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


# ---------------------------------------------------------------------------
# Whole workloads on one bus.


def named_handler(
    name: str, calls: collections.Counter[str] | None = None
) -> Callable[[object, object], None]:
    def handler(ctx: object, data: object) -> None:
        if calls is not None:
            calls[name] += 1

    handler.__qualname__ = name
    return handler


def test_register_unregister_and_dispatch_storm(impl: ModuleType) -> None:
    bus = impl.Bus(quiet_logger())
    registrars, per_registrar, rounds = 8, 6, scaled(600)
    dispatchers, dispatches = 4, scaled(4000)
    shared = impl.Data("shared", "event")

    # Handlers on the shared pair that themselves register, unregister and dispatch.
    reentrant_data = impl.Data("reentrant", "event")

    def reentrant(ctx: object, data: object) -> None:
        unregister = bus.register("reentrant", "event", named_handler("inner"))
        bus.call(ctx, reentrant_data)
        assert unregister() is True

    def failing(ctx: object, data: object) -> None:
        raise ValueError("expected in publish")

    bus.register("shared", "event", reentrant)
    bus.register("failing", "event", failing)

    expected_kept: dict[int, list[Callable[[object, object], None]]] = {}

    def registrar(worker: int) -> Callable[[], None]:
        mine = [named_handler(f"w{worker}-h{index}") for index in range(per_registrar)]
        own_pair = (f"own-{worker}", "event")
        expected_kept[worker] = [handler for index, handler in enumerate(mine) if index % 2 == 0]

        def work() -> None:
            for round_ in range(rounds):
                unregisters = [bus.register("shared", "event", handler) for handler in mine]
                own_unregisters = [bus.register(*own_pair, handler) for handler in mine]
                assert bus.handlers(*own_pair) == tuple(mine)
                bus.call(None, shared)
                last = round_ == rounds - 1
                for index, (unregister, own) in enumerate(zip(unregisters, own_unregisters)):
                    if not (last and index % 2 == 0):
                        assert unregister() is True
                        assert unregister() is False
                        assert own() is True
                if not last:
                    assert bus.handlers(*own_pair) == ()
            assert bus.handlers(*own_pair) == tuple(expected_kept[worker])

        return work

    def dispatcher(worker: int) -> Callable[[], None]:
        def work() -> None:
            for count in range(dispatches):
                if count % 2:
                    bus.call(None, shared)
                else:
                    bus.publish(None, shared)
                with pytest.raises(ExceptionGroup):
                    bus.publish(None, impl.Data("failing", "event"))
                snapshot = bus.handlers("shared", "event")
                assert type(snapshot) is tuple and snapshot[0] is reentrant

        return work

    run_workers(
        [registrar(worker) for worker in range(registrars)]
        + [dispatcher(worker) for worker in range(dispatchers)]
    )

    final = bus.handlers("shared", "event")
    assert final[0] is reentrant
    counts = collections.Counter(final[1:])
    everything_kept = [handler for kept in expected_kept.values() for handler in kept]
    assert counts == collections.Counter(everything_kept)  # nothing lost, nothing duplicated
    for kept in expected_kept.values():
        assert [handler for handler in final if handler in kept] == kept  # order per thread
    assert bus.handlers("reentrant", "event") == ()
    for worker in range(registrars):
        assert bus.handlers(f"own-{worker}", "event") == tuple(expected_kept[worker])


def test_concurrent_unregister_of_the_same_registrations(impl: ModuleType) -> None:
    bus = impl.Bus()
    registrations, threads = scaled(2000), 8
    handler = named_handler("same")  # the same callable every time: only tokens tell them apart
    unregisters = [bus.register("users", "created", handler) for _ in range(registrations)]
    results: list[list[bool]] = [[False] * registrations for _ in range(threads)]

    def worker(thread: int) -> Callable[[], None]:
        # The same order in every thread: they all race for the same registration.
        order = list(range(registrations))
        random.Random(0).shuffle(order)

        def work() -> None:
            for index in order:
                results[thread][index] = unregisters[index]()

        return work

    run_workers([worker(thread) for thread in range(threads)])
    for index in range(registrations):
        assert sum(results[thread][index] for thread in range(threads)) == 1
    assert bus.handlers("users", "created") == ()


def test_concurrent_register_and_unregister_lose_and_duplicate_nothing(impl: ModuleType) -> None:
    # Spread over a few pairs, the tuples stay short and the threads collide often.
    # Each thread registers its handlers and unregisters every other one at once.
    bus = impl.Bus()
    threads, per_thread, pairs = 16, scaled(3000, 16), 8
    handlers = [
        [named_handler(f"t{thread}-{index}") for index in range(per_thread)] for thread in range(threads)
    ]

    def worker(thread: int) -> Callable[[], None]:
        def work() -> None:
            for index, handler in enumerate(handlers[thread]):
                unregister = bus.register("users", f"action-{index % pairs}", handler)
                if index % 2:
                    assert unregister() is True

        return work

    run_workers([worker(thread) for thread in range(threads)])
    for pair in range(pairs):
        final = bus.handlers("users", f"action-{pair}")
        kept = [
            [
                handler
                for index, handler in enumerate(handlers[thread])
                if index % pairs == pair and index % 2 == 0
            ]
            for thread in range(threads)
        ]
        expected = collections.Counter(handler for mine in kept for handler in mine)
        assert not expected - collections.Counter(final), "lost registrations"
        assert not collections.Counter(final) - expected, "duplicated or resurrected registrations"
        for mine in kept:
            members = set(mine)
            assert [handler for handler in final if handler in members] == mine


def test_concurrent_unregister_from_the_middle_keeps_the_rest_in_order(impl: ModuleType) -> None:
    # Registrations of all threads interleaved on one pair; every thread then removes
    # most of its own in random order, so removals shift each other's positions.
    bus = impl.Bus()
    threads, per_thread = 8, scaled(500, 10)
    handlers = [
        [named_handler(f"t{thread}-{index}") for index in range(per_thread)] for thread in range(threads)
    ]
    unregisters: list[list[Callable[[], bool]]] = [[] for _ in range(threads)]
    for index in range(per_thread):
        for thread in range(threads):
            unregisters[thread].append(bus.register("users", "created", handlers[thread][index]))

    def worker(thread: int) -> Callable[[], None]:
        order = [index for index in range(per_thread) if index % 5]
        random.Random(thread).shuffle(order)

        def work() -> None:
            for index in order:
                assert unregisters[thread][index]() is True

        return work

    run_workers([worker(thread) for thread in range(threads)])
    assert bus.handlers("users", "created") == tuple(
        handlers[thread][index] for index in range(0, per_thread, 5) for thread in range(threads)
    )


def test_every_dispatch_calls_each_handler_of_its_snapshot_once(impl: ModuleType) -> None:
    # Stable handlers are never unregistered: whatever churns beside them, every
    # dispatch must call each of them exactly once.
    bus = impl.Bus()
    calls: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def counting(name: str) -> Callable[[object, object], None]:
        def handler(ctx: Any, data: object) -> None:
            with lock:
                calls[name] += 1

        return handler

    stable = [counting(f"stable-{index}") for index in range(3)]
    for handler in stable:
        bus.register("users", "created", handler)
    dispatchers, dispatches, churners = 4, scaled(5000), 4
    done = threading.Event()

    def dispatcher() -> None:
        for count in range(dispatches):
            (bus.call if count % 2 else bus.publish)(None, impl.Data("users", "created"))

    def churner(thread: int) -> Callable[[], None]:
        def work() -> None:
            churn = counting(f"churn-{thread}")
            while not done.is_set():
                unregister = bus.register("users", "created", churn)
                assert unregister() is True

        return work

    def dispatchers_then_stop() -> None:
        try:
            run_workers([dispatcher for _ in range(dispatchers)])
        finally:
            done.set()

    run_workers([dispatchers_then_stop] + [churner(thread) for thread in range(churners)])
    for index in range(3):
        assert calls[f"stable-{index}"] == dispatchers * dispatches
    assert bus.handlers("users", "created") == tuple(stable)


@pytest.mark.parametrize("method", ["call", "publish"])
def test_changes_from_another_thread_do_not_reach_a_running_dispatch(impl: ModuleType, method: str) -> None:
    # A dispatch blocked in its first handler: another thread registers a handler and
    # unregisters the second one meanwhile.  That thread must not block (dispatch holds
    # no lock), and the running dispatch still calls exactly its snapshot.
    bus = impl.Bus()
    log: list[str] = []
    in_first = threading.Event()
    changed = threading.Event()

    def first(ctx: object, data: object) -> None:
        log.append("first")
        in_first.set()
        assert changed.wait(JOIN_SECONDS), "the other thread was blocked by the dispatch"

    bus.register("users", "created", first)
    unregister_second = bus.register("users", "created", lambda ctx, data: log.append("second"))
    late = named_handler("late")

    def dispatcher() -> None:
        getattr(bus, method)(None, impl.Data("users", "created"))

    def changer() -> None:
        assert in_first.wait(JOIN_SECONDS)
        bus.register("users", "created", late)
        assert unregister_second() is True
        assert bus.handlers("users", "created") == (first, late)
        changed.set()

    run_workers([dispatcher, changer])
    assert log == ["first", "second"]


@pytest.mark.parametrize("mute", [False, True], ids=["plain", "muted"])
def test_a_dispatch_does_not_queue_behind_a_writer_holding_the_lock(impl: ModuleType, mute: bool) -> None:
    """A dispatch that meets a stale pair while another thread is inside a writer's locked
    section runs on a copy of the registrations instead of waiting for that writer (in the
    write-heavy storms, dispatches queued behind every writer and every rebuild).

    The writer is held inside its locked section by user code that runs there: the
    ``__eq__`` lookup on the class of a handler being added to a pair that has an index for
    removal by handler (a metaclass ``__getattribute__``)."""
    inside, go, done = threading.Event(), threading.Event(), threading.Event()
    armed = [False]

    class Holding(type):
        def __getattribute__(cls, name: str) -> Any:
            if name == "__eq__" and armed[0]:
                armed[0] = False
                inside.set()
                go.wait(STORM_TIMEOUT)
            return type.__getattribute__(cls, name)

    class Handler(metaclass=Holding):
        def __call__(self, ctx: list[str], data: object) -> None:
            ctx.append("new")

    def old(ctx: list[str], data: object) -> None:
        ctx.append("old")

    bus = impl.Bus()
    bus.register("d", "a", old)
    assert bus.unregister("d", "a", lambda ctx, data: None) is False  # the pair has its index now
    bus.call([], impl.Data("d", "a"))  # and a live snapshot

    def writer() -> None:
        try:
            armed[0] = True
            bus.register("d", "a", Handler())
        finally:
            done.set()

    import contextlib

    from eventbus.testing import muted

    silenced = muted(bus, ("d", "a")) if mute else contextlib.nullcontext()
    silenced.__enter__()
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert inside.wait(STORM_TIMEOUT)
        seen: list[str] = []
        bus.call(seen, impl.Data("d", "a"))  # the pair is stale: register marked it
        writer_was_inside = not done.is_set()
    finally:
        go.set()
        thread.join(STORM_TIMEOUT)
    assert writer_was_inside, "the dispatch waited for the writer to leave its locked section"
    if mute:
        assert seen == []  # the mute's (empty) replacement, not the registrations
        silenced.__exit__(None, None, None)
    else:
        assert seen in (["old"], ["old", "new"])  # the registration in progress may or may not count
    after: list[str] = []
    bus.call(after, impl.Data("d", "a"))
    assert after == ["old", "new"]


class _Counted:
    """A handler that counts its calls (a class instance, so that a weak reference follows it)."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, ctx: object, data: object) -> None:
        with self._lock:
            self.calls += 1


def test_a_handler_dispatched_on_an_ended_thread_is_freed_once_unregistered(impl: ModuleType) -> None:
    """An unregistered handler is freed once the threads that dispatched it have ended.

    (Free-threaded builds: each thread dispatches on its own copy of the registry, which a
    thread that ended kept in the bus, and with it every handler unregistered since.)"""
    bus = impl.Bus()
    handler = _Counted()
    alive = weakref.ref(handler)
    bus.register("d", "a", handler)
    thread = threading.Thread(target=bus.call, args=(None, impl.Data("d", "a")))
    thread.start()
    thread.join(JOIN_SECONDS)
    assert not thread.is_alive()
    assert handler.calls == 1
    assert bus.unregister("d", "a", handler) is True
    del handler
    gc.collect()
    assert alive() is None


def test_more_threads_than_registry_copies_dispatch_and_free_their_handlers(impl: ModuleType) -> None:
    """70 threads at once (more than the 64 per-thread registry copies of a free-threaded
    build: the others dispatch on the shared registry) all run the pair's handlers, and
    once they have ended an unregistered handler is freed."""
    threads = 70
    bus = impl.Bus()
    handler = _Counted()
    alive = weakref.ref(handler)
    unregister = bus.register("d", "a", handler)
    data = impl.Data("d", "a")
    all_dispatched = threading.Barrier(threads)

    def dispatch() -> None:
        bus.call(None, data)
        all_dispatched.wait(STORM_TIMEOUT)  # every thread holds its copy (or has none) at once
        bus.call(None, data)

    run_workers([dispatch] * threads)
    assert handler.calls == 2 * threads
    assert unregister() is True
    del handler, unregister
    gc.collect()
    assert alive() is None
