"""Faults found by trying the bus with odd inputs and tools: both implementations alike."""

from __future__ import annotations

import inspect
from types import ModuleType
from unittest import mock

import pytest

from eventbus.testing import record

# ---------------------------------------------------------------------------
# Arguments that fake __class__: the real type decides, with the same words on both twins.


@pytest.mark.parametrize("field", ["domain", "action"])
def test_a_mock_with_a_str_spec_is_not_a_name(impl: ModuleType, field: str) -> None:
    fake = mock.Mock(spec=str)
    args = {"domain": "users", "action": "created", field: fake}
    with pytest.raises(TypeError) as caught:
        impl.Data(args["domain"], args["action"])
    assert str(caught.value) == f"{field} must be str, not Mock"
    with pytest.raises(TypeError) as caught:
        impl.Bus().register(args["domain"], args["action"], lambda ctx, data: None)
    assert str(caught.value) == (
        f"{field} must be str, not Mock: the pair is given as "
        "register(domain, action, handler) or register(event, handler)"
    )


def test_a_mock_with_a_bytes_spec_is_not_raw_params(impl: ModuleType) -> None:
    with pytest.raises(TypeError) as caught:
        impl.Data("users", "created", mock.Mock(spec=bytes))
    assert str(caught.value) == "raw_params must be bytes or None, not Mock"


# ---------------------------------------------------------------------------
# Another class called Data: the message says whose it is (the twins' own: test_bad_input).


class Data:
    """Not eventbus's: a class of another library that happens to have the name."""


def test_a_foreign_class_called_data_is_named_by_its_module(impl: ModuleType) -> None:
    with pytest.raises(TypeError) as caught:
        impl.Bus().call(None, Data())
    assert str(caught.value) == f"data must be an eventbus.Data, not {__name__}.Data"


# ---------------------------------------------------------------------------
# record() naming a pair twice records each dispatch once, muted or not.


@pytest.mark.parametrize("mute", [False, True])
def test_record_with_a_pair_named_twice_records_each_dispatch_once(impl: ModuleType, mute: bool) -> None:
    bus = impl.Bus()
    ran: list[object] = []
    bus.register("users", "created", lambda ctx, data: ran.append(data))
    event = impl.Data("users", "created")
    with record(bus, ("users", "created"), ("users", "created"), mute=mute) as recorded:
        bus.publish(None, event)
    assert recorded.data == [event]
    assert ran == ([] if mute else [event])
    # Removed once on exit, as registered once: the bus is as before.
    assert len(bus.handlers("users", "created")) == 1
    bus.publish(None, event)
    assert len(recorded) == 1


# ---------------------------------------------------------------------------
# What tools see: signatures, docstrings, coroutine functions.


def test_signatures_of_data_and_bus(impl: ModuleType) -> None:
    assert list(inspect.signature(impl.Data).parameters) == ["domain", "action", "raw_params"]
    assert inspect.signature(impl.Data).parameters["raw_params"].default is None
    parameters = inspect.signature(impl.Bus).parameters
    assert list(parameters) == ["logger", "unhandled", "observer"]
    assert parameters["unhandled"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["unhandled"].default == "ignore"
    assert parameters["observer"].kind is inspect.Parameter.KEYWORD_ONLY


def test_acall_and_apublish_are_coroutine_functions(impl: ModuleType) -> None:
    assert inspect.iscoroutinefunction(impl.Bus.acall)
    assert inspect.iscoroutinefunction(impl.Bus.apublish)
    assert inspect.iscoroutinefunction(impl.Bus().acall)


# ---------------------------------------------------------------------------
# A Bus whose __init__ never ran: a clear error, the same on both twins, from every entry.

NOT_INITIALISED = (
    "this Bus was never initialised: Bus.__init__() did not run "
    "(a subclass's __init__ must call super().__init__())"
)


def _uninitialised_buses(impl: ModuleType) -> list[object]:
    class Forgetful(impl.Bus):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:  # no super().__init__()
            pass

    return [impl.Bus.__new__(impl.Bus), Forgetful()]


@pytest.mark.parametrize(
    "use",
    [
        "call",
        "publish",
        "acall",
        "apublish",
        "register",
        "unregister",
        "unregister-event",
        "handlers",
        "pairs",
        "on",
    ],
)
def test_a_bus_whose_init_never_ran_says_so(impl: ModuleType, use: str) -> None:
    import asyncio

    for bus in _uninitialised_buses(impl):
        data = impl.Data("users", "created")
        uses = {
            "call": lambda: bus.call(None, data),  # type: ignore[attr-defined]
            "publish": lambda: bus.publish(None, data),  # type: ignore[attr-defined]
            "acall": lambda: asyncio.run(bus.acall(None, data)),  # type: ignore[attr-defined]
            "apublish": lambda: asyncio.run(bus.apublish(None, data)),  # type: ignore[attr-defined]
            "register": lambda: bus.register("users", "created", lambda ctx, data: None),  # type: ignore[attr-defined]
            "unregister": lambda: bus.unregister("users", "created", print),  # type: ignore[attr-defined]
            "unregister-event": lambda: bus.unregister(impl.Event("users", "created", dict), print),  # type: ignore[attr-defined]
            "handlers": lambda: bus.handlers("users", "created"),  # type: ignore[attr-defined]
            "pairs": lambda: bus.pairs(),  # type: ignore[attr-defined]
            "on": lambda: bus.on("users", "created")(lambda ctx, data: None),  # type: ignore[attr-defined]
        }
        with pytest.raises(RuntimeError) as caught:
            uses[use]()
        assert str(caught.value) == NOT_INITIALISED


def test_init_runs_once_on_a_bus_made_by_new(impl: ModuleType) -> None:
    bus = impl.Bus.__new__(impl.Bus)
    bus.__init__()
    log: list[object] = []
    bus.register("users", "created", lambda ctx, data: log.append(data))
    bus.call(None, impl.Data("users", "created"))
    assert len(log) == 1
    with pytest.raises(TypeError, match="may be called only once"):
        bus.__init__()


def test_a_fork_while_another_thread_holds_the_bus_leaves_the_child_a_working_bus(impl: ModuleType) -> None:
    """Forked while another thread is inside a locked section of the bus, the child (where
    that thread does not exist) registers and dispatches without waiting for it."""
    import os
    import signal
    import threading
    import warnings

    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    bus = impl.Bus()
    log: list[str] = []
    bus.register("d", "a", lambda ctx, data: log.append("h"))
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with bus._lock:  # as register() or unregister() on another thread
            holding.set()
            release.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # a multi-threaded fork
            pid = os.fork()
        if pid == 0:  # the child: a deadlock is ended by the alarm, and fails the test
            status = 1
            try:
                signal.alarm(20)
                bus.register("d", "a", lambda ctx, data: log.append("child"))
                bus.call(None, impl.Data("d", "a"))
                status = 0 if log == ["h", "child"] else 2
            finally:
                os._exit(status)
    finally:
        release.set()
        thread.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
