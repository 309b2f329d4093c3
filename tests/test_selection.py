"""Which implementation ``import eventbus`` picks, checked in fresh interpreters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import COMPILED_WANTED

REPORT = """
import json, eventbus, eventbus._codec, eventbus._core_py
active = eventbus._core_py if eventbus.implementation == "python" else __import__(
    "eventbus._core", fromlist=["Bus"])
print(json.dumps({
    "implementation": eventbus.implementation,
    "module": eventbus.Bus.__module__,
    "same_module": all(getattr(eventbus, name) is getattr(active, name)
                       for name in ("Bus", "Data", "new_data", "must_data")),
    "shared_codec": all(getattr(eventbus, name) is getattr(eventbus._codec, name)
                        for name in ("decode", "EventBusError", "EncodeError", "DecodeError")),
    "compiled_file": getattr(active, "__file__", ""),
}))
"""


def report(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", REPORT],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
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
