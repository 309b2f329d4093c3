"""Registering n handlers on one pair and removing them all, against pyee, in one run.

    python -m pip install ".[bench]"
    python -m benchmarks.registration [--handlers 20000] [--repetitions 7] [--json PATH]

Each repetition times, interleaved in a shuffled order: eventbus (compiled and pure)
``register`` of n distinct no-op handlers on one pair then every returned ``unregister()``,
the same removing by handler (``bus.unregister(domain, action, handler)``, in registration
order: the earliest match is the first one), and pyee's ``add_listener`` / ``remove_listener``
of the same n handlers on one event.  A dispatch between the registrations and the removals
makes the bus build its snapshot once, as a real program would.  The reported figure is the
median over the repetitions of each candidate's time divided by pyee's time *in the same
repetition*; the target is at most 2x at n = 20,000, and O(n): the ratio must not grow with n
(``--handlers 40000`` shows it).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from .workloads import IMPLEMENTATIONS, implementation, noop_handlers

DOMAIN, ACTION = "bench", "registration"


def _eventbus_tokens(impl_name: str) -> Callable[[tuple[Any, ...]], float]:
    impl = implementation(impl_name)
    data = impl.Data(DOMAIN, ACTION)

    def run(handlers: tuple[Any, ...]) -> float:
        bus = impl.Bus()
        register = bus.register
        start = time.perf_counter()
        removers = [register(DOMAIN, ACTION, handler) for handler in handlers]
        bus.publish(None, data)
        for unregister in removers:
            unregister()
        elapsed = time.perf_counter() - start
        assert bus.handlers(DOMAIN, ACTION) == ()
        return elapsed

    return run


def _eventbus_by_handler(impl_name: str) -> Callable[[tuple[Any, ...]], float]:
    impl = implementation(impl_name)
    data = impl.Data(DOMAIN, ACTION)

    def run(handlers: tuple[Any, ...]) -> float:
        bus = impl.Bus()
        register, unregister = bus.register, bus.unregister
        start = time.perf_counter()
        for handler in handlers:
            register(DOMAIN, ACTION, handler)
        bus.publish(None, data)
        for handler in handlers:
            unregister(DOMAIN, ACTION, handler)
        elapsed = time.perf_counter() - start
        assert bus.handlers(DOMAIN, ACTION) == ()
        return elapsed

    return run


def _pyee(handlers: tuple[Any, ...]) -> float:
    from pyee import EventEmitter

    emitter = EventEmitter()
    add, remove = emitter.add_listener, emitter.remove_listener
    start = time.perf_counter()
    for handler in handlers:
        add(ACTION, handler)
    emitter.emit(ACTION, None, None)
    for handler in handlers:
        remove(ACTION, handler)
    elapsed = time.perf_counter() - start
    assert not emitter.listeners(ACTION)
    return elapsed


PYEE = "pyee add_listener / remove_listener"


def candidates() -> dict[str, Callable[[tuple[Any, ...]], float]]:
    found: dict[str, Callable[[tuple[Any, ...]], float]] = {PYEE: _pyee}
    names = {"c": "compiled", "py": "pure"}
    for impl_name in IMPLEMENTATIONS:
        found[f"eventbus {names[impl_name]} register / unregister()"] = _eventbus_tokens(impl_name)
        found[f"eventbus {names[impl_name]} register / unregister(pair, handler)"] = _eventbus_by_handler(
            impl_name
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.registration", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--handlers", type=int, default=20_000, help="handlers registered on the one pair")
    parser.add_argument("--repetitions", type=int, default=7, help="interleaved repetitions")
    parser.add_argument(
        "--max-ratio", type=float, default=None, help="fail when a median ratio to pyee exceeds this"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the medians as JSON to PATH")
    args = parser.parse_args(argv)
    handlers = noop_handlers(args.handlers)
    timed = candidates()
    seconds: dict[str, list[float]] = {name: [] for name in timed}
    rng = random.Random(0)
    for _ in range(args.repetitions):
        order = list(timed)
        rng.shuffle(order)
        for name in order:
            gc.collect()
            seconds[name].append(timed[name](handlers))
    ratios = {
        name: statistics.median(mine / pyee for mine, pyee in zip(seconds[name], seconds[PYEE], strict=True))
        for name in timed
    }
    width = max(map(len, timed))
    print(
        f"registration: {args.handlers} handlers on one pair, registered then all removed "
        f"(median of {args.repetitions} interleaved repetitions)"
    )
    print(f"{'':{width}}  {'seconds':>8}  {'ratio to pyee':>13}")
    for name in timed:
        print(f"{name:{width}}  {statistics.median(seconds[name]):8.4f}  {ratios[name]:12.2f}x")
    print(
        f"command: python -m benchmarks.registration {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip()
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"handlers": args.handlers, "seconds": seconds, "ratios": ratios}, out, indent=1)
    if args.max_ratio is not None:
        over = {name: ratio for name, ratio in ratios.items() if ratio > args.max_ratio}
        if over:
            print(f"registration: over {args.max_ratio}x pyee: {over}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
