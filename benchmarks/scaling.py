"""How dispatch scales with threads, beside a hand-written loop measured in the same run.

    python -m benchmarks.scaling [--threads 2] [--scale 1.0] [--repetitions 7] [--impl c,py] [--json PATH]

Modelled on CPython's ``Tools/ftscalingbench``: each row's work (a loop of dispatches) runs once
on one thread (t1), then once on each of N threads at the same time (tN); the speedup is
``t1 * N / tN``: N for perfect scaling, 1 when the threads take turns, below 1 when they slow
each other down.  Meant for free-threaded CPython (3.13t, 3.14t), where the threads really run
at once; with the GIL every row is about 1.

Every row is timed on the same worker threads (t1 on the first of them, never on the main
thread, whose objects would get the owner's cheap reference counting), interleaved with the
others in each repetition; a row's speedup and its ratio to the loop's are per-repetition values,
medians printed, so that noise from other processes moves the loop and the row together.

Rows (one no-op handler per pair, registered by the main thread, as at import time):

- ``loop``: ``for handler in handlers: handler(ctx, data)``, the thread's own tuple of the
  shared handler: what dispatch is measured against;
- ``loop, shared object``: the same, plus one reference per iteration to an object that every
  thread shares, as ``bus.call(ctx, data)`` takes one to the bus (on 3.13t an atomic write to
  the object's reference count, which no library code can avoid: 3.14t's borrowed stack
  references should); the floor of the shared-bus rows on 3.13t;
- ``loop, shared object held``: the same reference held for the duration of the handler's call
  (passed to it as a third argument), as the interpreter holds the bus from ``bus.call``'s
  attribute lookup until the call returns: two transfers of the object's cache line between
  the threads per call instead of one, the closest floor for the shared-bus rows;
- ``bus per thread``: each thread builds its own bus and dispatches on it;
- ``shared pair``: one bus, every thread dispatches the same pair (each its own ``Data``);
- ``shared pair, equal domain``: as above, the ``Data``'s domain equal to the registered one but
  not the same object (built at run time, as a decoded one would be);
- ``pair per thread``: one bus, each thread its own pair;
- ``shared pair, bound call``: ``call = bus.call`` taken once per thread, then ``call(ctx, data)``:
  what the interpreter's own reference to the shared ``Bus.call`` method costs (3.13t).
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .workloads import ACTION, DOMAIN, PAYLOAD, Context, implementation

IMPL_NAMES = {"c": "compiled", "py": "pure"}


def handler(ctx: object, data: object) -> None:
    pass


def handler_held(ctx: object, data: object, shared: object) -> None:
    pass


# The timed loops: the dispatch written as users write it, in a function's locals.


def _loop(handlers: tuple[Callable[[Any, Any], None], ...], ctx: object, data: object, n: int) -> None:
    for _ in range(n):
        for h in handlers:
            h(ctx, data)


def _loop_shared(
    shared: object, handlers: tuple[Callable[[Any, Any], None], ...], ctx: object, data: object, n: int
) -> None:
    for _ in range(n):
        ref = shared  # noqa: F841 - the reference is the point (see the module docstring)
        for h in handlers:
            h(ctx, data)


def _loop_held(
    shared: object, handlers: tuple[Callable[[Any, Any, Any], None], ...], ctx: object, data: object, n: int
) -> None:
    for _ in range(n):
        for h in handlers:
            h(ctx, data, shared)  # the reference is held for the call, as bus.call holds the bus's


def _dispatch(bus: Any, ctx: object, data: object, n: int) -> None:
    for _ in range(n):
        bus.call(ctx, data)


def _bound(call: Callable[[object, object], None], ctx: object, data: object, n: int) -> None:
    for _ in range(n):
        call(ctx, data)


class _SharedObject:
    """Created by the main thread, referenced by every worker (see ``loop, shared object``)."""


# A row: setup(thread_index) runs on the worker thread that will time it and returns the
# timed function of n.
Setup = Callable[[int], Callable[[int], None]]


def _runtime_domain() -> str:
    equal = (DOMAIN + "?")[:-1]
    assert equal == DOMAIN and equal is not DOMAIN
    return equal


def rows(impl: ModuleType | None) -> dict[str, Setup]:
    if impl is None:

        def loop(t: int) -> Callable[[int], None]:
            handlers, data, ctx = (handler,), implementation("py").Data(DOMAIN, ACTION, PAYLOAD), Context()
            return lambda n: _loop(handlers, ctx, data, n)

        shared_object = _SharedObject()

        def loop_shared(t: int) -> Callable[[int], None]:
            handlers, data, ctx = (handler,), implementation("py").Data(DOMAIN, ACTION, PAYLOAD), Context()
            return lambda n: _loop_shared(shared_object, handlers, ctx, data, n)

        def loop_held(t: int) -> Callable[[int], None]:
            handlers, data, ctx = (
                (handler_held,),
                implementation("py").Data(DOMAIN, ACTION, PAYLOAD),
                Context(),
            )
            return lambda n: _loop_held(shared_object, handlers, ctx, data, n)

        return {"loop": loop, "loop, shared object": loop_shared, "loop, shared object held": loop_held}

    shared = impl.Bus()
    shared.register(DOMAIN, ACTION, handler)
    own_pairs = {}

    def bus_per_thread(t: int) -> Callable[[int], None]:
        bus = impl.Bus()
        bus.register(DOMAIN, ACTION, handler)
        ctx = Context()
        data = impl.Data(DOMAIN, ACTION, PAYLOAD)
        return lambda n: _dispatch(bus, ctx, data, n)

    def shared_pair(t: int) -> Callable[[int], None]:
        ctx = Context()
        data = impl.Data(DOMAIN, ACTION, PAYLOAD)
        return lambda n: _dispatch(shared, ctx, data, n)

    def equal_domain(t: int) -> Callable[[int], None]:
        ctx = Context()
        data = impl.Data(_runtime_domain(), ACTION, PAYLOAD)
        return lambda n: _dispatch(shared, ctx, data, n)

    def pair_per_thread(t: int) -> Callable[[int], None]:
        ctx = Context()
        data = impl.Data(DOMAIN, own_pairs[t], PAYLOAD)
        return lambda n: _dispatch(shared, ctx, data, n)

    def bound_call(t: int) -> Callable[[int], None]:
        ctx, data, call = Context(), impl.Data(DOMAIN, ACTION, PAYLOAD), shared.call
        return lambda n: _bound(call, ctx, data, n)

    def prepare(threads: int) -> None:
        for t in range(threads):
            own_pairs[t] = f"{ACTION}-{t}"
            shared.register(DOMAIN, own_pairs[t], handler)

    rows_ = {
        "bus per thread": bus_per_thread,
        "shared pair": shared_pair,
        "shared pair, equal domain": equal_domain,
        "pair per thread": pair_per_thread,
        "shared pair, bound call": bound_call,
    }
    rows_["_prepare"] = prepare  # type: ignore[assignment]
    return rows_


class Workers:
    """N persistent threads; ``run(setups, n)`` times ``n`` iterations on each at once."""

    def __init__(self, count: int) -> None:
        self.inboxes: list[queue.Queue[Any]] = [queue.Queue() for _ in range(count)]
        self.outbox: queue.Queue[tuple[int, Any]] = queue.Queue()
        self.threads = [threading.Thread(target=self._serve, args=(i,), daemon=True) for i in range(count)]
        for thread in self.threads:
            thread.start()

    def _serve(self, index: int) -> None:
        prepared: dict[str, Callable[[int], None]] = {}
        while True:
            job = self.inboxes[index].get()
            if job is None:
                return
            name, setup, n, barrier = job
            try:
                if name not in prepared:
                    prepared[name] = setup(index)
                work = prepared[name]
                barrier.wait()
                start = time.perf_counter_ns()
                work(n)
                self.outbox.put((index, (start, time.perf_counter_ns())))
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                barrier.abort()
                self.outbox.put((index, exc))

    def run(self, name: str, setup: Setup, n: int, threads: int) -> int:
        """Wall time (ns) for ``threads`` workers to each run ``n`` iterations, started together.

        From the first worker's start to the last one's end, on the workers' own clocks: the
        main thread only hands out the work, so its scheduling does not enter the time.
        """
        barrier = threading.Barrier(threads)
        for index in range(threads):
            self.inboxes[index].put((name, setup, n, barrier))
        spans = []
        for _ in range(threads):
            _, result = self.outbox.get()
            if isinstance(result, BaseException):
                raise result
            spans.append(result)
        return max(end for _, end in spans) - min(start for start, _ in spans)

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="N, the threads of the parallel run")
    parser.add_argument("--scale", type=float, default=1.0, help="work per timing (1.0: 200,000 dispatches)")
    parser.add_argument("--repetitions", type=int, default=7, help="interleaved repetitions, medians printed")
    parser.add_argument("--impl", default="c,py", help="implementations: c (compiled), py (pure)")
    parser.add_argument(
        "--rows", default="", help="only the rows whose names contain one of these (comma-separated)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the per-repetition numbers here")
    args = parser.parse_args(argv)

    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(
        f"scaling: {sys.version.split()[0]} {'GIL enabled' if gil else 'free-threaded, GIL disabled'}, "
        f"{args.threads} threads, {args.repetitions} repetitions"
    )
    if gil:
        print("scaling: with the GIL the threads take turns: expect about 1x everywhere", file=sys.stderr)
    n = max(1, int(200_000 * args.scale))
    wanted = [w for w in args.rows.split(",") if w]
    table: dict[str, Setup] = dict(rows(None))
    for key in args.impl.split(","):
        impl = implementation(key)
        impl_rows = rows(impl)
        impl_rows.pop("_prepare")(args.threads)  # type: ignore[operator]
        for name, setup in impl_rows.items():
            if not wanted or any(w in name for w in wanted):
                table[f"{IMPL_NAMES[key]}: {name}"] = setup

    workers = Workers(args.threads)
    results: dict[str, list[tuple[int, int]]] = {name: [] for name in table}
    try:
        for name, setup in table.items():  # warm-up (and each thread's setup) once
            workers.run(name, setup, max(1, n // 10), args.threads)
        for _ in range(args.repetitions):
            for name, setup in table.items():
                t1 = workers.run(name, setup, n, 1)
                tn = workers.run(name, setup, n, args.threads)
                results[name].append((t1, tn))
    finally:
        workers.close()

    def speedup(t1: int, tn: int) -> float:
        return t1 * args.threads / tn

    loop = [speedup(*r) for r in results["loop"]]
    print(f"{'row':<38} {'1 thread':>10} {f'{args.threads} threads':>10} {'speedup':>8} {'/ loop':>7}")
    report = {}
    for name, runs in results.items():
        speedups = [speedup(*r) for r in runs]
        versus = [s / floor for s, floor in zip(speedups, loop)]
        ns1 = statistics.median(t1 / n for t1, _ in runs)
        nsn = statistics.median(tn / n for _, tn in runs)
        med, rel = statistics.median(speedups), statistics.median(versus)
        print(f"{name:<38} {ns1:>7.1f} ns {nsn:>7.1f} ns {med:>7.2f}x {rel:>6.2f}x")
        report[name] = {
            "t1_ns_per_op": ns1,
            "tn_ns_per_op": nsn,
            "speedup": med,
            "versus_loop": rel,
            "speedups": speedups,
        }
    print(
        f"scaling: ns are per dispatch on the wall clock (t1 / n, tN / n); speedup = t1 * {args.threads} / tN; "
        "'/ loop' = speedup over the loop's, per repetition; medians"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "n": n, "gil": gil, "rows": report}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
