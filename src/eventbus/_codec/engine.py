"""Which codec engine runs: the compiled one (``eventbus._codec._fastcodec``) or the stdlib reference.

The compiled engine runs with the compiled core, when it is built, unless
``EVENTBUS_NO_FAST_CODEC`` (or ``EVENTBUS_NO_EXTENSIONS``) is set to anything but ``0``;
``eventbus.codec_engine`` says which: ``"cython"`` or ``"python"``.  Either gives the same bytes,
values and errors (the compiled one hands whatever it cannot prove alike to the reference).
``eventbus._compat`` parses those switches, once, for the whole package.
"""

from __future__ import annotations

import os
import sys
from _thread import RLock
from types import ModuleType

from .._compat import NO_FAST_CODEC

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["active", "available", "decode_on", "encode_params_on", "functions"]


def available() -> ModuleType | None:
    """The compiled engine if it is built here (switched on or not)."""
    if sys.implementation.name != "cpython":
        return None
    try:
        from . import _fastcodec  # noqa: PLC0415
    except ImportError:
        return None
    return _fastcodec


def active() -> ModuleType | None:
    """The compiled engine if it is the one that runs."""
    if NO_FAST_CODEC:  # (eventbus._compat parses the switches)
        return None
    return available()


def _built() -> ModuleType:
    fast = available()
    if fast is None:
        raise RuntimeError("the compiled codec engine (eventbus._codec._fastcodec) is not built")
    return fast


def encode_params_on(engine: str) -> Callable[..., bytes | None]:
    """``encode_params`` of ``engine`` (``"cython"`` or ``"python"``)."""
    from .encode import encode_params  # noqa: PLC0415

    if engine == "python":
        return encode_params
    made: Callable[..., bytes | None] = _built().make_encode_params(encode_params)
    return made


_decoders: dict[str, Callable[..., Any]] = {}
# The compiled engine's decoding state is one per process, made under this lock, once: a
# state replaced while another thread decodes with it could be freed under that thread
# (free-threaded builds).  Reentrant, for a finalizer or signal handler that decodes while
# its thread makes the state (make_decode then keeps the first state made), and made anew
# in a forked child, whose parent may have held it in another thread.
_making = RLock()


def _new_lock_after_fork() -> None:
    global _making  # noqa: PLW0603
    _making = RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_after_fork)


def decode_on(engine: str) -> Callable[..., Any]:
    """``decode`` of ``engine`` (``"cython"`` or ``"python"``)."""
    found = _decoders.get(engine)
    if found is not None:
        return found
    from . import decode, plans  # noqa: PLC0415  # on first use: import eventbus stays cheap

    with _making:
        found = _decoders.get(engine)
        if found is not None:
            return found
        if engine == "python":
            made: Callable[..., Any] = decode.decode
        else:
            made = _built().make_decode(decode.decode, plans, decode.MISSING)
            # One reference text for help() and the docs, whichever engine eventbus.decode is.
            made.__doc__ = decode.decode.__doc__
            made.__name__ = made.__qualname__ = "decode"
        _decoders[engine] = made
        return made


def functions(impl: ModuleType, engine: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``must_data`` and ``decode`` of implementation ``impl`` on ``engine`` (benchmarks, tests)."""
    if engine == "cython" and not hasattr(impl, "_must_data_with"):
        raise ValueError(f"{impl.__name__} has no compiled codec engine")
    if getattr(impl, "codec_engine", "python") == engine or not hasattr(impl, "_must_data_with"):
        return impl.must_data, decode_on(engine)  # the engine it runs: its own must_data
    return impl._must_data_with(encode_params_on(engine)), decode_on(engine)  # noqa: SLF001
