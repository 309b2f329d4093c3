"""Pickles of ``Data``, ``Event`` and the public errors, across implementations.

A pickle names ``eventbus``'s own reconstructors (``eventbus._restore_data``,
``eventbus._restore_event``) or the public errors (``eventbus.EncodeError`` ...), never an
implementation's module: whichever implementation pickled it, it loads wherever eventbus
is installed, as the ``Data`` / ``Event`` of the implementation active there.  The
subprocess tests load each pickle where only the pure twin exists (the compiled modules
cannot be imported at all) and where the compiled core is active.  (Within one process,
and copies: ``core/test_data.py``; the errors' names: ``codec/test_errors.py``.)
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest
from helpers_core import public_errors

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)
PAYLOAD_TYPES: list[Any] = [dict, list[int], int | None]

# Where the pickles load: "python" (the compiled modules unimportable), "cython" (active).
LOADERS = ["python", "cython"]

# Run in the loading interpreter: reads {name: base64 pickle} on stdin, prints what each loaded as.
LOADER = r"""
import base64, json, os, sys
if os.environ["LOADER"] == "python":
    # Only the pure twin exists: importing the compiled modules fails, as where they were never built.
    sys.modules["eventbus._core"] = None
    sys.modules["eventbus._codec._fastcodec"] = None
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
        for error in public_errors(impl):
            blobs[f"error-{protocol}-{type(error).__qualname__}"] = pickle.dumps(error, protocol=protocol)
    return {name: base64.b64encode(blob).decode() for name, blob in blobs.items()}


def _load_elsewhere(loader: str, pickles: dict[str, str]) -> dict[str, Any]:
    env = {**os.environ, "LOADER": loader}
    env.pop("EVENTBUS_NO_EXTENSIONS", None)
    done = subprocess.run(
        [sys.executable, "-c", LOADER],
        input=json.dumps(pickles),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
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
    messages = {type(error).__qualname__: [str(error)] for error in public_errors(impl)}
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
                "type": ["eventbus", name],
                "public": True,
                "args": args,
                "notes": ["a note"],
            }
