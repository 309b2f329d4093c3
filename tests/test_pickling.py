"""Pickles and copies of ``Data``, ``Event`` and the public errors, across implementations.

A pickle names ``eventbus``'s own reconstructors (``eventbus._restore_data``,
``eventbus._restore_event``) or the public errors (``eventbus.EncodeError`` ...), never an
implementation's module: whichever implementation pickled it, it loads wherever eventbus
is installed, as the ``Data`` / ``Event`` of the implementation active there.  The
subprocess tests load each pickle where only the pure twin exists (the compiled modules
cannot be imported at all) and, when the compiled core is built, where it is active.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import pickle
import platform
import subprocess
import sys
import traceback
from types import ModuleType
from typing import Any

import pytest

import eventbus

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)
PAYLOAD_TYPES: list[Any] = [dict, list[int], int | None]

COMPILED_WANTED = (
    os.environ.get("EVENTBUS_NO_EXTENSIONS", "") in ("", "0") and platform.python_implementation() == "CPython"
)
# Where the pickles load: "python" (the compiled modules unimportable), "cython" (active).
LOADERS = ["python", "cython"] if COMPILED_WANTED else ["python"]

# Run in the loading interpreter: reads {name: base64 pickle} on stdin, prints what each loaded as.
LOADER = r"""
import base64, json, os, sys
if os.environ["LOADER"] == "python":
    # Only the pure twin exists: importing the compiled modules fails, as where they were never built.
    sys.modules["eventbus._core"] = None
    sys.modules["eventbus._fastcodec"] = None
import pickle
import eventbus

def describe(value):
    if isinstance(value, BaseException):
        return {"type": [type(value).__module__, type(value).__qualname__],
                "public": type(value) is getattr(eventbus, type(value).__qualname__, None),
                "args": list(value.args), "notes": getattr(value, "__notes__", [])}
    if type(value) is eventbus.Data:
        seen = []
        bus = eventbus.Bus()
        bus.register(value.domain, value.action, lambda ctx, data: seen.append(data))
        bus.call(None, value)  # the active Bus accepts it
        return {"type": "active Data", "fields": [value.domain, value.action, value.raw_params and value.raw_params.decode()],
                "dispatched": seen == [value]}
    if type(value) is eventbus.Event:
        built = value.data(None) if value.payload_type == (int | None) else None
        return {"type": "active Event", "fields": [value.domain, value.action, repr(value.payload_type)],
                "data": None if built is None else type(built) is eventbus.Data}
    return {"type": "other: " + type(value).__module__ + "." + type(value).__qualname__}

