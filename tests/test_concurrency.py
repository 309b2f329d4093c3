"""Many threads registering, unregistering and dispatching on one bus at once.

Every test here switches threads as often as the interpreter allows
(``sys.setswitchinterval(1e-6)``, restored afterwards), starts its workers on a
``threading.Barrier``, joins them with a deadline (a stuck run fails with every
thread's stack, from ``faulthandler``) and re-raises whatever a worker raised.
"""

from __future__ import annotations

import collections
import random
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from helpers_core import STORM_TIMEOUT, quiet_logger, run_workers, scaled, tiny_switch_interval

JOIN_SECONDS = 2 * STORM_TIMEOUT


@pytest.fixture
def fast_switching() -> Iterator[None]:
    with tiny_switch_interval():
        yield


def named_handler(name: str, calls: collections.Counter[str] | None = None) -> Callable[[object, object], None]:
    def handler(ctx: object, data: object) -> None:
        if calls is not None:
            calls[name] += 1

    handler.__qualname__ = name
    return handler


@pytest.mark.usefixtures("fast_switching")
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

    run_workers([registrar(worker) for worker in range(registrars)]
                + [dispatcher(worker) for worker in range(dispatchers)])

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


@pytest.mark.usefixtures("fast_switching")
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


@pytest.mark.usefixtures("fast_switching")
def test_concurrent_register_and_unregister_lose_and_duplicate_nothing(impl: ModuleType) -> None:
    # Spread over a few pairs, the tuples stay short and the threads collide often.
    # Each thread registers its handlers and unregisters every other one at once.
    bus = impl.Bus()
    threads, per_thread, pairs = 16, scaled(3000, 16), 8
    handlers = [[named_handler(f"t{thread}-{index}") for index in range(per_thread)]
                for thread in range(threads)]

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
        kept = [[handler for index, handler in enumerate(handlers[thread])
                 if index % pairs == pair and index % 2 == 0] for thread in range(threads)]
        expected = collections.Counter(handler for mine in kept for handler in mine)
        assert not expected - collections.Counter(final), "lost registrations"
        assert not collections.Counter(final) - expected, "duplicated or resurrected registrations"
        for mine in kept:
            members = set(mine)
            assert [handler for handler in final if handler in members] == mine


@pytest.mark.usefixtures("fast_switching")
def test_concurrent_unregister_from_the_middle_keeps_the_rest_in_order(impl: ModuleType) -> None:
    # Registrations of all threads interleaved on one pair; every thread then removes
    # most of its own in random order, so removals shift each other's positions.
    bus = impl.Bus()
    threads, per_thread = 8, scaled(500, 10)
    handlers = [[named_handler(f"t{thread}-{index}") for index in range(per_thread)]
                for thread in range(threads)]
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
        handlers[thread][index]
        for index in range(0, per_thread, 5)
        for thread in range(threads)
    )


@pytest.mark.usefixtures("fast_switching")
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
def test_changes_from_another_thread_do_not_reach_a_running_dispatch(
    impl: ModuleType, method: str
) -> None:
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
