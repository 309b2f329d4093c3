"""eventbus against the hand-written loop and its peers: one table of ratios from one run.

    python -m pip install ".[bench]"
    python -m benchmarks.compare [--quick] [--markdown] [--json PATH]

Each cell is the median, over the repetitions, of the candidate's time per dispatch divided by the
floor's time with the same number of no-op handlers *in the same repetition* (interleave.py says how):
the floor is ``for handler in handlers: handler(ctx, data)`` over a tuple, inline in the timed
statement.  Every candidate dispatches in the form its users write (``bus.call(ctx, data)``,
``signal.send(ctx, data=data)``, ...) with its object bound to a local, and every handler is a
no-op ``def`` taking exactly the arguments its dispatcher passes.  Defaults otherwise (blinker and
Django keep weak references to receivers).  The end-to-end rows time encode + dispatch + decode
into a dataclass, as a ratio to doing the same by hand with json (one handler).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import importlib
import importlib.metadata
import json
import math
import os
import platform
import sys
import timeit
from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import interleave
from .workloads import (
    CTX,
    HANDLER_COUNTS,
    IMPLEMENTATIONS,
    MODEL_LIBRARIES,
    USER,
    call_timer,
    declared_end_to_end_timer,
    end_to_end_timer,
    engines,
    event,
    floor_timer,
    implementation,
    json_dispatch_timer,
    model_by_hand_timer,
    model_end_to_end_timer,
    noop_handlers,
    timer,
)

FLOOR = "floor: for h in handlers: h(ctx, data)"
E2E = "e2e"  # the group of the end-to-end rows, shown in the 1-handler column
E2E_BASELINE = "e2e by hand: json.dumps, call, json.loads, dataclass"
E2E_PYEE = "e2e pyee EventEmitter.emit(obj)"
E2E_BLINKER = "e2e blinker Signal.send(obj)"
E2E_PEERS = (E2E_PYEE, E2E_BLINKER)
# A library model's by-hand row: its own JSON round trip, what the model rows are also shown over.
E2E_BY_HAND = {
    library: f"e2e {library} by hand: {how}"
    for library, how in (
        ("msgspec", "json.encode, Decoder(T).decode"),
        ("pydantic", "model_dump_json, model_validate_json"),
    )
}
HARNESS = "harness"  # timeit's own loop around an empty statement: in every cell, for information
PEERS = ("blinker", "django", "psygnal", "pyee", "zope.event")

Builder = Callable[[int], timeit.Timer]


# The peers.  Each builder returns a timer dispatching to ``count`` no-op handlers.


def _blinker_send(count: int, payload: Any = None) -> timeit.Timer:
    import blinker

    def make() -> Callable[..., None]:
        def noop(sender: Any, data: Any) -> None:
            pass

        return noop

    signal = blinker.Signal()
    handlers = tuple(make() for _ in range(count))
    for handler in handlers:
        signal.connect(handler)
    return timer(
        "signal.send(ctx, data=data)", signal=signal, handlers=handlers, ctx=CTX, data=_data(payload)
    )


def _django_signal(count: int) -> tuple[Any, tuple[Callable[..., None], ...]]:
    from django.conf import settings  # type: ignore[import-untyped]

    if not settings.configured:
        settings.configure()  # DEBUG=False: connect() does not insist on **kwargs
    from django.dispatch import Signal  # type: ignore[import-untyped]

    def make() -> Callable[..., None]:
        def noop(signal: Any, sender: Any, data: Any) -> None:
            pass

        return noop

    signal = Signal()
    handlers = tuple(make() for _ in range(count))
    for handler in handlers:
        signal.connect(handler)
    return signal, handlers  # the handlers are kept alive by the timer's names


def _django_send(count: int, payload: Any = None) -> timeit.Timer:
    signal, handlers = _django_signal(count)
    return timer(
        "signal.send(ctx, data=data)", signal=signal, handlers=handlers, ctx=CTX, data=_data(payload)
    )


def _django_send_robust(count: int, payload: Any = None) -> timeit.Timer:
    signal, handlers = _django_signal(count)
    return timer(
        "signal.send_robust(ctx, data=data)", signal=signal, handlers=handlers, ctx=CTX, data=_data(payload)
    )


def _psygnal_instance(count: int) -> Any:
    import psygnal

    class Emitter:
        event = psygnal.Signal(object, object)

    emitter = Emitter()
    signal = emitter.event  # the SignalInstance, as users reach it
    for handler in noop_handlers(count):
        signal.connect(handler)
    return emitter, signal


def _psygnal_emit(count: int, payload: Any = None) -> timeit.Timer:
    emitter, signal = _psygnal_instance(count)
    return timer("signal.emit(ctx, data)", emitter=emitter, signal=signal, ctx=CTX, data=_data(payload))


def _psygnal_emit_fast(count: int, payload: Any = None) -> timeit.Timer:
    emitter, signal = _psygnal_instance(count)
    return timer("signal.emit_fast(ctx, data)", emitter=emitter, signal=signal, ctx=CTX, data=_data(payload))


def _pyee_emit(count: int, payload: Any = None) -> timeit.Timer:
    import pyee

    emitter = pyee.EventEmitter()
    for handler in noop_handlers(count):
        emitter.on("event", handler)
    return timer('emitter.emit("event", ctx, data)', emitter=emitter, ctx=CTX, data=_data(payload))


def _zope_notify(count: int, payload: Any = None) -> timeit.Timer:
    import zope.event  # type: ignore[import-untyped]

    def make() -> Callable[[Any], None]:
        def noop(event: Any) -> None:
            pass

        return noop

    # zope.event has one global list of subscribers: each timing installs its own first.
    return timer(
        "notify(data)",
        prepare="subscribers[:] = handlers",
        notify=zope.event.notify,
        subscribers=zope.event.subscribers,
        handlers=[make() for _ in range(count)],
        data=_data(payload),
    )


def _data(payload: Any = None) -> Any:
    """What a dispatch row passes: eventbus's Data; the end-to-end rows pass their own object."""
    return event(implementation("py")) if payload is None else payload