pickles = json.load(sys.stdin)
print(json.dumps({
    "implementation": eventbus.implementation,
    "loaded": {name: describe(pickle.loads(base64.b64decode(blob))) for name, blob in pickles.items()},
}))
"""


def _errors() -> list[BaseException]:
    """One of each public error, as the codec raises them, with a note added."""
    found: list[BaseException] = []
    try:
        eventbus.new_data("users", "created", object())
    except eventbus.EncodeError as exc:
        found.append(exc)
    try:
        eventbus.decode(eventbus.Data("users", "created", b'"x"'), int)
    except eventbus.DecodeError as exc:
        found.append(exc)
    found.append(eventbus.EventBusError("base"))
    for error in found:
        error.add_note("a note")
    return found


def _pickles(impl: ModuleType) -> dict[str, str]:
    blobs: dict[str, bytes] = {}
    for protocol in PROTOCOLS:
        for raw_params in (None, b'{"id":1}'):
            blobs[f"data-{protocol}-{raw_params is None}"] = pickle.dumps(
                impl.Data("users", "created", raw_params), protocol=protocol
            )
        for index, payload_type in enumerate(PAYLOAD_TYPES):
            blobs[f"event-{protocol}-{index}"] = pickle.dumps(
                impl.Event("users", "created", payload_type), protocol=protocol
            )
        for error in _errors():
            blobs[f"error-{protocol}-{type(error).__qualname__}"] = pickle.dumps(error, protocol=protocol)
    return {name: base64.b64encode(blob).decode() for name, blob in blobs.items()}


def _load_elsewhere(loader: str, pickles: dict[str, str]) -> dict[str, Any]:
    env = {**os.environ, "LOADER": loader}
    env.pop("EVENTBUS_NO_EXTENSIONS", None)
    done = subprocess.run(
        [sys.executable, "-c", LOADER], input=json.dumps(pickles), capture_output=True, text=True, env=env,
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("loader", LOADERS)
def test_pickles_load_under_either_implementation_as_its_own(impl: ModuleType, loader: str) -> None:
    """Pickled by ``impl``, loaded where ``loader`` is the active implementation, every protocol."""
    pickles = _pickles(impl)
    result = _load_elsewhere(loader, pickles)
    assert result["implementation"] == loader
    loaded = result["loaded"]
    assert set(loaded) == set(pickles)
    messages = {type(error).__qualname__: [str(error)] for error in _errors()}
    for protocol in PROTOCOLS:
        for none in (True, False):
            assert loaded[f"data-{protocol}-{none}"] == {
                "type": "active Data",
                "fields": ["users", "created", None if none else '{"id":1}'],
                "dispatched": True,
            }
        for index, payload_type in enumerate(PAYLOAD_TYPES):
            assert loaded[f"event-{protocol}-{index}"] == {
                "type": "active Event",
                "fields": ["users", "created", repr(payload_type)],
                "data": True if payload_type == (int | None) else None,
            }
        for name, args in messages.items():
            assert loaded[f"error-{protocol}-{name}"] == {
                "type": ["eventbus", name], "public": True, "args": args, "notes": ["a note"]
            }


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pickled_data_loads_as_the_active_implementations_and_dispatches(impl: ModuleType, protocol: int) -> None:
    data = impl.Data("users", "created", b"[1]")
    restored = pickle.loads(pickle.dumps(data, protocol=protocol))
    assert type(restored) is eventbus.Data  # the other twin's, when impl is not the active one
    assert (restored.domain, restored.action, restored.raw_params) == ("users", "created", b"[1]")
    seen: list[object] = []
    bus = eventbus.Bus()
    bus.register("users", "created", lambda ctx, d: seen.append(d))
    bus.call(None, restored)
    assert seen == [restored]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pickle_names_eventbus_never_an_implementation_module(impl: ModuleType, protocol: int) -> None:
    for value in (impl.Data("users", "created"), impl.Event("users", "created", dict)):
        blob = pickle.dumps(value, protocol=protocol)
        assert b"_core" not in blob, blob
        assert b"eventbus" in blob, blob


def test_copies_of_data_and_events_are_themselves(impl: ModuleType) -> None:
    """Immutable values: a copy (shallow or deep) is the object itself, of its own implementation."""
    for value in (impl.Data("users", "created", b"1"), impl.Event("users", "created", list[int])):
        assert copy.copy(value) is value
        assert copy.deepcopy(value) is value
        assert copy.deepcopy([value, value]) == [value, value]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_public_errors_report_eventbus_in_repr_traceback_and_pickle(protocol: int) -> None:
    for error in _errors():
        name = type(error).__qualname__
        assert type(error) is getattr(eventbus, name)
        assert type(error).__module__ == "eventbus"
        assert repr(error) == f"{name}({str(error)!r})"
        assert traceback.format_exception_only(error) == [f"eventbus.{name}: {error}\n", "a note\n"]
        blob = pickle.dumps(error, protocol=protocol)
        assert b"_errors" not in blob
        restored = pickle.loads(blob)
        assert type(restored) is type(error)
        assert restored.args == error.args and restored.__notes__ == ["a note"]


@pytest.mark.parametrize("params", [None, {"id": 1, "name": "é"}, [1, 2.5, True], "text"], ids=repr)
def test_must_data_encodes_as_new_data(impl: ModuleType, params: object) -> None:
    """``must_data`` and ``new_data`` differ only in what the call site says: same bytes."""
    assert impl.must_data("users", "created", params) == impl.new_data("users", "created", params)


@pytest.mark.parametrize("params", [{1, 2}, {"x": float("nan")}, {1: "a"}, object()], ids=repr)
def test_must_data_raises_the_encode_error_new_data_raises(impl: ModuleType, params: object) -> None:
    with pytest.raises(eventbus.EncodeError) as must:
        impl.must_data("users", "created", params)
    with pytest.raises(eventbus.EncodeError) as new:
        impl.new_data("users", "created", params)
    assert str(must.value) == str(new.value)
    assert type(must.value.__cause__) is type(new.value.__cause__)
