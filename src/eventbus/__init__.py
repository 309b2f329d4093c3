"""eventbus: synchronous in-process events between packages that cannot import each other.

``import eventbus`` picks the compiled core (``eventbus._core``) when it is built and
importable, and its pure-Python twin (``eventbus._core_py``) otherwise, or when
``EVENTBUS_NO_EXTENSIONS`` is set (to anything but ``0``), or on interpreters other than CPython.
``eventbus.implementation`` says which one is active: ``"cython"`` or ``"python"``.
"""

from __future__ import annotations

import sys

from ._compat import NO_EXTENSIONS
from ._errors import DecodeError, EncodeError, EventBusError, UnhandledEventError

__all__ = [
    "AsyncHandler",
    "Bus",
    "Data",
    "DecodeError",
    "EncodeError",
    "Event",
    "EventBusError",
    "Handler",
    "Observation",
    "Observer",
    "Registration",
    "SyncHandler",
    "Transaction",
    "UnhandledEventError",
    "codec_engine",
    "decode",
    "implementation",
    "must_data",
    "new_data",
]

__version__ = "0.1.0"

implementation: str

# Not typing's: import eventbus imports neither typing nor collections.abc (nor json, logging,
# inspect, ...); what needs them loads on first use.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._codec.decode import decode
    from ._core_py import Bus, Data, Event, must_data, new_data
    from ._observe import Observation, Observer
    from ._registration import Registration
    from ._transactions import Transaction

    implementation = "python"
elif NO_EXTENSIONS:  # (eventbus._compat parses the switches)
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

# The codec engine: "cython" (eventbus._codec._fastcodec, with the compiled core) or "python" (the
# stdlib reference); EVENTBUS_NO_FAST_CODEC=1 forces the reference.  Same bytes, values, errors.
codec_engine: str = getattr(sys.modules[Bus.__module__], "codec_engine", "python")

# What ``register`` and ``on`` accept: ``handler(ctx, data)``, its result ignored unless
# awaitable.  ``SyncHandler`` is what ``call``/``publish`` can run; ``AsyncHandler`` needs
# ``acall``/``apublish``.  ``ctx`` is whatever the dispatcher passes: ``Any``.  Built on first
# use (by ``__getattr__``), as the same ``collections.abc.Callable`` aliases.
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any, TypeAlias

    Handler: TypeAlias = Callable[[Any, Data], object]
    SyncHandler: TypeAlias = Callable[[Any, Data], None]
    AsyncHandler: TypeAlias = Callable[[Any, Data], Awaitable[object]]


def _handler_aliases() -> dict[str, object]:
    from collections.abc import Awaitable, Callable  # noqa: PLC0415
    from typing import Any  # noqa: PLC0415

    return {
        "Handler": Callable[[Any, Data], object],
        "SyncHandler": Callable[[Any, Data], None],
        "AsyncHandler": Callable[[Any, Data], Awaitable[object]],
    }


def __getattr__(name: str) -> object:
    # ``decode`` and what it needs (json, the converters) load on first use, so that
    # ``import eventbus`` stays cheap; after that it is an ordinary module attribute.
    if name == "decode":
        from ._codec.engine import decode_on  # noqa: PLC0415

        found_decode = decode_on(codec_engine)
        globals()["decode"] = found_decode
        return found_decode
    if name == "Event":
        # The active implementation's (its data() builds that Data); the compiled one
        # defines it on first use, with typing.
        from importlib import import_module  # noqa: PLC0415

        event: object = import_module(Bus.__module__).Event
        globals()["Event"] = event
        return event
    if name in ("Observer", "Observation"):
        from . import _observe  # noqa: PLC0415

        found: object = getattr(_observe, name)
        globals()[name] = found
        return found
    if name == "Registration":
        from ._registration import Registration  # noqa: PLC0415

        globals()[name] = Registration
        return Registration
    if name == "Transaction":
        from ._transactions import Transaction  # noqa: PLC0415

        globals()[name] = Transaction
        return Transaction
    if name in ("Handler", "SyncHandler", "AsyncHandler"):
        aliases = _handler_aliases()
        globals().update(aliases)
        return aliases[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# What pickles of ``Data`` and ``Event`` load through, whichever implementation made them:
# the names are part of the pickle format and stay.  Each builds the active implementation's.
def _restore_data(domain: str, action: str, raw_params: bytes | None) -> Data:  # pyright: ignore[reportUnusedFunction]
    return Data(domain, action, raw_params)


def _restore_event(  # pyright: ignore[reportUnusedFunction]
    domain: str, action: str, payload_type: object, asynchronous: bool = False
) -> Event[Any]:
    event: Any = globals().get("Event") or __getattr__("Event")  # (loaded on first use)
    return event(domain, action, payload_type, asynchronous=asynchronous)  # type: ignore[no-any-return]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


del TYPE_CHECKING