PEER_ROWS: tuple[tuple[str, str, Builder], ...] = (
    ("blinker Signal.send", "blinker", _blinker_send),
    ("Django Signal.send", "django", _django_send),
    ("Django Signal.send_robust", "django", _django_send_robust),
    ("psygnal SignalInstance.emit", "psygnal", _psygnal_emit),
    ("psygnal SignalInstance.emit_fast", "psygnal", _psygnal_emit_fast),
    ("pyee EventEmitter.emit", "pyee", _pyee_emit),
    ("zope.event notify", "zope.event", _zope_notify),
)

IMPLEMENTATION_NAMES = {"c": "compiled", "py": "pure"}


def _eventbus_timer(impl: ModuleType, method: str, count: int) -> timeit.Timer:
    return call_timer(impl, count, method)


def eventbus_rows() -> list[tuple[str, Builder]]:
    rows: list[tuple[str, Builder]] = []
    for name in IMPLEMENTATIONS:
        impl = implementation(name)
        for method in ("call", "publish"):
            label = f"eventbus {IMPLEMENTATION_NAMES[name]} Bus.{method}"
            rows.append((label, functools.partial(_eventbus_timer, impl, method)))
    return rows


def version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count()}


def environment() -> dict[str, Any]:
    import eventbus

    versions = {name: version_of(name) for name in ("eventbus", *PEERS, *MODEL_LIBRARIES)}
    try:
        import psygnal

        psygnal_compiled: bool | None = bool(psygnal._compiled)
    except ImportError:
        psygnal_compiled = None
    return {
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "machine": machine(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": versions,
        "eventbus_implementation": eventbus.implementation,
        "eventbus_compiled_measured": "c" in IMPLEMENTATIONS,
        "psygnal_compiled": psygnal_compiled,
    }


def e2e_label(name: str, engine: str, library: str | None = None) -> str:
    payload = "" if library is None else f"{library} model, "
    return f"e2e eventbus {IMPLEMENTATION_NAMES[name]}, {engine} codec: {payload}must_data, call, decode"


def declared_label(name: str, library: str | None = None) -> str:
    payload = "dataclass" if library is None else f"{library} model"
    return f"e2e eventbus {IMPLEMENTATION_NAMES[name]}: {payload}, Event.data, call, typed handler"


# The shipped configurations: each implementation with its default codec engine.
MODEL_ROWS = (("c", "cython"), ("py", "python"))


def plan() -> tuple[
    list[str], list[tuple[str, Callable[[], timeit.Timer]]], list[tuple[str, Builder]], dict[str, str]
]:
    """The table's rows, the end-to-end rows and their timers, the dispatch builders, what is missing.

    The end-to-end rows send one small dataclass (workloads.USER) to one handler: eventbus encodes
    it (must_data), dispatches and decodes it back in the handler, for each implementation and
    each codec engine it has; every peer passes the same object by reference.
    """
    builders: list[tuple[str, Builder]] = eventbus_rows()
    missing: dict[str, str] = {}
    e2e: list[tuple[str, Callable[[], timeit.Timer]]] = [(E2E_BASELINE, json_dispatch_timer)]
    for name in IMPLEMENTATIONS:
        for engine in engines(name):
            e2e.append(
                (e2e_label(name, engine), functools.partial(end_to_end_timer, implementation(name), engine))
            )
    # A declared Event and a typed handler, as users write them, on each implementation's own
    # codec engine: the dataclass here, each library's model after its must_data rows.
    for name in IMPLEMENTATIONS:
        made = functools.partial(declared_end_to_end_timer, implementation(name), None)
        e2e.append((declared_label(name), made))
    for library in MODEL_LIBRARIES:
        if version_of(library) is None:
            missing[E2E_BY_HAND[library]] = f"{library} is not installed (pip install '.[typed]')"
            continue
        e2e.append((E2E_BY_HAND[library], functools.partial(model_by_hand_timer, library)))
        for name, engine in MODEL_ROWS:
            if name in IMPLEMENTATIONS and engine in engines(name):
                made = functools.partial(model_end_to_end_timer, implementation(name), engine, library)
                e2e.append((e2e_label(name, engine, library), made))
        for name in IMPLEMENTATIONS:
            made = functools.partial(declared_end_to_end_timer, implementation(name), library)
            e2e.append((declared_label(name, library), made))
    for label, distribution, builder in PEER_ROWS:
        if version_of(distribution) is None:
            missing[label] = f"{distribution} is not installed (pip install '.[bench]')"
        else:
            builders.append((label, builder))
            e2e.append((f"e2e {label}(obj)", functools.partial(builder, 1, USER)))
    rows = [FLOOR] + [label for label, _ in builders]
    return rows, e2e, builders, missing


def report_progress(message: str) -> None:
    """What the run is doing, on stderr: stdout stays the tables (--markdown pastes cleanly)."""
    print(f"benchmarks.compare: {message}", file=sys.stderr, flush=True)


def measure_here(repetitions: int, sample_seconds: float, rounds: int, seed: int) -> interleave.Result:
    """One worker's share of the run, in this process."""
    _, e2e, builders, _ = plan()
    groups: dict[Any, dict[str, timeit.Timer]] = {}
    for count in HANDLER_COUNTS:
        groups[count] = {FLOOR: floor_timer(count)}
        for label, builder in builders:
            groups[count][label] = builder(count)
    groups[E2E] = {label: make() for label, make in e2e}
    groups[HARNESS] = {HARNESS: timer("pass")}
    baselines = {group: next(iter(timers)) for group, timers in groups.items()}
    worker = seed + 1

    def progress(message: str) -> None:
        report_progress(f"worker {worker}: {message}")

    return interleave.measure(groups, baselines, repetitions, sample_seconds, rounds, seed, progress)


def run(repetitions: int, sample_seconds: float, rounds: int, processes: int) -> dict[str, Any]:
    rows, e2e, _, missing = plan()
    e2e_rows = [label for label, _ in e2e]
    per_process = math.ceil(repetitions / processes)
    worker = [
        *("--repetitions", str(per_process), "--rounds", str(rounds)),
        *("--sample-ms", repr(sample_seconds * 1e3)),
    ]
    report_progress(f"{processes} worker processes, one after another, {per_process} repetitions each")
    result = interleave.in_processes("benchmarks.compare", worker, processes, report_progress)
    report_progress("done")

    table: dict[str, dict[str, Any]] = {}
    for label in rows + e2e_rows:
        cells: dict[str, Any] = {}
        for group in (E2E,) if label in e2e_rows else HANDLER_COUNTS:
            q1, q3 = result.quartiles(group, label)
            cells[str(group)] = {
                "ratio": result.median_ratio(group, label),
                "q1": q1,
                "q3": q3,
                "ns": result.median_ns(group, label),
                "loops": result.loops[group, label],
            }
            if group == E2E:  # next to the peers that pass the same object by reference
                for peer in E2E_PEERS:
                    if peer in e2e_rows:
                        cells[str(group)][f"over {peer}"] = result.median_ratio(group, label, peer)
                for library, by_hand in E2E_BY_HAND.items():  # and a model's row next to its library's own
                    if f" {library} model," in label or label == by_hand:
                        cells[str(group)]["over its library"] = result.median_ratio(group, label, by_hand)
        table[label] = cells
    return {
        "rows": rows,
        "e2e_rows": e2e_rows,
        "missing": missing,
        "table": table,
        "floor_ns": {str(count): result.median_ns(count, FLOOR) for count in HANDLER_COUNTS},
        "e2e_baseline_ns": result.median_ns(E2E, E2E_BASELINE),
        "harness_ns": result.median_ns(HARNESS, HARNESS),
        "repetitions": per_process * processes,
        "processes": processes,
        "sample_seconds": sample_seconds,
        "rounds": rounds,
    }


def render(report: dict[str, Any], markdown: bool) -> str:
    env = report["environment"]
    columns = [str(count) for count in HANDLER_COUNTS]
    header = ["dispatch (ratio to the floor, same handler count)"] + [
        f"{count} handler{'s' if count != '1' else ''}" for count in columns
    ]
    body: list[list[str]] = []
    for label in report["rows"]:
        cells = report["table"][label]
        body.append([label] + [f"{cells[column]['ratio']:.2f}×" for column in columns])
    for label in report["missing"]:
        body.append([label, "n/a", "n/a", "n/a"])
    # End to end: one small dataclass event to one handler, as ratios to three references.
    e2e_header = [
        "end to end (one event, one handler)",
        "× by hand",
        "× pyee emit(obj)",
        "× blinker send(obj)",
        "× its library by hand",
    ]
    e2e_body: list[list[str]] = []
    for label in report["e2e_rows"]:
        cell = report["table"][label][E2E]
        shown = [f"{cell['ratio']:.2f}×"]
        for over in [f"over {peer}" for peer in E2E_PEERS] + ["over its library"]:
            ratio = cell.get(over)
            shown.append("" if ratio is None else f"{ratio:.2f}×")
        e2e_body.append([label, *shown])
    floor = ", ".join(f"{count}: {report['floor_ns'][count]:.0f} ns" for count in columns)
    versions = ", ".join(f"{name} {version or 'not installed'}" for name, version in env["versions"].items())
    notes = [
        f"command: {report['command']}",
        f"date: {env['date']}; CPython {env['python']} on {env['machine']['platform']}, "
        f"{env['machine']['cpu']}, {env['machine']['cpu_count']} CPUs",
        f"versions: {versions}; psygnal compiled: {env['psygnal_compiled']}",
        f"{report['repetitions']} repetitions in {report['processes']} processes, each the best of "
        f"{report['rounds']} interleaved timings of about {report['sample_seconds'] * 1e3:g} ms per cell; "
        "median of per-repetition ratios",
        f"floor, absolute, for information only (it moves, the ratios do not): {floor}, of which "
        f"timeit's own loop takes {report['harness_ns']:.0f} ns in every cell; "
        f"end to end: {E2E_BASELINE.removeprefix('e2e ')} took {report['e2e_baseline_ns']:.0f} ns; "
        "eventbus encodes a UserCreated(id, email, name) dataclass (must_data), dispatches it and "
        "decodes it back in the handler; each peer passes the same object by reference to a no-op "
        "handler; codec engines: cython = eventbus._codec._fastcodec, python = the stdlib reference; "
        "the model rows send the same three fields as a msgspec Struct or a pydantic model, the same "
        "way, and are also shown over their library's own JSON round trip by hand; the Event.data rows "
        "send the payload as users of a declared event do: bus.call(ctx, EVENT.data(obj)) to one handler "
        "registered for EVENT, which gets the payload decoded (Event(..., UserCreated), the dataclass "
        "or the model)",
        "handlers, each a no-op def taking what its dispatcher passes: def h(ctx, data) for the floor, "
        "eventbus, psygnal and pyee; def h(sender, data) for blinker's send(ctx, data=data); "
        "def h(signal, sender, data) for Django's send(ctx, data=data); def h(event) for notify(data)",
    ]
    if not env["eventbus_compiled_measured"]:
        notes.append("EVENTBUS_NO_EXTENSIONS is set (or not CPython): the compiled core was not measured")
    notes += [f"{label}: {reason}" for label, reason in report["missing"].items()]
    if markdown:
        lines: list[str] = []
        for table_header, table_body in ((header, body), (e2e_header, e2e_body)):
            rule = "|" + "|".join([" --- "] + [" ---: "] * (len(table_header) - 1)) + "|"
            lines += ["| " + " | ".join(table_header) + " |", rule]
            lines += ["| " + " | ".join(row) + " |" for row in table_body] + [""]
        return "\n".join(lines + [f"- {note}" for note in notes])
    text: list[str] = []
    for table_header, table_body in ((header, body), (e2e_header, e2e_body)):
        widths = [
            max(len(row[index]) for row in [table_header] + table_body) for index in range(len(table_header))
        ]

        def line(row: list[str], widths: list[int] = widths) -> str:
            cells = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
            return "  ".join([row[0].ljust(widths[0]), *cells])

        rule = "-" * len(line(table_header))
        text += [line(table_header), rule] + [line(row) for row in table_body] + [rule]
    return "\n".join(text + notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repetitions (CI smoke run)")
    parser.add_argument("--repetitions", type=int, help="repetitions in all (default 300, 45 with --quick)")
    parser.add_argument(
        "--processes", type=int, help="worker processes sharing the repetitions (default 5, 3 with --quick)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timings per cell and repetition")
    parser.add_argument("--sample-ms", type=float, default=0.2, help="duration of one timing of one cell")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON to PATH")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table for the README")
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = measure_here(args.repetitions, args.sample_ms / 1e3, args.rounds, args.seed)
        interleave.save(result, args.worker)
        return 0
    repetitions = args.repetitions or (45 if args.quick else 300)
    processes = args.processes or (3 if args.quick else 5)
    command = " ".join(["python -m benchmarks.compare", *(sys.argv[1:] if argv is None else argv)])

    report = run(repetitions, args.sample_ms / 1e3, args.rounds, processes)
    report["command"] = command
    report["environment"] = environment()
    print(render(report, args.markdown))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
            out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
