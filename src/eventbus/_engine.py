"""Which codec engine runs: the compiled one (``eventbus._fastcodec``) or the stdlib reference.

The compiled engine runs with the compiled core, when it is built, unless
``EVENTBUS_NO_FAST_CODEC`` (or ``EVENTBUS_NO_EXTENSIONS``) is set to anything but ``0``;
``eventbus.codec_engine`` says which: ``"cython"`` or ``"python"``.  Either gives the same bytes,
values and errors (the compiled one hands whatever it cannot prove alike to the reference).
"""

from __future__ import annotations

import sys
from types import ModuleType

from ._compat import NO_FAST_CODEC

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


def encode_params_on(engine: str) -> Callable[..., bytes | None]:
    """``encode_params`` of ``engine`` (``"cython"`` or ``"python"``)."""
    from ._encode import encode_params  # noqa: PLC0415

    if engine == "python":
        return encode_params
    fast = available()
    if fast is None:
        raise RuntimeError("the compiled codec engine (eventbus._fastcodec) is not built")
    made: Callable[..., bytes | None] = fast.make_encode_params(encode_params)
    return made


_decoders: dict[str, Callable[..., Any]] = {}


def decode_on(engine: str) -> Callable[..., Any]:
    """``decode`` of ``engine`` (``"cython"`` or ``"python"``)."""
    found = _decoders.get(engine)
    if found is not None:
        return found
    from . import _decode  # noqa: PLC0415  # pyright: ignore[reportPrivateUsage]

    if engine == "python":
        made: Callable[..., Any] = _decode.decode
    else:
        fast = available()
        if fast is None:
            raise RuntimeError("the compiled codec engine (eventbus._fastcodec) is not built")
        # The Data of each implementation loaded (never loading one: the compiled core at work
        # does not import the pure twin); another one's Data goes to the reference decoder.
        cores = [sys.modules.get(name) for name in ("eventbus._core_py", "eventbus._core")]
        data_types = [core.Data for core in cores if core is not None] or [_decode.MISSING]
        made = fast.make_decode(
            _decode.decode, _decode.describe_plan, _decode.refused_error, _decode.MISSING, data_types
        )
        # One reference text for help() and the docs, whichever engine eventbus.decode is.
        made.__doc__ = _decode.decode.__doc__
        made.__name__ = made.__qualname__ = "decode"
    return _decoders.setdefault(engine, made)


def functions(impl: ModuleType, engine: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``must_data`` and ``decode`` of implementation ``impl`` on ``engine`` (benchmarks, tests)."""
    if engine == "cython" and not hasattr(impl, "_must_data_with"):
        raise ValueError(f"{impl.__name__} has no compiled codec engine")
    must_data = (
        impl._must_data_with(encode_params_on(engine))  # noqa: SLF001
        if hasattr(impl, "_must_data_with")
        else impl.must_data
    )
    return must_data, decode_on(engine)
