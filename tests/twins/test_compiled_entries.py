"""The compiled core's direct calls into the compiled codec engine (its C entries): they are
taken only when that engine runs, and a caller reaching the engine before it is set up gets
an error, not a crash.  Each case runs in a fresh interpreter, with the switches it needs.

Collected only where the compiled pieces are built (tests/conftest.py), like all of twins/.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers_core import run_python

TYPED = """
import dataclasses, json, eventbus
from eventbus import _core

@dataclasses.dataclass
class Created:
    id: int
    name: str

event = _core.Event("users", "created", Created)
bus = _core.Bus()
seen = []
bus.register(event, lambda ctx, payload: seen.append(payload))
data = event.data(Created(1, "Ada"))
bus.call(None, data)
bus.publish(None, _core.must_data("users", "created", {"id": 2, "name": "Bob"}))
try:
    bus.call(None, _core.must_data("users", "created", {"id": "three"}))
except eventbus.DecodeError as exc:
    error = type(exc).__name__
print(json.dumps({"engine": _core.codec_engine, "raw": data.raw_params.decode(),
                  "seen": [dataclasses.asdict(p) for p in seen], "error": error}))
"""


@pytest.mark.parametrize(("switch", "engine"), [("0", "cython"), ("1", "python")], ids=["fast", "reference"])
def test_events_run_alike_on_either_codec_engine_under_the_compiled_core(
    tmp_path: Path, switch: str, engine: str
) -> None:
    result = run_python("-c", TYPED, pure=False, cwd=tmp_path, switches={"EVENTBUS_NO_FAST_CODEC": switch})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "engine": engine,
        "raw": '{"id":1,"name":"Ada"}',
        "seen": [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Bob"}],
        "error": "DecodeError",
    }


def test_the_engines_decode_before_it_is_set_up_is_an_error_not_a_crash(tmp_path: Path) -> None:
    code = (
        "from eventbus._codec import _fastcodec\n"
        "try:\n"
        "    _fastcodec._decode(None, int)\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n"
    )
    result = run_python("-c", code, pure=False, cwd=tmp_path, switches={})
    assert result.returncode == 0, result.stderr
    assert "not set up" in result.stdout


def test_the_engines_encode_before_it_is_set_up_is_an_error_not_a_crash(tmp_path: Path) -> None:
    # Switched off, the compiled engine is never set up; a payload it leaves to the reference
    # then has nowhere to go.
    code = (
        "import decimal\n"
        "from eventbus._codec import _fastcodec\n"
        "try:\n"
        "    _fastcodec._encode_params(decimal.Decimal(1))\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n"
    )
    result = run_python("-c", code, pure=False, cwd=tmp_path, switches={"EVENTBUS_NO_FAST_CODEC": "1"})
    assert result.returncode == 0, result.stderr
    assert "not set up" in result.stdout


def test_the_typed_handler_type_is_made_only_as_the_registry_makes_it() -> None:
    from eventbus import _core

    typed_handler_type = _core.Bus.__dict__["_typed_handler"]  # (what the registry reads)
    with pytest.raises(TypeError, match="takes no keyword arguments"):
        typed_handler_type(print, int, decode=print)
    with pytest.raises(TypeError, match="expected 3 arguments, got 2"):
        typed_handler_type(print, int)
    made = typed_handler_type(print, int, print)
    assert (made.handler, made.payload_type) == (print, int)
    assert repr(made) == "<typed handler of <built-in function print>, payload <class 'int'>>"
    with pytest.raises(TypeError):
        type("Sub", (typed_handler_type,), {})  # final: not a base type


def test_event_data_shows_as_the_pure_one_does() -> None:
    import inspect

    from eventbus import _core, _core_py  # pyright: ignore[reportPrivateUsage]  # the twins themselves

    compiled, pure = _core.Event.data, _core_py.Event.data
    for name in ("__doc__", "__module__", "__qualname__", "__annotations__"):
        assert getattr(compiled, name) == getattr(pure, name), name
    assert inspect.signature(compiled) == inspect.signature(pure)


KEEPS_FIRST_STATE = """
import decimal, json, eventbus
from eventbus._codec import _fastcodec, decode as reference, plans

calls = []

def spy(data, cls=reference.MISSING):
    calls.append(cls)
    return reference.decode(data, cls)

decode = eventbus.decode  # the engine's, set up by the engine: the first state
data = eventbus.new_data("d", "a", "1.5")
again = _fastcodec.make_decode(spy, plans, reference.MISSING)
decode(data, decimal.Decimal)  # the compiled engine leaves Decimal to its reference
kept = len(calls)
_fastcodec.make_decode(spy, plans, reference.MISSING, fresh=True)
decode(data, decimal.Decimal)
print(json.dumps({"same": again is decode, "kept": kept, "fresh": len(calls)}))
"""


def test_the_engines_decoding_state_is_made_once_unless_a_test_asks_for_a_fresh_one(tmp_path: Path) -> None:
    result = run_python("-c", KEEPS_FIRST_STATE, pure=False, cwd=tmp_path, switches={})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"same": True, "kept": 0, "fresh": 1}


FORKED_WHILE_MAKING = """
import os, signal, threading, warnings
from eventbus._codec import engine

held, release = threading.Event(), threading.Event()

def hold():
    with engine._making:
        held.set()
        release.wait()

holder = threading.Thread(target=hold)
holder.start()
held.wait()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # fork() with a thread running
    pid = os.fork()
if pid == 0:
    signal.alarm(30)  # a child stuck on the lock its parent's thread held dies, as a failure
    engine._decoders.clear()
    engine.decode_on("cython")
    os._exit(0)
release.set()
holder.join()
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() only")
def test_a_child_forked_while_the_engine_is_being_made_makes_it_again(tmp_path: Path) -> None:
    result = run_python("-c", FORKED_WHILE_MAKING, pure=False, cwd=tmp_path, switches={})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
