"""The codec's public names in one place, for the modules that import them from here.

The codec lives by stage: ``_errors`` (the public errors), ``_types`` (reading target
types), ``_encode`` and ``_decode``.
"""

from __future__ import annotations

from ._decode import EventLike, decode
from ._encode import encode_params
from ._errors import DecodeError, EncodeError, EventBusError

__all__ = [
    "DecodeError",
    "EncodeError",
    "EventBusError",
    "EventLike",
    "decode",
    "encode_params",
]
