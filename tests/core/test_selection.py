"""Which implementation ``import eventbus`` picks, checked in fresh interpreters."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
from conftest import COMPILED_WANTED
from helpers_core import run_python

REPORT = """
import json, eventbus, eventbus._codec.decode, eventbus._errors, eventbus._core_py
active = eventbus._core_py if eventbus.implementation == "python" else __import__(
    "eventbus._core", fromlist=["Bus"])
print(json.dumps({
    "implementation": eventbus.implementation,
    "module": eventbus.Bus.__module__,
    "same_module": all(getattr(eventbus, name) is getattr(active, name)
                       for name in ("Bus", "Data", "new_data", "must_data")),
    "shared_codec": all(getattr(eventbus, name) is getattr(eventbus._errors, name)
                        for name in ("EventBusError", "EncodeError", "DecodeError"))
                    and eventbus.decode.__doc__ == eventbus._codec.decode.decode.__doc__,
    "compiled_file": getattr(active, "__file__", ""),
}))
"""


def report(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", REPORT],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_plain_import_picks_the_compiled_core_when_expected(tmp_path: Path) -> None:
    # Where the compiled core is expected (conftest.COMPILED_WANTED) a plain import
    # must pick it: a silent fallback to pure Python fails here.
    found = report(tmp_path, dict(os.environ))
    assert found["same_module"] is True
    assert found["shared_codec"] is True
    if COMPILED_WANTED:
        assert found["implementation"] == "cython"
        assert found["module"] == "eventbus._core"
        assert str(found["compiled_file"]).endswith((".so", ".pyd"))
    else:
        assert found["implementation"] == "python"
        assert found["module"] == "eventbus._core_py"


def test_environment_switch_forces_the_pure_twin(tmp_path: Path) -> None:
    found = report(tmp_path, {**os.environ, "EVENTBUS_NO_EXTENSIONS": "1"})
    assert found["implementation"] == "python"
    assert found["module"] == "eventbus._core_py"
    assert found["same_module"] is True
    assert found["shared_codec"] is True


def test_both_implementations_import_side_by_side() -> None:
    import eventbus._core_py

    modules = [eventbus._core_py]
    if COMPILED_WANTED:
        import eventbus._core

        modules.append(eventbus._core)
        assert len({eventbus._core.Bus, eventbus._core_py.Bus}) == 2
    for module in modules:
        for name in ("Bus", "Data", "new_data", "must_data"):
            assert callable(getattr(module, name))


def test_implementation_attribute_matches_the_active_bus() -> None:
    import eventbus

    expected = {"cython": "eventbus._core", "python": "eventbus._core_py"}[eventbus.implementation]
    assert eventbus.Bus.__module__ == expected
    assert eventbus.Data.__module__ == expected


# What ``import eventbus`` loads: the codec's modules and the stdlib they need (json, dataclasses,
# datetime, decimal, uuid, logging, inspect, threading) load on first use.
LOADED = """
import sys
before = set(sys.modules)
import eventbus
loaded = set(sys.modules) - before
bus = eventbus.Bus()
data = eventbus.new_data("d", "a", {"id": 1})
after_use = set(sys.modules) - before
assert eventbus.decode(data) == {"id": 1}
import json
print(json.dumps({"loaded": sorted(loaded), "after_use": sorted(after_use),
                  "decode_loaded": "eventbus._codec.decode" in sys.modules,
                  "handler": repr(eventbus.Handler), "dir": "decode" in dir(eventbus)}))
