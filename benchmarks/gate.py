"""The CI gate on dispatch speed: ratios measured side by side in one run, never absolute times.

    python -m benchmarks.gate [--min-speedup 1.3] [--max-compiled 2.0] [--max-pure 2.0]

Times ``bus.call(ctx, data)`` with one no-op handler on the compiled and the pure implementation,
interleaved with the hand-written floor ``for handler in handlers: handler(ctx, data)`` (see
interleave.py), and fails when the compiled call is not at least ``--min-speedup`` times faster
than the pure one, or when either is slower than ``--max-compiled`` / ``--max-pure`` times the
floor.  The defaults are the issue's: loose enough that noise never fails them, tight enough that
a dispatch that takes a lock or builds a key tuple per call does.  ``--max-e2e-pyee`` and
``--max-e2e-blinker`` also time one event end to end on the compiled core with its active codec
engine (``must_data`` of a small dataclass, ``call``, ``decode`` in the handler) against pyee's
``emit(obj)`` and blinker's ``send(obj)`` passing the same object by reference (the bench extra).
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import timeit

from . import interleave
from .workloads import USER, call_timer, end_to_end_timer, engines, floor_timer

FLOOR, COMPILED, PURE = "floor", "compiled call", "pure call"
E2E = "e2e"
E2E_COMPILED, E2E_PYEE, E2E_BLINKER = "compiled end to end", "pyee emit(obj)", "blinker send(obj)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate", description=__doc__.split("\n")[0])
    parser.add_argument("--min-speedup", type=float, default=1.3, help="pure time / compiled time, at least")
    parser.add_argument("--max-compiled", type=float, default=2.0, help="compiled time / floor time, at most")
    parser.add_argument("--max-pure", type=float, default=2.0, help="pure time / floor time, at most")
    parser.add_argument("--handlers", type=int, default=1, help="no-op handlers per dispatch")
    parser.add_argument(
        "--max-e2e-pyee",
        type=float,
        help="compiled end to end (must_data, call, decode of a small dataclass) / pyee emit(obj), at most",
    )
    parser.add_argument(
        "--max-e2e-blinker", type=float, help="compiled end to end / blinker send(obj), at most"
    )
    parser.add_argument("--repetitions", type=int, default=210, help="repetitions in all")
    parser.add_argument("--processes", type=int, default=3, help="worker processes sharing the repetitions")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timings per cell and repetition")
    parser.add_argument("--sample-ms", type=float, default=0.2, help="duration of one timing of one cell")
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    try:
        compiled = importlib.import_module("eventbus._core")
    except ImportError as exc:
        print(f"gate: the compiled core is not importable ({exc}): build it first", file=sys.stderr)
        return 2
    pure = importlib.import_module("eventbus._core_py")

    count = args.handlers
    end_to_end = args.max_e2e_pyee is not None or args.max_e2e_blinker is not None
    if args.worker:
        groups: dict[object, dict[str, timeit.Timer]] = {
            count: {
                FLOOR: floor_timer(count),
                COMPILED: call_timer(compiled, count),
                PURE: call_timer(pure, count),
            }
        }
        baselines: dict[object, str] = {count: FLOOR}
        if end_to_end:  # the active codec engine, against peers passing the object by reference
            from .compare import _blinker_send, _pyee_emit

            groups[E2E] = {
                E2E_PYEE: _pyee_emit(1, USER),
                E2E_BLINKER: _blinker_send(1, USER),
                E2E_COMPILED: end_to_end_timer(compiled, engines("c")[0]),
            }
            baselines[E2E] = E2E_PYEE
        saved = interleave.measure(
            groups, baselines, args.repetitions, args.sample_ms / 1e3, args.rounds, args.seed
        )
        interleave.save(saved, args.worker)
        return 0
    per_process = math.ceil(args.repetitions / args.processes)
    worker = [
        *("--handlers", str(count), "--repetitions", str(per_process)),
        *("--rounds", str(args.rounds), "--sample-ms", repr(args.sample_ms)),
    ]
    if args.max_e2e_pyee is not None:
        worker += ["--max-e2e-pyee", repr(args.max_e2e_pyee)]
    if args.max_e2e_blinker is not None:
        worker += ["--max-e2e-blinker", repr(args.max_e2e_blinker)]
    result = interleave.in_processes("benchmarks.gate", worker, args.processes)

    checks = [
        ("compiled call is {:.2f}x faster than pure call", PURE, COMPILED, ">=", args.min_speedup),
        ("compiled call costs {:.2f}x the floor", COMPILED, FLOOR, "<=", args.max_compiled),
        ("pure call costs {:.2f}x the floor", PURE, FLOOR, "<=", args.max_pure),
    ]
    print(
        f"gate: {count} no-op handler(s), {per_process * args.processes} repetitions in {args.processes} "
        f"processes, best of {args.rounds} interleaved timings of ~{args.sample_ms:g} ms each; "
        "medians of per-repetition ratios"
    )
    floor_ns = result.median_ns(count, FLOOR)
    print(f"gate: floor {floor_ns:.0f} ns, for information only (absolute times move, ratios do not)")
    failed = False
    for text, name, over, sense, bound in checks:
        ratio = result.median_ratio(count, name, over)
        q1, q3 = result.quartiles(count, name, over)
        ok = ratio >= bound if sense == ">=" else ratio <= bound
        failed |= not ok
        verdict = "ok  " if ok else "FAIL"
        spread = f"quartiles {q1:.2f}-{q3:.2f}; required {sense} {bound:g}"
        print(f"gate: {verdict} {text.format(ratio)} ({spread})")
    e2e_checks = [
        ("compiled end to end costs {:.2f}x pyee emit(obj)", E2E_PYEE, args.max_e2e_pyee),
        ("compiled end to end costs {:.2f}x blinker send(obj)", E2E_BLINKER, args.max_e2e_blinker),
    ]
    for text, over, bound in e2e_checks:
        if bound is None:
            continue
        ratio = result.median_ratio(E2E, E2E_COMPILED, over)
        q1, q3 = result.quartiles(E2E, E2E_COMPILED, over)
        ok = ratio <= bound
        failed |= not ok
        print(
            f"gate: {'ok  ' if ok else 'FAIL'} {text.format(ratio)} (quartiles {q1:.2f}-{q3:.2f}; required <= {bound:g})"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
