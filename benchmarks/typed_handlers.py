"""What a typed handler (``register(event, handler)``) costs beside a plain one that decodes itself.

    python -m benchmarks.typed_handlers [--repetitions 40]

Both dispatch the same ``Data`` (a small dataclass payload) with ``call`` to ``--handlers``
handlers; the plain handlers call ``eventbus.decode(data, UserCreated)`` themselves, the typed
ones are registered for ``Event("users", "created", UserCreated)`` and get the payload.  Timings
are interleaved in a shuffled order; the figure is the median of the per-repetition ratios
typed / plain.  The target: one decode per handler per dispatch and nothing else, so the ratio
is about 1.0.
"""

from __future__ import annotations

import argparse
import random
import statistics
import timeit
from typing import Any

from eventbus import decode

from .workloads import IMPLEMENTATIONS, USER, UserCreated, implementation


def _timers(impl_name: str, count: int) -> tuple[timeit.Timer, timeit.Timer]:
    impl = implementation(impl_name)
    event = impl.Event("users", "created", UserCreated)
    data = event.data(USER)

    def make_plain() -> Any:
        def plain(ctx: object, data: Any) -> None:
            decode(data, UserCreated)

        return plain

    def make_typed() -> Any:
        def typed(ctx: object, user: UserCreated) -> None:
            pass

        return typed

    plain_bus, typed_bus = impl.Bus(), impl.Bus()
    for _ in range(count):
        plain_bus.register("users", "created", make_plain())
        typed_bus.register(event, make_typed())
    plain_bus.call(None, data)
    typed_bus.call(None, data)
    return (
        timeit.Timer("call(None, data)", globals={"call": plain_bus.call, "data": data}),
        timeit.Timer("call(None, data)", globals={"call": typed_bus.call, "data": data}),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.typed_handlers", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--repetitions", type=int, default=40)
    parser.add_argument("--handlers", type=int, default=1)
    args = parser.parse_args(argv)
    names = {"c": "compiled", "py": "pure"}
    cells = {}
    for impl_name in IMPLEMENTATIONS:
        plain, typed = _timers(impl_name, args.handlers)
        cells[(impl_name, "plain")] = plain
        cells[(impl_name, "typed")] = typed
    loops = 2000
    seconds: dict[tuple[str, str], list[float]] = {key: [] for key in cells}
    rng = random.Random(0)
    for _ in range(args.repetitions):
        order = list(cells)
        rng.shuffle(order)
        for key in order:
            seconds[key].append(min(cells[key].repeat(3, loops)) / loops)
    print(
        f"typed handlers: {args.handlers} handler(s), call, median of {args.repetitions} interleaved repetitions"
    )
    for impl_name in IMPLEMENTATIONS:
        ratio = statistics.median(
            t / p for t, p in zip(seconds[(impl_name, "typed")], seconds[(impl_name, "plain")], strict=True)
        )
        plain_ns = statistics.median(seconds[(impl_name, "plain")]) * 1e9
        print(
            f"eventbus {names[impl_name]}: typed / plain-that-decodes = {ratio:.3f}x (plain: {plain_ns:.0f} ns)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