"""
DEFERRED = {
    "json",
    "dataclasses",
    "datetime",
    "decimal",
    "uuid",
    "logging",
    "inspect",
    "threading",
    "eventbus._codec.decode",
    "eventbus._codec.types",
    "eventbus._observe",
}


@pytest.mark.parametrize("pure", [False, True], ids=["default", "pure"])
def test_import_eventbus_defers_the_codec_and_its_stdlib(tmp_path: Path, pure: bool) -> None:
    env = {**os.environ, "EVENTBUS_NO_EXTENSIONS": "1" if pure else "0"}
    result = subprocess.run(
        [sys.executable, "-c", LOADED],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert DEFERRED.isdisjoint(found["loaded"]), DEFERRED.intersection(found["loaded"])
    if COMPILED_WANTED and not pure:  # nor typing and collections.abc
        assert {"typing", "collections.abc", "re"}.isdisjoint(found["loaded"])
    assert "logging" in found["after_use"]  # Bus() takes logging.getLogger("eventbus")
    assert found["decode_loaded"] is True
    assert found["handler"].startswith("collections.abc.Callable[[typing.Any, eventbus._core")
    assert found["dir"] is True


ENGINE = """
import json, eventbus
data = eventbus.new_data("d", "a", {"id": 1, "name": "é"})
print(json.dumps({"engine": eventbus.codec_engine, "raw": data.raw_params.decode(),
                  "decoded": eventbus.decode(data)}))
"""


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "cython"),
        ({"EVENTBUS_NO_FAST_CODEC": "1"}, "python"),
        ({"EVENTBUS_NO_FAST_CODEC": "0"}, "cython"),
        ({"EVENTBUS_NO_EXTENSIONS": "1"}, "python"),
    ],
    ids=["default", "switched-off", "zero", "pure"],
)
def test_codec_engine_is_reported_and_switchable(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    result = run_python("-c", ENGINE, pure=False, cwd=tmp_path, timeout=60, switches=env)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    # The child's environment has no EVENTBUS_NO_* but the row's: what it picks depends on
    # whether the compiled engine is built, not on this process's EVENTBUS_NO_EXTENSIONS.
    built = importlib.util.find_spec("eventbus._codec._fastcodec") is not None
    assert found["engine"] == (expected if built else "python")
    assert found["raw"] == '{"id":1,"name":"é"}'
    assert found["decoded"] == {"id": 1, "name": "é"}


def _setup_module() -> dict[str, object]:
    import runpy

    return runpy.run_path(str(Path(__file__).parents[2] / "setup.py"), run_name="eventbus_setup")


def test_a_failed_codec_engine_build_says_the_core_stays_compiled() -> None:
    """setup.py: only _fastcodec failing leaves the compiled core and the stdlib codec engine."""
    found = _setup_module()["fallback_message"]
    assert callable(found)
    message = cast("Callable[[Exception, str | None], str]", found)
    codec = message(RuntimeError("no compiler"), "eventbus._codec._fastcodec")
    assert (
        "building the compiled codec engine (eventbus._codec._fastcodec) failed (RuntimeError('no compiler'))"
        in codec
    )
    assert "the compiled core is installed" in codec
    assert "eventbus.codec_engine == 'python'" in codec
    assert "pure-Python implementation" not in codec
    for name in ("eventbus._core", None):  # the core, or the whole build_ext step
        core = message(RuntimeError("no compiler"), name)
        assert "building the Cython core failed (RuntimeError('no compiler'))" in core
        assert "installing the pure-Python implementation instead" in core  # what 60-packaging.sh greps
        assert "codec engine" not in core


WORKING = """
import dataclasses, json, sys, asyncio
import eventbus

@dataclasses.dataclass
class User:
    id: int

bus = eventbus.Bus(observer=None)
event = eventbus.Event("users", "created", User)
seen = []
bus.register(event, lambda ctx, user: seen.append(user.id))
bus.register(event, lambda ctx, user: seen.append(user.id), weak=False)
bus.call(None, event.data(User(7)))
bus.publish(None, event.data(User(8)))
asyncio.run(bus.acall(None, event.data(User(9))))
bus.unregister(event, print)
assert seen == [7, 7, 8, 8, 9, 9], seen
print(json.dumps({"implementation": eventbus.implementation, "pure_loaded": "eventbus._core_py" in sys.modules}))
"""


def test_the_compiled_core_at_work_never_loads_the_pure_twin(tmp_path: Path) -> None:
    """Typed handlers, every dispatch method and removal by handler, on the compiled core."""
    if not COMPILED_WANTED:
        pytest.skip("the compiled core is not built here")
    result = subprocess.run(
        [sys.executable, "-c", WORKING], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"implementation": "cython", "pure_loaded": False}
