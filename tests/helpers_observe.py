"""The observer the dispatch and async suites run a second time with (not a test module).

``core/test_dispatch.py`` and ``core/test_async.py`` import ``observed_impl``, which overrides
the ``impl`` fixture (``stress/test_refs.py`` overrides it for one class with
``observed_or_not``): each of their tests runs once on the plain implementation and once on
``observing(impl, observer)``, whose ``Bus(...)`` is the real ``Bus`` with a
``CheckingObserver`` installed.  That observer changes nothing (every hook returns and
raises nothing), so the suites prove that an observed dispatch behaves exactly like an
unobserved one; it also records any break of the hook protocol (hooks out of order, a
handler reported that is not the snapshot's next, a dispatch never finished), and the
fixture fails the test if there was one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest


def reached_the_recursion_limit(error: BaseException | None) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return any(reached_the_recursion_limit(inner) for inner in error.exceptions)
    return isinstance(error, RecursionError)


class CheckingObservation:
    """Follows one dispatch and writes every protocol violation to its observer's ``problems``.

    It keeps the snapshot only until the dispatch finishes: observing must not keep a
    handler alive that the test expects to be collected.
    """

    def __init__(self, observer: CheckingObserver, method: str, handlers: tuple[Any, ...]) -> None:
        self.observer = observer
        self.method = method
        self.handlers: tuple[Any, ...] | None = handlers
        self.next = 0
        self.running: object = None

    def _problem(self, text: str) -> None:
        self.observer.problems.append(f"{self.method}: {text}")

    def handler_started(self, handler: Callable[[Any, Any], object]) -> None:
        if self.handlers is None:
            self._problem("handler_started after finished")
            return
        if self.running is not None:
            self._problem(f"handler_started({handler!r}) while {self.running!r} runs")
        if self.next >= len(self.handlers) or self.handlers[self.next] is not handler:
            self._problem(f"handler_started({handler!r}) is not the snapshot's handler {self.next}")
        self.next += 1
        self.running = handler

    # duration and error as a dynamic caller could pass them: checked, not assumed.
    def handler_finished(
        self, handler: Callable[[Any, Any], object], duration: object, error: object
    ) -> None:
        if self.running is not handler:
            self._problem(f"handler_finished({handler!r}) but {self.running!r} was started")
        if type(duration) is not float or duration < 0:
            self._problem(f"handler_finished with duration {duration!r}")
        if error is not None and not isinstance(error, BaseException):
            self._problem(f"handler_finished with error {error!r}")
        self.running = None

    def finished(self, error: BaseException | None) -> None:
        if self.handlers is None:
            self._problem("finished twice")
            return
        # At the recursion limit a hook may not be called at all (calling it raised).
        if self.running is not None and not reached_the_recursion_limit(error):
            self._problem(f"finished while {self.running!r} runs")
        if error is None and self.next != len(self.handlers):
            self._problem(f"finished without error after {self.next} of {len(self.handlers)} handlers")
        self.handlers = None
        self.running = None
        self.observer.count(finished=1)


class CheckingObserver:
    """Observes every dispatch with a fresh ``CheckingObservation``; safe from any thread."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.started = self.finished = 0
        self._lock = threading.Lock()

    def count(self, started: int = 0, finished: int = 0) -> None:
        with self._lock:
            self.started += started
            self.finished += finished

    def dispatch(self, method: str, data: Any, handlers: tuple[Any, ...]) -> CheckingObservation:
        if type(handlers) is not tuple:
            self.problems.append(f"{method}: handlers is a {type(handlers).__qualname__}")
        observation = CheckingObservation(self, method, handlers)
        # Counted last: a dispatch() that raised (the recursion limit can stop it at any call)
        # started nothing the bus will finish.
        self.count(started=1)
        return observation

    def check(self) -> None:
        """Fail unless every dispatch so far kept the protocol and finished; then start afresh."""
        with self._lock:
            problems, self.problems = self.problems, []
            unfinished = self.started - self.finished
        assert problems == [], problems
        assert unfinished == 0, f"{unfinished} dispatch(es) never finished"


def observing(impl: ModuleType, observer: object) -> ModuleType:
    """``impl`` whose ``Bus(...)`` makes the real ``Bus`` with ``observer`` installed."""
    module = ModuleType(impl.__name__, impl.__doc__)
    module.__dict__.update(vars(impl))
    real_bus = impl.Bus

    def bus(*args: Any, **kwargs: Any) -> Any:
        return real_bus(*args, observer=observer, **kwargs)

    module.Bus = bus  # type: ignore[attr-defined]
    module.checking_observer = observer  # type: ignore[attr-defined]
    return module


# What the suites import: ``observed`` (a session fixture: the ``impl`` it takes part in is
# one), the ``impl`` override (``observed_impl``, or its body ``observed_or_not``), and the
# per-test check.


@pytest.fixture(scope="session", params=["plain", "observed"])
def observed(request: pytest.FixtureRequest) -> str:
    """Whether the ``impl`` override installs an observer (test ids ``plain`` / ``observed``)."""
    return request.param  # type: ignore[no-any-return]


def observed_or_not(impl: ModuleType, mode: str) -> ModuleType:
    """The ``impl`` override: ``impl`` itself, or ``impl`` observed (``mode``)."""
    return impl if mode == "plain" else observing(impl, CheckingObserver())


@pytest.fixture(scope="session", name="impl")
def observed_impl(impl: ModuleType, observed: str) -> ModuleType:
    """The ``impl`` override: every test of a module that imports it runs twice, on the plain
    buses and with a do-nothing observer installed on each: an observed dispatch must behave
    the same."""
    return observed_or_not(impl, observed)


@pytest.fixture(autouse=True)
def observer_kept_the_protocol(impl: ModuleType) -> Iterator[None]:
    """After each test: the observer (if ``impl`` has one) saw no protocol violation."""
    yield
    observer = getattr(impl, "checking_observer", None)
    if observer is not None:
        observer.check()
