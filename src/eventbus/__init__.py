"""eventbus: synchronous in-process events between packages that cannot import each other.

``import eventbus`` picks the compiled core (``eventbus._core``) when it is built and
importable, and its pure-Python twin (``eventbus._core_py``) otherwise, or when
``EVENTBUS_NO_EXTENSIONS`` is set (to anything but ``0``), or on interpreters other than CPython.
``eventbus.implementation`` says which one is active: ``"cython"`` or ``"python"``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from ._decode import decode
from ._errors import DecodeError, EncodeError, EventBusError
from ._observe import Observation, Observer

__all__ = [
    "AsyncHandler",
    "Bus",
    "Data",
    "DecodeError",
    "EncodeError",
    "EventBusError",
    "Handler",
    "Observation",
    "Observer",
    "SyncHandler",
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
elif os.environ.get("EVENTBUS_NO_EXTENSIONS", "") not in ("", "0") or (
    sys.implementation.name != "cpython"
):
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

# What ``register`` and ``on`` accept: ``handler(ctx, data)``, its result ignored unless
# awaitable.  ``SyncHandler`` is what ``call``/``publish`` can run; ``AsyncHandler`` needs
# ``acall``/``apublish``.  ``ctx`` is whatever the dispatcher passes: ``Any``.
Handler: TypeAlias = Callable[[Any, Data], object]
SyncHandler: TypeAlias = Callable[[Any, Data], None]
AsyncHandler: TypeAlias = Callable[[Any, Data], Awaitable[object]]
