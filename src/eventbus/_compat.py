"""The switches, parsed once: which implementation runs, which codec engine, which build.

``setup.py`` keeps its own parsing: it runs at build time, before eventbus exists.
"""

from __future__ import annotations

import os
import sys

__all__ = ["FREE_THREADED", "NO_EXTENSIONS", "NO_FAST_CODEC", "flag"]


def flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to anything but ``""`` or ``"0"``."""
    return os.environ.get(name, "") not in ("", "0")


# The pure implementation: asked for, or not CPython (the compiled core is CPython's).
NO_EXTENSIONS = flag("EVENTBUS_NO_EXTENSIONS") or sys.implementation.name != "cpython"
# The stdlib codec engine (the pure implementation always runs it).
NO_FAST_CODEC = NO_EXTENSIONS or flag("EVENTBUS_NO_FAST_CODEC")
# Whether the GIL is off (free-threaded CPython, unless it was turned back on).
FREE_THREADED = not getattr(sys, "_is_gil_enabled", lambda: True)()
