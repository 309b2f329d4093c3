"""Small helpers shared by the behaviour tests of the core (not a test module)."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import importlib
import logging
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Generator, Sequence
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

import eventbus

if TYPE_CHECKING:
    import hypothesis

Handler = Callable[[object, object], object]


def _positive_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{name} must be a positive number, not {raw!r}")
    return value


# The thread storms' size and deadline, for slow builds (ThreadSanitizer: .ci/steps/34-tsan.sh).
# EVENTBUS_STORM_SCALE multiplies each storm's rounds and registrations (1: the full size);
# EVENTBUS_STORM_TIMEOUT is the seconds a storm may run before it fails as a deadlock, with
# every thread's stack (pytest-timeout's backstop is twice that).
STORM_SCALE = _positive_env("EVENTBUS_STORM_SCALE", 1.0)
STORM_TIMEOUT = _positive_env("EVENTBUS_STORM_TIMEOUT", 60.0)


def scaled(count: int, minimum: int = 1) -> int:
    """``count`` times EVENTBUS_STORM_SCALE, at least ``minimum``."""
    return max(minimum, round(count * STORM_SCALE))


def value_id(value: object) -> str:
    """A parameter's test id: its repr, or ``<type>`` when the repr shows an address, which
    changes from run to run (``--lf``, ``--deselect`` and collection by id need the same ids)."""
    text = repr(value)
    return f"<{type(value).__qualname__}>" if " at 0x" in text else text


_S = TypeVar("_S")

# The two implementation modules, by the ids the ``impl`` fixture gives them.
MODULES = {"c": "eventbus._core", "py": "eventbus._core_py"}


class WeirdStr(str):
    """A str subclass that lies about itself: the core must keep a plain copy of its text."""

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 42

    def __str__(self) -> str:
        return "lie"


class WeirdBytes(bytes):
    """A bytes subclass that lies about equality: the core must keep plain bytes."""

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 1


class ByName:
    """A handler equal to another ByName of the same name (so never by identity), unhashable."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, ctx: object, data: object) -> None:
        pass

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByName) and other.name == self.name

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ByName({self.name!r})"


def recorder(log: list[Any], name: str, raises: BaseException | None = None) -> Handler:
    """A handler named ``name`` that appends ``name`` to ``log``, then raises ``raises`` if given."""

    def handler(ctx: object, data: object) -> None:
        log.append(name)
        if raises is not None:
            raise raises

    handler.__qualname__ = f"recorder.{name}"
    return handler


def other_data_classes(impl: ModuleType) -> list[type]:
    """The ``Data`` classes of the implementations other than ``impl`` that import here."""
    classes = []
    for name in ("eventbus._core", "eventbus._core_py"):
        if name != impl.__name__:
            try:
                classes.append(importlib.import_module(name).Data)
            except ImportError:  # not built: the pure case has no other implementation
                pass
    return classes


