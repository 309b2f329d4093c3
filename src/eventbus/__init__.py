"""eventbus: synchronous in-process events between packages that cannot import each other.

``import eventbus`` picks the compiled core (``eventbus._core``) when it is built and
importable, and its pure-Python twin (``eventbus._core_py``) otherwise, or when
``EVENTBUS_NO_EXTENSIONS`` is set, or on interpreters other than CPython.
``eventbus.implementation`` says which one is active: ``"cython"`` or ``"python"``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from ._codec import DecodeError, EncodeError, EventBusError, decode

__all__ = [
    "Bus",
    "Data",
    "DecodeError",
    "EncodeError",
    "EventBusError",
    "decode",
    "implementation",
    "must_data",
    "new_data",
]

__version__ = "0.1.0"

implementation: str

if TYPE_CHECKING:
    from ._core_py import Bus, Data, must_data, new_data

    implementation = "python"
elif os.environ.get("EVENTBUS_NO_EXTENSIONS") or sys.implementation.name != "cpython":
    from ._core_py import Bus, Data, must_data, new_data

    implementation = "python"
else:
    try:
        from ._core import Bus, Data, must_data, new_data
    except ImportError:  # not built here: the pure twin behaves the same
        from ._core_py import Bus, Data, must_data, new_data

        implementation = "python"
    else:
        implementation = "cython"
