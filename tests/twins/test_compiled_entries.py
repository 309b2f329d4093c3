"""The compiled core's direct calls into the compiled codec engine (its C entries): they are
taken only when that engine runs, and a caller reaching the engine before it is set up gets
an error, not a crash.  Each case runs in a fresh interpreter, with the switches it needs.

Collected only where the compiled pieces are built (tests/conftest.py), like all of twins/.
"""

from __future__ import annotations

import json
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