def run_python(
    *args: str,
    pure: bool,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 120,
    switches: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in a fresh interpreter, on the pure implementation if ``pure`` (else the
    default choice), warnings as errors; its output as text.  With ``switches``, no
    ``EVENTBUS_NO_*`` of this process's reaches it, only those given."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "EVENTBUS_NO_EXTENSIONS" and (switches is None or not key.startswith("EVENTBUS_NO_"))
    }
    if pure:
        env["EVENTBUS_NO_EXTENSIONS"] = "1"
    env.update(switches or {})
    return subprocess.run(
        [sys.executable, "-W", "error", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def quiet_logger() -> logging.Logger:
    """A logger that records nothing and formats nothing: for runs that fail on purpose.

    (pytest attaches its capture handlers even to loggers that do not propagate, and a
    captured record keeps its traceback, and so the failing frames, alive.)
    """
    logger = logging.getLogger("tests.quiet")
    logger.setLevel(logging.CRITICAL + 1)
    return logger


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def collecting_logger(name: str = "tests.collect") -> tuple[logging.Logger, list[logging.LogRecord]]:
    """A fresh logger and the list its records land in.

    Outside the logging registry, so neither pytest's capture nor a test running
    beside this one in another thread (pytest-run-parallel) sees its records.
    """
    logger = logging.Logger(name)  # noqa: LOG001 (kept out of the registry on purpose)
    collector = _Collector()
    logger.addHandler(collector)
    logger.propagate = False
    return logger, collector.records


@contextlib.contextmanager
def tiny_switch_interval() -> Generator[None]:
    """Force a thread switch every microsecond, so races get their interleavings."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def run_workers(workers: Sequence[Callable[[], None]], timeout: float | None = None) -> None:
    """Start ``workers`` together on a barrier, wait for all, re-raise what any of them raised.

    A run still going after ``timeout`` seconds (default EVENTBUS_STORM_TIMEOUT, 60) fails
    with every thread's stack.
    """
    if timeout is None:
        timeout = STORM_TIMEOUT
    barrier = threading.Barrier(len(workers))
    errors: list[tuple[str, BaseException]] = []
    errors_lock = threading.Lock()

    def record(exc: BaseException) -> None:
        with errors_lock:
            errors.append((threading.current_thread().name, exc))

    def run(worker: Callable[[], None]) -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return  # another worker failed while waiting: its error is the one reported
        except BaseException as exc:  # noqa: BLE001 - everything must reach the main thread
            record(exc)
            barrier.abort()  # the workers still waiting at the start must not hang
            return
        # Past the start, no abort: a worker that passed the barrier but has not yet returned
        # from wait() would take it for a failure of its own (BrokenBarrierError).
        try:
            worker()
        except BaseException as exc:  # noqa: BLE001 - everything must reach the main thread
            record(exc)

    threads = [
        threading.Thread(target=run, args=(worker,), name=f"worker-{index}", daemon=True)
        for index, worker in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [thread.name for thread in threads if thread.is_alive()]
    if alive:
        with tempfile.TemporaryFile("w+") as stacks:
            faulthandler.dump_traceback(stacks, all_threads=True)
            stacks.seek(0)
            pytest.fail(
                f"deadlock? threads {alive} still running after {timeout} s; stacks:\n" + stacks.read(),
                pytrace=False,
            )
    if errors:
        raise BaseExceptionGroup(
            f"{len(errors)} worker thread(s) failed: {[name for name, _ in errors]}",
            [exc for _, exc in errors],
        )


# A handler that dispatches its own event, run in a fresh interpreter: argv is the
# implementation module, the method and "plain" or "observed" (a do-nothing observer whose
# dispatch() returns an Observation, so every hook runs at every level).  It prints how the
# last of three runs ended: "RecursionError", or "group of <innermost error>".
_RECURSION_SCRIPT = textwrap.dedent(
    """
    import importlib, logging, sys
    import eventbus
    impl = importlib.import_module(sys.argv[1])
    method = sys.argv[2]
    logger = logging.getLogger("quiet")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())

    class Seen(eventbus.Observation):
        pass

    class Observer(eventbus.Observer):
        def dispatch(self, method, data, handlers):
            return Seen()

    if sys.argv[3] == "observed":
        bus = impl.Bus(logger, observer=Observer())
    else:
        bus = impl.Bus(logger)
    bus.register("loop", "forever", lambda ctx, data: getattr(bus, method)(ctx, data))
    for _ in range(3):
        try:
            getattr(bus, method)(None, impl.Data("loop", "forever"))
        except RecursionError:
            outcome = "RecursionError"
        except ExceptionGroup as group:
            while isinstance(group, ExceptionGroup):
                group = group.exceptions[0]
            outcome = "group of " + type(group).__name__
    print(outcome)
    """
)


def unbounded_recursion(impl: ModuleType, method: str, *, observed: bool) -> subprocess.CompletedProcess[str]:
    """Run a handler that dispatches its own event with ``method``, unbounded, three times.

    In a subprocess, so that a C stack overflow shows as a signal exit code; its stdout is
    how the last run ended (``RecursionError`` or ``group of RecursionError``).
    """
    return subprocess.run(
        [sys.executable, "-c", _RECURSION_SCRIPT, impl.__name__, method, "observed" if observed else "plain"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def public_errors(impl: ModuleType) -> list[BaseException]:
    """One of each public error, as the codec raises them through ``impl`` (a module with
    ``new_data`` and ``Data``: an implementation, or ``eventbus``), each with a note added."""
    found: list[BaseException] = []
    try:
        impl.new_data("users", "created", object())
    except eventbus.EncodeError as exc:
        found.append(exc)
    try:
        eventbus.decode(impl.Data("users", "created", b'"x"'), int)
    except eventbus.DecodeError as exc:
        found.append(exc)
    found.append(eventbus.EventBusError("base"))
    for error in found:
        error.add_note("a note")
    return found


def cancel_a_running_acall(bus: Any, data: Any, in_the_loop: Callable[[], None] = lambda: None) -> None:
    """Cancel ``bus.acall(None, data)`` while its handler waits, and see it end cancelled.

    Registers on ``data``'s pair a handler that waits until cancelled, runs the ``acall`` as
    a task and cancels it once that handler has started; the task must raise
    ``CancelledError``.  ``in_the_loop()`` runs after that, still inside the event loop.
    """
    started = asyncio.Event()

    async def waits(ctx: object, data: object) -> None:
        started.set()
        await asyncio.Event().wait()  # until cancelled

    bus.register(data.domain, data.action, waits)

    async def main() -> None:
        task = asyncio.create_task(bus.acall(None, data))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        in_the_loop()

    asyncio.run(main())


# The hypothesis profile of the property tests (tests/twins/): ``ci`` by default, ``long``
# for runs by hand.
HYPOTHESIS_PROFILE = os.environ.get("EVENTBUS_HYPOTHESIS_PROFILE", "ci")


def hypothesis_profile(*, stateful_step_count: tuple[int, int] | None = None) -> hypothesis.settings:
    """The settings of the profile EVENTBUS_HYPOTHESIS_PROFILE names, for the tests they decorate.

    ``ci`` (the default): derandomized, 400 examples, no example database; ``long`` (by
    hand): 5000 examples.  ``stateful_step_count`` is (ci, long), for state machines.  The
    settings are neither registered nor loaded: loading a profile would change every other
    file's hypothesis settings depending on import order.
    """
    from hypothesis import HealthCheck, settings  # noqa: PLC0415 (only the property tests need it)

    slow = [HealthCheck.too_slow, HealthCheck.data_too_large]
    steps = stateful_step_count
    if HYPOTHESIS_PROFILE == "ci":
        common = settings(
            derandomize=True, max_examples=400, deadline=None, database=None, suppress_health_check=slow
        )
        return common if steps is None else settings(common, stateful_step_count=steps[0])
    if HYPOTHESIS_PROFILE == "long":
        common = settings(max_examples=5000, deadline=None, suppress_health_check=slow)
        return common if steps is None else settings(common, stateful_step_count=steps[1])
    raise ValueError(f"EVENTBUS_HYPOTHESIS_PROFILE must be ci or long, not {HYPOTHESIS_PROFILE!r}")


# The Python source of the core: the pure twin, and the registry and helpers both
# implementations run.
TRACED = ("_core_py.py", "_registry.py", "_handlers.py")


@contextlib.contextmanager
def tracing_the_pure_core(trace: Callable[[FrameType, str, object], Any], state: _S) -> Generator[_S]:
    """``trace`` as the line tracer of the pure core's frames, with garbage collection paused
    (the fault tests raise an asynchronous exception at a chosen line with it); the ``with``
    gets ``state`` (what the tracer records, for the test to check).

    A collection inside would run finalizers of earlier tests' objects under this tracer.
    Those of a compiled ``Bus`` fail on coverage's line-tracing build: Cython marks its
    frames traced with ``f_trace = None``, which a Python-level tracer is then handed as the
    function to call ("'NoneType' object is not callable", seen once in CI's coverage step).
    """

    def start(frame: FrameType, event: str, arg: object) -> Any:
        return trace if frame.f_code.co_filename.endswith(TRACED) else None

    collecting = gc.isenabled()
    gc.disable()
    previous = sys.gettrace()
    sys.settrace(start)
    try:
        yield state
    finally:
        sys.settrace(previous)
        if collecting:
            gc.enable()
