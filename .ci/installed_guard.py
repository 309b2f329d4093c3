"""pytest plugin: fail the session unless eventbus comes from the installed distribution.

``.ci/steps/60-packaging.sh`` runs the clone's tests/ against a wheel or an sdist installed in
a fresh venv, loading this with ``-p installed_guard``.  It checks, in the pytest process and
after pytest has set up sys.path, that ``import eventbus`` finds the venv's copy (not the
clone's src/) and that the active implementation is ``EVENTBUS_EXPECT_IMPLEMENTATION``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


def _where() -> tuple[str, Path]:
    import eventbus

    return eventbus.implementation, Path(eventbus.__file__).resolve()


def pytest_report_header() -> str:
    implementation, path = _where()
    return f"eventbus under test: implementation {implementation!r} from {path.parent}"


def pytest_sessionstart(session: pytest.Session) -> None:
    implementation, path = _where()
    venv = Path(sys.prefix).resolve()
    if venv not in path.parents:
        raise pytest.UsageError(f"eventbus was imported from {path}, not from the venv {venv}")
    expected = os.environ["EVENTBUS_EXPECT_IMPLEMENTATION"]
    if implementation != expected:
        raise pytest.UsageError(f"eventbus.implementation is {implementation!r}, expected {expected!r}")
