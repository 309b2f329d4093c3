"""The codec's public names in one place, for the modules that import them from here.

The codec lives by stage: ``_errors`` (the public errors), ``_types`` (reading target
types), ``_encode`` and ``_decode``.
"""

from __future__ import annotations

from ._decode import EventLike
from ._encode import encode_params
from ._errors import DecodeError, EncodeError, EventBusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._decode import decode
else:  # the active engine's, as eventbus.decode
    from . import decode

__all__ = [
    "DecodeError",
    "EncodeError",
    "EventBusError",
    "EventLike",
    "decode",
    "encode_params",
]
