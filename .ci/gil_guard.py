"""pytest plugin: the run is free-threaded from start to end, on the compiled core.

Loaded with ``-p gil_guard`` by ``.ci/steps/33-free-threaded.sh`` and ``.ci/steps/34-tsan.sh`` (PYTHONPATH
has .ci).  At the start: the interpreter is a free-threaded build, ``eventbus._core`` is what
``import eventbus`` picked, and the GIL is off.  At the end (after every test, so after every
module the tests imported): the GIL is still off.  An extension module that does not declare
free-threading support re-enables the GIL when it is imported, with only a warning; here that
fails the session instead.  PYTHON_GIL must not be set: it would hide exactly that.
"""

from __future__ import annotations

import os
import sys
import sysconfig

import pytest


def _gil_enabled() -> bool:
    return bool(getattr(sys, "_is_gil_enabled", lambda: True)())


def pytest_sessionstart(session: pytest.Session) -> None:
    import eventbus

    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        raise pytest.UsageError(f"{sys.executable} is not a free-threaded build")
    if "PYTHON_GIL" in os.environ:
        raise pytest.UsageError("PYTHON_GIL is set: it would force the GIL's state")
    if eventbus.implementation != "cython":
        raise pytest.UsageError(f"eventbus.implementation is {eventbus.implementation!r}, not 'cython'")
    if _gil_enabled():
        raise pytest.UsageError("the GIL is enabled after importing eventbus")


def pytest_report_header() -> str:
    return f"gil_guard: free-threaded {sys.version.split()[0]}, GIL enabled: {_gil_enabled()}"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _gil_enabled():
        print("\ngil_guard: FAIL: the GIL was enabled during the run", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        print("\ngil_guard: the GIL stayed disabled for the whole run")
