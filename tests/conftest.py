"""One suite, both implementations, shared by every directory under tests/.

The ``impl`` fixture yields the implementation module itself: ``eventbus._core``
(compiled, ids ``c``) and ``eventbus._core_py`` (pure, ids ``py``).  The compiled
case imports the extension module directly, so a build that silently fell back to
pure Python fails here instead of passing the suite twice.  Only an explicit
``EVENTBUS_NO_EXTENSIONS`` (the pure wheel) or an interpreter other than CPython
(PyPy) leaves the compiled case out.

Where a test goes: CONTRIBUTING.md.  ``twins/`` compares the compiled pieces with their
pure counterparts, so it is collected only where the compiled ones are built.
"""

from __future__ import annotations

import importlib
import os
import platform
from types import ModuleType

import pytest
from helpers_core import MODULES

COMPILED_WANTED = (
    os.environ.get("EVENTBUS_NO_EXTENSIONS", "") in ("", "0")
    and platform.python_implementation() == "CPython"
)
_AVAILABLE = ["c", "py"] if COMPILED_WANTED else ["py"]
# EVENTBUS_TEST_IMPLEMENTATIONS=c: the compiled core only (the ThreadSanitizer step, where the
# pure twin would only retest the interpreter, at the sanitizer's cost).
_ONLY = [name for name in os.environ.get("EVENTBUS_TEST_IMPLEMENTATIONS", "").split(",") if name]
if not set(_ONLY) <= set(_AVAILABLE):
    raise ValueError(f"EVENTBUS_TEST_IMPLEMENTATIONS={_ONLY!r}: choose from {_AVAILABLE}")
IMPLEMENTATIONS = _ONLY or _AVAILABLE

# twins/ compares the two implementations (and the two codec engines) with each other:
# without the compiled ones there is nothing to compare, so it is not collected (rather
# than skipped).  Everything else, the bad-input table included, runs on what there is.
collect_ignore = [] if COMPILED_WANTED else ["twins"]


@pytest.fixture(scope="session", params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """The implementation module under test: it has Bus, Data, new_data, must_data."""
    return importlib.import_module(MODULES[request.param])
